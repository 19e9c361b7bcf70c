"""Sign-in with GitHub or GitHub Enterprise (Dex ``github``): the OAuth web flow, then the
user, their email and their org/team groups from the REST API.

Identity fields follow Dex exactly so subjects and groups survive a Dex -> Passgate move:
user id = the numeric GitHub id (or the login with ``useLoginAsID``), username = the
display name or else the login, preferred username = the login, groups = ``org:team``.
GitHub access tokens of OAuth apps do not expire, so, like Dex, a refresh re-reads the
user and groups with the stored token; tokens of GitHub Apps that do expire are renewed
with their refresh token first.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from passgate.clock import Clock, system_clock
from passgate.config.connectors.github import GitHubConfig, GitHubOrg
from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    Identity,
    RefreshConnector,
    Scopes,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.github.api import GitHubAPI
from passgate.connectors.github.groups import (
    Team,
    all_groups,
    choose_email,
    filter_teams,
    format_team_name,
    teams_in_org,
)
from passgate.connectors.http import OAuth2Client, client
from passgate.connectors.redirect import authorization_url, check_callback_url, code_form, code_of
from passgate.connectors.tokens import access_token_of, expiry_of, refresh_token_of

__all__ = ["GitHubConnector"]

#: Needed for ``/user`` and ``/user/emails``.
SCOPE_EMAIL = "user:email"
#: Needed for org membership and ``/user/teams``.
SCOPE_ORGS = "read:org"
#: Renew an expiring token this long before it expires (golang.org/x/oauth2 does 10 s).
EXPIRY_MARGIN = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class _StoredToken:
    """``connector_data``: the upstream token (Dex ``connectorData``)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expiry: datetime | None = None

    def dump(self) -> bytes:
        data: dict[str, str] = {"accessToken": self.access_token}
        if self.refresh_token:
            data["refreshToken"] = self.refresh_token
        if self.expiry is not None:
            data["expiry"] = self.expiry.isoformat()
        return json.dumps(data).encode()

    @classmethod
    def load(cls, raw: bytes) -> _StoredToken:
        if not raw:
            raise ConnectorError("no upstream GitHub access token was stored for this session")
        try:
            data = json.loads(raw)
            access, refresh = data["accessToken"], data.get("refreshToken", "")
            expiry = data.get("expiry")
            if not (isinstance(access, str) and access and isinstance(refresh, str)):
                raise ValueError("no access token")
            when = datetime.fromisoformat(expiry) if isinstance(expiry, str) else None
        except (ValueError, KeyError, TypeError):
            raise ConnectorError("the stored GitHub session data is unreadable") from None
        if when is not None and (when.tzinfo is None or when.year <= 1):
            when = None  # Go's zero time: no expiry
        return cls(access, refresh, when)

    @classmethod
    def from_response(cls, tokens: dict[str, Any], now: datetime) -> _StoredToken:
        # GitHub Apps with expiring user tokens answer expires_in (seconds) and a refresh
        # token; OAuth apps' tokens do not expire.
        what = "GitHub token endpoint"
        return cls(access_token_of(tokens, what), refresh_token_of(tokens), expiry_of(tokens, now))


class GitHubConnector(CallbackConnector, RefreshConnector):
    """One configured ``github`` connector."""

    def __init__(
        self,
        config: GitHubConfig,
        connector_id: str = "github",
        http: httpx.AsyncClient | None = None,
        *,
        clock: Clock = system_clock,
        api_url: str | None = None,
        oauth_url: str | None = None,
    ) -> None:
        """``api_url``/``oauth_url`` replace api.github.com / github.com (tests only)."""
        self._config = config
        self._id = connector_id
        self._owns_http = http is None
        self._http = http or client([config.root_ca] if config.root_ca else [])
        self._clock = clock
        self._api_url = (api_url or config.api_url).rstrip("/")
        oauth = (oauth_url or config.oauth_url).rstrip("/")
        self._authorize_url = f"{oauth}/login/oauth/authorize"
        self._token_url = f"{oauth}/login/oauth/access_token"
        # GitHub's documented token request carries client_id and client_secret as
        # parameters (it accepts HTTP Basic too).
        self._oauth = OAuth2Client(config.client_id, config.client_secret, credentials_in_body=True)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def _groups_required(self, scopes: Scopes) -> bool:
        """Dex ``groupsRequired``: orgs must be checked, or the client asked for groups."""
        return bool(self._config.orgs or self._config.org or scopes.groups)

    # -- the login redirect -------------------------------------------------------
    async def login_url(self, scopes: Scopes, callback_url: str, state: str) -> str:
        check_callback_url(self._config.redirect_uri, callback_url)
        wanted = [SCOPE_EMAIL, SCOPE_ORGS] if self._groups_required(scopes) else [SCOPE_EMAIL]
        # RFC 6749 §4.1.1; GitHub's scope list is space-delimited.
        params = {
            "client_id": self._config.client_id,
            "redirect_uri": self._config.redirect_uri,
            "response_type": "code",
            "scope": " ".join(wanted),
            "state": state,
        }
        return authorization_url(self._authorize_url, params)

    # -- the callback ---------------------------------------------------------------
    async def handle_callback(
        self, scopes: Scopes, callback_url: str, query: dict[str, str]
    ) -> Identity:
        # RFC 6749 §4.1.2.1, e.g. access_denied when the person clicked "Cancel".
        code = code_of(query, "GitHub")
        # RFC 6749 §4.1.3 (GitHub answers its errors with HTTP 200: token_request raises).
        tokens = await self._oauth.token_request(
            self._http,
            self._token_url,
            code_form(code, self._config.redirect_uri),
            what="GitHub token endpoint",
        )
        token = _StoredToken.from_response(tokens, self._clock())
        identity = await self._lookup(scopes, token.access_token)
        # As Dex: the token is kept only when the client may refresh.
        data = token.dump() if scopes.offline_access else b""
        return dataclasses.replace(identity, connector_data=data)

    # -- refresh ----------------------------------------------------------------------
    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        token = _StoredToken.load(identity.connector_data)
        if (
            token.refresh_token
            and token.expiry is not None
            and token.expiry - EXPIRY_MARGIN <= self._clock()
        ):
            # RFC 6749 §6: GitHub Apps' expiring user tokens; the refresh token is single-use.
            tokens = await self._oauth.token_request(
                self._http,
                self._token_url,
                {"grant_type": "refresh_token", "refresh_token": token.refresh_token},
                what="GitHub token endpoint",
            )
            token = _StoredToken.from_response(tokens, self._clock())
        fresh = await self._lookup(scopes, token.access_token)
        # As Dex: the user id stays the one issued at sign-in; groups are only
        # re-read when they are required.
        return Identity(
            user_id=identity.user_id,
            username=fresh.username,
            preferred_username=fresh.preferred_username,
            email=fresh.email,
            email_verified=True,
            groups=fresh.groups if self._groups_required(scopes) else identity.groups,
            connector_data=token.dump(),
        )

    # -- the user and their groups -------------------------------------------------
    async def _lookup(self, scopes: Scopes, access_token: str) -> Identity:
        api = GitHubAPI(self._http, self._api_url, access_token, self._clock)
        user = await api.user()
        email = user.email
        # Only the public email is in /user; with preferredEmailDomain every address
        # must be seen (Dex).
        if not email or self._config.preferred_email_domain:
            email = choose_email(
                await api.emails(),
                enterprise=bool(self._config.host_name),
                preferred_domain=self._config.preferred_email_domain,
            )
        groups: list[str] = []
        if self._groups_required(scopes):
            groups = await self._groups(api, scopes, user.login)
        return Identity(
            user_id=user.login if self._config.use_login_as_id else str(user.id),
            username=user.name or user.login,
            preferred_username=user.login,
            email=email,
            email_verified=True,
            groups=tuple(groups),
        )

    async def _groups(self, api: GitHubAPI, scopes: Scopes, login: str) -> list[str]:
        """Dex ``getGroups``."""
        field_name = self._config.team_name_field
        if self._config.orgs:
            return await self._groups_for_orgs(api, login)
        if self._config.org:
            # Legacy ``org``: Dex's groups are the bare team names in that org. Dex's
            # docs say a user MUST be a member; its code never checked, we do.
            org = self._config.org
            if not await api.in_org(org, login):
                raise UserNotInRequiredGroupsError(
                    f"you are not a member of the GitHub organisation {org!r} required here"
                )
            return teams_in_org(await api.teams(), org, field_name)
        if scopes.groups and self._config.load_all_groups:
            return all_groups(await api.orgs(), await api.teams(), field_name)
        return []

    async def _groups_for_orgs(self, api: GitHubAPI, login: str) -> list[str]:
        """Dex ``groupsForOrgs``: for each configured org the user is a member of, their
        teams there as ``org:team`` (only the listed ones when ``teams`` is given). The
        user may sign in when in an org listed without teams, or in a listed team."""
        teams: list[Team] | None = None
        groups: list[str] = []
        in_org_without_teams = False
        for org in self._config.orgs:
            if not await api.in_org(org.name, login):
                continue
            if teams is None:
                teams = await api.teams()  # one read serves every org
            names = teams_in_org(teams, org.name, self._config.team_name_field)
            if org.teams:
                names = filter_teams(names, org.teams)
            else:
                in_org_without_teams = True
            groups += [format_team_name(org.name, name) for name in names]
        if in_org_without_teams or groups:
            return groups
        raise UserNotInRequiredGroupsError(_refusal(self._config.orgs))


def _refusal(orgs: list[GitHubOrg]) -> str:
    """Why the person may not sign in, in words they understand."""

    def required(org: GitHubOrg) -> str:
        if not org.teams:
            return repr(org.name)
        return f"{org.name!r} (teams: {', '.join(org.teams)})"

    if len(orgs) == 1 and not orgs[0].teams:
        return f"you are not a member of the GitHub organisation {orgs[0].name!r} required here"
    if len(orgs) == 1:
        teams = ", ".join(orgs[0].teams)
        return (
            f"you are not in any of the teams {teams} of the GitHub organisation "
            f"{orgs[0].name!r} required here"
        )
    return "you are not a member of any GitHub organisation or team required here: " + "; ".join(
        required(org) for org in orgs
    )
