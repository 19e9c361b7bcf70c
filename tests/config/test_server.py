"""``web``, ``telemetry``, ``grpc``, ``frontend``, ``logger``."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import document, load, problems


def with_web(**section: Any) -> dict[str, Any]:
    return document(enablePasswordDB=True, web=section)


def test_web_defaults() -> None:
    web = load(document()).web
    assert (web.https, web.tls_cert, web.tls_key) == (None, None, None)
    assert (web.tls_min_version, web.tls_max_version) == (None, None)
    assert web.allowed_origins == []
    assert web.allowed_headers == ["Authorization"]  # Dex's default
    assert web.headers.as_dict() == {}
    assert (web.client_remote_ip.header, web.client_remote_ip.trusted_proxies) == ("", [])


@pytest.mark.parametrize("address", ["127.0.0.1:5556", "0.0.0.0:443", ":5556", "[::1]:5556"])
def test_listen_addresses(address: str) -> None:
    assert load(with_web(http=address)).web.http == address


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.1", "must be host:port, e.g. 127.0.0.1:5556 or 0.0.0.0:5556"),
        ("127.0.0.1:0", "must be host:port, e.g. 127.0.0.1:5556 or 0.0.0.0:5556"),
        ("127.0.0.1:http", "must be host:port, e.g. 127.0.0.1:5556 or 0.0.0.0:5556"),
        ("::1:5556", "an IPv6 host must be in brackets, e.g. [::1]:5556"),
        ("http://127.0.0.1:5556", "must be host:port (e.g. 127.0.0.1:5556), not a URL"),
    ],
)
def test_bad_listen_addresses(address: str, message: str) -> None:
    assert problems(with_web(http=address)) == {"web.http": message}


def test_https_needs_cert_and_key() -> None:
    assert problems(with_web(https="0.0.0.0:443")) == {
        "web.tlsCert": "is required when https is set",
        "web.tlsKey": "is required when https is set",
    }
    web = load(with_web(https="0.0.0.0:443", tlsCert="/tls.crt", tlsKey="/tls.key")).web
    assert (web.http, web.https, web.tls_cert, web.tls_key) == (
        None, "0.0.0.0:443", "/tls.crt", "/tls.key",
    )  # fmt: skip


def test_tls_versions() -> None:
    # An unquoted 1.2 is a YAML float: accepted as "1.2".
    text = "issuer: https://a\nstorage: {type: memory}\nweb: {http: ':1', tlsMinVersion: 1.2}\n"
    assert load(text).web.tls_min_version == "1.2"
    assert load(with_web(http=":1", tlsMaxVersion="1.3")).web.tls_max_version == "1.3"
    assert problems(with_web(http=":1", tlsMinVersion="1.1")) == {
        "web.tlsMinVersion": "supported TLS versions are 1.2 and 1.3"
    }
    assert problems(with_web(http=":1", tlsMinVersion="1.3", tlsMaxVersion="1.2")) == {
        "web.tlsMinVersion": "1.3 is greater than tlsMaxVersion 1.2"
    }


def test_security_headers() -> None:
    headers = {
        "X-Frame-Options": "DENY",
        "x-content-type-options": "nosniff",
        "Content-Security-Policy": "default-src 'self'",
        "X-XSS-Protection": "1; mode=block",
        "Strict-Transport-Security": "max-age=31536000",
    }
    web = load(with_web(http=":1", headers=headers)).web
    assert web.headers.as_dict() == {
        "Content-Security-Policy": "default-src 'self'",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "X-XSS-Protection": "1; mode=block",
        "Strict-Transport-Security": "max-age=31536000",
    }
    assert web.headers.x_frame_options == "DENY"
    assert problems(with_web(http=":1", headers={"Referrer-Policy": "no-referrer"})) == {
        "web.headers.Referrer-Policy": "unknown key"
    }


def test_cors_settings() -> None:
    web = load(
        with_web(
            http=":1", allowedOrigins=["https://app.example.com", "*"], allowedHeaders=["X-Id"]
        )
    ).web
    assert web.allowed_origins == ["https://app.example.com", "*"]
    assert web.allowed_headers == ["X-Id"]
    assert load(with_web(http=":1", allowedHeaders=[])).web.allowed_headers == ["Authorization"]


def test_origins_with_a_path_warn() -> None:
    config = load(with_web(http=":1", allowedOrigins=["https://app.example.com/"]))
    assert config.warnings == [
        "web.allowedOrigins[0]: 'https://app.example.com/' is not an origin (scheme://host[:port], "
        "no path or trailing slash) and will never match a browser's Origin header"
    ]


def test_client_remote_ip() -> None:
    remote = load(
        with_web(
            http=":1",
            clientRemoteIP={"header": "X-Forwarded-For", "trustedProxies": ["10.0.0.0/8", "::1"]},
        )
    ).web.client_remote_ip
    assert remote.header == "X-Forwarded-For"
    assert remote.trusted_proxies == ["10.0.0.0/8", "::1"]
    found = problems(
        with_web(http=":1", clientRemoteIP={"header": "X Real", "trustedProxies": ["10.0.0/8"]})
    )
    assert found == {
        "web.clientRemoteIP.header": "must be a header name such as X-Forwarded-For",
        "web.clientRemoteIP.trustedProxies[0]": (
            "must be an IP address or CIDR range, e.g. 10.0.0.0/8 or 192.0.2.1"
        ),
    }


def test_telemetry() -> None:
    config = load(document(enablePasswordDB=True, telemetry={"http": "127.0.0.1:5558"}))
    assert (config.telemetry.http, config.telemetry.enable_profiling) == ("127.0.0.1:5558", False)
    config = load(document(enablePasswordDB=True, telemetry={"enableProfiling": True}))
    assert config.warnings == ["telemetry.enableProfiling: is recognised but not implemented yet"]


def test_grpc_is_accepted_with_a_warning() -> None:
    grpc = {
        "addr": "127.0.0.1:5557",
        "tlsCert": "/s.crt",
        "tlsKey": "/s.key",
        "tlsClientCA": "/ca.crt",
        "reflection": True,
    }
    config = load(document(enablePasswordDB=True, grpc=grpc))
    assert config.grpc is not None
    assert (config.grpc.addr, config.grpc.tls_client_ca, config.grpc.reflection) == (
        "127.0.0.1:5557", "/ca.crt", True,
    )  # fmt: skip
    assert config.warnings == [
        "grpc: the gRPC API is not served yet by this Passgate version; grpc is ignored"
    ]


def test_grpc_checks_follow_dex() -> None:
    assert problems(document(grpc={"tlsCert": "/s.crt", "tlsClientCA": "/ca"})) == {
        "grpc.addr": "is required when a gRPC TLS cert or key is set",
        "grpc.tlsKey": "set both a gRPC TLS cert and key, or neither",
    }
    assert problems(document(grpc={"addr": ":5557", "tlsClientCA": "/ca"})) == {
        "grpc.tlsClientCA": "needs tlsCert (a client CA without a server cert)"
    }


def test_frontend() -> None:
    frontend = {
        "issuer": "Example SSO",
        "logoURL": "https://example.com/logo.png",
        "theme": "dark",
        "extra": {"tagline": "hello"},
    }
    config = load(document(enablePasswordDB=True, frontend=frontend))
    assert config.frontend.issuer == "Example SSO"
    assert config.frontend.logo_url == "https://example.com/logo.png"
    assert config.frontend.theme == "dark"
    assert config.frontend.extra == {"tagline": "hello"}
    assert config.warnings == []
    config = load(document(enablePasswordDB=True, frontend={"dir": "web/"}))
    assert config.warnings == [
        "frontend.dir: Dex template directories do not fit Passgate's templates; dir is "
        "recognised but ignored"
    ]


@pytest.mark.parametrize(("level", "stored"), [("debug", "debug"), ("WARN", "warn"), ("", "info")])
def test_logger_levels(level: str, stored: str) -> None:
    doc = document(logger={"level": level, "format": "json", "excludeFields": ["email"]})
    logger = load(doc).logger
    assert (logger.level, logger.format, logger.exclude_fields) == (stored, "json", ["email"])


def test_logger_bad_values() -> None:
    assert problems(document(logger={"level": "loud", "format": "xml"})) == {
        "logger.level": "must be one of debug, info, warn, warning, error",
        "logger.format": "must be 'text' or 'json'",
    }
