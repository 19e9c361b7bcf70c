"""The PostgreSQL backend passes the conformance suite on a real server (a fresh database
per test; see the ``postgres_dsn`` fixture in tests/conftest.py)."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from conformance.suite import (
    SharedStoreConformance,
    StorageConformance,
    StorageFactory,
    UTCConformance,
)
from passgate.storage.base import Storage
from passgate.storage.sql.postgres import PostgresStorage

pytestmark = pytest.mark.postgres


@pytest.fixture
async def storage_factory(postgres_dsn: str) -> AsyncIterator[StorageFactory]:
    async with AsyncExitStack() as stack:

        async def make() -> Storage:
            storage = PostgresStorage(postgres_dsn, max_size=4)
            await storage.open()
            stack.push_async_callback(storage.close)
            return storage

        yield make


class TestPostgresConformance(StorageConformance, SharedStoreConformance, UTCConformance):
    pass
