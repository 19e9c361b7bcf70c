"""Serve a fake upstream API (a Starlette app) on a loopback port from a background thread,
so connectors reach it through their real HTTP client, sockets and (optionally) TLS, and a
``passgate serve`` subprocess can reach it too.

    with serve_app(app) as base_url: ...              # http://127.0.0.1:PORT
    with serve_app(app, tls=make_tls_files(tmp)) as base_url: ...   # https://127.0.0.1:PORT
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from e2e.tls import TLSFiles

__all__ = ["TLSFiles", "serve_app"]


@contextlib.contextmanager
def serve_app(app: ASGIApp, tls: TLSFiles | None = None) -> Iterator[str]:
    """Run ``app`` until the block ends; yields its base URL (no trailing slash)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake upstream did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
