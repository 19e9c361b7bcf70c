"""PostgreSQL storage over psycopg 3 (async) and a psycopg_pool connection pool.

Concurrency: transactions run at READ COMMITTED and every update first reads its row
with ``SELECT ... FOR UPDATE``. A second updater of the same row blocks until the first
commits and then reads the committed result (PostgreSQL re-reads the newest row version
for ``FOR UPDATE``), so racing updates are serialized and compare-and-swap updaters see
the winner's state. The key set is one row, so ``update_keys`` serializes across every
replica. Deadlocks and serialization failures (possible only between whole-table
deletes of concurrent garbage collections) are retried, which the updater contract
allows. Commits are durable when they return (``synchronous_commit`` defaults to on).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from passgate.storage.base import StorageError
from passgate.storage.sql import migrate
from passgate.storage.sql.core import SQLStorage
from passgate.storage.sql.flavour import POSTGRES
from passgate.storage.sql.session import Session
from passgate.storage.sql.table import Row

T = TypeVar("T")

# pg_advisory_xact_lock key held while migrating: ASCII "pgate" as an integer.
MIGRATION_LOCK = 0x7067617465
_RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
_ATTEMPTS = 5


class _PostgresSession:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        async with self._conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(POSTGRES.sql(query), params)
            return list(await cursor.fetchall())

    async def execute(self, query: str, params: Mapping[str, Any]) -> int:
        async with self._conn.cursor() as cursor:
            await cursor.execute(POSTGRES.sql(query), params)
            return cursor.rowcount

    async def script(self, script: str) -> None:
        # Without parameters psycopg uses the simple protocol: several statements are fine.
        await self._conn.execute(script)


class PostgresStorage(SQLStorage):
    """A PostgreSQL database given by a libpq connection string (``key=value`` or URL)."""

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: int = 10,
        max_lifetime: float = 3600.0,
    ) -> None:
        super().__init__(POSTGRES)
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size}, {max_size}")
        if connect_timeout < 1:
            raise ValueError(f"connect_timeout must be at least 1 second, got {connect_timeout}")
        self._conninfo = conninfo
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._max_lifetime = max_lifetime
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    async def open(self) -> None:
        if self._pool is not None:
            raise StorageError("PostgreSQL storage is open already")
        # Migrate on a connection of our own first: a bad DSN or password then fails with
        # libpq's own message instead of a pool timeout.
        async with await psycopg.AsyncConnection.connect(
            self._conninfo, connect_timeout=self._connect_timeout
        ) as conn:
            await self._migrate(conn)
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self._conninfo,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs={"autocommit": True, "connect_timeout": self._connect_timeout},
            max_lifetime=self._max_lifetime,
            name="passgate",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=float(self._connect_timeout))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await pool.close()
            raise
        self._pool = pool

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> list[int]:
        migrations = await anyio.to_thread.run_sync(migrate.load, POSTGRES.name)
        async with conn.transaction():
            # Transaction-scoped: released by COMMIT/ROLLBACK, even if this process dies.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            return await migrate.apply(_PostgresSession(conn), migrations)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await pool.close()

    def _require(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        if self._pool is None:
            raise StorageError("PostgreSQL storage is not open")
        return self._pool

    async def _query(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        async with self._require().connection() as conn:
            return await _PostgresSession(conn).fetch(query, params)

    async def _transact(self, body: Callable[[Session], Awaitable[T]]) -> T:
        pool = self._require()
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with pool.connection() as conn, conn.transaction():
                    return await body(_PostgresSession(conn))
            except _RETRYABLE:
                if attempt == _ATTEMPTS:
                    raise
                await anyio.sleep(0.01 * attempt)
        raise AssertionError("unreachable")
