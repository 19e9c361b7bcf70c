"""``at_hash`` and ``c_hash``: bind an ID token to the access token or code issued with it."""

from __future__ import annotations

import hashlib

from joserfc.util import urlsafe_b64encode

# The hash named by the JWS ``alg`` (RFC 7518 §3.1); Passgate signs with the SHA-256 ones.
_HASHES = {
    "RS256": "sha256",
    "ES256": "sha256",
    "PS256": "sha256",
    "RS384": "sha384",
    "ES384": "sha384",
    "PS384": "sha384",
    "RS512": "sha512",
    "ES512": "sha512",
    "PS512": "sha512",
}


def token_hash(value: str, algorithm: str) -> str:
    """OIDC Core §3.1.3.6 (``at_hash``) and §3.3.2.11 (``c_hash``): base64url of the left-most
    half of the hash of the ASCII octets of ``value``, hashed as ``algorithm`` prescribes."""
    try:
        name = _HASHES[algorithm]
    except KeyError:
        raise ValueError(f"no hash is defined for algorithm {algorithm!r}") from None
    digest = hashlib.new(name, value.encode("ascii")).digest()
    return urlsafe_b64encode(digest[: len(digest) // 2]).decode("ascii")
