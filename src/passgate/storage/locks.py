"""Named locks that one piece of work holds against every replica on the same storage:
asking an upstream to rotate a refresh token must happen once, not once per replica that
got the request (the second would spend a token the first already used).

``Storage.exclusive(name)`` yields whether the lock was had within its timeout; work
goes on either way (a stuck holder must not stop sign-ins), so the lock narrows the race
to nothing in practice without ever turning into an outage. Backends: an asyncio lock
per name (memory: one process), plus a byte-range lock on a file beside the database
(SQLite: every process on the file), or a PostgreSQL advisory lock (every replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

__all__ = ["EXCLUSIVE_TIMEOUT", "FileLocks", "ProcessLocks", "lock_key", "poll_until"]

#: How long a caller waits for a lock before going on without it (seconds). An upstream
#: refresh answers well within it (connectors' timeouts are 10 s).
EXCLUSIVE_TIMEOUT = 20.0
_POLL_S = 0.02


def lock_key(name: str) -> int:
    """A stable 31-bit number for a lock name (a byte offset, an advisory lock key)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") & 0x7FFFFFFF


async def poll_until(attempt: Callable[[], Awaitable[bool]], wait: float) -> bool:
    """Call ``attempt`` until it succeeds or ``wait`` seconds pass; whether it did."""
    with anyio.move_on_after(wait):
        while not await attempt():  # noqa: ASYNC110 - a lock held elsewhere sends no event
            await anyio.sleep(_POLL_S)
        return True
    return False


class ProcessLocks:
    """One asyncio lock per name, kept only while somebody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str, wait: float) -> AsyncIterator[bool]:
        lock, users = self._locks.get(name) or (asyncio.Lock(), 0)
        self._locks[name] = (lock, users + 1)
        acquired = False
        try:
            with anyio.move_on_after(wait):
                await lock.acquire()
                acquired = True
            yield acquired
        finally:
            if acquired:
                lock.release()
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


class FileLocks:
    """Byte-range locks (``fcntl``) on one file: each name locks one byte of it, so every
    process on the same database shares them. POSIX record locks belong to the process,
    so tasks of one process first queue on :class:`ProcessLocks`."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None
        self._local = ProcessLocks()

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextlib.asynccontextmanager
    async def hold(self, name: str, wait: float) -> AsyncIterator[bool]:
        async with self._local.hold(name, wait) as here:
            if not here:
                yield False
                return
            fd, offset = self._file(), lock_key(name)

            async def attempt() -> bool:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
                except (BlockingIOError, PermissionError):  # another process holds it
                    return False
                return True

            acquired = await poll_until(attempt, wait)
            try:
                yield acquired
            finally:
                if acquired:
                    fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
