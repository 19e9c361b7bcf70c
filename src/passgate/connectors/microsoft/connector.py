"""Sign-in with Microsoft (Dex ``microsoft``): the identity platform's authorization code
flow (v2.0 endpoints of ``apiURL``/``tenant``), then Microsoft Graph for the user and,
in one organisation's tenant, their groups.

The identity is Dex's, field for field, so subjects survive a move from Dex: ``user_id``
is the Graph object ``id``, ``username`` the ``displayName``, ``email`` the
``userPrincipalName`` (lower-cased with ``emailToLowercase``), always verified.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from passgate.clock import Clock, system_clock
from passgate.config.connectors.microsoft import MicrosoftConfig
from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    Identity,
    RefreshConnector,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.http import OAuth2Client, UpstreamRefusedError, client
from passgate.connectors.microsoft.graph import Graph
from passgate.connectors.microsoft.tokens import MicrosoftTokens
from passgate.connectors.redirect import (
    authorization_url,
    check_callback_url,
    code_form,
    code_of,
    new_pkce,
)

__all__ = ["SCOPE_GROUPS", "SCOPE_OFFLINE_ACCESS", "SCOPE_USER", "MicrosoftConnector"]

#: Dex: Graph needs this delegated permission to read the signed-in user's profile.
SCOPE_USER = "user.read"
#: Dex: ... and this one to list their groups and resolve group ids to names.
SCOPE_GROUPS = "directory.read.all"
#: Microsoft answers a refresh token only when this scope is asked for.
SCOPE_OFFLINE_ACCESS = "offline_access"

# Token endpoint errors about Passgate's own registration (a wrong or expired client
# secret, AADSTS7000215 / AADSTS7000222) or an outage: they say nothing about the person,
# so a refresh keeps the session instead of signing everyone out.
_NOT_ABOUT_THE_PERSON = frozenset(
    {"invalid_client", "unauthorized_client", "temporarily_unavailable", "server_error"}
)


class MicrosoftConnector(CallbackConnector, RefreshConnector):
    """One configured ``microsoft`` upstream."""

    def __init__(
        self,
        config: MicrosoftConfig,
        connector_id: str = "microsoft",
        http: httpx.AsyncClient | None = None,
        *,
        clock: Clock = system_clock,
        root_cas: Sequence[str] = (),
    ) -> None:
        """``root_cas``: PEM files trusted for ``apiURL``/``graphURL`` (a private cloud or a
        test server); Dex has no such option, so the config has none either."""
        self._config = config
        self._id = connector_id
        self._clock = clock
        self._owns_http = http is None
        self._http = http or client(root_cas)
        # The identity platform documents the secret in the form body (client_secret_post).
        self._client = OAuth2Client(
            config.client_id, config.client_secret, credentials_in_body=True
        )
        base = f"{config.api_url}/{config.tenant}/oauth2/v2.0"
        self._authorize_url = f"{base}/authorize"
        self._token_url = f"{base}/token"

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- what to ask for ----------------------------------------------------------------
    def _groups_required(self, scopes: Scopes) -> bool:
        """Dex ``groupsRequired``: groups asked for or required, in an organisation's
        tenant (common/organizations/consumers have no directory to list groups from)."""
        return bool(self._config.groups or scopes.groups) and self._config.is_org_tenant

    def _scopes(self, scopes: Scopes) -> str:
        wanted = list(self._config.scopes or [SCOPE_USER])
        if self._groups_required(scopes):
            wanted.append(SCOPE_GROUPS)
        if scopes.offline_access:
            wanted.append(SCOPE_OFFLINE_ACCESS)
        return " ".join(dict.fromkeys(wanted))

    # -- the login redirect ---------------------------------------------------------------
    async def begin(self, scopes: Scopes, callback_url: str, state: str) -> tuple[str, bytes]:
        # RFC 7636 (recommended by Microsoft for every client): a verifier per sign-in,
        # kept by Passgate with the sign-in request, never sent through the browser.
        verifier, pkce = new_pkce()
        return self._login_url(scopes, callback_url, state, pkce), verifier.encode()

    async def finish(
        self, scopes: Scopes, callback_url: str, query: dict[str, str], saved: bytes
    ) -> Identity:
        return await self._callback(scopes, query, saved.decode("ascii", "replace"))

    async def login_url(self, scopes: Scopes, callback_url: str, state: str) -> str:
        return self._login_url(scopes, callback_url, state, {})

    def _login_url(
        self, scopes: Scopes, callback_url: str, state: str, extra: dict[str, str]
    ) -> str:
        check_callback_url(self._config.redirect_uri, callback_url)
        params = {
            "client_id": self._config.client_id,
            "redirect_uri": self._config.redirect_uri,
            "response_type": "code",
            "scope": self._scopes(scopes),
            "state": state,
        }
        if self._config.prompt_type:
            params["prompt"] = self._config.prompt_type
        if self._config.domain_hint:
            params["domain_hint"] = self._config.domain_hint
        params.update(extra)
        return authorization_url(self._authorize_url, params)

    # -- the callback ----------------------------------------------------------------------
    async def handle_callback(
        self, scopes: Scopes, callback_url: str, query: dict[str, str]
    ) -> Identity:
        return await self._callback(scopes, query, "")

    async def _callback(self, scopes: Scopes, query: dict[str, str], verifier: str) -> Identity:
        # RFC 6749 §4.1.2.1: the person declined, or Microsoft refused the request.
        code = code_of(query, "Microsoft")
        form = {
            **code_form(code, self._config.redirect_uri, verifier),
            "scope": self._scopes(scopes),
        }
        tokens = await self._token_request(form)
        return await self._identity(scopes, tokens, keep=scopes.offline_access)

    # -- refresh ---------------------------------------------------------------------------
    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        """Redeem the kept refresh token, then read the user and groups again.

        Dex reuses a still-valid access token; Passgate always redeems the refresh token,
        because that is where Microsoft checks the account: an access token keeps working
        at Graph until it expires even after the account was disabled, while the refresh
        is refused at once (``invalid_grant``, AADSTS50057), and so is this refresh."""
        stored = MicrosoftTokens.from_bytes(identity.connector_data)
        if stored.refresh_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": stored.refresh_token,
                "scope": self._scopes(scopes),
            }
            tokens = await self._token_request(form, stored.refresh_token)
        elif stored.valid_at(self._clock()):
            tokens = stored  # Dex: the access token alone, while it lasts
        else:
            raise ConnectorError("the Microsoft access token expired and there is no refresh token")
        fresh = await self._identity(scopes, tokens, keep=True, previous=identity)
        if fresh.user_id != identity.user_id:
            raise ConnectorError("Microsoft answered the refresh for another user")
        return fresh

    # -- helpers ---------------------------------------------------------------------------
    async def _token_request(
        self, form: dict[str, str], refresh_token: str = ""
    ) -> MicrosoftTokens:
        now = self._clock()
        try:
            body = await self._client.token_request(
                self._http, self._token_url, form, "Microsoft token endpoint"
            )
        except UpstreamRefusedError as error:
            if error.code in _NOT_ABOUT_THE_PERSON:
                raise UpstreamUnavailableError(
                    f"{error} (check the connector's clientID and clientSecret)"
                ) from error
            raise
        return MicrosoftTokens.from_response(body, now, refresh_token)

    async def _identity(
        self,
        scopes: Scopes,
        tokens: MicrosoftTokens,
        *,
        keep: bool,
        previous: Identity | None = None,
    ) -> Identity:
        graph = Graph(self._http, self._config.graph_url, tokens.access_token)
        user = await graph.me()
        email = user.user_principal_name
        if self._config.email_to_lowercase:
            # Dex lower-cases at sign-in only; Passgate on refresh too, so the email claim
            # does not change case when a token is refreshed.
            email = email.lower()
        groups = previous.groups if previous is not None else ()
        if self._groups_required(scopes):
            groups = await self._groups(graph)
        return Identity(
            user_id=user.id,
            username=user.display_name,
            email=email,
            email_verified=True,  # Dex: the UPN is a verified domain of the tenant
            groups=groups,
            # Dex keeps the tokens only for offline access (there is no refresh otherwise).
            connector_data=tokens.to_bytes() if keep else b"",
        )

    async def _groups(self, graph: Graph) -> tuple[str, ...]:
        """Dex ``getGroups``: the user's groups (ids or names), the required-groups check
        and ``useGroupsAsWhitelist``."""
        groups = await graph.member_group_ids(self._config.only_security_groups)
        if self._config.group_name_format == "name":
            groups = await graph.group_names(groups)
        required = self._config.groups
        wanted = set(required)
        allowed = [group for group in groups if group in wanted]
        if required and not allowed:
            raise UserNotInRequiredGroupsError(
                "you are not a member of any of the Microsoft groups required here ("
                + ", ".join(required)
                + ")"
            )
        if self._config.use_groups_as_whitelist:
            return tuple(allowed)
        return tuple(groups)
