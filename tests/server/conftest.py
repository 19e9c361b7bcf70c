"""The in-process issuer every endpoint test talks to (see ``harness``), and the durable
storage backends some of them also run on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from passgate.storage.sql.postgres import PostgresStorage
from passgate.storage.sql.sqlite import SQLiteStorage

from .harness import Harness, StorageFactory, running


@pytest.fixture
async def harness(anyio_backend: str) -> AsyncIterator[Harness]:
    """Passgate with the default test config, a frozen clock and memory storage."""
    async with running() as built:
        yield built


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StorageFactory:
    """Makes an unopened SQLite (a file in tmp_path) or PostgreSQL (a fresh database of
    its own; skipped without one, see tests/conftest.py) storage."""
    if request.param == "sqlite":
        return lambda: SQLiteStorage(str(tmp_path / "passgate.db"))
    dsn: str = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresStorage(dsn, max_size=4)
