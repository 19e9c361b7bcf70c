"""The admin API over HTTP (``/admin/v1``): JSON in and out, bearer authentication, one
audit event per call (refused ones as ``admin.auth.failure``), and the OpenAPI document
generated from the route table below (:mod:`passgate.server.admin_openapi`).

Without an ``admin`` section in the config every path here answers 404: the API is off.
Endpoints are thin: authenticate, parse, call the service layer (``passgate.admin``),
render; every failure is ``{"error", "error_description"}`` with its status, never a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from passgate.admin.api import AdminAPI
from passgate.admin.audit import Actor
from passgate.admin.errors import AdminError, NotFoundError
from passgate.server import admin_schemas as s
from passgate.server.admin_parse import parse_body, parse_query
from passgate.server.errors import NO_STORE
from passgate.server.net import client_address
from passgate.server.services import Services
from passgate.storage.models import AuditFilter, BrowserSessionFilter, SessionFilter

PREFIX = "/admin/v1"


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated call, its input parsed."""

    api: AdminAPI
    actor: Actor
    params: Mapping[str, str]
    body: Any
    query: Any


Handler = Callable[[Call], Awaitable[BaseModel | None]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One route of the table the dispatcher and the OpenAPI document are made from."""

    method: str
    path: str
    action: str  # the audit action of the call
    summary: str
    handler: Handler
    response: type[BaseModel] | None  # None: 204 No Content
    status: int = 200
    body: type[s.Body] | None = None
    query: type[s.Query] | None = None
    errors: tuple[int, ...] = ()


# -- handlers ------------------------------------------------------------------------------
async def list_clients(call: Call) -> BaseModel:
    views = await call.api.clients.list_clients(call.actor)
    return s.ClientList(clients=[s.ClientOut.of(view) for view in views])


async def create_client(call: Call) -> BaseModel:
    body: s.ClientCreate = call.body
    view = await call.api.clients.create(body.id, body.changes(), call.actor)
    return s.ClientOut.of(view)


async def get_client(call: Call) -> BaseModel:
    return s.ClientOut.of(await call.api.clients.get(call.params["client_id"], call.actor))


async def replace_client(call: Call) -> BaseModel:
    body: s.ClientFields | s.ClientPatch = call.body
    client_id = call.params["client_id"]
    return s.ClientOut.of(await call.api.clients.update(client_id, body.changes(), call.actor))


async def rotate_client_secret(call: Call) -> BaseModel:
    view = await call.api.clients.rotate_secret(call.params["client_id"], call.actor)
    return s.ClientOut.of(view)


async def delete_client(call: Call) -> None:
    await call.api.clients.delete(call.params["client_id"], call.actor)


async def list_users(call: Call) -> BaseModel:
    views = await call.api.users.list_users(call.actor)
    return s.UserList(users=[s.UserOut.of(view) for view in views])


async def create_user(call: Call) -> BaseModel:
    from passgate.admin.users import NewUser, Secret

    body: s.UserCreate = call.body
    new = NewUser(
        email=body.email,
        secret=Secret(body.password, body.hash),
        username=body.username,
        user_id=body.user_id,
        name=body.name,
        preferred_username=body.preferred_username,
        email_verified=body.email_verified,
        groups=tuple(body.groups),
    )
    return s.UserOut.of(await call.api.users.create(new, call.actor))


async def set_password(call: Call) -> BaseModel:
    from passgate.admin.users import Secret

    body: s.PasswordBody = call.body
    secret = Secret(body.password, body.hash)
    return s.UserOut.of(await call.api.users.set_password(call.params["email"], secret, call.actor))


async def disable_user(call: Call) -> BaseModel:
    query: s.Reason = call.query
    email = call.params["email"]
    view = await call.api.users.set_disabled(email, True, call.actor, reason=query.reason)
    return s.UserOut.of(view)


async def enable_user(call: Call) -> BaseModel:
    return s.UserOut.of(await call.api.users.set_disabled(call.params["email"], False, call.actor))


async def delete_user(call: Call) -> None:
    await call.api.users.delete(call.params["email"], call.actor)


async def list_sessions(call: Call) -> BaseModel:
    query: s.SessionQuery = call.query
    which = SessionFilter(**query.model_dump())  # the same fields
    sessions = await call.api.sessions.list_sessions(which, call.actor)
    return s.SessionList(sessions=[s.SessionOut.of(session) for session in sessions])


async def list_browser_sessions(call: Call) -> BaseModel:
    query: s.BrowserSessionQuery = call.query
    which = BrowserSessionFilter(**query.model_dump())  # the same fields
    found = await call.api.sessions.list_browser_sessions(which, call.actor)
    return s.BrowserSessionList(browser_sessions=[s.BrowserSessionOut.of(b) for b in found])


async def get_browser_session(call: Call) -> BaseModel:
    session = await call.api.sessions.get_browser_session(call.params["session_id"], call.actor)
    return s.BrowserSessionOut.of(session)


async def end_browser_session(call: Call) -> None:
    query: s.Reason = call.query
    await call.api.sessions.end_browser_session(call.params["session_id"], query.reason, call.actor)


async def list_revocations(call: Call) -> BaseModel:
    rules = await call.api.revocations.list_rules(call.actor)
    return s.RevocationList(revocations=[s.RevocationOut.of(rule) for rule in rules])


async def revoke(call: Call) -> BaseModel:
    body: s.RevocationCreate = call.body
    result = await call.api.revocations.revoke(body.kind, body.value, body.reason, call.actor)
    return s.RevocationResultOut.of(result)


async def key_status(call: Call) -> BaseModel:
    return s.KeyStatusOut.of(await call.api.keys.status(call.actor))


async def rotate_keys(call: Call) -> BaseModel:
    query: s.KeyRotateQuery = call.query
    return s.KeyStatusOut.of(await call.api.keys.rotate(call.actor, now=query.now))


async def list_audit(call: Call) -> BaseModel:
    query: s.AuditQueryParams = call.query
    which = AuditFilter(**query.model_dump())  # the same fields
    events = await call.api.audit.events(which, call.actor)
    full = len(events) == query.limit
    return s.AuditList(
        events=[s.AuditEventOut.of(event) for event in events],
        next_before_seq=events[-1].seq if events and full else None,
    )


_CLIENT = "/clients/{client_id}"
_USER = "/users/{email}"
_BROWSER = "/browser-sessions/{session_id}"
OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/clients", "admin.client.list", "List clients (static ones marked)",
              list_clients, s.ClientList),
    Operation("POST", "/clients", "admin.client.create", "Create a client", create_client,
              s.ClientOut, 201, s.ClientCreate, errors=(409,)),
    Operation("GET", _CLIENT, "admin.client.get", "Get a client", get_client, s.ClientOut,
              errors=(404,)),
    Operation("PUT", _CLIENT, "admin.client.update", "Replace a client (secret kept if absent)",
              replace_client, s.ClientOut, body=s.ClientFields, errors=(404, 409)),
    Operation("PATCH", _CLIENT, "admin.client.update", "Change some fields of a client",
              replace_client, s.ClientOut, body=s.ClientPatch, errors=(404, 409)),
    Operation("POST", _CLIENT + "/secret", "admin.client.rotate_secret",
              "Generate a new secret (returned once; the old one stops working at once)",
              rotate_client_secret, s.ClientOut, errors=(404, 409)),
    Operation("DELETE", _CLIENT, "admin.client.delete", "Delete a client", delete_client,
              None, 204, errors=(404, 409)),
    Operation("GET", "/users", "admin.user.list", "List password-database users",
              list_users, s.UserList),
    Operation("POST", "/users", "admin.user.create", "Create a user", create_user, s.UserOut,
              201, s.UserCreate, errors=(409,)),
    Operation("PUT", _USER + "/password", "admin.user.password", "Set a user's password",
              set_password, s.UserOut, body=s.PasswordBody, errors=(404, 409)),
    Operation("POST", _USER + "/disable", "admin.user.disable",
              "Disable a user: refused at sign-in and refresh; their sessions and tokens end",
              disable_user, s.UserOut, query=s.Reason, errors=(404, 409)),
    Operation("POST", _USER + "/enable", "admin.user.enable", "Enable a disabled user",
              enable_user, s.UserOut, errors=(404, 409)),
    Operation("DELETE", _USER, "admin.user.delete", "Delete a user", delete_user, None, 204,
              errors=(404, 409)),
    Operation("GET", "/sessions", "admin.session.list", "List sessions (grants)",
              list_sessions, s.SessionList, query=s.SessionQuery),
    Operation("GET", "/browser-sessions", "admin.browser_session.list",
              "List browser (single sign-on) sessions", list_browser_sessions,
              s.BrowserSessionList, query=s.BrowserSessionQuery),
    Operation("GET", _BROWSER, "admin.browser_session.get", "Get a browser session",
              get_browser_session, s.BrowserSessionOut, errors=(404,)),
    Operation("DELETE", _BROWSER, "admin.browser_session.end",
              "End a browser session: every grant, token and forward-auth cookie made "
              "through it", end_browser_session, None, 204, query=s.Reason, errors=(404,)),
    Operation("GET", "/revocations", "admin.revocation.list", "List revocation rules",
              list_revocations, s.RevocationList),
    Operation("POST", "/revocations", "admin.revocation.create",
              "Revoke a session, a token, a user's, client's or connector's tokens, or all",
              revoke, s.RevocationResultOut, body=s.RevocationCreate, errors=(404,)),
    Operation("GET", "/keys", "admin.keys.get", "Signing-key status", key_status,
              s.KeyStatusOut),
    Operation("POST", "/keys/rotate", "admin.keys.rotate",
              "Publish a new signing key now; it signs after the propagation delay "
              "(now=true: at once, dropping the current key)",
              rotate_keys, s.KeyStatusOut, query=s.KeyRotateQuery),
    Operation("GET", "/audit", "admin.audit.list", "Read the audit log, newest first",
              list_audit, s.AuditList, query=s.AuditQueryParams),
)  # fmt: skip


# -- dispatch ------------------------------------------------------------------------------
def error_response(error: AdminError) -> Response:
    headers = dict(NO_STORE)
    if error.status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="passgate-admin", error="invalid_token"'
    elif error.status_code == 403:
        headers["WWW-Authenticate"] = 'Bearer realm="passgate-admin", error="insufficient_scope"'
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=headers)


def _disabled() -> Response:
    return error_response(
        NotFoundError("the admin API is disabled: add an admin section to the configuration")
    )


async def _dispatch(request: Request, ops: Mapping[str, Operation]) -> Response:
    services: Services = request.app.state.services
    api = services.admin
    if api is None:
        return _disabled()
    op = ops[request.method if request.method != "HEAD" else "GET"]
    remote = client_address(request, services.web)
    try:
        authorization = request.headers.get("authorization")
        actor = await api.authenticate(authorization, remote, op.method, PREFIX + op.path)
    except AdminError as error:
        return error_response(error)
    params = {key: str(value) for key, value in request.path_params.items()}
    try:
        try:
            body = await parse_body(request, op.body) if op.body else None
            query = parse_query(request, op.query) if op.query else None
        except AdminError as error:
            await api.auditor.record(op.action, actor, error=error.error)
            raise
        result = await op.handler(Call(api, actor, params, body, query))
    except AdminError as error:
        return error_response(error)
    if result is None:
        return Response(status_code=op.status, headers=NO_STORE)
    return JSONResponse(result.model_dump(mode="json"), status_code=op.status, headers=NO_STORE)


def _endpoint(ops: Mapping[str, Operation]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _dispatch(request, ops)

    return endpoint


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 document, without authentication so that tools can read it."""
    from passgate.server.admin_openapi import openapi_document

    services: Services = request.app.state.services
    if services.admin is None:
        return _disabled()
    document = getattr(request.app.state, "admin_openapi", None)
    if document is None:
        document = openapi_document(OPERATIONS, services.settings.issuer.rstrip("/") + PREFIX)
        request.app.state.admin_openapi = document
    return JSONResponse(document)


def admin_routes() -> list[BaseRoute]:
    by_path: dict[str, dict[str, Operation]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, {})[op.method] = op
    routes: list[BaseRoute] = [Route(PREFIX + "/openapi.json", openapi, methods=["GET"])]
    for path, ops in by_path.items():
        routes.append(Route(PREFIX + path, _endpoint(ops), methods=list(ops)))
        if path.endswith("}"):
            # "/clients/" is an empty id, not the list: without this route the router
            # would redirect it to "/clients" and answer the list in the item's place.
            empty = PREFIX + path.rsplit("/", 1)[0] + "/"
            routes.append(Route(empty, _no_such_item, methods=list(ops)))
    return routes


async def _no_such_item(request: Request) -> Response:
    return error_response(NotFoundError("no such item: the id is empty"))
