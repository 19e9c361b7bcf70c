"""Redirect-URI rules: exact matching, plus loopback ports for native apps."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from passgate.storage.models import Client

_LOOPBACK_HOSTS = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_uri(uri: str) -> bool:
    """``http`` to a loopback host: where native apps such as kubectl listen."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme == "http" and _is_loopback(parts.hostname or "")


def is_valid_redirect_uri(client: Client, uri: str) -> bool:
    """True when ``uri`` may receive this client's codes.

    RFC 6749 §3.1.2: an absolute URI without a fragment, compared exactly against the
    registered ones (RFC 9700 §2.1 / OAuth 2.0 Security BCP: exact string matching).
    Public clients may also use a loopback URI on any port (RFC 8252 §7.3): either the
    client registered no URI at all (as Dex allows), or a registered loopback URI equals it
    except for the port.
    """
    if "#" in uri or len(uri) > 2048:
        return False
    if uri in client.redirect_uris:
        return True
    if not client.public or not is_loopback_uri(uri):
        return False
    if not client.redirect_uris:
        return True
    asked = urlsplit(uri)
    for registered in client.redirect_uris:
        if not is_loopback_uri(registered):
            continue
        known = urlsplit(registered)
        if (known.hostname, known.path or "/", known.query) == (
            asked.hostname,
            asked.path or "/",
            asked.query,
        ):
            return True
    return False
