"""Value encodings and placeholder translation of the SQL flavours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.storage.sql.flavour import POSTGRES, SQLITE, Flavour, from_iso, to_iso

ZONES = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60, 23 * 60)
)
INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1), timezones=ZONES
)


@given(INSTANTS)
def test_sqlite_time_is_exact_and_utc(value: datetime) -> None:
    decoded = SQLITE.untime(SQLITE.time(value))
    assert decoded == value
    assert decoded.tzinfo is UTC


@given(INSTANTS, INSTANTS)
def test_sqlite_time_orders_like_instants(a: datetime, b: datetime) -> None:
    encoded_a, encoded_b = SQLITE.time(a), SQLITE.time(b)
    assert isinstance(encoded_a, int)
    assert isinstance(encoded_b, int)
    assert (encoded_a < encoded_b) == (a < b)


@given(INSTANTS)
def test_iso_round_trip(value: datetime) -> None:
    assert from_iso(to_iso(value)) == value
    assert from_iso(to_iso(value)).tzinfo is UTC


def test_postgres_time_is_utc() -> None:
    plus_two = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert POSTGRES.time(plus_two) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert POSTGRES.untime(plus_two).tzinfo is UTC


@pytest.mark.parametrize("flavour", [SQLITE, POSTGRES], ids=lambda f: f.name)
def test_naive_datetimes_are_refused(flavour: Flavour) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        flavour.time(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        to_iso(datetime(2026, 1, 1))


def test_placeholders() -> None:
    query = "SELECT a FROM t WHERE a = :a AND b = :b_2 AND c = 'x'::text"
    assert SQLITE.sql(query) == query
    assert POSTGRES.sql(query) == (
        "SELECT a FROM t WHERE a = %(a)s AND b = %(b_2)s AND c = 'x'::text"
    )
    with pytest.raises(ValueError, match="'%'"):
        POSTGRES.sql("SELECT '100%' FROM t WHERE a = :a")


def test_json() -> None:
    value = {"b": [1, "two"], "a": None}
    assert SQLITE.json(value) == '{"a":null,"b":[1,"two"]}'
    assert SQLITE.unjson(SQLITE.json(value)) == value
    assert POSTGRES.unjson(value) is value


def test_prefix_patterns_quote_wildcards() -> None:
    # SQLite: GLOB (case-sensitive), wildcards in one-character classes.
    assert SQLITE.prefix_op == "GLOB"
    assert SQLITE.prefix_pattern("login.") == "login.*"
    assert SQLITE.prefix_pattern("a*b?c[d]") == "a[*]b[?]c[[]d]*"
    # PostgreSQL: LIKE with its default backslash escape.
    assert POSTGRES.prefix_op == "LIKE"
    assert POSTGRES.prefix_pattern("login.") == "login.%"
    assert POSTGRES.prefix_pattern("a_b%c\\d") == "a\\_b\\%c\\\\d%"
