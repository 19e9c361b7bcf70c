"""Who may call the admin API: holders of a configured bearer token (kept as SHA-256
hashes, compared in constant time), or people in an admin group presenting a token
Passgate issued to them."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from passgate.admin.audit import Actor
from passgate.admin.errors import ForbiddenError, UnauthorizedError
from passgate.config.admin import TOKEN_HASH_PREFIX
from passgate.oauth2.errors import OAuthError
from passgate.provider.ids import secret_hash
from passgate.provider.verify import TokenVerifier

__all__ = [
    "AdminAuthenticator",
    "AdminTokenHash",
    "NotAnAdminError",
    "TokenClaims",
    "claims_from",
    "hash_token",
    "new_admin_token",
]

#: Verifies a Passgate-issued access or ID token: its claims, or ``None`` when the token
#: is not valid (bad signature, expired, revoked).
TokenClaims = Callable[[str], Awaitable[Mapping[str, object] | None]]

# Longer bearer values are no tokens of ours; refuse them before hashing or parsing.
MAX_BEARER_LENGTH = 16 * 1024


def hash_token(token: str) -> str:
    """``sha256:<hex>`` of the token: what the config keeps instead of the token."""
    return TOKEN_HASH_PREFIX + secret_hash(token)


def new_admin_token() -> str:
    """A new admin token: 256 random bits, URL-safe, recognisable in secret scanners."""
    return "pgadm_" + secrets.token_urlsafe(32)


class NotAnAdminError(ForbiddenError):
    """A valid token of someone outside the admin groups; ``who`` names them."""

    def __init__(self, who: str) -> None:
        super().__init__(f"{who} is not in an admin group")
        self.who = who


@dataclass(frozen=True, slots=True)
class AdminTokenHash:
    name: str
    hash: str  # sha256:<64 hex>


def bearer_of(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1)."""
    if not authorization:
        raise UnauthorizedError("an admin bearer token is required (Authorization: Bearer ...)")
    scheme, _, value = authorization.partition(" ")
    token = value.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("expected an Authorization: Bearer token")
    if len(token) > MAX_BEARER_LENGTH:
        raise UnauthorizedError("the bearer token is not valid")
    return token


class AdminAuthenticator:
    """Turns an ``Authorization`` header into an :class:`Actor`, or raises 401/403."""

    def __init__(
        self,
        tokens: Sequence[AdminTokenHash],
        groups: Sequence[str] = (),
        verify: TokenClaims | None = None,
    ) -> None:
        self._tokens = tuple(tokens)
        self._groups = frozenset(groups)
        self._verify = verify

    @property
    def groups(self) -> frozenset[str]:
        return self._groups

    async def authenticate(self, authorization: str | None, remote_addr: str = "") -> Actor:
        token = bearer_of(authorization)
        presented = hash_token(token).encode("ascii")
        name = ""
        for entry in self._tokens:  # every entry compared: timing names no token
            if secrets.compare_digest(entry.hash.encode("ascii"), presented):
                name = entry.name
        if name:
            return Actor(f"admin:{name}", remote_addr)
        if not self._groups or self._verify is None:
            raise UnauthorizedError("the bearer token is not valid")
        claims = await self._verify(token)
        if claims is None:
            raise UnauthorizedError("the bearer token is not valid")
        who = _person(claims)
        groups = claims.get("groups")
        held = {groups} if isinstance(groups, str) else set(_strings(groups))
        if not held & self._groups:
            raise NotAnAdminError(who)
        return Actor(f"admin:{who}", remote_addr)


def _person(claims: Mapping[str, object]) -> str:
    for key in ("email", "preferred_username", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value:
            return value
    return "unknown"


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def claims_from(verifier: TokenVerifier) -> TokenClaims:
    """:data:`TokenClaims` over Passgate's one token check (signature, ``iss``, ``exp``,
    revocation rules): the claims of a valid access or ID token, else ``None``."""

    async def claims(token: str) -> Mapping[str, object] | None:
        try:
            return (await verifier.verify(token)).claims
        except OAuthError:
            return None

    return claims
