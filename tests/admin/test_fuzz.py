"""Schemathesis fuzzes the admin API from its own OpenAPI document (DESIGN §5): positive
and negative examples for every operation, with an admin token; no answer may be a 5xx,
and every answer must conform to the document (status, content type, schema).

The server is the real app on a loopback port (uvicorn in a thread with its own event
loop, memory storage), so requests go over HTTP exactly as `passgate admin` sends them.
Schemathesis runs as its CLI (``st run``: examples, coverage, fuzzing and stateful
phases) against the served document; each operation gets at most ``MAX_EXAMPLES``
examples per phase, which keeps the run to about half a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from passgate.cli.compose import build
from passgate.config import parse_config
from server.harness import config_text

from .conftest import ADMIN_SECTION, ADMIN_TOKEN

MAX_EXAMPLES = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """The admin-enabled test issuer on a free port; yields its issuer URL."""
    port = _free_port()
    text = config_text(extra=ADMIN_SECTION).replace("127.0.0.1:5556", f"127.0.0.1:{port}")
    config = parse_config(text, environ={})
    server: uvicorn.Server | None = None
    ready = threading.Event()

    async def main() -> None:
        nonlocal server
        runtime = await build(config)
        server = uvicorn.Server(
            uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="error",
                           lifespan="off")
        )  # fmt: skip
        ready.set()
        try:
            await server.serve()
        finally:
            await runtime.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    issuer = f"http://127.0.0.1:{port}/dex"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{issuer}/healthz").status_code == 200:
                break
        time.sleep(0.05)
    try:
        yield issuer
    finally:
        assert server is not None
        server.should_exit = True
        thread.join(10)


# Rejections the document cannot express as schema violations: 413 (the 64 KiB body
# limit is reached before maxItems), 414 (query too long).
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "413", "414", "415", "422"]
"""


@pytest.mark.slow
def test_admin_api_conforms_to_its_openapi_document(tmp_path: Path) -> None:
    """Every check but positive_data_acceptance: a schema-valid body may still break a
    rule JSON Schema cannot say (a redirect URI's syntax, a password's 72 bytes of
    UTF-8), which is a 400/422 and not a bug. Generated text is valid UTF-8 without NUL
    (the API refuses both with 400, tested in test_api)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    st = str(Path(sys.executable).with_name("st"))
    with serving() as issuer:
        result = subprocess.run(
            [
                st, "--config-file", str(config), "run", f"{issuer}/admin/v1/openapi.json",
                "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
                "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                "--max-examples", str(MAX_EXAMPLES), "--seed", "20261129",
                "--generation-codec", "utf-8", "--generation-allow-x00", "false",
                "--max-failures", "20", "--output-truncate", "true", "--no-color",
            ],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
        )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "Tested: 22" in output, output[-5000:]  # every operation of the document
