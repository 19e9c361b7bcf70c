"""PostgreSQL storage through outages, against a real server of the test's own: a restart,
killed backends, a database that is down for a while, and a connection cut during COMMIT
(whose outcome is looked up rather than guessed)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from conformance import samples
from outage.pgcluster import Cluster
from outage.tcpproxy import Relay
from passgate.storage.base import StorageUnavailableError
from passgate.storage.sql import postgres
from passgate.storage.sql.postgres import PostgresStorage

pytestmark = pytest.mark.anyio


def _dsn(cluster: Cluster, port: int | None = None) -> str:
    return f"postgresql://postgres@127.0.0.1:{port or cluster.port}/postgres?connect_timeout=2"


@pytest.fixture
async def storage(cluster: Cluster) -> AsyncIterator[PostgresStorage]:
    opened = PostgresStorage(_dsn(cluster), max_size=4, connect_timeout=2)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_restart_or_killed_backends_cost_no_request(
    cluster: Cluster, storage: PostgresStorage
) -> None:
    await storage.create_client(samples.client())
    for _ in range(3):  # several pooled connections, all of them dead after each event
        await storage.get_client("client-1")
    cluster.restart()
    assert (await storage.get_client("client-1")).id == "client-1"  # a read
    renamed = await storage.update_client(
        "client-1", lambda old: dataclasses.replace(old, name="after restart")
    )  # and a write
    assert renamed.name == "after restart"
    assert cluster.kill_backends() >= 1
    assert (await storage.get_client("client-1")).name == "after restart"
    cluster.kill_backends()
    await storage.update_client("client-1", lambda old: dataclasses.replace(old, name="killed"))
    assert (await storage.get_client("client-1")).name == "killed"


async def test_while_the_database_is_down_calls_fail_as_unavailable_then_recover(
    cluster: Cluster, storage: PostgresStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "CHECKOUT_TIMEOUT", 1.0)
    await storage.create_client(samples.client())
    cluster.halt()
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError):
        await storage.get_client("client-1")
    with pytest.raises(StorageUnavailableError):
        await storage.update_client("client-1", lambda old: dataclasses.replace(old, name="x"))
    assert time.monotonic() - started < 10  # an answer, not a hang
    cluster.resume()
    # The pool reconnects by itself; the failed update changed nothing.
    assert (await storage.get_client("client-1")).name == samples.client().name


@pytest.mark.parametrize("cut", ["drop", "after"])
async def test_a_commit_cut_off_is_looked_up_not_guessed(cluster: Cluster, cut: str) -> None:
    """ "drop": COMMIT never reached the server (aborted: the transaction runs again);
    "after": the server committed but its answer was lost (committed: success, once)."""
    armed = {"on": False}

    def hook(data: bytes) -> str:
        if armed["on"] and b"COMMIT" in data:
            armed["on"] = False
            return cut
        return "pass"

    relay = Relay(cluster.port, hook)
    await relay.start()
    storage = PostgresStorage(_dsn(cluster, relay.port), max_size=2, connect_timeout=2)
    await storage.open()
    try:
        await storage.create_client(samples.client())
        calls = 0

        def rename(old: object) -> object:
            nonlocal calls
            calls += 1
            return dataclasses.replace(samples.client(), name=f"renamed {calls}")

        armed["on"] = True
        renamed = await storage.update_client("client-1", rename)  # type: ignore[arg-type]
        stored = await storage.get_client("client-1")
        assert stored == renamed  # what the call returned is what is stored
        assert calls == (2 if cut == "drop" else 1)
        assert not armed["on"]  # the cut happened
    finally:
        await storage.close()
        await relay.close()
