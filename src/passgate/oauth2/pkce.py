"""Proof Key for Code Exchange (RFC 7636): the single place PKCE is checked."""

from __future__ import annotations

import hashlib
import re
import secrets

from joserfc.util import urlsafe_b64encode

from passgate.oauth2.errors import InvalidGrantError, InvalidRequestError
from passgate.storage.models import PKCE

S256 = "S256"
PLAIN = "plain"

# RFC 7636 §4.1: code-verifier = 43*128unreserved; §4.2: the S256 challenge is 43 chars
# of base64url, a plain challenge follows the verifier's syntax.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return urlsafe_b64encode(digest).decode("ascii")


def parse_challenge(challenge: str, method: str, supported: tuple[str, ...]) -> PKCE:
    """Validate the challenge of an authorization request (RFC 7636 §4.3)."""
    if not challenge:
        if method:
            raise InvalidRequestError("code_challenge_method given without code_challenge")
        return PKCE()
    method = method or PLAIN  # RFC 7636 §4.3: defaults to "plain"
    if method not in (S256, PLAIN):
        raise InvalidRequestError(f"unsupported code_challenge_method {method[:16]!r}")
    if method not in supported:
        raise InvalidRequestError(f"code_challenge_method {method!r} is not allowed")
    if not _VERIFIER.fullmatch(challenge):
        raise InvalidRequestError("code_challenge must be 43 to 128 unreserved characters")
    return PKCE(code_challenge=challenge, code_challenge_method=method)


def verify(pkce: PKCE, verifier: str) -> None:
    """RFC 7636 §4.6: the server recomputes the challenge and compares in constant time."""
    if not pkce.code_challenge:
        if verifier:
            raise InvalidGrantError("code_verifier sent but no code_challenge was requested")
        return
    if not verifier:
        raise InvalidGrantError("code_verifier is required")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidGrantError("code_verifier is malformed")
    expected = s256_challenge(verifier) if pkce.code_challenge_method == S256 else verifier
    if not secrets.compare_digest(expected.encode("ascii"), pkce.code_challenge.encode("ascii")):
        raise InvalidGrantError("code_verifier does not match the code_challenge")
