"""The SQLite backend passes the conformance suite, on a file shared by several objects."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from conformance.suite import (
    SharedStoreConformance,
    StorageConformance,
    StorageFactory,
    UTCConformance,
)
from passgate.storage.base import Storage
from passgate.storage.sql.sqlite import SQLiteStorage


@pytest.fixture
async def storage_factory(tmp_path: Path) -> AsyncIterator[StorageFactory]:
    async with AsyncExitStack() as stack:

        async def make() -> Storage:
            storage = SQLiteStorage(str(tmp_path / "passgate.db"))
            await storage.open()
            stack.push_async_callback(storage.close)
            return storage

        yield make


class TestSQLiteConformance(StorageConformance, SharedStoreConformance, UTCConformance):
    pass
