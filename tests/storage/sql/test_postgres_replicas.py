"""What replicas on one PostgreSQL share through locks of the database: garbage
collection by one replica at a time, and audit sequence numbers in commit order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import psycopg
import pytest

from conformance import samples
from passgate.storage.models import AuditFilter
from passgate.storage.sql.postgres import PostgresStorage

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
async def storage(postgres_dsn: str) -> AsyncIterator[PostgresStorage]:
    opened = PostgresStorage(postgres_dsn)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_one_replica_collects_garbage_at_a_time(
    storage: PostgresStorage, postgres_dsn: str
) -> None:
    request = samples.auth_request()
    await storage.create_auth_request(request)
    later = request.expiry + timedelta(seconds=1)
    async with await psycopg.AsyncConnection.connect(postgres_dsn) as other:
        async with other.transaction():  # another replica is collecting
            await other.execute("SELECT pg_advisory_xact_lock(hashtext('passgate.gc'))")
            assert (await storage.garbage_collect(later)).is_empty()  # so this one skips
        assert (await storage.garbage_collect(later)).auth_requests == 1


async def test_audit_events_are_numbered_in_commit_order(
    storage: PostgresStorage, postgres_dsn: str
) -> None:
    """An append waits for one in progress elsewhere: a reader paging by seq can never see
    a later number commit before an earlier one and skip it."""
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as other:
        await other.execute("BEGIN")  # another replica's append, not yet committed
        await other.execute("SELECT pg_advisory_xact_lock(hashtext('passgate.audit'))")
        done = anyio.Event()

        async def append() -> None:
            await storage.append_audit_event(samples.audit_event())
            done.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(append)
            await anyio.sleep(0.3)
            assert not done.is_set()  # waits for the other to commit
            await other.execute("COMMIT")
            with anyio.fail_after(5):
                await done.wait()
    assert len(await storage.list_audit_events(AuditFilter())) == 1
