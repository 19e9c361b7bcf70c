"""The upstream tokens kept with a Passgate session, in Dex's ``connectorData`` format
(``{"accessToken", "refreshToken", "expiry"}``, expiry as Go's RFC 3339 time), so refresh
tokens issued by Dex keep working after a move to Passgate."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from passgate.connectors.base import ConnectorError
from passgate.connectors.tokens import access_token_of, expiry_of, refresh_token_of

__all__ = ["MicrosoftTokens"]

# Go's time.Time zero value marshals as this: "no expiry known".
_GO_ZERO = datetime(1, 1, 1, tzinfo=UTC)
# RFC 3339 with Go's up-to-nanosecond fraction; Python keeps microseconds.
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def _parse_time(value: object) -> datetime | None:
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    stamp, fraction, zone = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    try:
        parsed = datetime.fromisoformat(f"{stamp}.{micro}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        return None
    parsed = parsed.astimezone(UTC)
    return None if parsed == _GO_ZERO else parsed


def _format_time(value: datetime | None) -> str:
    if value is None:
        return "0001-01-01T00:00:00Z"
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class MicrosoftTokens:
    """A token response of the Microsoft identity platform, or what was kept of one."""

    access_token: str
    refresh_token: str
    expiry: datetime | None  # None: unknown, as Go's zero time

    @classmethod
    def from_response(
        cls, body: dict[str, Any], now: datetime, previous_refresh_token: str = ""
    ) -> MicrosoftTokens:
        """RFC 6749 §5.1: ``access_token`` and ``expires_in`` (seconds); a refresh answer
        may omit ``refresh_token``, and then the one used stays valid (§6)."""
        return cls(
            access_token_of(body, "Microsoft token endpoint"),
            refresh_token_of(body, previous_refresh_token),
            expiry_of(body, now),
        )

    def to_bytes(self) -> bytes:
        data = {
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token,
            "expiry": _format_time(self.expiry),
        }
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> MicrosoftTokens:
        """What :meth:`to_bytes` (or Dex) stored; :class:`ConnectorError` if unusable."""
        if not data:
            # Dex: "no upstream access token found" (the sign-in had no offline_access).
            raise ConnectorError("no Microsoft tokens were kept for this session")
        try:
            stored = json.loads(data)
        except ValueError:
            stored = None
        if not isinstance(stored, dict):
            raise ConnectorError("the Microsoft tokens kept for this session are unreadable")
        access, refresh = stored.get("accessToken"), stored.get("refreshToken")
        return cls(
            access if isinstance(access, str) else "",
            refresh if isinstance(refresh, str) else "",
            _parse_time(stored.get("expiry")),
        )

    def valid_at(self, now: datetime) -> bool:
        """golang.org/x/oauth2 ``Token.Valid``: an access token, not within 10 s of expiry."""
        if not self.access_token:
            return False
        return self.expiry is None or now < self.expiry - timedelta(seconds=10)
