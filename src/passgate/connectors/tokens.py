"""Reading an upstream's OAuth 2.0 token response (RFC 6749 §5.1), the same way for the
GitHub, GitLab and Microsoft connectors: what each keeps of it in ``connector_data`` is
their own (Dex's formats), the reading of the fields is not."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from passgate.connectors.base import UpstreamUnavailableError

__all__ = ["access_token_of", "expiry_of", "refresh_token_of"]


def access_token_of(body: dict[str, Any], what: str) -> str:
    """``access_token`` is required (§5.1); an answer without one is the upstream's fault."""
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise UpstreamUnavailableError(f"{what} answered no access_token")
    return access


def refresh_token_of(body: dict[str, Any], previous: str = "") -> str:
    """A rotated ``refresh_token``, else ``previous``: RFC 6749 §6, a refresh answer may
    omit it and then the one used stays valid."""
    refresh = body.get("refresh_token")
    return refresh if isinstance(refresh, str) and refresh else previous


def expiry_of(body: dict[str, Any], now: datetime) -> datetime | None:
    """``now`` + ``expires_in`` seconds, or ``None`` when the upstream names no lifetime.

    Some upstreams (Microsoft's v1 endpoint, proxies of GitHub) send the number as a
    string; golang.org/x/oauth2, which Dex uses, accepts that too."""
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0:
        return now + timedelta(seconds=expires_in)
    return None
