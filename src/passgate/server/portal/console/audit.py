"""The audit log in the console: filter, page back in time, and export the same filter
as CSV (streamed, every cell safe for spreadsheets). The filters are the admin API's
``GET /audit`` query, read by its own model; a browser's ``datetime-local`` field (no
zone) is read as UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from passgate.admin.audit_csv import csv_chunks
from passgate.admin.errors import BadRequestError
from passgate.server import admin_schemas as s
from passgate.server.admin_parse import validated
from passgate.server.errors import NO_STORE
from passgate.server.portal.console.gate import Console, page
from passgate.storage.models import AuditEvent, AuditFilter

FIELDS = ("action", "actor", "user_id", "client_id", "session_id", "since", "until")
PAGE_SIZES = (50, 100, 500)
_LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?")


def filter_of(console: Console, *, paged: bool) -> s.AuditQueryParams:
    """The filter form's fields (empty ones left out); ``paged`` adds the page cursor
    and size."""
    query = console.request.query_params
    names = (*FIELDS, "before_seq", "limit") if paged else FIELDS
    values = {name: query[name] for name in names if query.get(name)}
    for name in ("since", "until"):
        if _LOCAL_TIME.fullmatch(values.get(name, "")):
            values[name] += "Z"
    return validated(s.AuditQueryParams, values)


def as_form(which: s.AuditQueryParams) -> dict[str, str]:
    """The filter as the form shows it again (times as ``datetime-local`` values)."""
    shown: dict[str, str] = {}
    for name in FIELDS:
        value = getattr(which, name)
        if isinstance(value, datetime):
            shown[name] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        elif value:
            shown[name] = value
    return shown


async def audit(console: Console) -> Response:
    try:
        which = filter_of(console, paged=True)
    except BadRequestError as error:
        return audit_page(console, s.AuditQueryParams(), [], error)
    events = await console.api.audit.events(AuditFilter(**which.model_dump()), console.actor)
    return audit_page(console, which, events)


def audit_page(
    console: Console,
    which: s.AuditQueryParams,
    events: list[AuditEvent],
    error: BadRequestError | None = None,
) -> Response:
    shown = as_form(which)
    size = str(which.limit)
    older = ""
    if len(events) == which.limit:
        older = console.url("/audit", **shown, before_seq=str(events[-1].seq), limit=size)
    context = {
        "events": events,
        "filter": shown,
        "limit": which.limit,
        "sizes": PAGE_SIZES,
        "paged": which.before_seq is not None,
        "older": older,
        "newest": console.url("/audit", **shown, limit=size),
        "export": console.url("/audit.csv", **shown),
        "error": error.description if error else "",
    }
    status = error.status_code if error else 200
    return console.render("console/audit.html", "audit", context, status=status)


async def export(console: Console) -> Response:
    which = AuditFilter(**filter_of(console, paged=False).model_dump())
    pages = await console.api.audit.export(which, console.actor)
    stamp = console.services.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="passgate-audit-{stamp}.csv"',
    }
    return StreamingResponse(
        csv_chunks(pages), media_type="text/csv; charset=utf-8", headers=headers
    )


routes = [
    Route("/console/audit", page(audit), methods=["GET"]),
    Route("/console/audit.csv", page(export), methods=["GET"]),
]
