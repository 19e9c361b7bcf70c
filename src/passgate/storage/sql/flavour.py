"""What differs between SQL dialects, kept in one small object (Dex's ``flavor``).

Queries are written once with ``:name`` placeholders; a flavour translates them and
encodes the values whose storage differs: datetimes (SQLite: integer microseconds since
the Unix epoch, so comparisons are exact; PostgreSQL: ``timestamptz``) and JSON (SQLite:
text; PostgreSQL: ``jsonb``). Decoded datetimes are always timezone-aware UTC.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


def require_aware(value: datetime) -> datetime:
    """A naive datetime names no instant; refuse it instead of guessing a zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; use UTC")
    return value


def to_iso(value: datetime) -> str:
    """UTC ISO 8601 with microseconds, for datetimes nested inside JSON values."""
    return require_aware(value).astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(value: str) -> datetime:
    return require_aware(datetime.fromisoformat(value)).astimezone(UTC)


def _epoch_micros(value: datetime) -> int:
    # Integer arithmetic on timedeltas: exact, no float rounding.
    return (require_aware(value) - _EPOCH) // _MICROSECOND


def _from_epoch_micros(value: Any) -> datetime:
    return _EPOCH + int(value) * _MICROSECOND


def _pg_time(value: datetime) -> datetime:
    return require_aware(value).astimezone(UTC)


def _pg_untime(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamptz, got {type(value).__name__}")
    return require_aware(value).astimezone(UTC)


def _sqlite_json(value: object) -> object:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _sqlite_unjson(value: Any) -> Any:
    return json.loads(value)


def _pg_unjson(value: Any) -> Any:
    # psycopg parses jsonb itself; text would only come from a hand-made column.
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class Flavour:
    """One SQL dialect: placeholder style and value encodings."""

    name: str
    for_update: str
    _translate: Callable[[str], str]
    time: Callable[[datetime], object]
    untime: Callable[[Any], datetime]
    json: Callable[[object], object]
    unjson: Callable[[Any], Any]
    #: ``column <prefix_op> :param`` with ``prefix_pattern(p)`` as the parameter is true
    #: when the column starts with ``p``, case-sensitively, and can use a plain index.
    prefix_op: str
    prefix_pattern: Callable[[str], str]
    #: Statements that take (or try to take, answering ``locked``) a lock named
    #: ``:lock_name`` until the transaction ends, for work one replica at a time must do
    #: ("" where transactions are serialized anyway: SQLite's BEGIN IMMEDIATE).
    xact_lock: str = ""
    try_xact_lock: str = ""

    def sql(self, query: str) -> str:
        """``query`` (written with ``:name`` placeholders) in this dialect."""
        return _translated(self._translate, query)

    def opt_time(self, value: datetime | None) -> object:
        return None if value is None else self.time(value)

    def opt_untime(self, value: Any) -> datetime | None:
        return None if value is None else self.untime(value)


@functools.lru_cache(maxsize=512)
def _translated(translate: Callable[[str], str], query: str) -> str:
    return translate(query)


def _identity(query: str) -> str:
    return query


def _glob_prefix(prefix: str) -> str:
    # SQLite's LIKE ignores ASCII case; GLOB does not. A one-character class quotes a
    # wildcard (GLOB has no escape character).
    return "".join(f"[{c}]" if c in "*?[" else c for c in prefix) + "*"


def _like_prefix(prefix: str) -> str:
    # Backslash is PostgreSQL's default LIKE escape character.
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _pyformat(query: str) -> str:
    if "%" in query:
        raise ValueError("queries must not contain '%' (psycopg placeholder syntax)")
    return _NAMED.sub(r"%(\1)s", query)


# sqlite3 understands ``:name`` natively.
SQLITE = Flavour(
    name="sqlite",
    for_update="",  # BEGIN IMMEDIATE already holds the database's write lock.
    _translate=_identity,
    time=_epoch_micros,
    untime=_from_epoch_micros,
    json=_sqlite_json,
    unjson=_sqlite_unjson,
    prefix_op="GLOB",
    prefix_pattern=_glob_prefix,
)

POSTGRES = Flavour(
    name="postgres",
    for_update=" FOR UPDATE",
    _translate=_pyformat,
    time=_pg_time,
    untime=_pg_untime,
    json=Jsonb,
    unjson=_pg_unjson,
    prefix_op="LIKE",
    prefix_pattern=_like_prefix,
    xact_lock="SELECT pg_advisory_xact_lock(hashtext(:lock_name))",
    try_xact_lock="SELECT pg_try_advisory_xact_lock(hashtext(:lock_name)) AS locked",
)
