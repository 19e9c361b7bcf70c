"""RFC 7662 token introspection: is this token active, and what is it?

A token is active while it verifies (ours, unexpired), no revocation covers it, and the
session it belongs to is neither revoked nor expired. Refresh tokens are active while
their current secret is presented and their lifetimes have not run out.

Whose tokens a client may introspect (RFC 7662 §4 lets the server decide, against token
scanning): a refresh token only by the client it was issued to; an ID or access token
by the client it was issued to (``azp``) or a client it was issued for (``aud``: a
resource server checking a token sent to it). Any other caller learns only
``{"active": false}``, exactly what an invalid token gives.
"""

from __future__ import annotations

from typing import Any

from passgate.clock import Clock
from passgate.oauth2.errors import InvalidTokenError
from passgate.provider.refresh import lifetime_problem
from passgate.provider.revocation_cache import TokenFacts
from passgate.provider.sessions import Sessions
from passgate.provider.settings import RefreshPolicy
from passgate.provider.verify import TokenVerifier, token_kind
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import Client
from passgate.tokens import refresh as refresh_tokens
from passgate.tokens.subject import encode_subject

__all__ = ["INACTIVE", "Introspector"]

INACTIVE: dict[str, Any] = {"active": False}
# Claims copied from a verified ID or access token into the answer (RFC 7662 §2.2 and
# a few identity claims resource servers want).
_COPIED = ("exp", "iat", "sub", "aud", "iss", "jti", "sid", "email", "email_verified",
           "groups", "preferred_username", "name")  # fmt: skip


class Introspector:
    def __init__(
        self, storage: Storage, clock: Clock, verifier: TokenVerifier, sessions: Sessions, *,
        issuer: str, policy: RefreshPolicy,
    ) -> None:  # fmt: skip
        self._storage = storage
        self._sessions = sessions
        self._clock = clock
        self._verifier = verifier
        self._issuer = issuer
        self._policy = policy

    async def introspect(self, token: str, client: Client) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer for ``token`` asked about by ``client``."""
        parsed = refresh_tokens.parse_refresh_token(token)
        if parsed is not None:
            return await self._refresh(parsed, client)
        try:
            verified = await self._verifier.verify(token)
        except InvalidTokenError:
            return INACTIVE
        if client.id != verified.client_id and client.id not in verified.audience:
            return INACTIVE
        if verified.session_id and not await self._sessions.is_active(verified.session_id):
            return INACTIVE
        claims = verified.claims
        body: dict[str, Any] = {
            "active": True,
            "client_id": verified.client_id,
            "token_type": "Bearer" if token_kind(verified) == "access" else "id_token",
        }
        if verified.scopes:
            body["scope"] = " ".join(verified.scopes)
        username = claims.get("preferred_username") or claims.get("email") or claims.get("name")
        if isinstance(username, str):
            body["username"] = username
        body.update({name: claims[name] for name in _COPIED if name in claims})
        return body

    async def _refresh(self, parsed: tuple[str, str], client: Client) -> dict[str, Any]:
        token_id, secret = parsed
        try:
            token = await self._storage.get_refresh_token(token_id)
        except NotFoundError:
            return INACTIVE
        if token.client_id != client.id or not refresh_tokens.secret_matches(
            secret, token.token_hash
        ):
            return INACTIVE
        if lifetime_problem(token, self._policy, self._clock()):
            return INACTIVE
        if self._verifier.revocations.is_revoked(TokenFacts.of_refresh_token(token)):
            return INACTIVE
        session = await self._sessions.active_grant(token.session_id) if token.session_id else None
        if token.session_id and session is None:
            return INACTIVE
        body: dict[str, Any] = {
            "active": True,
            "token_type": "refresh_token",
            "client_id": token.client_id,
            "scope": " ".join(token.scopes),
            "sub": encode_subject(token.claims.user_id, token.connector_id),
            "iss": self._issuer,
            "iat": int(token.created_at.timestamp()),
        }
        if self._policy.absolute_lifetime is not None:
            body["exp"] = int((token.created_at + self._policy.absolute_lifetime).timestamp())
        if session is not None:
            body["sid"] = session.sid
        username = token.claims.preferred_username or token.claims.email
        if username:
            body["username"] = username
        return body
