"""Search filters with every outside value escaped (RFC 4515 §3).

The configured ``filter`` is trusted (and checked when the config loads); the username
someone typed, and attribute values taken from the directory, are not: each one becomes
an assertion value with ``\\ * ( ) NUL`` (and any byte that is not UTF-8) escaped, so
``*`` or ``)(uid=*`` match only themselves.
"""

from __future__ import annotations

from passgate.connectors.ldap._ldap3 import escape_filter_chars

__all__ = ["escape_value", "group_filter", "user_filter"]


def escape_value(value: str | bytes) -> str:
    """``value`` as an RFC 4515 assertion value."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            # A binary value (objectSid, objectGUID): every octet as \XX.
            return "".join(f"\\{octet:02x}" for octet in value)
    return str(escape_filter_chars(value))


def _and(configured: str, assertion: str) -> str:
    return f"(&{configured}{assertion})" if configured else assertion


def user_filter(configured: str, username_attr: str, username: str) -> str:
    """Dex ``userEntry``: ``(&<filter>(<username attr>=<username>))``."""
    return _and(configured, f"({username_attr}={escape_value(username)})")


def group_filter(configured: str, group_attr: str, value: str | bytes) -> str:
    """Dex ``groups``: ``(&<filter>(<groupAttr>=<user attribute value>))``."""
    return _and(configured, f"({group_attr}={escape_value(value)})")
