"""SQLite storage (``storage: {type: sqlite3, config: {file: ...}}``) over aiosqlite.

One writer connection runs every write in ``BEGIN IMMEDIATE``, which takes the database
file's write lock at once: updates are atomic across processes sharing the file (two
servers on one file), and nobody ever upgrades a read lock (which would fail with
``SQLITE_BUSY`` instead of waiting). WAL lets a second, read-only connection answer
reads while a write commits. ``synchronous=FULL`` fsyncs the WAL on every commit, so a
write that returned survives SIGKILL and power loss.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any, TypeVar

import aiosqlite
import anyio

from passgate.storage.base import StorageError, StorageUnavailableError
from passgate.storage.locks import EXCLUSIVE_TIMEOUT, FileLocks
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
    """Create the file's missing parent directories (mode 0700: the file holds secrets),
    then open it once: aiosqlite leaves its worker thread to report to a possibly closed
    event loop when connecting fails, so a bad path fails here first, clearly."""
    try:
        if not path.startswith("file:"):
            _make_parents(os.path.dirname(os.path.abspath(path)))
        sqlite3.connect(path).close()
    except OSError as error:
        where = error.filename or path
        raise StorageUnavailableError(
            f"SQLite database {path}: {where}: {error.strerror}"
        ) from None
    except sqlite3.Error as error:
        raise StorageUnavailableError(f"SQLite database {path}: {error}") from None


def _make_parents(directory: str) -> None:
    """Create ``directory`` and any missing parent, each 0700 (``makedirs`` gives the
    intermediate ones the umask's mode)."""
    if os.path.isdir(directory):
        return
    _make_parents(os.path.dirname(directory))
    with contextlib.suppress(FileExistsError):  # made meanwhile by another replica
        os.mkdir(directory, 0o700)


#: SQLite's words for "cannot answer now" (SQLITE_BUSY/LOCKED beyond the busy timeout,
#: I/O errors, a file it cannot open or write): anything else is a bug, not an outage.
_UNAVAILABLE = ("locked", "busy", "disk i/o", "unable to open", "readonly", "disk is full")


def _unavailable(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return any(word in message for word in _UNAVAILABLE)


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

    def __init__(self, path: str, *, busy_timeout: timedelta = timedelta(seconds=10)) -> None:
        super().__init__(SQLITE)
        self._path = path
        self._busy_ms = int(busy_timeout / timedelta(milliseconds=1))
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # Serializes this process's transactions on the single writer connection.
        self._lock = anyio.Lock()
        # Locks shared by every process on the file (``storage.locks``).
        self._file_locks = None if path == ":memory:" else FileLocks(path + "-locks")

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

    def exclusive(
        self, name: str, *, timeout: float = EXCLUSIVE_TIMEOUT
    ) -> AbstractAsyncContextManager[bool]:
        if self._file_locks is None:
            return super().exclusive(name, timeout=timeout)
        return self._file_locks.hold(name, timeout)

    async def close(self) -> None:
        if self._file_locks is not None:
            self._file_locks.close()
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
        try:
            return list(await reader.execute_fetchall(query, params))
        except sqlite3.OperationalError as error:
            if _unavailable(error):
                raise StorageUnavailableError(f"SQLite: {error}") from error
            raise

    async def _transact(self, body: Callable[[Session], Awaitable[T]]) -> T:
        writer = self._require(self._writer)
        async with self._lock:
            # Shielded: a cancelled caller must not leave the shared connection mid-transaction.
            with anyio.CancelScope(shield=True):
                try:
                    await writer.execute("BEGIN IMMEDIATE")
                    try:
                        result = await body(_SQLiteSession(writer))
                        await writer.execute("COMMIT")
                    except BaseException:
                        if writer.in_transaction:
                            await writer.execute("ROLLBACK")
                        raise
                except sqlite3.OperationalError as error:
                    # A COMMIT that failed was rolled back above: nothing of it was kept.
                    if _unavailable(error):
                        raise StorageUnavailableError(f"SQLite: {error}") from error
                    raise
        return result
