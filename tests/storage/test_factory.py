"""open_storage: Dex's ``storage`` block → an opened backend, with clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from passgate.storage.factory import KEEPALIVES, build_storage, open_storage, postgres_conninfo
from passgate.storage.memory import MemoryStorage
from passgate.storage.sql.postgres import PostgresStorage
from passgate.storage.sql.sqlite import SQLiteStorage


@pytest.mark.anyio
async def test_memory() -> None:
    storage = await open_storage("memory", {})
    assert isinstance(storage, MemoryStorage)
    await storage.close()


@pytest.mark.anyio
async def test_sqlite3_opens_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "dex.db"
    storage = await open_storage("sqlite3", {"file": str(path)})
    try:
        assert isinstance(storage, SQLiteStorage)
        assert path.exists()
        assert (await storage.get_keys()).signing_key is None
    finally:
        await storage.close()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_opens_a_real_server(postgres_dsn: str) -> None:
    params = conninfo_to_dict(postgres_dsn)
    options: dict[str, object] = {
        "host": params["host"],
        "port": str(params["port"]),  # as `$PGPORT` expansion would give it
        "database": params["dbname"],
        "user": params["user"],
        "ssl": {"mode": "disable"},
        "connectionTimeout": 5,
        "maxOpenConns": 3,
    }
    storage = await open_storage("postgres", options)
    try:
        assert isinstance(storage, PostgresStorage)
        await storage.revoke_token("jti", datetime(2030, 1, 1, tzinfo=UTC))
        assert await storage.is_token_revoked("jti")
    finally:
        await storage.close()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("mysql", "recognised but not supported yet"),
        ("etcd", "recognised but not supported yet"),
        ("kubernetes", "recognised but not supported yet"),
        ("cassandra", "unknown storage type 'cassandra'; supported: memory, sqlite3, postgres"),
        ("sqlite", "unknown storage type 'sqlite'"),
    ],
)
def test_unsupported_kinds(kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_storage(kind, {})


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("sqlite3", {}, r"config.file \(the database path\) is required"),
        ("sqlite3", {"file": ""}, "is required"),
        ("sqlite3", {"file": "x.db", "mode": "wal"}, r"unknown option\(s\) \['mode'\]"),
        ("memory", {"file": "x"}, r"storage memory: unknown option\(s\) \['file'\]"),
        ("postgres", {"host": "db", "sslmode": "disable"}, r"unknown option\(s\) \['sslmode'\]"),
        ("postgres", {"port": "fivefourthreetwo"}, "'port' must be an integer"),
        ("postgres", {"port": True}, "'port' must be an integer"),
        ("postgres", {"maxOpenConns": -1}, "must not be negative"),
        ("postgres", {"ssl": "require"}, "'ssl' must be a mapping"),
        ("postgres", {"ssl": {"mode": "sometimes"}}, "ssl.mode 'sometimes' is not one of"),
        ("postgres", {"ssl": {"ca": "x"}}, r"postgres ssl: unknown option\(s\) \['ca'\]"),
        ("postgres", {"password": ["x"]}, "'password' must be a string"),
    ],
)
def test_bad_options(kind: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_storage(kind, options)


def test_postgres_options_become_an_escaped_conninfo() -> None:
    conninfo = postgres_conninfo(
        {
            "host": "db.internal",
            "port": 6432,
            "database": "dex db",
            "user": "dex",
            "password": "p@ss word' \\ =x",
            "ssl": {
                "mode": "verify-ca",
                "caFile": "/etc/ssl/ca.pem",
                "certFile": "/etc/ssl/c.pem",
                "keyFile": "/etc/ssl/k.pem",
            },
        },
        connect_timeout=7,
    )
    assert conninfo_to_dict(conninfo) == {
        "host": "db.internal",
        "port": "6432",
        "dbname": "dex db",
        "user": "dex",
        "password": "p@ss word' \\ =x",
        "sslmode": "verify-ca",
        "sslrootcert": "/etc/ssl/ca.pem",
        "sslcert": "/etc/ssl/c.pem",
        "sslkey": "/etc/ssl/k.pem",
        "connect_timeout": "7",
        **{key: str(value) for key, value in KEEPALIVES.items()},
    }


def test_postgres_defaults_follow_dex() -> None:
    # No ssl.mode: the strictest mode, as Dex assumes; host:port is split like Dex does.
    params = conninfo_to_dict(postgres_conninfo({"host": "db:5433"}, connect_timeout=10))
    assert params == {
        "host": "db",
        "port": "5433",
        "sslmode": "verify-full",
        "connect_timeout": "10",
        **{key: str(value) for key, value in KEEPALIVES.items()},
    }
    socket = conninfo_to_dict(postgres_conninfo({"host": "/run/postgresql"}, connect_timeout=1))
    assert socket["host"] == "/run/postgresql"
    assert "keepalives" not in socket  # a Unix socket has no network to lose


def test_option_names_are_case_insensitive() -> None:
    storage = build_storage(
        "postgres", {"Host": "db", "MAXOPENCONNS": "4", "SSL": {"Mode": "disable"}}
    )
    assert isinstance(storage, PostgresStorage)
    assert build_storage("sqlite3", {"File": "x.db"}).path == "x.db"  # type: ignore[attr-defined]
