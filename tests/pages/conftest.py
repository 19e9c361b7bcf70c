"""A real ``passgate serve`` (SQLite, free loopback ports) and Debian's Chromium driven by
Playwright, for tests of the pages as a person sees them.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``. Without it
the tests skip locally and fail under CI (where ``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CLIENT_ID = "page-app"
CLIENT_SECRET = "cGFnZS1hcHAtc2VjcmV0"
# A public client without redirect URIs, for the device flow (tests/pages/test_device.py).
DEVICE_CLIENT_ID = "page-cli"
EMAIL = "jane@example.com"
PASSWORD = "correct horse battery staple"


#: Where page tests leave what a person would look at (screenshots): kept after the run
#: (CI prints the list), ignored by git. ``PASSGATE_TEST_ARTIFACTS`` moves it.
ARTIFACTS = Path(
    os.environ.get("PASSGATE_TEST_ARTIFACTS") or Path(__file__).parents[2] / "test-artifacts"
)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """The test module's folder of artefacts (``test-artifacts/<module>``); each run
    overwrites the files of the one before."""
    folder = ARTIFACTS / request.module.__name__.rpartition(".")[2].removeprefix("test_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def passgate_command() -> list[str]:
    beside = Path(sys.executable).with_name("passgate")
    return [str(beside) if beside.exists() else shutil.which("passgate") or "passgate"]


@dataclass(frozen=True)
class Server:
    issuer: str
    redirect_uri: str
    log: Path


def _config(
    issuer: str, web: str, database: Path, redirect_uri: str, groups: Sequence[str] = ()
) -> str:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"""
issuer: {issuer}
storage:
  type: sqlite3
  config:
    file: {database}
web:
  http: {web}
logger:
  level: info
  format: json
enablePasswordDB: true
staticClients:
- id: {CLIENT_ID}
  name: Page App
  secret: {CLIENT_SECRET}
  redirectURIs: ["{redirect_uri}"]
- id: {DEVICE_CLIENT_ID}
  name: Page CLI
  public: true
staticPasswords:
- email: {EMAIL}
  hash: "{hashed}"
  username: jane
  userID: 5b1e6c1e-0d7e-4c43-9a3e-0c1f5f2b0b7a
  groups: [{", ".join(groups)}]
"""


def redeem(server: Server, code: str, verifier: str = "") -> httpx.Response:
    """The client at /token with the code the browser carried back."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": server.redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    return httpx.post(
        f"{server.issuer}/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10
    )


@contextlib.contextmanager
def run_passgate(
    tmp_path: Path,
    port: int,
    redirect_uri: str,
    extra: str = "",
    *,
    text: str | None = None,
    groups: Sequence[str] = (),
) -> Iterator[Server]:
    """``passgate serve`` on ``port`` with the page config (``groups``: jane's) plus
    ``extra`` YAML (or a whole config ``text`` of the test's own), healthy; stopped (and
    its log kept) after."""
    issuer = f"http://127.0.0.1:{port}/dex"
    config = tmp_path / "config.yaml"
    database = tmp_path / "passgate.db"
    base = _config(issuer, f"127.0.0.1:{port}", database, redirect_uri, groups)
    config.write_text(text if text is not None else base + extra)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*passgate_command(), "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"passgate exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{issuer}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"passgate not healthy after 30 s:\n{log.read_text()}")
            time.sleep(0.05)
        yield Server(issuer, redirect_uri, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def passgate_server(tmp_path: Path) -> Iterator[Server]:
    """``passgate serve`` on a free port with the page config."""
    # Nothing listens at the redirect URI: the browser's navigation to it is intercepted.
    with run_passgate(tmp_path, free_port(), f"http://127.0.0.1:{free_port()}/callback") as server:
        yield server
