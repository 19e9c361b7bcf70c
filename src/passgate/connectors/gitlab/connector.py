"""Sign-in with gitlab.com or a self-managed GitLab (Dex ``gitlab``).

OAuth 2.0 authorization code flow at ``{baseURL}/oauth/authorize`` and ``/oauth/token``
(``read_user``, plus ``openid`` when groups are needed, plus ``read_api`` for
``inheritedGroups``), then ``/api/v4/user`` for the person and ``/oauth/userinfo`` for
their groups. GitLab access tokens live two hours, so a Passgate refresh first renews
an expired one with GitLab's refresh token, then asks for the user and groups again:
a blocked user, a revoked authorization or a user who left the required groups loses
the session.
"""

from __future__ import annotations

from datetime import timedelta

import httpx

from passgate.clock import Clock, system_clock
from passgate.config.connectors.gitlab import GitLabConfig
from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    Identity,
    RefreshConnector,
    Scopes,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.gitlab.api import GitLabAPI, GitLabUser
from passgate.connectors.gitlab.groups import filter_required, role_from_claims, with_roles
from passgate.connectors.gitlab.tokens import Renewals, UpstreamTokens
from passgate.connectors.http import OAuth2Client, client
from passgate.connectors.redirect import (
    authorization_url,
    check_callback_url,
    code_form,
    code_of,
    new_pkce,
)

__all__ = ["REFRESH_MARGIN", "GitLabConnector"]

#: Renew the GitLab access token this long before it expires, not at the last second.
REFRESH_MARGIN = timedelta(minutes=1)
#: ``GET /api/v4/user`` ``state`` values that may sign in ("" when GitLab says nothing).
ACTIVE_STATES = frozenset({"active", ""})

SCOPE_USER = "read_user"  # GET /api/v4/user
SCOPE_OPENID = "openid"  # GET /oauth/userinfo and its groups claims
SCOPE_READ_API = "read_api"  # GET /api/v4/groups (inheritedGroups)


class GitLabConnector(CallbackConnector, RefreshConnector):
    """One configured ``gitlab`` upstream."""

    def __init__(
        self,
        config: GitLabConfig,
        connector_id: str = "gitlab",
        http: httpx.AsyncClient | None = None,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self._config = config
        self._id = connector_id
        self._owns_http = http is None
        self._http = http or client(ca_data=[config.root_ca_pem()])
        self._client = OAuth2Client(config.client_id, config.client_secret)
        self._clock = clock
        self._renewals = Renewals()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- the login redirect -------------------------------------------------------------
    def _groups_needed(self, scopes: Scopes) -> bool:
        # Dex groupsRequired: for the client's groups scope, or to check required groups.
        return bool(self._config.groups) or scopes.groups

    def upstream_scopes(self, scopes: Scopes) -> list[str]:
        """The GitLab scopes asked for (Dex: ``read_user``, ``openid`` for groups)."""
        wanted = [SCOPE_USER]
        if self._groups_needed(scopes):
            wanted.append(SCOPE_OPENID)
            if self._config.inherited_groups:
                wanted.append(SCOPE_READ_API)
        return wanted

    async def begin(self, scopes: Scopes, callback_url: str, state: str) -> tuple[str, bytes]:
        # RFC 7636 (GitLab supports it for every application; Dex does not send it): a
        # verifier per sign-in, kept by Passgate with the sign-in request, never sent
        # through the browser, so a stolen code is useless elsewhere.
        verifier, pkce = new_pkce()
        return self._authorize_url(scopes, callback_url, state, pkce), verifier.encode()

    async def login_url(self, scopes: Scopes, callback_url: str, state: str) -> str:
        return self._authorize_url(scopes, callback_url, state, {})

    def _authorize_url(
        self, scopes: Scopes, callback_url: str, state: str, extra: dict[str, str]
    ) -> str:
        check_callback_url(self._config.redirect_uri, callback_url)
        params = {
            "client_id": self._config.client_id,
            "redirect_uri": self._config.redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.upstream_scopes(scopes)),
            "state": state,
            **extra,
        }
        return authorization_url(f"{self._config.root}/oauth/authorize", params)

    # -- the callback ---------------------------------------------------------------------
    async def finish(
        self, scopes: Scopes, callback_url: str, query: dict[str, str], saved: bytes
    ) -> Identity:
        return await self._callback(scopes, query, saved.decode("ascii", "replace"))

    async def handle_callback(
        self, scopes: Scopes, callback_url: str, query: dict[str, str]
    ) -> Identity:
        return await self._callback(scopes, query, "")

    async def _callback(self, scopes: Scopes, query: dict[str, str], verifier: str) -> Identity:
        # RFC 6749 §4.1.2.1: GitLab refused (access_denied when the person clicked Deny).
        code = code_of(query, "GitLab")
        # RFC 6749 §4.1.3: the redirect_uri of the authorization request goes along.
        form = code_form(code, self._config.redirect_uri, verifier)
        tokens = await self._token_request(form, previous_refresh="")
        return await self._identity(scopes, tokens)

    # -- refresh --------------------------------------------------------------------------
    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        tokens = UpstreamTokens.decode(identity.connector_data)
        if tokens.refresh_token:
            tokens = await self._renew(tokens)
        fresh = await self._identity(scopes, tokens, offline=True)
        if fresh.user_id != identity.user_id:
            # OIDC Core §12.2: a refreshed identity is about the same subject.
            raise ConnectorError(
                f"GitLab answered for another user ({fresh.user_id!r}, not {identity.user_id!r})"
            )
        return fresh

    async def _renew(self, tokens: UpstreamTokens) -> UpstreamTokens:
        """The tokens to ask GitLab with: renewed with the refresh token once expired."""
        async with self._renewals.serialised(tokens.refresh_token):
            tokens = self._renewals.latest(tokens)
            if tokens.access_token and not tokens.expired(self._clock(), REFRESH_MARGIN):
                return tokens
            # RFC 6749 §6; GitLab answers invalid_grant once the user revoked the app.
            spent = tokens.refresh_token
            form = {"grant_type": "refresh_token", "refresh_token": spent}
            renewed = await self._token_request(form, previous_refresh=spent)
            self._renewals.remember(spent, renewed)
            return renewed

    # -- helpers --------------------------------------------------------------------------
    async def _token_request(self, form: dict[str, str], previous_refresh: str) -> UpstreamTokens:
        url = f"{self._config.root}/oauth/token"
        body = await self._client.token_request(self._http, url, form, "GitLab token endpoint")
        return UpstreamTokens.from_response(body, self._clock(), previous_refresh)

    async def _identity(
        self, scopes: Scopes, tokens: UpstreamTokens, *, offline: bool = False
    ) -> Identity:
        api = GitLabAPI(self._http, self._config.root, tokens.access_token)
        user = await api.user()
        if user.state not in ACTIVE_STATES:
            raise ConnectorError(f"the GitLab account {user.username!r} is {user.state}")
        groups: tuple[str, ...] = ()
        if self._groups_needed(scopes):
            groups = tuple(self._required(user, await self._user_groups(api, user)))
        # Dex keeps GitLab's tokens only for offline access (a refresh token was asked for).
        keep = offline or scopes.offline_access
        return Identity(
            user_id=user.username if self._config.use_login_as_id else str(user.id),
            username=user.name or user.email,  # Dex: name, else email
            preferred_username=user.username,
            email=user.email,
            email_verified=True,  # as Dex: the primary GitLab email, always marked verified
            groups=groups,
            connector_data=tokens.encode() if keep else b"",
        )

    async def _user_groups(self, api: GitLabAPI, user: GitLabUser) -> list[str]:
        """The user's groups, as Dex names them (``path``, ``path:role``)."""
        with_permission = self._config.get_groups_permission
        if not self._config.inherited_groups:
            info = await api.userinfo()
            return with_roles(info) if with_permission else list(info.groups)
        memberships = await api.groups()
        names = [group.full_path for group in memberships]
        if not with_permission:
            return names
        info = await api.userinfo()
        for group in memberships:
            # The role claims first; the Members API only for groups they do not cover.
            role = role_from_claims(group.full_path, info)
            if role is None:
                role = await api.member_role(group.id, user.id)
            if role is not None:
                names.append(f"{group.full_path}:{role}")
        return names

    def _required(self, user: GitLabUser, found: list[str]) -> list[str]:
        required = self._config.groups
        if not required:
            return found
        kept = filter_required(found, required)
        if not kept:
            raise UserNotInRequiredGroupsError(
                f"The GitLab user {user.username!r} is not a member of any GitLab group "
                f"required here ({', '.join(required)})."
            )
        return kept
