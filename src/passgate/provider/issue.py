"""Minting the token response shared by every grant (RFC 6749 §5.1, OIDC Core §3.1.3.3)."""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass
from datetime import datetime

from passgate.clock import Clock
from passgate.oauth2.scopes import OFFLINE_ACCESS, OPENID, classify
from passgate.provider.audit import TOKEN_ISSUE, TOKEN_REFRESH, AuditLog
from passgate.provider.ids import new_id
from passgate.provider.sessions import Sessions
from passgate.provider.settings import REFRESH_TOKEN
from passgate.storage.base import AlreadyExistsError, NotFoundError, Storage
from passgate.storage.models import Claims, OfflineSession, RefreshToken, RefreshTokenRef
from passgate.tokens import refresh as refresh_tokens
from passgate.tokens.issuer import TokenIssuer


@dataclass(frozen=True, slots=True)
class TokenResponse:
    access_token: str
    expires_in: int
    scope: str
    id_token: str | None = None
    refresh_token: str | None = None
    token_type: str = "bearer"

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.scope:
            body["scope"] = self.scope
        if self.id_token is not None:
            body["id_token"] = self.id_token
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


@dataclass(frozen=True, slots=True)
class Grant:
    """Everything a token response is made from."""

    client_id: str
    claims: Claims
    scopes: tuple[str, ...]
    connector_id: str
    nonce: str = ""
    auth_time: datetime | None = None
    connector_data: bytes = b""
    session_id: str = ""  # the sign-in session the tokens belong to ("" for none)


@dataclass(frozen=True, slots=True)
class RedeemedCode:
    """A redeemed authorization code: the grant, and the ids of the refresh and access
    tokens recorded on the code (so a replay can revoke them, RFC 6749 §4.1.2)."""

    grant: Grant
    refresh_id: str
    jti: str


def audience(client_id: str, scopes: tuple[str, ...]) -> list[str]:
    """Dex semantics: the peers asked for with ``audience:server:client_id:``, plus the
    client itself; the client alone when no peer was asked for."""
    peers = list(classify(scopes).peers)
    if client_id not in peers:
        peers.append(client_id)
    return peers


class ResponseMinter:
    """Signs ID and access tokens and creates refresh tokens for a :class:`Grant`.

    With ``sessions``, minting under a session first checks that it is still active and
    extends it (:meth:`Sessions.use`); with ``audit``, each response is recorded."""

    def __init__(
        self,
        storage: Storage,
        issuer: TokenIssuer,
        clock: Clock,
        *,
        sessions: Sessions | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._storage = storage
        self._issuer = issuer
        self._clock = clock
        self._sessions = sessions
        self._audit = audit

    async def mint(
        self,
        grant: Grant,
        *,
        jti: str | None = None,
        code: str | None = None,
        refresh_token: str | None = None,
        new_refresh_id: str | None = None,
        id_token: bool = True,
        grant_type: str = "",
    ) -> TokenResponse:
        """The token response for ``grant``: with ``new_refresh_id`` a new refresh token
        under that id (when ``offline_access`` was granted), with ``refresh_token`` the
        rotated one. The session is checked first, so an ended one leaves nothing behind."""
        sid = grant.session_id  # the grant's own session, or its browser session's
        if grant.session_id and self._sessions is not None:
            refreshable = refresh_token is not None or (
                new_refresh_id is not None and OFFLINE_ACCESS in grant.scopes
            )
            sid = (await self._sessions.use(grant.session_id, refresh=refreshable)).sid
        if new_refresh_id is not None:
            refresh_token = await self.new_refresh_token(grant, new_refresh_id)
        aud = audience(grant.client_id, grant.scopes)
        access = await self._issuer.access_token(
            claims=grant.claims,
            client_id=grant.client_id,
            audience=aud,
            scopes=grant.scopes,
            connector_id=grant.connector_id,
            jti=jti or new_id(),
            session_id=sid,
        )
        signed_id_token = None
        if id_token and OPENID in grant.scopes:
            signed_id_token, _ = await self._issuer.id_token(
                claims=grant.claims,
                client_id=grant.client_id,
                audience=aud,
                scopes=grant.scopes,
                connector_id=grant.connector_id,
                nonce=grant.nonce,
                access_token=access.token,
                code=code,
                auth_time=grant.auth_time,
                session_id=sid,
            )
        # exp is whole seconds; round up so a one-hour token says 3600, not 3599.
        expires_in = max(0, math.ceil((access.expiry - self._clock()).total_seconds()))
        if self._audit is not None:
            await self._audit.record(
                TOKEN_REFRESH if grant_type == REFRESH_TOKEN else TOKEN_ISSUE,
                grant.claims.email or grant.claims.user_id,
                subject=access.jti,
                user_id=grant.claims.user_id,
                client_id=grant.client_id,
                connector_id=grant.connector_id,
                session_id=grant.session_id,
                details={"grant_type": grant_type} if grant_type else None,
            )
        return TokenResponse(
            access_token=access.token,
            expires_in=expires_in,
            scope=" ".join(grant.scopes),
            id_token=signed_id_token,
            refresh_token=refresh_token,
        )

    async def new_refresh_token(self, grant: Grant, token_id: str) -> str | None:
        """A refresh token when ``offline_access`` was granted (OIDC Core §11)."""
        if OFFLINE_ACCESS not in grant.scopes:
            return None
        secret = refresh_tokens.new_refresh_secret()
        now = self._clock()
        await self._storage.create_refresh_token(
            RefreshToken(
                id=token_id,
                token_hash=refresh_tokens.hash_secret(secret),
                client_id=grant.client_id,
                connector_id=grant.connector_id,
                claims=grant.claims,
                scopes=grant.scopes,
                created_at=now,
                last_used=now,
                rotation_key=secrets.token_bytes(32),
                nonce=grant.nonce,
                connector_data=grant.connector_data,
                auth_time=grant.auth_time,
                session_id=grant.session_id,
            )
        )
        await self._remember_session(grant, token_id, now)
        return refresh_tokens.format_refresh_token(token_id, secret)

    async def _remember_session(self, grant: Grant, token_id: str, now: datetime) -> None:
        ref = RefreshTokenRef(id=token_id, client_id=grant.client_id, created_at=now, last_used=now)
        user_id, connector_id = grant.claims.user_id, grant.connector_id

        def add(old: OfflineSession) -> OfflineSession:
            return dataclasses.replace(
                old,
                refresh={**old.refresh, grant.client_id: ref},
                connector_data=grant.connector_data or old.connector_data,
            )

        try:
            await self._storage.update_offline_session(user_id, connector_id, add)
        except NotFoundError:
            session = OfflineSession(
                user_id=user_id,
                connector_id=connector_id,
                refresh={grant.client_id: ref},
                connector_data=grant.connector_data,
            )
            try:
                await self._storage.create_offline_session(session)
            except AlreadyExistsError:  # a racing login created it first: merge into it
                await self._storage.update_offline_session(user_id, connector_id, add)
