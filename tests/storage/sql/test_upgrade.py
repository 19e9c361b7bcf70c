"""Upgrading a database that holds data: rows written under schema version 1 read back
unchanged after the later migrations, with the new fields at their defaults."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conformance import samples
from passgate.storage.base import Storage
from passgate.storage.models import AuditFilter, SessionFilter
from passgate.storage.sql import audit_records, flow_records, migrate, records
from passgate.storage.sql.flavour import POSTGRES, SQLITE, Flavour
from passgate.storage.sql.postgres import PostgresStorage
from passgate.storage.sql.sqlite import SQLiteStorage, split_script
from passgate.storage.sql.table import Table

pytestmark = pytest.mark.anyio

# What version 1 stored: the records without the columns later versions added.
OLD_ROWS: list[tuple[Table[Any], object]] = [
    (flow_records.REFRESH_TOKENS, samples.refresh_token()),
    (flow_records.AUTH_CODES, samples.auth_code()),
    (flow_records.AUTH_REQUESTS, samples.auth_request()),
    (records.CLIENTS, samples.client()),
    (records.PASSWORDS, samples.password()),
]
ADDED_LATER = {
    "session_id",  # version 2
    *("browser_session_id", "sso", "acr_values", "login_hint"),  # version 3
    *("backchannel_logout_uri", "sso_shared_with"),
    "secret_hash",  # version 5
    "disabled",  # version 7
}


def _version_1_insert(flavour: Flavour, table: Table[Any], record: object) -> tuple[str, Any]:
    row = {k: v for k, v in table.encode(flavour, record).items() if k not in ADDED_LATER}
    columns = ", ".join(row)
    values = ", ".join(f":{c}" for c in row)
    query = f"INSERT INTO {table.name} ({columns}) VALUES ({values})"
    return flavour.sql(query), row


async def _check_upgraded(storage: Storage) -> None:
    token = await storage.get_refresh_token("rt-1")
    assert token == dataclasses.replace(samples.refresh_token(), session_id="")
    assert await storage.list_refresh_tokens() == [token]
    assert await storage.get_auth_code("code-1") == dataclasses.replace(
        samples.auth_code(), session_id=""
    )
    assert await storage.get_auth_request("req-1") == dataclasses.replace(
        samples.auth_request(), browser_session_id="", sso=False, acr_values=(), login_hint=""
    )
    # The secret stays where it was (start-up hashes it, above storage), with no hash yet.
    assert await storage.get_client("client-1") == dataclasses.replace(
        samples.client(), backchannel_logout_uri="", sso_shared_with=None, secret_hash=""
    )
    # A user of the password database from before is enabled.
    assert await storage.get_password("jane@example.com") == samples.password("jane@example.com")
    # Old rows take the new field, and the new tables work.
    await storage.update_refresh_token("rt-1", lambda t: dataclasses.replace(t, session_id="s"))
    assert (await storage.get_refresh_token("rt-1")).session_id == "s"
    await storage.create_session(samples.session())
    assert await storage.list_sessions(SessionFilter(), samples.NOW) == [samples.session()]
    await storage.create_browser_session(samples.browser_session())
    assert await storage.get_browser_session("bs-1") == samples.browser_session()
    event = await storage.append_audit_event(samples.audit_event())
    assert await storage.list_audit_events(AuditFilter()) == [event]


async def test_sqlite_upgrade_keeps_version_1_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "v1.db")
    initial = migrate.load("sqlite")[0]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        conn.execute(migrate.CREATE_TABLE)
        for statement in split_script(initial.script):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (1, 'initial')")
        for table, record in OLD_ROWS:
            conn.execute(*_version_1_insert(SQLITE, table, record))
        conn.execute("COMMIT")
        assert "session_id" not in {r[1] for r in conn.execute("PRAGMA table_info(auth_codes)")}

    storage = SQLiteStorage(path)
    await storage.open()
    try:
        await _check_upgraded(storage)
    finally:
        await storage.close()
    with closing(sqlite3.connect(path)) as conn:
        versions = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in versions] == [m.version for m in migrate.load("sqlite")]


@pytest.mark.postgres
async def test_postgres_upgrade_keeps_version_1_rows(postgres_dsn: str) -> None:
    initial = migrate.load("postgres")[0]
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(migrate.CREATE_TABLE)
        conn.execute(initial.script)
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (1, 'initial')")
        for table, record in OLD_ROWS:
            conn.execute(*_version_1_insert(POSTGRES, table, record))

    storage = PostgresStorage(postgres_dsn)
    await storage.open()
    try:
        await _check_upgraded(storage)
    finally:
        await storage.close()
    with psycopg.connect(postgres_dsn) as conn:
        versions = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in versions] == [m.version for m in migrate.load("postgres")]


def _version_3_browser_session() -> dict[str, Any]:
    """A browser session as version 3 stored it: before ``with_groups``."""
    return {
        k: v
        for k, v in audit_records.BROWSER_SESSIONS.encode(SQLITE, samples.browser_session()).items()
        if k != "with_groups"
    }


async def test_sqlite_browser_sessions_from_version_3_have_no_groups_yet(tmp_path: Path) -> None:
    """A session signed in before Passgate recorded whether groups were asked counts as
    without them: a client asking for groups signs the person in again, once."""
    path = str(tmp_path / "v3.db")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        conn.execute(migrate.CREATE_TABLE)
        for migration in migrate.load("sqlite")[:3]:
            for statement in split_script(migration.script):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
        row = _version_3_browser_session()
        columns = ", ".join(row)
        values = ", ".join(f":{c}" for c in row)
        conn.execute(f"INSERT INTO browser_sessions ({columns}) VALUES ({values})", row)
        conn.execute("COMMIT")
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        expected = dataclasses.replace(samples.browser_session(), with_groups=False)
        assert await storage.get_browser_session("bs-1") == expected
    finally:
        await storage.close()
