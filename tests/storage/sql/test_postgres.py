"""PostgreSQL specifics: UTC whatever the session time zone, retry of serialization
failures, clear connection errors, and the open/close lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from passgate.storage.base import StorageError, StorageUnavailableError
from passgate.storage.models import Client, Keys
from passgate.storage.sql.postgres import PostgresStorage
from passgate.storage.sql.session import Session

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_datetimes_are_utc_whatever_the_session_time_zone(postgres_dsn: str) -> None:
    params = conninfo_to_dict(postgres_dsn)
    params["options"] = "-c TimeZone=Asia/Kolkata"
    storage = PostgresStorage(make_conninfo("", **params))
    await storage.open()
    try:
        at = datetime(2026, 6, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-7)))
        await storage.update_keys(lambda old: Keys(next_rotation=at))
        got = (await storage.get_keys()).next_rotation
        assert got == at
        assert got is not None
        assert got.tzinfo is UTC
    finally:
        await storage.close()


async def test_serialization_failures_are_retried(postgres_dsn: str) -> None:
    storage = PostgresStorage(postgres_dsn)
    await storage.open()
    calls = 0

    async def body(session: Session) -> int:
        nonlocal calls
        calls += 1
        await session.execute(
            "INSERT INTO revoked_tokens (id, expiry) VALUES (:id, :expiry)",
            {"id": f"jti-{calls}", "expiry": datetime(2030, 1, 1, tzinfo=UTC)},
        )
        if calls < 3:
            raise errors.SerializationFailure("could not serialize access")
        return calls

    try:
        assert await storage._transact(body) == 3
        # The failed attempts were rolled back.
        assert not await storage.is_token_revoked("jti-1")
        assert not await storage.is_token_revoked("jti-2")
        assert await storage.is_token_revoked("jti-3")
    finally:
        await storage.close()


async def test_other_errors_are_not_retried(postgres_dsn: str) -> None:
    storage = PostgresStorage(postgres_dsn)
    await storage.open()
    calls = 0

    async def body(session: Session) -> None:
        nonlocal calls
        calls += 1
        await session.execute("SELECT no_such_column FROM clients", {})

    try:
        with pytest.raises(errors.UndefinedColumn):
            await storage._transact(body)
        assert calls == 1
        await storage.create_client(Client("still-works"))
    finally:
        await storage.close()


async def test_unreachable_server_fails_with_libpq_error(postgres_dsn: str) -> None:
    params = conninfo_to_dict(postgres_dsn)
    params["port"] = "1"  # nothing listens on port 1
    storage = PostgresStorage(make_conninfo("", **params), connect_timeout=2)
    refused = r"cannot connect to PostgreSQL: .*port 1 failed"
    with pytest.raises(StorageUnavailableError, match=refused):
        await storage.open()
    with pytest.raises(StorageError, match="not open"):
        await storage.get_keys()


async def test_lifecycle_errors(postgres_dsn: str) -> None:
    storage = PostgresStorage(postgres_dsn)
    with pytest.raises(StorageError, match="not open"):
        await storage.list_clients()
    await storage.open()
    with pytest.raises(StorageError, match="open already"):
        await storage.open()
    await storage.close()
    await storage.close()
    with pytest.raises(StorageError, match="not open"):
        await storage.list_clients()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_size": 0}, "min_size"),
        ({"min_size": 5, "max_size": 2}, "min_size"),
        ({"connect_timeout": 0}, "connect_timeout"),
    ],
)
def test_bad_pool_settings(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PostgresStorage("dbname=x", **kwargs)
