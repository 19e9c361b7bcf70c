"""Sessions and revocation in the console: search grants and browser sessions by user,
client or connector; revoke one, a user's, a client's, a connector's or everything; and
the revocation rules in force. Revoking is the admin API's
:meth:`~passgate.admin.revocations.RevocationService.revoke`, audited as the API's is."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.responses import Response
from starlette.routing import Route

from passgate.admin.errors import AdminError, BadRequestError
from passgate.oauth2.params import Params
from passgate.server import admin_schemas as s
from passgate.server.admin_parse import validated
from passgate.server.portal.console.gate import Console, action, page
from passgate.storage.models import REVOCATION_KINDS, BrowserSessionFilter, SessionFilter

#: Rows a page shows of each list; a wider search is narrowed rather than paged.
MOST_ROWS = 200
FILTERS = ("user_id", "client_id", "connector_id")


def search_of(console: Console) -> s.SessionQuery:
    """The search form's fields (empty ones left out), as the API's query reads them."""
    query = console.request.query_params
    values: dict[str, object] = {name: query[name] for name in FILTERS if query.get(name)}
    values["include_revoked"] = query.get("include_revoked") == "yes"
    return validated(s.SessionQuery, values)


async def sessions(console: Console) -> Response:
    try:
        search = search_of(console)
    except BadRequestError as error:
        return await sessions_page(console, s.SessionQuery(), error.description, 400)
    return await sessions_page(console, search)


async def sessions_page(
    console: Console, search: s.SessionQuery, error: str = "", status: int = 200
) -> Response:
    api, actor = console.api, console.actor
    grants = await api.sessions.list_sessions(SessionFilter(**search.model_dump()), actor)
    browsers = []
    if not search.client_id:  # a browser session belongs to no one client
        which = BrowserSessionFilter(
            user_id=search.user_id,
            connector_id=search.connector_id,
            include_revoked=search.include_revoked,
        )
        browsers = await api.sessions.list_browser_sessions(which, actor)
    filters = {name: getattr(search, name) for name in FILTERS if getattr(search, name)}
    here = console.url("/sessions", **filters)
    context = {
        "search": search,
        "filters": filters,
        "grants": grants[:MOST_ROWS],
        "grant_count": len(grants),
        "browsers": browsers[:MOST_ROWS],
        "browser_count": len(browsers),
        "most": MOST_ROWS,
        "connectors": list(console.services.connectors),
        "back": here.removeprefix(console.url()),
        "error": error,
    }
    return console.render("console/sessions.html", "sessions", context, status=status)


async def revocations(console: Console, error: str = "", status: int = 200) -> Response:
    rules = await console.api.revocations.list_rules(console.actor)
    context = {"rules": rules, "kinds": REVOCATION_KINDS, "error": error}
    return console.render("console/revocations.html", "revocations", context, status=status)


def back_of(form: Params) -> tuple[str, dict[str, str]]:
    """Where a revoke form returns: the sessions search it came from, or the rules."""
    parts = urlsplit(form.optional("back"))
    if parts.path != "/sessions" or parts.scheme or parts.netloc:
        return "/revocations", {}
    query = dict(parse_qsl(parts.query))
    return "/sessions", {name: query[name] for name in FILTERS if query.get(name)}


async def revoke(console: Console, form: Params) -> Response:
    body = validated(
        s.RevocationCreate,
        {
            "kind": form.optional("kind"),
            "value": form.optional("value"),
            "reason": form.optional("reason"),
        },
    )
    if body.kind == "all" and form.optional("confirm") != "everyone":
        raise BadRequestError("to revoke everything, tick the box that confirms it")
    result = await console.api.revocations.revoke(body.kind, body.value, body.reason, console.actor)
    path, params = back_of(form)
    notice = "revoked" if result.revoked else "nothing-revoked"
    return console.done(path, notice, result.sessions_revoked, **params)


async def retry_revoke(console: Console, form: Params, error: AdminError) -> Response:
    path, params = back_of(form)
    if path == "/sessions":
        search = validated(s.SessionQuery, params)
        return await sessions_page(console, search, error.description, error.status_code)
    return await revocations(console, error.description, error.status_code)


async def rules(console: Console) -> Response:
    return await revocations(console)


routes = [
    Route("/console/sessions", page(sessions), methods=["GET"]),
    Route("/console/revocations", page(rules), methods=["GET"]),
    Route("/console/revocations", action(revoke, retry_revoke), methods=["POST"]),
]
