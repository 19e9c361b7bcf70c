"""The UserInfo endpoint's answer (OIDC Core §5.3)."""

from __future__ import annotations

from passgate.oauth2.errors import InvalidRequestError, InvalidTokenError, MissingTokenError
from passgate.provider.verify import TokenVerifier

# Claims about the token itself, not about the person: not part of a UserInfo answer.
_TOKEN_CLAIMS = frozenset(
    {
        "iss",
        "aud",
        "exp",
        "iat",
        "nbf",
        "azp",
        "nonce",
        "at_hash",
        "c_hash",
        "jti",
        "auth_time",
        "scope",
        "client_id",
        "sid",
    }
)


def bearer_token(authorization: str | None, form_token: str) -> str:
    """RFC 6750 §2.1 header or §2.2 form body; exactly one of them."""
    header = ""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidTokenError("expected a Bearer token")
        header = value.strip()
    if header and form_token:
        # RFC 6750 §3.1: more than one method of sending the token is an invalid_request.
        raise InvalidRequestError("the access token was sent more than once")
    token = header or form_token
    if not token:
        raise MissingTokenError("an access token is required")
    return token


async def userinfo(token: str, *, verifier: TokenVerifier) -> dict[str, object]:
    """The person's claims of a valid access token (not revoked by any rule: of its
    ``jti``, its session, its user, client or connector; answered from memory)."""
    verified = await verifier.verify(token, kinds=("access",))
    return {key: value for key, value in verified.claims.items() if key not in _TOKEN_CLAIMS}
