"""Bearer handles ``<id>.<secret>`` of which storage keeps only the secret's SHA-256:
refresh tokens and the browser session cookie. The id finds the record; the secret,
compared in constant time with the stored hash, proves possession. A database reader
learns no live handle, and a forged or truncated one is refused before any lookup."""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["format_handle", "hash_secret", "new_secret", "parse_handle", "secret_matches"]

_SECRET_BYTES = 32
# ids come from ``secrets.token_urlsafe``; secrets are 32 bytes in base64url (43 chars).
_HANDLE = re.compile(r"([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{22,128})")
_MAX_LENGTH = 64 + 1 + 128


def new_secret() -> str:
    """A fresh 256-bit secret, URL-safe."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def format_handle(record_id: str, secret: str) -> str:
    """The string handed out."""
    return f"{record_id}.{secret}"


def parse_handle(value: str) -> tuple[str, str] | None:
    """``(record_id, secret)``, or None for anything that is not a well-formed handle."""
    if len(value) > _MAX_LENGTH:
        return None
    match = _HANDLE.fullmatch(value)
    if match is None:
        return None
    return match.group(1), match.group(2)


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest that storage keeps instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time check of a presented secret against a stored hash."""
    presented = hash_secret(secret).encode("ascii")
    return bool(stored_hash) and secrets.compare_digest(
        presented, stored_hash.encode("utf-8", "replace")
    )
