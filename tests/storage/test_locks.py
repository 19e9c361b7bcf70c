"""``Storage.exclusive``: a named lock that holds against every replica on the storage:
tasks of one process (memory), processes on one SQLite file, and pools of one PostgreSQL
database. A lock not had in time says so, and the work goes on without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from passgate.storage.base import Storage
from passgate.storage.memory import MemoryStorage
from passgate.storage.sql.postgres import PostgresStorage
from passgate.storage.sql.sqlite import SQLiteStorage

pytestmark = pytest.mark.anyio


async def _excludes(first: Storage, second: Storage) -> None:
    """While ``first`` holds "refresh:t1", ``second`` cannot have it, but can have another
    name; once released, ``second`` has it."""
    async with first.exclusive("refresh:t1") as held:
        assert held
        async with second.exclusive("refresh:t1", timeout=0.3) as waited:
            assert not waited  # not had in time: the caller goes on without it
        async with second.exclusive("refresh:t2", timeout=0.3) as other:
            assert other
    async with second.exclusive("refresh:t1", timeout=0.3) as after:
        assert after


async def test_memory_tasks_take_turns() -> None:
    storage = MemoryStorage()
    await _excludes(storage, storage)
    order: list[str] = []

    async def hold(name: str) -> None:
        async with storage.exclusive("upstream:s1"):
            order.append(f"{name} in")
            await anyio.sleep(0.05)
            order.append(f"{name} out")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(hold, "a")
        tasks.start_soon(hold, "b")
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_sqlite_processes_on_one_file_take_turns(tmp_path: Path) -> None:
    path = str(tmp_path / "passgate.db")
    storage = SQLiteStorage(path)
    await storage.open()
    child = textwrap.dedent(
        f"""
        import anyio, sys
        from passgate.storage.sql.sqlite import SQLiteStorage

        async def main():
            storage = SQLiteStorage({path!r})
            await storage.open()
            async with storage.exclusive("refresh:t1") as held:
                print("held" if held else "not held", flush=True)
                sys.stdin.readline()
            await storage.close()

        anyio.run(main)
        """
    )
    try:
        async with await anyio.open_process(
            [sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as process:
            assert process.stdout is not None
            assert process.stdin is not None
            assert (await process.stdout.receive()).strip() == b"held"
            async with storage.exclusive("refresh:t1", timeout=0.3) as waited:
                assert not waited  # another process on the file holds it
            await process.stdin.send(b"\n")
            with anyio.fail_after(10):
                assert await process.wait() == 0
        async with storage.exclusive("refresh:t1", timeout=2) as after:
            assert after
    finally:
        await storage.close()


@pytest.mark.postgres
async def test_postgres_replicas_take_turns(postgres_dsn: str) -> None:
    first, second = PostgresStorage(postgres_dsn), PostgresStorage(postgres_dsn)
    await first.open()
    await second.open()
    try:
        await _excludes(first, second)
    finally:
        await first.close()
        await second.close()
