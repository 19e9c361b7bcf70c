"""The one check of Passgate's own ID and access tokens: signature with a current or
retained key (allowed algorithms only), exact ``iss``, ``exp`` without leeway, then the
revocation rules held in memory. Introspection, TokenReview, UserInfo and the admin API's
bearer authentication all call :meth:`TokenVerifier.verify`.
"""

from __future__ import annotations

from typing import Literal

from passgate.oauth2.errors import InvalidTokenError
from passgate.provider.revocation_cache import RevocationCache, TokenFacts
from passgate.tokens.issuer import TokenIssuer, VerifiedToken

__all__ = ["TokenKind", "TokenVerifier", "token_kind"]

TokenKind = Literal["access", "id"]


def token_kind(token: VerifiedToken) -> TokenKind:
    """Access tokens carry a ``jti`` (so they can be revoked one by one); ID tokens don't."""
    return "access" if token.jti else "id"


class TokenVerifier:
    def __init__(self, issuer: TokenIssuer, revocations: RevocationCache) -> None:
        self._issuer = issuer
        self._revocations = revocations

    @property
    def revocations(self) -> RevocationCache:
        return self._revocations

    async def verify(
        self, token: str, *, kinds: tuple[TokenKind, ...] = ("access", "id")
    ) -> VerifiedToken:
        """The token's verified claims; :class:`InvalidTokenError` when it is not one of
        ``kinds`` we issued, or has expired, or has been revoked."""
        verified = await self._issuer.verify_token(token)
        if token_kind(verified) not in kinds:
            raise InvalidTokenError(f"not an {' or '.join(kinds)} token")
        if self.is_revoked(verified):
            raise InvalidTokenError("the token has been revoked")
        return verified

    def is_revoked(self, token: VerifiedToken) -> bool:
        return self._revocations.is_revoked(TokenFacts.of_token(token))
