"""Annotated field types shared by the schema: durations, listen addresses, URLs, TLS."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import ssl
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticUseDefault

from passgate.config.base import custom_error
from passgate.durations import parse_duration

__all__ = [
    "COOKIE_PREFIXES",
    "EMPTY_IS_DEFAULT",
    "HTTPURL",
    "AbsoluteURL",
    "CookieName",
    "Duration",
    "IPNetworkText",
    "ListenAddress",
    "NonEmptyStr",
    "PositiveDuration",
    "RootCAData",
    "TLSVersion",
    "check_cookie_name",
    "check_issuer",
    "decode_root_ca_data",
    "is_loopback_host",
    "is_origin",
]


def _empty_means_default(value: Any) -> Any:
    # Go's zero value: Dex treats "" exactly like an absent key.
    if value == "" and isinstance(value, str):
        raise PydanticUseDefault()
    return value


#: ``Annotated[X, EMPTY_IS_DEFAULT]``: a "" in the file means the field's default.
EMPTY_IS_DEFAULT = BeforeValidator(_empty_means_default)


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        if value == "":
            raise PydanticUseDefault()
        return parse_duration(value)
    raise custom_error("must be a duration string such as '300ms', '10m' or '24h'")


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be greater than zero")
    return value


#: A Go duration string (``10m``), zero or more; ``""`` means the default.
Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_not_negative)]
#: A Go duration string greater than zero; ``""`` means the default.
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]


def _not_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_not_empty)]

# RFC 6265 §4.1.1: a cookie name is an RFC 2616 token.
_COOKIE_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}")
#: RFC 6265bis §4.1.3: names with these prefixes bind the cookie's attributes.
COOKIE_PREFIXES = ("__Host-", "__Secure-")


def check_cookie_name(value: str) -> str:
    if not _COOKIE_TOKEN.fullmatch(value):
        raise ValueError(
            "must be a cookie name: 1-64 letters, digits or !#$%&'*+-.^_`|~ (RFC 6265)"
        )
    return value


CookieName = Annotated[str, AfterValidator(check_cookie_name)]


def _listen_address(value: str) -> str:
    if "://" in value:
        raise ValueError("must be host:port (e.g. 127.0.0.1:5556), not a URL")
    host, sep, port = value.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError("must be host:port, e.g. 127.0.0.1:5556 or 0.0.0.0:5556")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError("an IPv6 host must be in brackets, e.g. [::1]:5556")
    return value


#: ``host:port``, ``[v6]:port`` or ``:port`` (every interface), as Go's net.Listen takes.
ListenAddress = Annotated[str, EMPTY_IS_DEFAULT, AfterValidator(_listen_address)]


def _tls_version(value: Any) -> Any:
    if isinstance(value, str) and value == "":
        raise PydanticUseDefault()
    # YAML reads an unquoted 1.2 as a float; accept it rather than make people quote it.
    if isinstance(value, float) and value in (1.2, 1.3):
        return str(value)
    if isinstance(value, str) and value in ("1.2", "1.3"):
        return value
    raise custom_error("supported TLS versions are 1.2 and 1.3")


TLSVersion = Annotated[str, BeforeValidator(_tls_version)]

_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d+(/.*)?")


# Dex's device flow: static device clients register this path as their redirect URI.
DEVICE_CALLBACK_PATH = "/device/callback"


def _absolute_url(value: str) -> str:
    if value == DEVICE_CALLBACK_PATH:
        return value
    if not value or any(c.isspace() for c in value):
        raise ValueError("must be an absolute URL (without spaces)")
    if _HOST_PORT.fullmatch(value):
        raise ValueError(f"must be an absolute URL (did you mean 'http://{value}'?)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError("must be an absolute URL") from None
    if not parts.scheme or (parts.scheme in ("http", "https") and not parts.hostname):
        raise ValueError("must be an absolute URL")
    # RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
    if "#" in value:
        raise ValueError("must not contain a fragment ('#...')")
    return value


#: A redirect URI: absolute, no fragment. Custom schemes (``com.example.app:/cb``) are
#: fine, and so is Dex's ``/device/callback`` for device-flow clients.
AbsoluteURL = Annotated[str, AfterValidator(_absolute_url)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


#: An ``http(s)://host...`` URL: an upstream endpoint a connector calls.
HTTPURL = Annotated[str, AfterValidator(_http_url)]


def decode_root_ca_data(value: str) -> str:
    """The PEM text inside a ``rootCAData`` (gitlab, ldap); ``ValueError`` when it is
    not usable."""
    # Go's base64.StdEncoding (what encoding/json uses for []byte) skips CR and LF.
    compact = value.replace("\r", "").replace("\n", "")
    try:
        pem = base64.b64decode(compact, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise ValueError(
            "must be base64 of PEM-encoded CA certificates (Dex reads it as Go []byte), "
            "e.g. the output of `base64 -w0 ca.pem`"
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("does not hold a PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise ValueError("holds a PEM certificate that cannot be loaded") from None
    return pem


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(
            "must be an IP address or CIDR range, e.g. 10.0.0.0/8 or 192.0.2.1"
        ) from None
    return value


IPNetworkText = Annotated[str, AfterValidator(_network)]


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost`` (RFC 6761 §6.3) or a loopback address."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer(value: str) -> str:
    """OIDC Discovery §3: an http(s) URL with no query or fragment. Kept byte-identical."""
    example = "e.g. https://sso.example.com/dex"
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"must be an absolute http(s) URL without spaces ({example})")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError(f"must be an absolute http(s) URL ({example})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL ({example})")
    if "?" in value:
        raise ValueError("must not contain a query ('?...')")
    if "#" in value:
        raise ValueError("must not contain a fragment ('#...')")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    return value


def is_origin(value: str) -> bool:
    """``*`` or ``scheme://host[:port]`` with nothing after: what a browser sends as Origin."""
    if value == "*":
        return True
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018
    except ValueError:
        return False
    return bool(parts.scheme and parts.hostname) and value == f"{parts.scheme}://{parts.netloc}"


def _root_ca_data(value: str) -> str:
    if value:
        decode_root_ca_data(value)
    return value  # kept as written: the options round-trip through model_dump


#: ``rootCAData`` (gitlab, ldap): base64 of PEM CA certificates, checked at load.
RootCAData = Annotated[str, AfterValidator(_root_ca_data)]
