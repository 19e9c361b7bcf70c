"""PostgreSQL storage over psycopg 3 (async) and a psycopg_pool connection pool.

Concurrency: transactions run at READ COMMITTED and every update first reads its row
with ``SELECT ... FOR UPDATE``. A second updater of the same row blocks until the first
commits and then reads the committed result (PostgreSQL re-reads the newest row version
for ``FOR UPDATE``), so racing updates are serialized and compare-and-swap updaters see
the winner's state. The key set is one row, so ``update_keys`` serializes across every
replica. Deadlocks and serialization failures (possible only between whole-table
deletes of concurrent garbage collections) are retried, which the updater contract
allows. Commits are durable when they return (``synchronous_commit`` defaults to on).

Outages (a restart, a failover, a killed backend, a network cut) never surface as a bug:
a statement that fails on a lost connection is tried once more on a fresh one, since
nothing of it was committed; what still fails raises :class:`StorageUnavailableError`.
A connection lost during ``COMMIT`` leaves the outcome unknown to the client, so the
transaction's id (taken with ``BEGIN``, in the same round trip) is looked up afterwards
with ``pg_xact_status``: committed means success, aborted means try again, and only a
database that cannot be asked at all leaves the caller with a 503 of unknown outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar, cast

import anyio
import psycopg
import structlog
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from passgate.storage.base import StorageError, StorageUnavailableError
from passgate.storage.locks import EXCLUSIVE_TIMEOUT, lock_key, poll_until
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
#: How long start-up waits for the first connection, at most (seconds).
START_TIMEOUT = 4
#: How long a request waits for a pooled connection (the pool reconnects meanwhile).
CHECKOUT_TIMEOUT = 5.0
#: How long the outcome of a COMMIT cut off by a lost connection is looked for.
_OUTCOME_WAIT = 5.0

log = structlog.get_logger("passgate.storage")

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


class _Lost(Exception):
    """The connection failed before COMMIT: nothing was committed, trying again is safe."""


class _CommitUnknown(Exception):
    """The connection failed during COMMIT: the outcome must be looked up."""

    def __init__(self, xid: str, result: object) -> None:
        super().__init__(xid)
        self.xid, self.result = xid, result


def _outage(error: psycopg.Error, conn: psycopg.AsyncConnection[Any] | None) -> bool:
    """A failure of the database or of the way to it, not of the query: the connection
    broke, the server is shutting down or refusing connections, or a timeout."""
    return (conn is not None and conn.broken) or isinstance(
        error, (psycopg.OperationalError, errors.IdleInTransactionSessionTimeout)
    )


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
        # libpq's own message instead of a pool timeout. A server that does not answer
        # ends start-up within seconds (an orchestrator restarts it), whatever the
        # configured timeout for later reconnections.
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, connect_timeout=min(self._connect_timeout, START_TIMEOUT)
            )
        except psycopg.OperationalError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "failed"
            raise StorageUnavailableError(f"cannot connect to PostgreSQL: {first}") from error
        async with conn:
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
            await pool.open(wait=True, timeout=float(min(self._connect_timeout, START_TIMEOUT)))
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
        pool = self._require()
        for attempt in (1, 2):
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                async with pool.connection(timeout=CHECKOUT_TIMEOUT) as conn:
                    return await _PostgresSession(conn).fetch(query, params)
            except psycopg.Error as error:
                if not _outage(error, conn):
                    raise
                if attempt == 2 or isinstance(error, PoolTimeout):
                    raise StorageUnavailableError(f"PostgreSQL: {error}") from error
                await self._drop_dead(pool)
        raise AssertionError("unreachable")

    async def _transact(self, body: Callable[[Session], Awaitable[T]]) -> T:
        pool = self._require()
        lost_once = False
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._attempt(pool, body)
            except _RETRYABLE:
                if attempt == _ATTEMPTS:
                    raise
                await anyio.sleep(0.01 * attempt)
            except _Lost as lost:
                cause = lost.__cause__
                if lost_once or isinstance(cause, PoolTimeout):
                    raise StorageUnavailableError(f"PostgreSQL: {cause}") from cause
                lost_once = True
                await self._drop_dead(pool)
            except _CommitUnknown as unknown:
                status = await self._outcome(pool, unknown.xid)
                if status == "committed":
                    return cast(T, unknown.result)
                if status != "aborted" or lost_once:
                    message = f"PostgreSQL: the outcome of a commit is unknown ({status})"
                    raise StorageUnavailableError(message) from unknown.__cause__
                lost_once = True
        raise AssertionError("unreachable")

    async def _attempt(self, pool: Pool, body: Callable[[Session], Awaitable[T]]) -> T:
        """One try: BEGIN (noting the transaction id), the body, COMMIT."""
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            async with pool.connection(timeout=CHECKOUT_TIMEOUT) as conn:
                # One round trip: the id lets a COMMIT cut off midway be looked up.
                cursor = await conn.execute("BEGIN; SELECT pg_current_xact_id()::text")
                row = await cursor.fetchone() if cursor.nextset() else None
                xid = str(row[0]) if row else ""
                try:
                    result = await body(_PostgresSession(conn))
                except BaseException:
                    if not conn.broken:
                        with anyio.CancelScope(shield=True):
                            await conn.execute("ROLLBACK")
                    raise
                try:
                    await conn.execute("COMMIT")
                except psycopg.Error as error:
                    if conn.broken and xid:
                        raise _CommitUnknown(xid, result) from error
                    raise
                return result
        except psycopg.Error as error:
            if _outage(error, conn) and not isinstance(error, _RETRYABLE):
                raise _Lost from error
            raise

    async def _outcome(self, pool: Pool, xid: str) -> str:
        """``pg_xact_status`` of a transaction whose COMMIT was cut off: "committed",
        "aborted", "in progress", or "unknown" when the database cannot be asked in time."""
        with anyio.move_on_after(_OUTCOME_WAIT):
            while True:
                try:
                    async with pool.connection(timeout=1.0) as conn:
                        cursor = await conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,))
                        row = await cursor.fetchone()
                    status = str(row[0]) if row and row[0] else "unknown"
                    if status != "in progress":  # the backend may still be finishing
                        return status
                except psycopg.Error:
                    await self._drop_dead(pool)
                await anyio.sleep(0.1)
        return "unknown"

    @contextlib.asynccontextmanager
    async def _advisory(self, name: str, wait: float) -> AsyncIterator[bool]:
        """A session-level advisory lock on a pooled connection kept while it is held
        (a connection that dies releases it: no lock outlives its holder)."""
        pool, key = self._require(), lock_key(name)
        held: list[psycopg.AsyncConnection[Any]] = []

        async def attempt() -> bool:
            conn = await pool.getconn(timeout=CHECKOUT_TIMEOUT)
            try:
                cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                row = await cursor.fetchone()
            except BaseException:
                await pool.putconn(conn)
                raise
            if row and row[0]:
                held.append(conn)
                return True
            await pool.putconn(conn)
            return False

        try:
            acquired = await poll_until(attempt, wait)
        except psycopg.Error as error:
            raise StorageUnavailableError(f"PostgreSQL: {error}") from error
        try:
            yield acquired
        finally:
            for conn in held:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(psycopg.Error):  # broken: released with it
                        await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                    await pool.putconn(conn)

    def exclusive(
        self, name: str, *, timeout: float = EXCLUSIVE_TIMEOUT
    ) -> AbstractAsyncContextManager[bool]:
        return self._held_here_then_there(name, timeout)

    @contextlib.asynccontextmanager
    async def _held_here_then_there(self, name: str, wait: float) -> AsyncIterator[bool]:
        # Tasks of this process queue in memory; only one of them asks the database.
        async with super().exclusive(name, timeout=wait) as here:
            if not here:
                yield False
                return
            async with self._advisory(name, wait) as there:
                yield there

    async def _drop_dead(self, pool: Pool) -> None:
        """After a lost connection the others in the pool are likely dead too (a restart):
        test the idle ones and let the pool replace the dead, within a second."""
        with anyio.move_on_after(1.0):
            await pool.check()
