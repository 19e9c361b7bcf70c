"""Numbered migrations: loaded in order, applied once, matching the codecs' columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from passgate.storage.base import StorageError
from passgate.storage.sql import audit_records, flow_records, migrate, records
from passgate.storage.sql.postgres import PostgresStorage
from passgate.storage.sql.sqlite import SQLiteStorage, split_script

TABLES = [
    records.CLIENTS, records.PASSWORDS, records.SIGNING_KEYS, records.LOGIN_ATTEMPTS,
    flow_records.AUTH_REQUESTS, flow_records.AUTH_CODES, flow_records.REFRESH_TOKENS,
    flow_records.OFFLINE_SESSIONS, flow_records.DEVICE_REQUESTS, flow_records.DEVICE_TOKENS,
    audit_records.SESSIONS, audit_records.REVOCATIONS, audit_records.BROWSER_SESSIONS,
    records.SECRETS,
]  # fmt: skip
AUDIT = audit_records.AUDIT_EVENTS
EXPECTED = {t.name: sorted([*t.key, *t.columns]) for t in TABLES} | {
    AUDIT.name: sorted([*AUDIT.key, *AUDIT.columns, "seq"]),
    "revoked_tokens": ["expiry", "id"],
    "schema_migrations": ["name", "version"],
}


def test_every_flavour_has_the_same_numbered_migrations() -> None:
    sqlite, postgres = migrate.load("sqlite"), migrate.load("postgres")
    assert [m.version for m in sqlite] == list(range(1, len(sqlite) + 1))
    assert [(m.version, m.name) for m in sqlite] == [(m.version, m.name) for m in postgres]
    assert sqlite[0].name == "initial"


def test_split_script() -> None:
    script = "-- comment\nCREATE TABLE a (x TEXT DEFAULT ';');\n\nINSERT INTO a VALUES ('1;2');\n"
    assert split_script(script) == [
        "-- comment\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "INSERT INTO a VALUES ('1;2');",
    ]
    assert split_script("SELECT 1;\n-- trailing comment\n") == ["SELECT 1;"]
    with pytest.raises(StorageError, match="incomplete"):
        split_script("SELECT 1;\nSELECT 2")


@pytest.mark.anyio
async def test_sqlite_schema_matches_the_codecs_and_reopening_is_idempotent(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "db.sqlite")
    for _ in range(2):
        storage = SQLiteStorage(path)
        await storage.open()
        await storage.close()
    with sqlite3.connect(path) as conn:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if r[0] != "sqlite_sequence"  # AUTOINCREMENT's bookkeeping
        ]
        columns = {
            name: sorted(r[1] for r in conn.execute(f"PRAGMA table_info({name})")) for name in names
        }
        versions = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
        keys_rows = conn.execute("SELECT count(*) FROM signing_keys").fetchone()
    conn.close()
    assert columns == EXPECTED
    assert versions == [(m.version, m.name) for m in migrate.load("sqlite")]
    assert keys_rows == (1,)


@pytest.mark.anyio
async def test_sqlite_refuses_a_schema_from_the_future(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    storage = SQLiteStorage(path)
    await storage.open()
    await storage.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    conn.close()
    with pytest.raises(StorageError, match=r"versions \[999\] that this Passgate does not know"):
        await SQLiteStorage(path).open()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_schema_matches_the_codecs_and_reopening_is_idempotent(
    postgres_dsn: str,
) -> None:
    for _ in range(2):
        storage = PostgresStorage(postgres_dsn)
        await storage.open()
        await storage.close()
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
        versions = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
        time_types = conn.execute(
            "SELECT DISTINCT data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name IN ('expiry', 'created_at')"
        ).fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    assert {t: sorted(c) for t, c in columns.items()} == EXPECTED
    assert versions == [(m.version, m.name) for m in migrate.load("postgres")]
    assert time_types == [("timestamp with time zone",)]


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_refuses_a_schema_from_the_future(postgres_dsn: str) -> None:
    storage = PostgresStorage(postgres_dsn)
    await storage.open()
    await storage.close()
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(StorageError, match=r"versions \[999\]"):
        await PostgresStorage(postgres_dsn).open()
