"""Refresh token strings: handles ``<id>.<secret>`` (``tokens.handles``), of which storage
keeps only SHA-256 hashes.

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

from joserfc.util import urlsafe_b64encode

from passgate.tokens.handles import format_handle, hash_secret, new_secret, parse_handle
from passgate.tokens.handles import secret_matches as secret_matches

# A refresh token is a handle (``tokens.handles``) under these names.
new_refresh_secret = new_secret
format_refresh_token = format_handle
parse_refresh_token = parse_handle
__all__ = [
    "format_refresh_token",
    "hash_secret",
    "new_refresh_secret",
    "next_secret",
    "parse_refresh_token",
    "secret_matches",
]


def next_secret(rotation_key: bytes, secret: str) -> str:
    """The secret that replaces ``secret`` at rotation (see the module docstring)."""
    mac = hmac.new(rotation_key, secret.encode("utf-8"), hashlib.sha256).digest()
    return urlsafe_b64encode(mac).decode("ascii")
