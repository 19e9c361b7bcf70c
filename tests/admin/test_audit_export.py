"""The audit export of the admin layer: every matching event in pages, newest first, a
cap, one audit event for the export, and CSV whose cells a spreadsheet shows as text."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from passgate.admin.audit import Actor, Auditor, AuditQuery
from passgate.admin.audit_csv import COLUMNS, csv_chunks, safe_cell
from passgate.admin.errors import BadRequestError
from passgate.clock import FrozenClock
from passgate.provider.audit import AuditLog
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import AuditEvent, AuditFilter

pytestmark = pytest.mark.anyio

ACTOR = Actor("admin:ci", "192.0.2.1")


@pytest.fixture
async def logged() -> tuple[MemoryStorage, AuditQuery]:
    storage, clock = MemoryStorage(), FrozenClock()
    log = AuditLog(storage, clock, log_events=False)
    for number in range(2500):
        action = "login.failure" if number % 2 else "token.issue"
        await log.record(action, f"user-{number}", details={"n": str(number)})
    return storage, AuditQuery(storage, Auditor(log))


async def collect(pages: AsyncIterator[list[AuditEvent]]) -> list[AuditEvent]:
    return [event async for page in pages for event in page]


async def test_export_reads_every_match_in_pages_newest_first(
    logged: tuple[MemoryStorage, AuditQuery],
) -> None:
    storage, query = logged
    # A page cursor and limit of the list are no part of an export.
    which = AuditFilter(action="login.", before_seq=10, limit=3)
    events = await collect(await query.export(which, ACTOR))
    assert len(events) == 1250
    assert all(event.action == "login.failure" for event in events)
    assert [e.seq for e in events] == sorted((e.seq for e in events), reverse=True)
    capped = await collect(await query.export(AuditFilter(), ACTOR, most=1001))
    assert len(capped) == 1001
    [*_, exported] = await storage.list_audit_events(AuditFilter(action="admin.", limit=1000))
    assert exported.action == "admin.audit.export"
    assert exported.details == {"filter_action": "login."}


async def test_a_refused_export_fails_before_any_download(
    logged: tuple[MemoryStorage, AuditQuery],
) -> None:
    _, query = logged
    later = FrozenClock()()
    with pytest.raises(BadRequestError, match="since"):
        await query.export(AuditFilter(since=later, until=later - timedelta(days=1)), ACTOR)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "'-2"),
     ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("admin:ci", "admin:ci"),
     ("", ""), ("a=b", "a=b")],
)  # fmt: skip
def test_a_cell_never_starts_a_formula(cell: str, shown: str) -> None:
    assert safe_cell(cell) == shown


async def test_csv_has_a_header_and_one_safe_row_an_event() -> None:
    event = AuditEvent(
        id="e1", time=FrozenClock()(), action="login.failure", actor="=cmd|' /C calc'!A0",
        outcome="failure", subject='a,"quoted"\nline', details={"reason": "-bad", "x": "1"},
        seq=7,
    )  # fmt: skip

    async def pages() -> AsyncIterator[list[AuditEvent]]:
        yield [event]

    text = "".join([chunk async for chunk in csv_chunks(pages())])
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(COLUMNS)
    cells = dict(zip(header, row, strict=True))
    assert cells["actor"] == "'=cmd|' /C calc'!A0"
    assert cells["subject"] == 'a,"quoted"\nline'
    assert cells["details"] == '{"reason": "-bad", "x": "1"}'
    assert (cells["seq"], cells["outcome"]) == ("7", "failure")
