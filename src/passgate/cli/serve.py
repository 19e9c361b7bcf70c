"""Running the apps: the public listener (HTTP and/or HTTPS) and the telemetry listener
on one event loop, with the background loops, until a signal stops them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Iterator

import structlog
import uvicorn

from passgate.cli.compose import Runtime, build
from passgate.config import Config

log = structlog.get_logger("passgate")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def split_address(address: str) -> tuple[str, int]:
    """``127.0.0.1:5556``, ``[::1]:5556``, ``:5556`` (all interfaces) → host and port."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {address!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":5556" means every interface, as in Go
    return host, int(port)


class _MainServer(uvicorn.Server):
    """Takes SIGINT/SIGTERM as uvicorn does, but does not re-raise the signal once it has
    shut down: uvicorn's re-raise ends the process before ``run`` stops the other
    listeners and closes storage (and makes a clean stop exit with the signal's status)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _QuietServer(uvicorn.Server):
    """A second server in the same loop: the main one owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_config(app: object, address: str, config: Config, *, tls: bool) -> uvicorn.Config:
    host, port = split_address(address)
    options: dict[str, object] = {}
    if tls:
        web = config.web
        options = {"ssl_certfile": web.tls_cert, "ssl_keyfile": web.tls_key}
    server_config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        h11_max_incomplete_event_size=16 * 1024,
        timeout_keep_alive=15,
        lifespan="off",
        **options,  # type: ignore[arg-type]
    )
    if tls:
        # uvicorn builds the SSL context in load(); pin the TLS versions of web.tls*Version
        # (TLS 1.2 at least by default, as in Dex).
        server_config.load()
        assert server_config.ssl is not None
        minimum = config.web.tls_min_version or "1.2"
        server_config.ssl.minimum_version = _TLS_VERSIONS[str(minimum)]
        if config.web.tls_max_version:
            server_config.ssl.maximum_version = _TLS_VERSIONS[str(config.web.tls_max_version)]
    return server_config


async def run(config: Config) -> None:
    runtime: Runtime = await build(config)
    servers: list[uvicorn.Server] = []
    web = config.web
    listeners = [
        (address, tls) for address, tls in ((web.http, False), (web.https, True)) if address
    ]
    for index, (address, tls) in enumerate(listeners):
        server_class = _MainServer if index == 0 else _QuietServer
        servers.append(server_class(_uvicorn_config(runtime.app, address, config, tls=tls)))
    if config.telemetry.http:
        servers.append(
            _QuietServer(
                _uvicorn_config(runtime.telemetry, config.telemetry.http, config, tls=False)
            )
        )
    for warning in config.warnings:
        log.warning("config", detail=warning)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(loop()) for loop in runtime.background]
    log.info(
        "serving",
        issuer=config.issuer,
        http=web.http,
        https=web.https,
        telemetry=config.telemetry.http,
        storage=config.storage.type,
    )
    try:
        main, *others = servers
        others_running = [asyncio.create_task(server.serve()) for server in others]
        await main.serve()
        for server in others:
            server.should_exit = True
        await asyncio.gather(*others_running, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.close()
        log.info("stopped")
