"""The audit log as CSV for spreadsheets and tickets: one header, one row an event, every
cell safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is a
formula to Excel, LibreOffice and Google Sheets, and an actor, subject or detail can be
chosen by whoever triggers the event (a login name, a client id): such a cell is written
with a leading ``'`` so that it shows as text (OWASP "CSV Injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable

from passgate.storage.models import AuditEvent

__all__ = ["COLUMNS", "csv_chunks", "safe_cell"]

COLUMNS = (
    "seq", "time", "action", "outcome", "actor", "subject", "user_id", "client_id",
    "connector_id", "session_id", "remote_addr", "details",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it as text, never as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _row(event: AuditEvent) -> list[str]:
    cells = [
        str(event.seq), event.time.isoformat(), event.action, event.outcome, event.actor,
        event.subject, event.user_id, event.client_id, event.connector_id, event.session_id,
        event.remote_addr, json.dumps(event.details, sort_keys=True) if event.details else "",
    ]  # fmt: skip
    return [safe_cell(cell) for cell in cells]


def _lines(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)  # RFC 4180 line ends
    return out.getvalue()


async def csv_chunks(pages: AsyncIterable[list[AuditEvent]]) -> AsyncIterator[str]:
    """The header, then one chunk of rows for each page of events."""
    yield _lines([list(COLUMNS)])
    async for page in pages:
        yield _lines(_row(event) for event in page)
