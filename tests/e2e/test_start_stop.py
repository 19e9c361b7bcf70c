"""Acceptance: ``passgate serve`` as an SRE on call meets it. A start that cannot work
ends within seconds with exit code 1 and one line naming what and where; SIGTERM drains
(readiness false, still serving for web.shutdownGrace), lets requests in flight finish
and exits 0; SIGHUP applies a changed file, or refuses a broken one and keeps going."""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import pytest
import yaml

from e2e.support import PASSGATE, Launcher, PassgateServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def failed_start(server: PassgateServer) -> tuple[int, str, float]:
    """Run the server to its end; exit code, what it printed, seconds taken."""
    started = time.monotonic()
    done = subprocess.run(
        [PASSGATE, "serve", str(server.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=server.directory,
    )
    return done.returncode, done.stderr + done.stdout, time.monotonic() - started


def edit_config(server: PassgateServer, **sections: object) -> None:
    config = yaml.safe_load(server.config_path.read_text())
    config.update(sections)
    server.config_path.write_text(yaml.safe_dump(config, sort_keys=False))


async def test_a_start_that_cannot_work_says_what_and_where(
    launcher: Launcher, tmp_path: Path
) -> None:
    server = launcher.new()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.port))
        taken.listen()
        code, output, seconds = failed_start(server)
    assert (code, seconds < 5) == (1, True), output
    assert output.strip() == (
        f"passgate: cannot listen on web.http 127.0.0.1:{server.port}: address already in use"
    )
    # The telemetry port as well (it used to end in a traceback and a hang).
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.telemetry_port))
        taken.listen()
        code, output, _ = failed_start(server)
    assert code == 1
    assert f"telemetry.http 127.0.0.1:{server.telemetry_port}" in output
    assert "Traceback" not in output

    tls = launcher.new(tls=True)
    edit_config(tls, web={"https": f"127.0.0.1:{tls.port}", "tlsCert": "/nonexistent/cert.pem",
                          "tlsKey": str(tls.tls.key if tls.tls else "")})  # fmt: skip
    code, output, _ = failed_start(tls)
    assert code == 1
    assert "web.tlsCert /nonexistent/cert.pem" in output, output
    assert "Traceback" not in output

    database = launcher.new(
        {"type": "postgres", "config": {"host": "127.0.0.1", "port": free_port(),
                                        "database": "x", "user": "x", "ssl": {"mode": "disable"}}}
    )  # fmt: skip
    code, output, seconds = failed_start(database)
    assert (code, seconds < 5) == (1, True), output
    assert output.startswith("passgate: storage (postgres): cannot connect to PostgreSQL"), output

    unwritable = launcher.new({"type": "sqlite3", "config": {"file": "/proc/no/passgate.db"}})
    code, output, _ = failed_start(unwritable)
    assert code == 1
    assert "storage (sqlite3)" in output, output
    assert "/proc/no" in output, output
    assert len(output.strip().splitlines()) == 1, output

    # A missing parent directory of the SQLite file is made, for the owner only.
    fresh = launcher.new({"type": "sqlite3", "config": {"file": str(tmp_path / "a/b/p.db")}})
    await fresh.start()
    for made in (tmp_path / "a", tmp_path / "a/b"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700


async def test_sigterm_drains_then_finishes_what_is_in_flight(launcher: Launcher) -> None:
    server = launcher.new(web={"shutdownGrace": "1s"})
    await server.start()
    assert server.process is not None
    ready = f"http://127.0.0.1:{server.telemetry_port}/healthz/ready"
    # A request in flight: its body arrives slowly, across the whole shutdown.
    body = b"grant_type=password&username=nobody&password=wrong"
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.sendall(
        b"POST /dex/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Authorization: Basic " + _basic(server) + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10]
    )
    await anyio.sleep(0.2)
    server.process.send_signal(signal.SIGTERM)
    await anyio.sleep(0.3)
    async with httpx.AsyncClient(timeout=2.0) as http:
        assert (await http.get(ready)).json() == {"status": "draining"}
        # Still serving during the grace: the load balancer has time to notice.
        assert (await http.get(server.url("/.well-known/openid-configuration"))).is_success
        await anyio.sleep(1.2)  # past the grace: no new connections
        with pytest.raises(httpx.ConnectError):
            await http.get(server.url("/.well-known/openid-configuration"))
    slow.sendall(body[10:])  # the request in flight gets its answer
    slow.settimeout(10)
    chunks = []
    while chunk := slow.recv(65536):  # "connection: close": read to the end
        chunks.append(chunk)
    slow.close()
    answer = b"".join(chunks).decode()
    assert answer.startswith("HTTP/1.1 400"), answer[:200]
    assert '"invalid_grant"' in answer
    assert server.process.wait(timeout=40) == 0, server.log_tail()


async def test_sighup_applies_clients_and_refuses_a_broken_file(launcher: Launcher) -> None:
    server = launcher.new()
    await server.start()
    assert server.process is not None
    config = yaml.safe_load(server.config_path.read_text())
    added = {"id": "added-app", "name": "Added", "secret": "added-secret-value",
             "redirectURIs": ["http://127.0.0.1:9/cb"]}  # fmt: skip
    edit_config(server, staticClients=[*config["staticClients"], added])
    server.process.send_signal(signal.SIGHUP)
    form = {"grant_type": "password", "username": server.user.email,
            "password": server.user.password, "scope": "openid"}  # fmt: skip
    async with server.http() as http:
        for _ in range(100):  # applied within a moment, without a restart
            answer = await http.post(server.url("/token"), data=form,
                                     auth=("added-app", "added-secret-value"))  # fmt: skip
            if answer.status_code == 200:
                break
            await anyio.sleep(0.05)
        assert answer.status_code == 200, answer.text
        server.config_path.write_text("issuer: [this is not valid\n")
        server.process.send_signal(signal.SIGHUP)
        await anyio.sleep(0.5)
        assert server.running
        still = await http.post(server.url("/token"), data=form,
                                auth=("added-app", "added-secret-value"))  # fmt: skip
        assert still.status_code == 200
    assert "config reload refused" in server.log_tail(), server.log_tail()


def _basic(server: PassgateServer) -> bytes:
    import base64

    return base64.b64encode(f"{server.client.id}:{server.client.secret}".encode())
