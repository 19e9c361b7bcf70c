"""HTTP validators for documents Passgate serializes once and serves many times."""

from __future__ import annotations

import hashlib

__all__ = ["strong_etag"]


def strong_etag(body: bytes) -> str:
    """RFC 9110 §8.8.3: a strong ``ETag`` for ``body``, the same on every replica for the
    same bytes."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'
