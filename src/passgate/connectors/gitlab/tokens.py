"""The GitLab tokens kept in a Passgate refresh token's ``connector_data``.

The JSON keys ``accessToken`` and ``refreshToken`` are Dex's own, so sessions moved
over from Dex keep working; ``expiry`` is added so a refresh only spends the GitLab
refresh token (GitLab rotates it on every use) once the access token has expired.

A used GitLab refresh token is dead, so :class:`Renewals` makes sure one is spent once:
renewals of the same token wait for each other, and what a token was renewed into is
remembered. A refresh that fails after GitLab rotated the token (a 502 from the user
API, a lost race in Passgate's storage) is then retried with the new tokens instead
of GitLab's ``invalid_grant``, which would end the session.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio

from passgate.connectors.base import ConnectorError, UpstreamUnavailableError
from passgate.connectors.tokens import access_token_of, refresh_token_of

__all__ = ["Renewals", "UpstreamTokens"]


@dataclass(frozen=True, slots=True)
class UpstreamTokens:
    """GitLab's answer to a token request, as far as refresh needs it."""

    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expiry: datetime | None = None  # None: unknown (Dex's data), treated as expired

    @classmethod
    def from_response(
        cls, body: dict[str, Any], now: datetime, previous_refresh: str = ""
    ) -> UpstreamTokens:
        """RFC 6749 §5.1: ``access_token`` is required; ``expires_in`` (GitLab: 7200)
        and a rotated ``refresh_token`` are optional (§6: keep the old one if none)."""
        access = access_token_of(body, "GitLab token endpoint")
        token_type = body.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamUnavailableError(
                f"GitLab token endpoint answered token_type {token_type!r}, not Bearer"
            )
        # Unlike expiry_of: expires_in 0 is "expired now", and a lifetime GitLab does not
        # send as a number is unknown (treated as expired, so renewed on every refresh).
        lifetime = body.get("expires_in")
        expiry = None
        if isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime >= 0:
            expiry = now + timedelta(seconds=lifetime)
        return cls(access, refresh_token_of(body, previous_refresh), expiry)

    def expired(self, now: datetime, margin: timedelta) -> bool:
        return self.expiry is None or now >= self.expiry - margin

    def encode(self) -> bytes:
        data: dict[str, str] = {
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token,
        }
        if self.expiry is not None:
            data["expiry"] = self.expiry.isoformat()
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, data: bytes) -> UpstreamTokens:
        """The stored tokens; :class:`ConnectorError` when there are none to refresh with."""
        try:
            stored = json.loads(data) if data else None
        except ValueError:
            stored = None
        if not isinstance(stored, dict):
            raise ConnectorError("no GitLab tokens were kept for this session; sign in again")
        access, refresh = stored.get("accessToken"), stored.get("refreshToken")
        access = access if isinstance(access, str) else ""
        refresh = refresh if isinstance(refresh, str) else ""
        if not access and not refresh:
            raise ConnectorError("no GitLab refresh or access token found; sign in again")
        expiry = None
        raw = stored.get("expiry")
        if isinstance(raw, str):
            try:
                expiry = datetime.fromisoformat(raw)
            except ValueError:
                expiry = None
            if expiry is not None and expiry.tzinfo is None:
                expiry = None
        return cls(access, refresh, expiry)


class Renewals:
    """Per-process memory of GitLab refresh tokens already spent (bounded)."""

    def __init__(self, memory: int = 4096, stripes: int = 64) -> None:
        self._renewed: OrderedDict[str, UpstreamTokens] = OrderedDict()
        self._memory = memory
        self._stripes = [anyio.Lock() for _ in range(stripes)]

    @asynccontextmanager
    async def serialised(self, refresh_token: str) -> AsyncIterator[None]:
        """Hold the lock of ``refresh_token``'s stripe (a bounded set of locks)."""
        digest = hashlib.sha256(refresh_token.encode()).digest()
        async with self._stripes[int.from_bytes(digest[:4], "big") % len(self._stripes)]:
            yield

    def latest(self, tokens: UpstreamTokens) -> UpstreamTokens:
        """``tokens``, or what their refresh token was last renewed into."""
        for _ in range(len(self._renewed) + 1):
            newer = self._renewed.get(tokens.refresh_token) if tokens.refresh_token else None
            if newer is None:
                break
            tokens = newer
        return tokens

    def remember(self, spent: str, renewed: UpstreamTokens) -> None:
        self._renewed[spent] = renewed
        self._renewed.move_to_end(spent)
        while len(self._renewed) > self._memory:
            self._renewed.popitem(last=False)
