"""Starts and watches the Passgate server under test: a generated config in a temporary
directory, the process, its start-up time, CPU time and peak memory (Linux ``/proc``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import psycopg
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bench.forwardauth import SITE_GROUP, SITE_HOST, forward_auth_config
from bench.target import Target

CLIENT_ID = "bench-app"
USERNAME = "bench@example.com"


def free_port() -> int:
    """A port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def sqlite_storage(directory: Path) -> dict[str, Any]:
    return {"type": "sqlite3", "config": {"file": str(directory / "passgate.db")}}


def postgres_storage(dsn: str, database: str | None = None) -> dict[str, Any]:
    """Dex's ``storage: {type: postgres}`` block for a libpq DSN (URL or key=value)."""
    params = conninfo_to_dict(dsn)
    config: dict[str, Any] = {
        "host": params.get("host", "localhost"),
        "database": database or params.get("dbname", "postgres"),
        "user": params.get("user", "postgres"),
        "ssl": {"mode": params.get("sslmode", "disable")},
    }
    if "port" in params:
        config["port"] = int(str(params["port"]))
    if "password" in params:
        config["password"] = params["password"]
    return {"type": "postgres", "config": config}


@dataclass(frozen=True, slots=True)
class BenchSetup:
    """A generated config and the target it serves."""

    config: dict[str, Any]
    target: Target


def make_setup(
    storage: dict[str, Any],
    *,
    bcrypt_cost: int = 10,
    skip_approval: bool = False,
    log_level: str = "info",
    admin: dict[str, Any] | None = None,
) -> BenchSetup:
    """A Dex-compatible config on fresh loopback ports, with one confidential client, one
    static password user, and forward-auth for one site that lets the user in; with an
    ``admin`` section when given (the admin API, for a client kept in storage)."""
    port, telemetry = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}/dex"
    # Nothing listens here: the scenarios read the code from the redirect's Location.
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    secret = secrets.token_urlsafe(24)
    password = secrets.token_urlsafe(12)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=bcrypt_cost)).decode()
    config: dict[str, Any] = {
        "issuer": issuer,
        "storage": storage,
        "web": {"http": f"127.0.0.1:{port}"},
        "telemetry": {"http": f"127.0.0.1:{telemetry}"},
        "logger": {"level": log_level},
        "oauth2": {
            "responseTypes": ["code"],
            "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
            "skipApprovalScreen": skip_approval,
        },
        "staticClients": [
            {
                "id": CLIENT_ID,
                "name": "Benchmark",
                "secret": secret,
                "redirectURIs": [redirect_uri],
            }
        ],
        # The tokenreview scenario: the webhook maps this client's tokens (DESIGN §4).
        "kubernetes": {
            "clusters": [
                {"name": "bench", "server": "https://127.0.0.1:6443", "clientID": CLIENT_ID}
            ]
        },
        # The forward_auth scenario: one protected site, by group (a Passgate addition).
        "forwardAuth": forward_auth_config(SITE_HOST),
        "enablePasswordDB": True,
        "staticPasswords": [
            {
                "email": USERNAME,
                "hash": hashed,
                "username": "bench",
                "userID": str(uuid.uuid4()),
                "groups": [SITE_GROUP],
            }
        ],
    }
    if admin is not None:
        config["admin"] = admin
    target = Target(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=secret,
        redirect_uri=redirect_uri,
        username=USERNAME,
        password=password,
        forward_auth_host=SITE_HOST,
    )
    return BenchSetup(config=config, target=target)


def write_config(setup: BenchSetup, directory: Path) -> Path:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(setup.config, sort_keys=False))
    return path


def parse_cpus(text: str) -> frozenset[int]:
    """A CPU list as ``taskset -c`` takes it: ``1``, ``0,2``, ``0-3``."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"{text!r} is not a CPU list like 1, 0,2 or 0-3")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"{part.strip()!r}: the range runs backwards")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def pinned(command: list[str], cpus: frozenset[int] | None) -> list[str]:
    """``command`` run on ``cpus`` only (``taskset``, util-linux), or as it is for None."""
    if cpus is None:
        return command
    taskset = shutil.which("taskset")
    if taskset is None:
        raise ServerError("pinning the server to CPUs needs taskset (util-linux)")
    return [taskset, "-c", ",".join(map(str, sorted(cpus))), *command]


def bench_storage(
    kind: str, directory: Path, dsn: str | None, stack: contextlib.ExitStack
) -> dict[str, Any]:
    """The storage block for ``kind``: SQLite in ``directory``, or PostgreSQL in a scratch
    database at ``dsn`` that ``stack`` drops when it closes."""
    if kind == "postgres":
        assert dsn is not None, "the postgres backend needs a DSN"
        return postgres_storage(dsn, stack.enter_context(scratch_database(dsn)))
    return sqlite_storage(directory)


@contextlib.contextmanager
def scratch_database(dsn: str) -> Iterator[str]:
    """A new database for one run, dropped afterwards, so results never depend on old rows."""
    name = f"passgate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live process."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name is parenthesised and may hold spaces; ppid follows state.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn workers, if any)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM: the most resident memory the process ever had."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            # Fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


class ServerError(RuntimeError):
    """The server did not start; the message carries the end of its log."""


class Server:
    """One server process (``passgate serve``, or the peer), its output going to ``log``;
    ``env`` is added to this process's environment."""

    def __init__(self, command: list[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.command = command
        self.log = log
        self.env = None if env is None else {**os.environ, **env}
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, health_url: str, wait_s: float = 60.0) -> float:
        """Spawn and wait for ``health_url`` to answer 200; returns the seconds that took."""
        with self.log.open("wb") as out:
            started = time.perf_counter()
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env,
            )
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.perf_counter() - started < wait_s:
                if self.process.returncode is not None:
                    raise ServerError(f"exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(health_url)).status_code == 200:
                        return time.perf_counter() - started
                await asyncio.sleep(0.01)
        await self.stop()
        raise ServerError(f"no healthy {health_url} after {wait_s:.0f}s:\n{self.log_tail()}")

    def peak_rss(self) -> tuple[int, ...]:
        return tuple(k for p in process_tree(self.pid) if (k := peak_rss_kib(p)) is not None)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
