"""SQLite specifics: connection settings, durability after SIGKILL, updates serialized
across real processes, and the open/close lifecycle."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from passgate.storage.base import StorageError, StorageUnavailableError
from passgate.storage.models import Client
from passgate.storage.sql.sqlite import SQLiteStorage

pytestmark = pytest.mark.anyio

CHILD_PREAMBLE = """
import sys
import anyio
from datetime import UTC, datetime
from passgate.storage.sql.sqlite import SQLiteStorage
"""


def _child(body: str) -> list[str]:
    code = CHILD_PREAMBLE + textwrap.dedent(body)
    return [sys.executable, "-c", code]


async def test_connection_settings(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "db"))
    await storage.open()
    try:
        writer = storage._writer
        assert writer is not None
        pragmas = {}
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            rows = list(await writer.execute_fetchall(f"PRAGMA {name}"))
            pragmas[name] = rows[0][0]
        # synchronous=2 is FULL: the WAL is fsynced at every commit.
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,
            "foreign_keys": 1,
            "busy_timeout": 10000,  # then a request answers 503 rather than hang
        }
    finally:
        await storage.close()


def test_confirmed_writes_survive_sigkill(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    child = _child(
        f"""
        async def main():
            storage = SQLiteStorage({path!r})
            await storage.open()
            i = 0
            while True:
                await storage.revoke_token(f"jti-{{i}}", datetime(2030, 1, 1, tzinfo=UTC))
                print(i, flush=True)  # confirmed to the caller only after the commit
                i += 1
        anyio.run(main)
        """
    )
    with subprocess.Popen(child, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        confirmed = [int(proc.stdout.readline()) for _ in range(200)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM revoked_tokens")}
    conn.close()
    assert {f"jti-{i}" for i in confirmed} <= stored


def test_key_updates_are_serialized_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    per_process, processes = 40, 3
    child = _child(
        f"""
        import dataclasses
        from passgate.storage.models import VerificationKey

        async def main():
            storage = SQLiteStorage({path!r})
            await storage.open()
            for i in range({per_process}):
                def add(old, i=i):
                    key = VerificationKey({{"kid": f"{{sys.argv[1]}}-{{i}}"}}, datetime.now(UTC))
                    return dataclasses.replace(
                        old, verification_keys=(*old.verification_keys, key)
                    )
                await storage.update_keys(add)
            await storage.close()
        anyio.run(main)
        """
    )
    procs = [subprocess.Popen([*child, f"p{n}"]) for n in range(processes)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    with sqlite3.connect(path) as conn:
        (raw,) = conn.execute("SELECT verification_keys FROM signing_keys").fetchone()
    conn.close()
    kids = sorted(key["jwk"]["kid"] for key in json.loads(raw))
    expected = sorted(f"p{n}-{i}" for n in range(processes) for i in range(per_process))
    assert kids == expected


async def test_in_memory_database() -> None:
    storage = SQLiteStorage(":memory:")
    await storage.open()
    try:
        await storage.create_client(Client("c"))
        assert await storage.list_clients() == [Client("c")]
    finally:
        await storage.close()


async def test_lifecycle_errors(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "db"))
    with pytest.raises(StorageError, match="not open"):
        await storage.get_keys()
    await storage.open()
    with pytest.raises(StorageError, match="open already"):
        await storage.open()
    await storage.close()
    await storage.close()  # idempotent
    with pytest.raises(StorageError, match="not open"):
        await storage.create_client(Client("c"))


async def test_open_fails_cleanly_on_a_bad_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    storage = SQLiteStorage(str(tmp_path / "a-file" / "db"))
    with pytest.raises(StorageUnavailableError, match="a-file"):
        await storage.open()
    with pytest.raises(StorageError, match="not open"):
        await storage.get_keys()


async def test_missing_directories_are_made_for_the_owner_only(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "var" / "lib" / "db"))
    await storage.open()
    await storage.close()
    for made in (tmp_path / "var", tmp_path / "var" / "lib"):
        assert made.stat().st_mode & 0o777 == 0o700


async def test_a_locked_database_waits_instead_of_failing(tmp_path: Path) -> None:
    """Another process holding the write lock briefly delays a write; it does not fail."""
    path = str(tmp_path / "db")
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        async with anyio.create_task_group() as tg:
            tg.start_soon(storage.create_client, Client("c"))
            await anyio.sleep(0.3)
            blocker.execute("COMMIT")
        blocker.close()
        assert await storage.get_client("c") == Client("c")
    finally:
        await storage.close()


async def test_locked_past_the_busy_timeout_is_unavailable_and_changes_nothing(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "db")
    storage = SQLiteStorage(path, busy_timeout=timedelta(milliseconds=200))
    await storage.open()
    try:
        await storage.create_client(Client("c", name="before"))
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageUnavailableError, match="locked"):
            await storage.update_client("c", lambda old: Client("c", name="after"))
        blocker.execute("COMMIT")
        blocker.close()
        assert (await storage.get_client("c")).name == "before"
        await storage.update_client("c", lambda old: Client("c", name="after"))  # usable
    finally:
        await storage.close()
