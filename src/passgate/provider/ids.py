"""Random identifiers and the hashes under which single-use secrets are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_id() -> str:
    """An unguessable identifier (128 bits), URL-safe."""
    return secrets.token_urlsafe(16)


def new_secret() -> str:
    """A bearer secret (256 bits), URL-safe."""
    return secrets.token_urlsafe(32)


def secret_hash(value: str) -> str:
    """Single-use secrets (authorization codes) are stored and looked up by SHA-256, so
    neither a database reader nor a lookup's timing learns a live value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def mac(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 over the parts, hex; compare with :func:`mac_matches`."""
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mac_matches(key: bytes, presented: str, *parts: str) -> bool:
    return secrets.compare_digest(mac(key, *parts).encode(), presented.encode("utf-8", "replace"))
