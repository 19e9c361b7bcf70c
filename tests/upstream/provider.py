"""Start the real upstream OpenID Provider (``server.js``, panva/node-oidc-provider) on
loopback for a test, and change its people while it runs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent


def page_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the provider's login or consent form."""
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action is not None, html[:500]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return unescape(action.group(1)), hidden


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_node() -> str:
    """The node binary with ``oidc-provider`` installed (``npm ci`` in this folder); in CI
    a missing one is a failure, locally a skip."""
    node = shutil.which("node")
    if node and (HERE / "node_modules" / "oidc-provider").is_dir():
        return node
    reason = "needs node and `npm ci --prefix tests/upstream` (see .ci/run)"
    if os.environ.get("CI") or os.environ.get("PASSGATE_REQUIRE_UPSTREAM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Upstream:
    issuer: str
    admin: str
    client_id: str
    client_secret: str

    def change(self, account: str, **change: object) -> None:
        """``groups=[...]`` and/or ``disabled=True`` for one person, effective at once."""
        response = httpx.post(f"{self.admin}/accounts/{account}", json=change, timeout=5)
        response.raise_for_status()


@contextlib.contextmanager
def running_upstream(
    redirect_uri: str, accounts: Mapping[str, Mapping[str, object]]
) -> Iterator[Upstream]:
    node = require_node()
    port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "ADMIN_PORT": str(admin_port),
        "CLIENT_ID": "passgate",
        "CLIENT_SECRET": "upstream-secret-value",
        "REDIRECT_URI": redirect_uri,
        "ACCOUNTS": json.dumps(accounts),
    }
    process = subprocess.Popen(
        [node, str(HERE / "server.js")],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "ready <issuer>", or EOF if it died
        if not line.startswith("ready "):
            raise RuntimeError(f"upstream provider did not start: {line!r}")
        yield Upstream(
            issuer=line.split()[1],
            admin=f"http://127.0.0.1:{admin_port}",
            client_id=env["CLIENT_ID"],
            client_secret=env["CLIENT_SECRET"],
        )
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
