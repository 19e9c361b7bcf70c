"""The token endpoint (RFC 6749 §3.2): authenticate the client, pick the grant, mint.

Fixed order as in Dex's grant handler: parse once, authenticate the client in constant
time, check the grant is enabled, run it. Every failure is an ``OAuthError``.
"""

from __future__ import annotations

import contextlib
import dataclasses

from passgate.clock import Clock
from passgate.connectors.base import ConnectorError, Identity, UpstreamUnavailableError
from passgate.oauth2 import pkce
from passgate.oauth2.client_auth import NONE, read_credentials, unknown_client
from passgate.oauth2.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
    TooManyRequestsError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from passgate.oauth2.params import Params
from passgate.oauth2.scopes import OPENID, split
from passgate.provider.audit import AuditLog
from passgate.provider.authorize import check_scopes
from passgate.provider.client_secrets import ClientSecrets
from passgate.provider.connectors import ConnectorRegistry
from passgate.provider.device import DeviceFlow
from passgate.provider.directory import Directory
from passgate.provider.identity import claims_of
from passgate.provider.ids import new_id, secret_hash
from passgate.provider.issue import Grant, RedeemedCode, ResponseMinter, TokenResponse
from passgate.provider.limits import LoginLimiter, TooManyAttempts
from passgate.provider.login import check_password, scopes_for
from passgate.provider.refresh import RefreshGrant, upstream_unavailable
from passgate.provider.revocation import Revoker
from passgate.provider.sessions import Origin, Sessions
from passgate.provider.settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
    IMPLEMENTED_GRANTS,
    PASSWORD,
    REFRESH_TOKEN,
    ProviderSettings,
)
from passgate.storage.base import NotFoundError, StorageUnavailableError
from passgate.storage.models import AuthCode, Claims, Client
from passgate.tokens.issuer import TokenIssuer


class _CodeReplayed(Exception):
    def __init__(self, code: AuthCode) -> None:
        super().__init__("authorization code replayed")
        self.code = code


class TokenEndpoint:
    def __init__(
        self,
        *,
        directory: Directory,
        connectors: ConnectorRegistry,
        issuer: TokenIssuer,
        settings: ProviderSettings,
        clock: Clock,
        limiter: LoginLimiter,
        revoker: Revoker,
        client_secrets: ClientSecrets,
        sessions: Sessions | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._directory = directory
        self._client_secrets = client_secrets
        self._storage = directory.storage
        self._connectors = connectors
        self._issuer = issuer
        self._settings = settings
        self._clock = clock
        self._limiter = limiter
        self._sessions = sessions
        self._revoker = revoker
        self._minter = ResponseMinter(
            directory.storage, issuer, clock, sessions=sessions, audit=audit
        )
        self._refresh = RefreshGrant(
            storage=directory.storage,
            connectors=connectors,
            minter=self._minter,
            policy=settings.refresh,
            clock=clock,
            revoker=revoker,
        )
        self.device = DeviceFlow(
            directory=directory,
            connectors=connectors,
            minter=self._minter,
            settings=settings,
            clock=clock,
            authenticate=self.authenticate,
            redeem=self.redeem_code,
        )

    async def handle(
        self, form: Params, authorization: str | None, address: str = ""
    ) -> TokenResponse:
        grant_type = form.require("grant_type")
        if grant_type not in IMPLEMENTED_GRANTS or grant_type not in self._settings.grant_types:
            raise UnsupportedGrantTypeError(f"grant_type {grant_type[:80]!r} is not supported")
        client = await self.authenticate(form, authorization)
        if grant_type == AUTHORIZATION_CODE:
            return await self._authorization_code(client, form)
        if grant_type == REFRESH_TOKEN:
            return await self._refresh.handle(client, form)
        if grant_type == PASSWORD:
            return await self._password(client, form, address)
        if grant_type == DEVICE_CODE:
            return await self.device.poll(client, form)
        return await self._client_credentials(client, form)

    async def authenticate(self, form: Params, authorization: str | None) -> Client:
        """RFC 6749 §2.3 / §3.2.1: confidential clients authenticate; public ones identify."""
        creds = read_credentials(authorization, form)
        client = await self._directory.find_client(creds.client_id)
        if client is None:
            raise unknown_client(creds.method)
        if client.public and not client.has_secret:
            if creds.secret:
                raise unknown_client(creds.method)
            return client
        if creds.method == NONE:
            raise InvalidClientError("client authentication is required")
        await self._client_secrets.check(client, creds.secret, creds.method)
        return client

    # -- RFC 6749 §4.1.3 -------------------------------------------------------------
    async def _authorization_code(self, client: Client, form: Params) -> TokenResponse:
        value = form.require("code")
        redeemed = await self.redeem_code(
            client, value, form.optional("redirect_uri"), form.optional("code_verifier")
        )
        return await self._minter.mint(
            redeemed.grant,
            jti=redeemed.jti,
            code=value,
            new_refresh_id=redeemed.refresh_id,
            grant_type=AUTHORIZATION_CODE,
        )

    async def redeem_code(
        self, client: Client, value: str, redirect_uri: str, verifier: str
    ) -> RedeemedCode:
        """Check and spend an authorization code (single use); the device flow's callback
        redeems its code here too."""
        code_id = secret_hash(value)
        try:
            code = await self._storage.get_auth_code(code_id)
        except NotFoundError:
            raise InvalidGrantError("invalid or expired authorization code") from None
        if code.client_id != client.id:
            raise InvalidGrantError("the authorization code was issued to another client")
        if code.redeemed:
            await self._revoke_issued(code)
            raise InvalidGrantError("the authorization code was already used")
        if code.expiry < self._clock():
            raise InvalidGrantError("the authorization code has expired")
        # RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's.
        if redirect_uri != code.redirect_uri:
            raise InvalidGrantError("redirect_uri does not match the authorization request")
        pkce.verify(code.pkce, verifier)
        grant = Grant(
            client_id=client.id,
            claims=code.claims,
            scopes=code.scopes,
            connector_id=code.connector_id,
            nonce=code.nonce,
            auth_time=code.auth_time,
            connector_data=code.connector_data,
            session_id=code.session_id,
        )
        refresh_id, jti = new_id(), new_id()

        def redeem(old: AuthCode) -> AuthCode:
            if old.redeemed:
                raise _CodeReplayed(old)
            return dataclasses.replace(
                old, redeemed=True, refresh_token_id=refresh_id, access_token_id=jti
            )

        try:
            await self._storage.update_auth_code(code_id, redeem)
        except _CodeReplayed as replay:
            await self._revoke_issued(replay.code)
            raise InvalidGrantError("the authorization code was already used") from None
        except NotFoundError:
            raise InvalidGrantError("invalid or expired authorization code") from None
        return RedeemedCode(grant, refresh_id, jti)

    async def _revoke_issued(self, code: AuthCode) -> None:
        """RFC 6749 §4.1.2: on a replayed code, revoke the tokens it issued."""
        if code.refresh_token_id:
            with contextlib.suppress(NotFoundError):
                await self._storage.delete_refresh_token(code.refresh_token_id)
        if code.access_token_id:
            await self._revoker.revoke_jti(
                code.access_token_id,
                until=code.expiry + self._settings.id_token_lifetime,
                actor="system",
                reason="authorization code replayed",
                client_id=code.client_id,
                session_id=code.session_id,
            )
        if code.session_id:
            # The session's ID tokens carry no jti: ending the session refuses them too.
            await self._revoker.revoke_session(
                code.session_id,
                actor="system",
                reason="authorization code replayed",
                revoked_by="code-replay",
            )

    # -- RFC 6749 §4.3 ---------------------------------------------------------------
    async def _password(self, client: Client, form: Params, address: str) -> TokenResponse:
        username = form.require("username")
        password = form.require("password")
        scopes = split(form.optional("scope") or OPENID)
        await check_scopes(self._directory, client.id, scopes)
        connector_id = self._settings.password_connector
        if not connector_id:
            raise UnsupportedGrantTypeError("no password connector is configured")
        entry, connector = self._connectors.password_connector(connector_id)
        if not entry.allows_grant(PASSWORD) or (
            client.allowed_connectors and entry.id not in client.allowed_connectors
        ):
            raise UnauthorizedClientError("the password grant is not allowed for this client")
        try:
            identity = await check_password(
                entry,
                connector,
                scopes_for(scopes),
                username=username,
                password=password,
                limiter=self._limiter,
                address=address,
                client_id=client.id,
                sessions=self._sessions,
            )
        except TooManyAttempts as locked:
            raise TooManyRequestsError(
                "too many failed attempts; try again later",
                headers={"Retry-After": str(locked.retry_after)},
            ) from None
        except UpstreamUnavailableError as error:
            raise upstream_unavailable(entry.id, error) from None
        except ConnectorError as error:
            raise InvalidGrantError(str(error)) from None
        except StorageUnavailableError:
            raise
        except Exception as error:  # a connector bug: a 503 and a traceback, never a 500
            raise upstream_unavailable(entry.id, error) from None
        if identity is None:
            raise InvalidGrantError("invalid username or password")
        grant = self._grant(client, identity, scopes, entry.id)
        if self._sessions is not None:
            session = await self._sessions.start(
                claims=grant.claims, connector_id=entry.id, client_id=client.id, scopes=scopes,
                origin=Origin(address), via=PASSWORD,
                until=self._clock() + self._settings.id_token_lifetime,
            )  # fmt: skip
            grant = dataclasses.replace(grant, session_id=session.id)
        return await self._minter.mint(grant, new_refresh_id=new_id(), grant_type=PASSWORD)

    def _grant(
        self, client: Client, identity: Identity, scopes: tuple[str, ...], connector_id: str
    ) -> Grant:
        return Grant(
            client_id=client.id,
            claims=claims_of(identity),
            scopes=scopes,
            connector_id=connector_id,
            auth_time=self._clock(),
            connector_data=identity.connector_data,
        )

    # -- RFC 6749 §4.4 ---------------------------------------------------------------
    async def _client_credentials(self, client: Client, form: Params) -> TokenResponse:
        if client.public:
            raise UnauthorizedClientError("public clients cannot use client_credentials")
        scopes = split(form.optional("scope"))
        await check_scopes(self._directory, client.id, scopes)
        if "offline_access" in scopes:
            # RFC 6749 §4.4.3: a refresh token SHOULD NOT be included.
            raise InvalidScopeError("offline_access is not available with client_credentials")
        claims = Claims(user_id=client.id, username=client.name or client.id)
        grant = Grant(client_id=client.id, claims=claims, scopes=scopes, connector_id="")
        return await self._minter.mint(grant, grant_type=CLIENT_CREDENTIALS)
