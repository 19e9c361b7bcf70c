"""Running the apps: the public listener (HTTP and/or HTTPS) and the telemetry listener
on one event loop, with the background loops, from start-up to a clean stop.

Start-up binds every listener and opens storage before anything is logged as serving; a
failure raises :class:`StartupError` (one line; ``passgate serve`` exits 1). SIGTERM or
SIGINT stops in order: readiness turns false at once, requests are still served for
``web.shutdownGrace`` (a load balancer notices meanwhile), then the listeners close,
requests in flight finish, background work is flushed (back-channel logout deliveries,
audit events waiting for the database) and storage closes; exit 0. A second signal stops
at once. SIGHUP re-reads the config file (``cli.reload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator
from typing import Any

import structlog
import uvicorn

from passgate.cli.compose import Runtime, build
from passgate.cli.listeners import Listener, StartupError, bind, listeners, uvicorn_config
from passgate.cli.reload import Reloader
from passgate.config import Config
from passgate.keys.encryption import EncryptionKeyError
from passgate.server.services import Health
from passgate.storage.base import StorageError

__all__ = ["StartupError", "run"]

log = structlog.get_logger("passgate")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: :class:`_Stopper` owns the signals and tells
    every server (public and telemetry) when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Stopper:
    def __init__(self, servers: list[uvicorn.Server], health: Health, grace: float) -> None:
        self._servers = servers
        self._health = health
        self._grace = grace
        self._stopping = False
        self._after_grace: asyncio.Task[None] | None = None

    def request(self, signum: int) -> None:
        if self._stopping:  # a second signal: no more waiting
            log.warning("stopping now", signal=signal.Signals(signum).name)
            for server in self._servers:
                server.force_exit = True
                server.should_exit = True
            return
        self._stopping = True
        self._health.draining = True  # readiness fails from now on
        log.info("stopping", signal=signal.Signals(signum).name, grace_s=self._grace)
        self._after_grace = asyncio.ensure_future(self._close_listeners())

    async def _close_listeners(self) -> None:
        await asyncio.sleep(self._grace)
        for server in self._servers:
            server.should_exit = True

    def stop_all(self) -> None:
        """One server ended on its own (a crash): the others follow."""
        for server in self._servers:
            server.should_exit = True


async def _open(config: Config) -> Runtime:
    try:
        return await build(config)
    except StorageError as error:
        raise StartupError(f"storage ({config.storage.type}): {error}") from error
    except EncryptionKeyError as error:  # a wrong signer.config.encryptionKey
        raise StartupError(f"cannot start: {error}") from error
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        raise StartupError(f"cannot start:{where}: {error.strerror or error}") from error


async def run(config: Config, config_path: str = "") -> None:
    """Serve until stopped by a signal; :class:`StartupError` when start-up fails."""
    bound: list[tuple[Listener, socket.socket]] = []
    try:
        for listener in listeners(config):
            bound.append((listener, bind(listener)))
        runtime = await _open(config)
    except BaseException:
        for _, sock in bound:
            sock.close()
        raise
    try:
        await _serve(config, config_path, runtime, bound)
    finally:
        await runtime.close()
        log.info("stopped")


async def _serve(
    config: Config,
    config_path: str,
    runtime: Runtime,
    bound: list[tuple[Listener, socket.socket]],
) -> None:
    servers: list[tuple[uvicorn.Server, socket.socket]] = []
    for listener, sock in bound:
        app = runtime.telemetry if listener.telemetry else runtime.app
        servers.append((_Server(uvicorn_config(app, listener, config)), sock))
    stopper = _Stopper(
        [server for server, _ in servers],
        runtime.services.health,
        config.web.shutdown_grace.total_seconds(),
    )
    tls_servers = [server for (listener, _), (server, _) in zip(bound, servers, strict=True)
                   if listener.tls]  # fmt: skip
    reloader = Reloader(config_path, config, runtime, tls_servers) if config_path else None
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stopper.request, signum)
    if reloader is not None:
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reloader.reload()))
    for warning in config.warnings:
        log.warning("config", detail=warning)
    background = [asyncio.create_task(loop_fn()) for loop_fn in runtime.background]
    serving = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    try:
        if await _started([server for server, _ in servers], serving):
            web = config.web
            log.info("serving", issuer=config.issuer, http=web.http, https=web.https,
                     telemetry=config.telemetry.http, storage=config.storage.type)  # fmt: skip
        for finished in asyncio.as_completed(serving):
            await _quietly(finished)
            stopper.stop_all()
    finally:
        for signum in (*_STOP_SIGNALS, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


async def _started(servers: list[uvicorn.Server], serving: list[asyncio.Task[None]]) -> bool:
    """Wait until every listener accepts connections; False if one ended first."""
    while not all(server.started for server in servers):
        if any(task.done() for task in serving):
            return False
        await asyncio.sleep(0.01)
    return True


async def _quietly(finished: Any) -> None:
    try:
        await finished
    except Exception:
        log.exception("a listener failed")
