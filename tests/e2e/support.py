"""A real ``passgate serve`` process for end-to-end tests.

Each server gets a config written to its own directory (free loopback ports, one static
password user, a confidential client and the public ``kubectl`` client), runs the console
script as a subprocess, and is ready when the telemetry listener's ``/healthz/ready``
answers 200. A test may SIGKILL it at any moment and start it again on the same storage;
``replica`` makes a second process of the same issuer on the same storage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import bcrypt
import httpx
import yaml

from e2e.tls import TLSFiles, make_tls_files

PASSGATE = str(Path(sys.executable).with_name("passgate"))
CONFIDENTIAL_ID = "web-app"
PUBLIC_ID = "kubectl"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sqlite_storage(path: Path) -> dict[str, Any]:
    return {"type": "sqlite3", "config": {"file": str(path)}}


@dataclass(frozen=True, slots=True)
class User:
    email: str
    password: str
    username: str
    user_id: str
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WebClient:
    id: str
    secret: str
    redirect_uri: str


def new_user() -> User:
    return User(
        email="jane.doe@example.com",
        password=secrets.token_urlsafe(12),
        username="jane",
        user_id=str(uuid.uuid4()),
        groups=("platform-admins", "developers"),
    )


def new_web_client() -> WebClient:
    # Nothing listens there: tests read the code from the redirect's Location header.
    return WebClient(
        CONFIDENTIAL_ID, secrets.token_urlsafe(24), f"http://127.0.0.1:{free_port()}/callback"
    )


@dataclass
class PassgateServer:
    """One ``passgate serve`` process and the config it runs with."""

    directory: Path
    storage: dict[str, Any]
    user: User
    client: WebClient
    issuer: str
    port: int
    telemetry_port: int
    expiry: dict[str, Any] = field(default_factory=dict)
    signer: dict[str, Any] | None = None
    tls: TLSFiles | None = None
    web: dict[str, Any] = field(default_factory=dict)
    connectors: list[dict[str, Any]] = field(default_factory=list)
    #: More top-level config sections (Passgate's own, such as ``kubernetes``).
    extra: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    # -- configuration --------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Where this process listens (a replica shares the issuer but not the port)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/dex"

    @property
    def config_path(self) -> Path:
        return self.directory / "config.yaml"

    @property
    def log_path(self) -> Path:
        return self.directory / "passgate.log"

    def config(self) -> dict[str, Any]:
        hashed = bcrypt.hashpw(self.user.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        web: dict[str, Any] = {"http": f"127.0.0.1:{self.port}"}
        if self.tls:
            web = {
                "https": f"127.0.0.1:{self.port}",
                "tlsCert": str(self.tls.cert),
                "tlsKey": str(self.tls.key),
            }
        web["shutdownGrace"] = "0s"  # tests stop at once; test_start_stop sets its own
        config: dict[str, Any] = {
            "issuer": self.issuer,
            "storage": self.storage,
            "web": web | self.web,
            "telemetry": {"http": f"127.0.0.1:{self.telemetry_port}"},
            "logger": {"level": "warn", "format": "json"},
            "expiry": self.expiry,
            "oauth2": {"passwordConnector": "local", "skipApprovalScreen": False},
            "staticClients": [
                {
                    "id": self.client.id,
                    "name": "Web App",
                    "secret": self.client.secret,
                    "redirectURIs": [self.client.redirect_uri],
                },
                {
                    "id": PUBLIC_ID,
                    "name": "kubectl",
                    "public": True,
                    "redirectURIs": ["http://localhost:8000"],
                    # Lets web-app ask for audience:server:client_id:kubectl (Dex peers).
                    "trustedPeers": [self.client.id],
                },
            ],
            "enablePasswordDB": True,
            "staticPasswords": [
                {
                    "email": self.user.email,
                    "hash": hashed,
                    "username": self.user.username,
                    "userID": self.user.user_id,
                    "groups": list(self.user.groups),
                }
            ],
        }
        if self.signer is not None:
            config["signer"] = self.signer
        if self.connectors:
            config["connectors"] = self.connectors
        return config | self.extra

    def write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    # -- process --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        """Spawn the process and wait until it is ready, or fail with its log."""
        assert not self.running, "already running"
        if not self.config_path.exists():
            self.write_config()
        self.process = await anyio.to_thread.run_sync(self._spawn)
        self.starts += 1
        ready = f"http://127.0.0.1:{self.telemetry_port}/healthz/ready"
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"passgate exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(ready)).status_code == 200:
                        return
                await anyio.sleep(0.02)
        self.kill()
        raise AssertionError(f"passgate was not ready in {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts + 1}\n".encode())
            log.flush()
            return subprocess.Popen(  # the child inherits the log; our handle closes
                [PASSGATE, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, exactly like a crash or the OOM killer."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    async def restart(self) -> None:
        self.kill()
        await self.start()

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- talking to it --------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.tls is None:
            return True
        return ssl.create_default_context(cafile=str(self.tls.ca))

    def http(self, **options: Any) -> httpx.AsyncClient:
        options.setdefault("timeout", 10.0)
        return httpx.AsyncClient(verify=self.ssl_context(), **options)

    async def token(self, client: httpx.AsyncClient, form: Mapping[str, str]) -> httpx.Response:
        """POST /token as the confidential client (HTTP Basic, RFC 6749 §2.3.1)."""
        return await client.post(
            self.url("/token"), data=dict(form), auth=(self.client.id, self.client.secret)
        )

    async def password_grant(
        self, client: httpx.AsyncClient, scope: str = "openid email groups profile offline_access"
    ) -> dict[str, Any]:
        response = await self.token(
            client,
            {
                "grant_type": "password",
                "username": self.user.email,
                "password": self.user.password,
                "scope": scope,
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


class Launcher:
    """Makes servers under one temporary directory and kills them all at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[PassgateServer] = []
        self._tls: TLSFiles | None = None

    def new(
        self,
        storage: dict[str, Any] | None = None,
        *,
        expiry: dict[str, Any] | None = None,
        signer: dict[str, Any] | None = None,
        tls: bool = False,
        web: dict[str, Any] | None = None,
        connectors: list[dict[str, Any]] | None = None,
    ) -> PassgateServer:
        """A server (not started yet); SQLite in its directory unless ``storage`` is given."""
        directory = self.root / f"server{len(self.servers)}"
        directory.mkdir(parents=True)
        port = free_port()
        files = self.tls_files() if tls else None
        scheme = "https" if tls else "http"
        server = PassgateServer(
            directory=directory,
            storage=storage or sqlite_storage(directory / "passgate.db"),
            user=new_user(),
            client=new_web_client(),
            issuer=f"{scheme}://127.0.0.1:{port}/dex",
            port=port,
            telemetry_port=free_port(),
            expiry=expiry or {},
            signer=signer,
            tls=files,
            web=web or {},
            connectors=connectors or [],
        )
        server.write_config()
        self.servers.append(server)
        return server

    def replica(self, of: PassgateServer) -> PassgateServer:
        """Another process of the same issuer and storage, on ports of its own."""
        directory = self.root / f"server{len(self.servers)}"
        directory.mkdir(parents=True)
        server = dataclasses.replace(
            of, directory=directory, port=free_port(), telemetry_port=free_port(), process=None
        )
        server.starts = 0
        server.write_config()
        self.servers.append(server)
        return server

    def tls_files(self) -> TLSFiles:
        if self._tls is None:
            self._tls = make_tls_files(self.root / "tls")
        return self._tls

    def close(self) -> None:
        for server in self.servers:
            server.kill()


KUBECTL_SCOPES = "openid email groups profile offline_access"


async def kubectl_tokens(server: PassgateServer, http: httpx.AsyncClient) -> dict[str, Any]:
    """The password grant as the public kubectl client (no secret)."""
    response = await http.post(
        server.url("/token"),
        data={
            "grant_type": "password",
            "client_id": PUBLIC_ID,
            "username": server.user.email,
            "password": server.user.password,
            "scope": KUBECTL_SCOPES,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
