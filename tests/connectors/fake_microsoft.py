"""A fake Microsoft identity platform and Microsoft Graph, built from Microsoft's documented
behaviour and served on loopback by :func:`fakeserver.serve_app`, so the connector's real
HTTP client, sockets and TLS are exercised. One server plays both hosts, as a national
cloud's ``apiURL`` and ``graphURL`` would point at it.

What it follows from Microsoft's docs:
- v2.0 authorization code flow at ``/{tenant}/oauth2/v2.0/authorize`` and ``/token``: the
  tenant is a GUID, a verified domain, ``common``, ``organizations`` or ``consumers``;
  scopes are case-insensitive; the code comes back with ``state`` and ``session_state``;
  errors reach the redirect URI as ``error``/``error_description`` (AADSTS65004 when the
  person declines); codes are single-use (AADSTS54005) and short-lived (AADSTS70008); PKCE
  is checked (AADSTS501481); a refresh token only with ``offline_access``.
- token endpoint errors: ``{"error", "error_description": "AADSTSnnnn: ...\\r\\nTrace ID:
  ...", "error_codes": [n], "timestamp", "trace_id", "correlation_id", "error_uri"}``, HTTP
  400 (``invalid_grant``: AADSTS50057 account disabled, AADSTS50034 user gone, AADSTS50173
  sessions revoked, AADSTS70000 scope not granted) or 401 (``invalid_client``:
  AADSTS7000215 wrong secret, AADSTS7000222 expired secret); throttling is 429 with
  ``Retry-After``.
- Graph v1.0: ``GET /me`` (with ``$select``), ``POST /me/getMemberGroups`` (transitive
  memberships, ``securityEnabledOnly``), ``POST /directoryObjects/getByIds`` (at most 1000
  ids, any order); collections paged with an absolute ``@odata.nextLink``; errors as
  ``{"error": {"code", "message", "innerError"}}`` (401 InvalidAuthenticationToken, 403
  Authorization_RequestDenied, 404 Request_ResourceNotFound, 429 TooManyRequests with
  ``Retry-After``). An access token keeps working at Graph until it expires, even after
  the account is disabled (no continuous access evaluation here).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from connectors.fakeoauth import NO_STORE, client_credentials, pkce_matches, redirect_back

__all__ = ["FakeGroup", "FakeMicrosoft", "FakeUser", "Seen"]

MULTI_TENANTS = ("common", "organizations", "consumers")
GRAPH_SCOPES = {"user.read": "User.Read", "directory.read.all": "Directory.Read.All"}
ACCESS_TOKEN_SECONDS = 3599
CODE_SECONDS = 600
# Graph errors: kind -> (HTTP status, error.code, error.message).
GRAPH_ERRORS = {
    "bad": (400, "Request_BadRequest", "Invalid request."),
    "empty": (401, "InvalidAuthenticationToken", "Access token is empty."),
    "malformed": (401, "InvalidAuthenticationToken", "CompactToken parsing failed."),
    "expired": (401, "InvalidAuthenticationToken", "Lifetime validation failed."),
    "denied": (403, "Authorization_RequestDenied", "Insufficient privileges."),
    "gone": (404, "Request_ResourceNotFound", "Resource does not exist."),
    "throttled": (429, "TooManyRequests", "Please retry again later."),
}

# The AADSTS errors this fake answers: code -> (HTTP status, OAuth error, message).
AADSTS: dict[int, tuple[int, str, str]] = {
    50011: (400, "invalid_request", "The redirect URI does not match the ones configured."),
    50034: (400, "invalid_grant", "The user account does not exist in the directory."),
    50057: (400, "invalid_grant", "The user account is disabled."),
    50173: (400, "invalid_grant", "The provided grant has expired due to it being revoked."),
    54005: (400, "invalid_grant", "OAuth2 Authorization code was already redeemed."),
    65004: (400, "access_denied", "User declined to consent to access the app."),
    70000: (400, "invalid_grant", "One or more scopes requested are unauthorized or expired."),
    70003: (400, "unsupported_grant_type", "The app requested an unsupported grant type."),
    70005: (400, "unsupported_response_type", "The 'response_type' is not supported."),
    70008: (400, "invalid_grant", "The provided authorization code has expired."),
    90002: (400, "invalid_request", "Tenant not found."),
    90055: (429, "temporarily_unavailable", "TenantThrottlingError - Too many requests."),
    500112: (400, "invalid_grant", "The reply address does not match the authorization's."),
    501481: (400, "invalid_grant", "The Code_Verifier does not match the code_challenge."),
    700016: (400, "unauthorized_client", "Application was not found in the directory."),
    900144: (400, "invalid_request", "The request must contain the parameter: 'scope'."),
    7000215: (401, "invalid_client", "Invalid client secret provided."),
    7000218: (401, "invalid_client", "The request must contain 'client_secret'."),
    7000222: (401, "invalid_client", "The provided client secret keys are expired."),
    9002313: (400, "invalid_grant", "Invalid request. Request is malformed or invalid."),
}


@dataclass
class FakeUser:
    id: str
    display_name: str
    user_principal_name: str
    account_enabled: bool = True
    groups: set[str] = field(default_factory=set)  # direct memberships (group ids)


@dataclass
class FakeGroup:
    id: str
    display_name: str
    security_enabled: bool = True
    member_of: set[str] = field(default_factory=set)  # parent groups (nesting)


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Grant:
    user_id: str
    scopes: frozenset[str]
    expires_at: float = float("inf")
    redirect_uri: str = ""
    challenge: tuple[str, str] | None = None


class FakeMicrosoft:
    """State the test sets up and changes (users, groups), and the Starlette app."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47",
        domain: str = "contoso.onmicrosoft.com",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uri = redirect_uri  # the app registration's redirect URI
        self.tenants = {tenant_id, domain, *MULTI_TENANTS}
        self.now = now
        self.users: dict[str, FakeUser] = {}
        self.groups: dict[str, FakeGroup] = {}
        self.signed_in: str | None = None  # the user id of the browser's session
        self.deny = False  # the person declines consent
        self.secret_expired = False
        self.page_size = 100  # items per Graph page before an @odata.nextLink
        self.next_link_base = ""  # a test's override of where next links point
        self.throttle: dict[str, int] = {}  # "token" | "graph" -> answers left as 429
        self.fail: dict[str, Callable[[Request], Response]] = {}  # path -> answer
        self.seen: list[Seen] = []
        self.codes: dict[str, _Grant] = {}
        self.access_tokens: dict[str, _Grant] = {}
        self.refresh_tokens: dict[str, _Grant] = {}
        self._pages: dict[str, list[Any]] = {}

    # -- setting the scene -------------------------------------------------------------
    def add_user(self, name: str, upn: str) -> FakeUser:
        user = FakeUser(str(uuid.uuid4()), name, upn)
        self.users[user.id] = user
        return user

    def add_group(self, name: str, *, security: bool = True, parents: tuple[str, ...] = ()) -> str:
        group = FakeGroup(str(uuid.uuid4()), name, security, {self.group_id(p) for p in parents})
        self.groups[group.id] = group
        return group.id

    def group_id(self, name: str) -> str:
        return next(g.id for g in self.groups.values() if g.display_name == name)

    def join(self, user: FakeUser, *names: str) -> None:
        user.groups |= {self.group_id(name) for name in names}

    def leave(self, user: FakeUser, *names: str) -> None:
        user.groups -= {self.group_id(name) for name in names}

    def revoke_sign_in_sessions(self, user: FakeUser) -> None:
        """Graph ``revokeSignInSessions``: the user's refresh tokens stop working."""
        for token in [t for t, g in self.refresh_tokens.items() if g.user_id == user.id]:
            self.refresh_tokens[token] = _Grant("revoked", frozenset())

    def calls(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    # -- the app -----------------------------------------------------------------------
    def app(self) -> Starlette:
        directory, post = "directory.read.all", ["POST"]
        groups = self._graph(self._groups, directory)
        by_ids = self._graph(self._by_ids, directory)
        routes = [
            Route("/{tenant}/oauth2/v2.0/authorize", self._authorize),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=post),
            Route("/v1.0/me", self._graph(self._me, "user.read", directory)),
            Route("/v1.0/me/getMemberGroups", groups, methods=post),
            Route("/v1.0/directoryObjects/getByIds", by_ids, methods=post),
        ]
        return Starlette(routes=routes)

    async def _record(self, request: Request) -> Response | None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.body()
        path = request.url.path
        self.seen.append(Seen(request.method, path, dict(request.query_params), headers, body))
        return self.fail[path](request) if path in self.fail else None

    def _throttled(self, kind: str) -> bool:
        if self.throttle.get(kind, 0) > 0:
            self.throttle[kind] -= 1
            return True
        return False

    # -- the identity platform -----------------------------------------------------------
    async def _authorize(self, request: Request) -> Response:
        if (failed := await self._record(request)) is not None:
            return failed
        query = request.query_params
        if request.path_params["tenant"] not in self.tenants:
            return _page(90002)
        if query.get("client_id") != self.client_id:
            return _page(700016)
        if query.get("redirect_uri") != self.redirect_uri:
            return _page(50011)
        back: dict[str, str] = {"state": query["state"]} if "state" in query else {}
        scopes = frozenset(query.get("scope", "").lower().split())
        if query.get("response_type") != "code":
            back.update(_redirect_error(70005))
        elif not scopes:
            back.update(_redirect_error(900144))
        elif self.signed_in is None:
            return HTMLResponse("<html><body>Sign in to your account</body></html>")
        elif not self.users[self.signed_in].account_enabled:
            return _page(50057)
        elif self.deny:
            back.update(_redirect_error(65004))
        else:
            code = "0.A" + secrets.token_urlsafe(32)
            challenge = None
            if "code_challenge" in query:
                challenge = (query["code_challenge"], query.get("code_challenge_method", "plain"))
            self.codes[code] = _Grant(
                self.signed_in, scopes, self.now() + CODE_SECONDS, self.redirect_uri, challenge
            )
            back.update(code=code, session_state=str(uuid.uuid4()))
        return redirect_back(self.redirect_uri, back)

    async def _token(self, request: Request) -> Response:
        if (failed := await self._record(request)) is not None:
            return failed
        if self._throttled("token"):
            return _oauth_error(90055, {"Retry-After": "7"})
        if request.path_params["tenant"] not in self.tenants:
            return _oauth_error(90002)
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, secret = client_credentials(request, form)
        if client_id != self.client_id:
            return _oauth_error(700016)
        if not secret:
            return _oauth_error(7000218)
        if self.secret_expired:
            return _oauth_error(7000222)
        if not secrets.compare_digest(secret, self.client_secret):
            return _oauth_error(7000215)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._redeem_code(form)
        if grant_type == "refresh_token":
            return self._redeem_refresh_token(form)
        return _oauth_error(70003)

    def _redeem_code(self, form: dict[str, str]) -> Response:
        code = form.get("code", "")
        grant = self.codes.get(code)
        if grant is None:
            return _oauth_error(9002313)
        if grant.user_id == "redeemed":
            return _oauth_error(54005)
        self.codes[code] = _Grant("redeemed", frozenset())
        if grant.expires_at < self.now():
            return _oauth_error(70008)
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(500112)
        verifier = form.get("code_verifier", "")
        if grant.challenge is not None and not pkce_matches(*grant.challenge, verifier):
            return _oauth_error(501481)
        return self._issue(grant)

    def _redeem_refresh_token(self, form: dict[str, str]) -> Response:
        grant = self.refresh_tokens.get(form.get("refresh_token", ""))
        if grant is None:
            return _oauth_error(9002313)
        if grant.user_id == "revoked":
            return _oauth_error(50173)
        user = self.users.get(grant.user_id)
        if user is None:
            return _oauth_error(50034)
        if not user.account_enabled:
            return _oauth_error(50057)
        asked = frozenset(form.get("scope", "").lower().split()) or grant.scopes
        if not asked <= grant.scopes:
            return _oauth_error(70000)
        return self._issue(_Grant(grant.user_id, grant.scopes))

    def _issue(self, grant: _Grant) -> Response:
        if grant.user_id not in self.users or not self.users[grant.user_id].account_enabled:
            return _oauth_error(50057)
        access = "eyJ0eXAiOiJKV1QiLCJub25jZSI6" + secrets.token_urlsafe(48)
        self.access_tokens[access] = _Grant(
            grant.user_id, grant.scopes, self.now() + ACCESS_TOKEN_SECONDS
        )
        granted = [
            f"https://graph.microsoft.com/{GRAPH_SCOPES[s]}"
            for s in sorted(grant.scopes)
            if s in GRAPH_SCOPES
        ]
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": ACCESS_TOKEN_SECONDS,
            "ext_expires_in": ACCESS_TOKEN_SECONDS,
            "access_token": access,
        }
        if "offline_access" in grant.scopes:
            refresh = "0.A" + secrets.token_urlsafe(64)
            self.refresh_tokens[refresh] = _Grant(grant.user_id, grant.scopes)
            body["refresh_token"] = refresh
        return JSONResponse(body, headers=NO_STORE)

    # -- Microsoft Graph -----------------------------------------------------------------
    def _graph(
        self, handler: Callable[[Request, FakeUser], Awaitable[Response]], *permissions: str
    ) -> Callable[..., Any]:
        """An endpoint behind Graph's checks: throttling, the token, a permission in it."""

        async def endpoint(request: Request) -> Response:
            if (failed := await self._record(request)) is not None:
                return failed
            if self._throttled("graph"):
                return _graph_error("throttled", {"Retry-After": "7"})
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            grant = self.access_tokens.get(token) if scheme == "Bearer" else None
            if grant is None:
                return _graph_error("malformed" if token else "empty")
            if grant.expires_at < self.now():
                return _graph_error("expired")
            if grant.user_id not in self.users:
                return _graph_error("gone")
            if not grant.scopes & set(permissions):
                return _graph_error("denied")
            return await handler(request, self.users[grant.user_id])

        return endpoint

    async def _me(self, request: Request, user: FakeUser) -> Response:
        full = {
            "id": user.id,
            "displayName": user.display_name,
            "givenName": None,
            "userPrincipalName": user.user_principal_name,
            "mail": None,
            "accountEnabled": user.account_enabled,
        }
        select = request.query_params.get("$select")
        fields = select.split(",") if select else list(full)
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity"}
        return JSONResponse({**body, **{key: full.get(key) for key in fields}})

    async def _groups(self, request: Request, user: FakeUser) -> Response:
        body = await _json_body(request)
        only_security = body.get("securityEnabledOnly") if isinstance(body, dict) else None
        if not isinstance(only_security, bool):
            return _graph_error("bad")
        found, todo = set(), list(user.groups)
        while todo:  # transitive: the groups of the user's groups too
            group_id = todo.pop()
            if group_id not in found and group_id in self.groups:
                found.add(group_id)
                todo += self.groups[group_id].member_of
        groups = self.groups.values()
        ids = [g.id for g in groups if g.id in found and (g.security_enabled or not only_security)]
        return self._page(request, ids, "Collection(Edm.String)")

    async def _by_ids(self, request: Request, user: FakeUser) -> Response:
        body = await _json_body(request)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or len(ids) > 1000:
            return _graph_error("bad")  # getByIds takes 1 to 1000 ids
        types = set(body.get("types") or ["directoryObject"])
        objects = [
            {
                "@odata.type": "#microsoft.graph.group",
                "id": g.id,
                "displayName": g.display_name,
                "securityEnabled": g.security_enabled,
                "mailEnabled": False,
                "groupTypes": [],
            }
            for g in self.groups.values()
            if g.id in set(ids) and types & {"group", "directoryObject"}
        ]
        return self._page(request, objects, "directoryObjects")

    def _page(self, request: Request, items: list[Any], context: str) -> Response:
        token = request.query_params.get("$skiptoken")
        if token is not None:
            if token not in self._pages:
                return _graph_error("bad")
            items = self._pages.pop(token)
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
            "value": items[: self.page_size],
        }
        if len(items) > self.page_size:
            token = secrets.token_urlsafe(12)
            self._pages[token] = items[self.page_size :]
            base = self.next_link_base or str(request.base_url).rstrip("/")
            body["@odata.nextLink"] = f"{base}{request.url.path}?$skiptoken={token}"
        return JSONResponse(body)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _describe(code: int) -> str:
    """The identity platform's error_description: the message, then trace lines."""
    message = AADSTS[code][2]
    return (
        f"AADSTS{code}: {message}\r\nTrace ID: {uuid.uuid4()}\r\n"
        f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: {_stamp()}"
    )


def _redirect_error(code: int) -> dict[str, str]:
    """An error sent back to the app's redirect URI (RFC 6749 §4.1.2.1)."""
    return {"error": AADSTS[code][1], "error_description": _describe(code)}


def _oauth_error(code: int, headers: dict[str, str] | None = None) -> Response:
    status, error, _ = AADSTS[code]
    body = {
        "error": error,
        "error_description": _describe(code),
        "error_codes": [code],
        "timestamp": _stamp(),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _graph_error(kind: str, headers: dict[str, str] | None = None) -> Response:
    status, code, message = GRAPH_ERRORS[kind]
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4()),
    }
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return JSONResponse(body, status_code=status, headers=headers)


def _page(code: int) -> Response:
    """Errors Microsoft cannot send back to the app: a page for the person."""
    text = f"AADSTS{code}: {AADSTS[code][2]}"
    return HTMLResponse(f"<html><body><p>{text}</p></body></html>", status_code=400)
