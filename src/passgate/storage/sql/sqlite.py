"""SQLite storage (``storage: {type: sqlite3, config: {file: ...}}``) over aiosqlite.

One writer connection runs every write in ``BEGIN IMMEDIATE``, which takes the database
file's write lock at once: updates are atomic across processes sharing the file (two
servers on one file), and nobody ever upgrades a read lock (which would fail with
``SQLITE_BUSY`` instead of waiting). WAL lets a second, read-only connection answer
reads while a write commits. ``synchronous=FULL`` fsyncs the WAL on every commit, so a
write that returned survives SIGKILL and power loss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import aiosqlite
import anyio

from passgate.storage.base import StorageError
from passgate.storage.sql import migrate
from passgate.storage.sql.core import SQLStorage
from passgate.storage.sql.flavour import SQLITE
from passgate.storage.sql.session import Session
from passgate.storage.sql.table import Row

T = TypeVar("T")


def split_script(script: str) -> list[str]:
    """Statements of a migration script, split where SQLite says a statement is complete
    (so a ``;`` inside a string or a trigger body does not split it)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise StorageError(f"incomplete SQL statement in migration: {pending.strip()[:80]}")
    return statements


def _probe(path: str) -> None:
    # aiosqlite leaves its worker thread to report to a possibly closed event loop when
    # connecting fails; fail here first, with the same sqlite3 error, instead.
    sqlite3.connect(path).close()


class _SQLiteSession:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        return list(await self._conn.execute_fetchall(query, params))

    async def execute(self, query: str, params: Mapping[str, Any]) -> int:
        async with self._conn.execute(query, params) as cursor:
            return cursor.rowcount

    async def script(self, script: str) -> None:
        # executescript() would COMMIT first; run statement by statement to stay atomic.
        for statement in split_script(script):
            await self._conn.execute(statement)


class SQLiteStorage(SQLStorage):
    """A SQLite database file. ``path`` may be ``":memory:"`` (one connection, not shared)."""

    def __init__(self, path: str, *, busy_timeout: timedelta = timedelta(seconds=30)) -> None:
        super().__init__(SQLITE)
        self._path = path
        self._busy_ms = int(busy_timeout / timedelta(milliseconds=1))
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # Serializes this process's transactions on the single writer connection.
        self._lock = anyio.Lock()

    @property
    def path(self) -> str:
        return self._path

    async def open(self) -> None:
        if self._writer is not None:
            raise StorageError("SQLite storage is open already")
        if self._path != ":memory:":
            await anyio.to_thread.run_sync(_probe, self._path)
        writer = await self._connect()
        reader: aiosqlite.Connection | None = None
        try:
            await self._enable_wal(writer)
            self._writer = writer
            migrations = await anyio.to_thread.run_sync(migrate.load, SQLITE.name)

            async def body(session: Session) -> list[int]:
                return await migrate.apply(session, migrations)

            await self._transact(body)
            if self._path == ":memory:":
                reader = writer
            else:
                reader = await self._connect()
                await reader.execute("PRAGMA query_only = ON")
            self._reader = reader
        except BaseException:
            self._writer = None
            with anyio.CancelScope(shield=True):
                if reader is not None and reader is not writer:
                    await reader.close()
                await writer.close()
            raise

    async def _enable_wal(self, conn: aiosqlite.Connection) -> None:
        """Switch the file to WAL (a persistent setting). The switch needs an exclusive lock
        and SQLite reports a busy file at once instead of calling the busy handler, so
        replicas starting together retry until the busy timeout."""
        if self._path == ":memory:":
            return
        deadline = anyio.current_time() + self._busy_ms / 1000
        while True:
            try:
                rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or anyio.current_time() > deadline:
                    raise
                await anyio.sleep(0.01)
        if str(rows[0][0]).lower() != "wal":
            raise StorageError(f"{self._path}: SQLite cannot use WAL here (got {rows[0][0]})")

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: no implicit BEGIN; _transact issues BEGIN IMMEDIATE itself.
        conn = await aiosqlite.connect(self._path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await conn.close()
            raise
        return conn

    async def close(self) -> None:
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if reader is not None and reader is not writer:
                    await reader.close()
                if writer is not None:
                    await writer.close()

    def _require(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StorageError("SQLite storage is not open")
        return conn

    async def _query(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        reader = self._require(self._reader)
        return list(await reader.execute_fetchall(query, params))

    async def _transact(self, body: Callable[[Session], Awaitable[T]]) -> T:
        writer = self._require(self._writer)
        async with self._lock:
            # Shielded: a cancelled caller must not leave the shared connection mid-transaction.
            with anyio.CancelScope(shield=True):
                await writer.execute("BEGIN IMMEDIATE")
                try:
                    result = await body(_SQLiteSession(writer))
                    await writer.execute("COMMIT")
                except BaseException:
                    if writer.in_transaction:
                        await writer.execute("ROLLBACK")
                    raise
        return result
