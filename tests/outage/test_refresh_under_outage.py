"""Acceptance: two replicas on one real PostgreSQL, refresh tokens used concurrently
through both (a load balancer's round robin), while the database has its backends
killed, restarts, and stops for a while. No answer is a 500; a refresh that answered
200 was committed and one that answered 503 left its token valid: every client's token
chain survives, and both replicas report not ready during the outage and ready after."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import anyio
import httpx
import psycopg
import pytest

from e2e.support import Launcher, PassgateServer
from outage.pgcluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

WORKERS = 8


@dataclass
class Tally:
    confirmed: int = 0
    unavailable: int = 0
    cut: int = 0  # the connection to Passgate itself failed (not expected, but counted)
    wrong: list[str] = field(default_factory=list)


async def _worker(
    replicas: list[PassgateServer], token: str, until: anyio.Event, tally: Tally, index: int
) -> str:
    """Refresh in a loop through the replicas in turn; returns the chain's last token."""
    turn = index
    async with httpx.AsyncClient(timeout=30.0) as http:
        while not until.is_set():
            server = replicas[turn % len(replicas)]
            turn += 1
            try:
                answer = await server.token(
                    http, {"grant_type": "refresh_token", "refresh_token": token}
                )
            except httpx.TransportError:
                tally.cut += 1
                await anyio.sleep(0.1)
                continue
            if answer.status_code == 200:
                token = answer.json()["refresh_token"]
                tally.confirmed += 1
            elif answer.status_code == 503 and answer.json()["error"] == "temporarily_unavailable":
                assert answer.headers["retry-after"]
                tally.unavailable += 1
                await anyio.sleep(0.1)
            else:
                tally.wrong.append(f"{answer.status_code} {answer.text[:300]}")
                return token
            await anyio.sleep(0.01)
    return token


async def _ready(server: PassgateServer) -> int:
    async with httpx.AsyncClient(timeout=5.0) as http:
        try:
            ready = f"http://127.0.0.1:{server.telemetry_port}/healthz/ready"
            return (await http.get(ready)).status_code
        except httpx.TransportError:
            return 0


async def test_refreshes_through_an_outage_lose_nothing(
    cluster: Cluster, launcher: Launcher
) -> None:
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE passgate")
    storage = {"type": "postgres", "config": {
        "host": "127.0.0.1", "port": cluster.port, "database": "passgate", "user": "postgres",
        "ssl": {"mode": "disable"}, "connectionTimeout": 2,
    }}  # fmt: skip
    # reuseInterval: the README's advice for replicas behind a load balancer.
    first = launcher.new(storage, expiry={"refreshTokens": {"reuseInterval": "60s"}})
    await first.start()
    second = launcher.replica(first)
    await second.start()
    replicas = [first, second]
    async with first.http() as http:
        tokens = [(await first.password_grant(http))["refresh_token"] for _ in range(WORKERS)]
    tally, done = Tally(), anyio.Event()
    last: list[str] = list(tokens)
    readiness: dict[str, list[int]] = {"down": [], "up": []}

    async def run(index: int) -> None:
        last[index] = await _worker(replicas, tokens[index], done, tally, index)

    async def chaos() -> None:
        await anyio.sleep(1.5)
        cluster.kill_backends()
        await anyio.sleep(1.5)
        await anyio.to_thread.run_sync(cluster.restart)
        await anyio.sleep(1.5)
        cluster.kill_backends()
        await anyio.sleep(1.0)
        await anyio.to_thread.run_sync(cluster.halt)
        await anyio.sleep(3.0)  # requests wait, then 503; readiness says so
        readiness["down"] = [await _ready(server) for server in replicas]
        await anyio.to_thread.run_sync(cluster.resume)
        with anyio.fail_after(20):  # back by itself
            while [await _ready(server) for server in replicas] != [200, 200]:  # noqa: ASYNC110
                await anyio.sleep(0.2)
        readiness["up"] = [await _ready(server) for server in replicas]
        await anyio.sleep(2.0)
        done.set()

    async with anyio.create_task_group() as tasks:
        for index in range(WORKERS):
            tasks.start_soon(run, index)
        tasks.start_soon(chaos)
    assert tally.wrong == [], tally.wrong
    assert readiness == {"down": [503, 503], "up": [200, 200]}
    assert tally.confirmed > WORKERS * 10, tally
    assert tally.unavailable > 0, tally  # the outage was felt, and answered properly
    # Every chain's last confirmed token still works: nothing confirmed was lost.
    async with first.http() as http:
        for token in last:
            answer = await first.token(
                http, {"grant_type": "refresh_token", "refresh_token": token}
            )
            assert answer.status_code == 200, answer.text
    for server in replicas:
        for line in server.log_path.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                assert record.get("event") != "unhandled error", line
                assert record.get("status") != 500, line
    print(f"refreshes confirmed {tally.confirmed}, 503 {tally.unavailable}, cut {tally.cut}")
