"""Refresh token strings: ``<id>.<secret>``, of which storage keeps only SHA-256 hashes.

The id locates the stored :class:`~passgate.storage.models.RefreshToken`; the secret proves
possession. Rotation (RFC 9700 §4.14.2) replaces the secret on every use. When a client
retries with the *previous* secret inside the reuse interval (its last response was lost
on the network), Dex hands back the current token instead of treating it as theft. Passgate
stores hashes only, so it cannot look the current secret up; instead each new secret is
derived from the one before it, ``next = base64url(HMAC-SHA256(rotation_key, previous))``,
with a per-token random ``rotation_key``. The server recomputes the current secret from the
presented previous one and checks it against the stored hash. Without the rotation key (kept
in storage, never sent) one secret says nothing about the next.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from joserfc.util import urlsafe_b64encode

_SECRET_BYTES = 32
# ids come from ``secrets.token_urlsafe``; secrets are 32 bytes in base64url (43 chars).
_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{22,128})")
_MAX_LENGTH = 64 + 1 + 128


def new_refresh_secret() -> str:
    """A fresh 256-bit secret, URL-safe."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def format_refresh_token(token_id: str, secret: str) -> str:
    """The string handed to the client."""
    return f"{token_id}.{secret}"


def parse_refresh_token(value: str) -> tuple[str, str] | None:
    """``(token_id, secret)``, or None for anything that is not a well-formed token."""
    if len(value) > _MAX_LENGTH:
        return None
    match = _TOKEN.fullmatch(value)
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


def next_secret(rotation_key: bytes, secret: str) -> str:
    """The secret that replaces ``secret`` at rotation (see the module docstring)."""
    mac = hmac.new(rotation_key, secret.encode("utf-8"), hashlib.sha256).digest()
    return urlsafe_b64encode(mac).decode("ascii")
