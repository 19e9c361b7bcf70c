"""The sockets Passgate listens on, bound before anything is served: a port in use or a
certificate that cannot be loaded ends start-up at once with one line that names the
config key and the address or file, never a server that logs "serving" and listens on
nothing."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

import uvicorn

from passgate.config import Config

__all__ = ["Listener", "StartupError", "bind", "listeners", "split_address", "uvicorn_config"]

_TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
#: After the last in-flight request has this long to finish at shutdown (seconds).
GRACEFUL_SHUTDOWN_TIMEOUT = 30


class StartupError(Exception):
    """Start-up cannot go on; the message says what and where, in one line."""


@dataclass(frozen=True, slots=True)
class Listener:
    key: str  # the config key it comes from: web.http, web.https, telemetry.http
    address: str
    tls: bool = False

    @property
    def telemetry(self) -> bool:
        return self.key.startswith("telemetry.")


def listeners(config: Config) -> list[Listener]:
    web = config.web
    found = [
        Listener("web.http", web.http) if web.http else None,
        Listener("web.https", web.https, tls=True) if web.https else None,
        Listener("telemetry.http", config.telemetry.http) if config.telemetry.http else None,
    ]
    return [listener for listener in found if listener is not None]


def split_address(address: str) -> tuple[str, int]:
    """``127.0.0.1:5556``, ``[::1]:5556``, ``:5556`` (all interfaces) → host and port."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {address!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":5556" means every interface, as in Go
    return host, int(port)


def bind(listener: Listener) -> socket.socket:
    """A bound socket for ``listener`` (uvicorn listens on it once serving starts)."""
    host, port = split_address(listener.address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = (error.strerror or str(error)).lower()
        raise StartupError(
            f"cannot listen on {listener.key} {listener.address}: {reason}"
        ) from error
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: object, listener: Listener, config: Config) -> uvicorn.Config:
    """uvicorn's settings for one listener; its TLS certificate is loaded here, so a
    missing or unreadable file fails start-up (:class:`StartupError`)."""
    options: dict[str, object] = {}
    web = config.web
    if listener.tls:
        options = {"ssl_certfile": web.tls_cert, "ssl_keyfile": web.tls_key}
    server_config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        h11_max_incomplete_event_size=16 * 1024,
        timeout_keep_alive=15,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_TIMEOUT,
        lifespan="off",
        **options,  # type: ignore[arg-type]
    )
    if listener.tls:
        try:
            server_config.load()  # uvicorn builds the SSL context here
        except (OSError, ssl.SSLError) as error:
            raise StartupError(
                f"cannot load the TLS certificate for {listener.key} (web.tlsCert "
                f"{web.tls_cert}, web.tlsKey {web.tls_key}): {_reason(error)}"
            ) from error
        assert server_config.ssl is not None
        # web.tls*Version: TLS 1.2 at least by default, as in Dex.
        server_config.ssl.minimum_version = _TLS_VERSIONS[str(web.tls_min_version or "1.2")]
        if web.tls_max_version:
            server_config.ssl.maximum_version = _TLS_VERSIONS[str(web.tls_max_version)]
    return server_config


def reload_certificate(server_config: uvicorn.Config, config: Config) -> None:
    """Load the (renewed) certificate and key into the running listener's SSL context:
    new connections use it; established ones keep theirs (Dex reloads on SIGHUP too)."""
    web = config.web
    if server_config.ssl is None or not web.tls_cert or not web.tls_key:
        raise ValueError("no TLS listener or certificate to reload")
    server_config.ssl.load_cert_chain(web.tls_cert, web.tls_key)


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror.lower()}{where}"
    return str(error) or type(error).__name__
