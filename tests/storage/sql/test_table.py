"""SQL derived from a table's columns, and every table's codec agreeing with its columns."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from conformance import samples
from passgate.storage.models import Keys, VerificationKey
from passgate.storage.sql import audit_records, flow_records, records
from passgate.storage.sql.flavour import POSTGRES, SQLITE, Flavour
from passgate.storage.sql.table import Table

SAMPLES: list[tuple[Table[Any], object]] = [
    (records.CLIENTS, samples.client()),
    (records.PASSWORDS, samples.password("jane@example.com")),
    (
        records.SIGNING_KEYS,
        Keys({"k": "v"}, {"k": "p"}, (VerificationKey({"kid": "a"}, samples.NOW),), samples.NOW),
    ),
    (records.LOGIN_ATTEMPTS, samples.login_attempts(locked_until=samples.NOW)),
    (flow_records.AUTH_REQUESTS, samples.auth_request()),
    (flow_records.AUTH_CODES, samples.auth_code()),
    (flow_records.REFRESH_TOKENS, samples.refresh_token()),
    (flow_records.OFFLINE_SESSIONS, samples.offline_session()),
    (flow_records.DEVICE_REQUESTS, samples.device_request()),
    (flow_records.DEVICE_TOKENS, samples.device_token()),
    (audit_records.SESSIONS, samples.session(expiry=samples.NOW, revoked_at=samples.NOW)),
    (audit_records.REVOCATIONS, samples.revocation()),
    (audit_records.BROWSER_SESSIONS, samples.browser_session(revoked_at=samples.NOW)),
    (audit_records.AUDIT_EVENTS, dataclasses.replace(samples.audit_event(), seq=7)),
]


def _dummy(flavour: Flavour, record: object) -> dict[str, object]:
    return {}


def test_statements() -> None:
    table = Table[object]("things", ("a", "b"), ("c", "d"), _dummy, lambda f, r: r)
    assert table.insert == (
        "INSERT INTO things (a, b, c, d) VALUES (:a, :b, :c, :d) ON CONFLICT DO NOTHING"
    )
    assert table.select == "SELECT a, b, c, d FROM things WHERE a = :a AND b = :b"
    assert table.select_all == "SELECT a, b, c, d FROM things ORDER BY a, b"
    assert table.update == "UPDATE things SET c = :c, d = :d WHERE a = :a AND b = :b"
    assert table.delete == "DELETE FROM things WHERE a = :a AND b = :b"
    assert table.key_params("x", "y") == {"a": "x", "b": "y"}
    with pytest.raises(TypeError):
        table.key_params("x")


@pytest.mark.parametrize("name", ["Things", "t; DROP TABLE x", "a-b", ""])
def test_identifiers_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL identifiers"):
        Table[object](name, ("a",), (), _dummy, lambda f, r: r)


@pytest.mark.parametrize("flavour", [SQLITE, POSTGRES], ids=lambda f: f.name)
@pytest.mark.parametrize(("table", "record"), SAMPLES, ids=lambda v: getattr(v, "name", ""))
def test_codec_matches_columns(flavour: Flavour, table: Table[Any], record: object) -> None:
    row = table.encode(flavour, record)
    assert sorted(row) == sorted([*table.key, *table.columns])
    if flavour is SQLITE:
        # What sqlite3 hands back is what it was given (JSON text, integers, bytes).
        if table is audit_records.AUDIT_EVENTS:
            row["seq"] = 7  # assigned by the database, never written
        assert table.decode(flavour, row) == record
