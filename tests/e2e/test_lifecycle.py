"""Acceptance: how ``passgate serve`` ends and what it writes to its log, as a process
supervisor (Kubernetes, systemd) and a log pipeline see it."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
import yaml

from e2e.support import Launcher, PassgateServer

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def set_logger(server: PassgateServer, **logger: str) -> None:
    config = yaml.safe_load(server.config_path.read_text())
    config["logger"] = logger
    server.config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def log_lines(server: PassgateServer) -> list[str]:
    text = server.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if line and not line.startswith("--- start #")]


async def test_sigterm_stops_gracefully(launcher: Launcher) -> None:
    """SIGTERM (what Kubernetes sends) ends in an orderly shutdown: every listener stops,
    storage is closed, and the process exits 0 instead of dying of the signal."""
    server = launcher.new(expiry={"signingKeys": "1h"})
    set_logger(server, level="info", format="json")
    await server.start()
    async with server.http() as http:
        await server.password_grant(http)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    try:
        status = server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"no exit 15s after SIGTERM:\n{server.log_tail()}") from None
    assert status == 0, server.log_tail()
    # run()'s cleanup ran to its end: its last words are "stopped".
    assert '"event": "stopped"' in log_lines(server)[-1], server.log_tail()
    # The same database opens again, with its key and tokens.
    await server.start()


async def test_json_logs_are_json_throughout(launcher: Launcher) -> None:
    """``logger.format: json``: every line is one JSON object, including what libraries
    (uvicorn) and the key manager log through the standard ``logging`` module."""
    server = launcher.new(expiry={"signingKeys": "1h"})
    set_logger(server, level="info", format="json")
    await server.start()
    async with server.http() as http:
        await server.password_grant(http)
        assert (await http.get(server.url("/keys"))).status_code == 200
    server.stop()
    lines = log_lines(server)
    assert any("the signing key is now" in line for line in lines), lines
    assert any("uvicorn" in line for line in lines), lines
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}") from None
        assert isinstance(record, dict), line
        assert {"event", "level", "timestamp"} <= set(record), line
