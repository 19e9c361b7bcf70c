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

from testenv import missing

HERE = Path(__file__).parent


def page_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of a page's (first) form: the upstream's login or
    consent form, the SAML IdP's auto-post form."""
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action is not None, html[:500]
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    return unescape(action.group(1)), {name: unescape(value) for name, value in hidden}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require(available: bool, reason: str) -> None:
    """A test server's prerequisite: in CI (or with PASSGATE_REQUIRE_UPSTREAM=1) a missing
    one is a failure, locally a skip with ``reason``."""
    if not available:
        missing("UPSTREAM", reason)


def require_node(folder: Path = HERE, package: str = "oidc-provider") -> str:
    """The node binary, with ``package`` installed in ``folder`` by ``npm ci``."""
    node = shutil.which("node")
    installed = (folder / "node_modules" / package).is_dir()
    require(bool(node) and installed, f"needs node and `npm ci --prefix {folder}` (make upstream)")
    assert node is not None
    return node


@contextlib.contextmanager
def node_server(folder: Path, package: str, env: Mapping[str, str], what: str) -> Iterator[str]:
    """Run ``folder/server.js`` until the block ends; yields what follows its
    ``ready`` line (its base URL)."""
    node = require_node(folder, package)
    process = subprocess.Popen(
        [node, str(folder / "server.js")],
        cwd=folder,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "ready <url>", or EOF if it died
        if not line.startswith("ready "):
            raise RuntimeError(f"{what} did not start: {line!r}")
        yield line.split()[1]
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


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
    port, admin_port = free_port(), free_port()
    env = {
        "PORT": str(port),
        "ADMIN_PORT": str(admin_port),
        "CLIENT_ID": "passgate",
        "CLIENT_SECRET": "upstream-secret-value",
        "REDIRECT_URI": redirect_uri,
        "ACCOUNTS": json.dumps(accounts),
    }
    with node_server(HERE, "oidc-provider", env, "upstream provider") as issuer:
        yield Upstream(
            issuer=issuer,
            admin=f"http://127.0.0.1:{admin_port}",
            client_id=env["CLIENT_ID"],
            client_secret=env["CLIENT_SECRET"],
        )
