"""A fake GitLab (gitlab.com or a self-managed instance under a path prefix), built from
GitLab's documented answers, served on loopback with :func:`connectors.fakeserver.serve_app`.

- OAuth 2.0 provider (Doorkeeper): ``/oauth/authorize`` redirects back with ``code`` and
  ``state`` (or ``error=access_denied`` / ``invalid_scope``), PKCE optional;
  ``/oauth/token`` answers ``{"access_token", "token_type": "Bearer", "expires_in": 7200,
  "refresh_token", "scope", "created_at"}`` and rotates refresh tokens; errors are
  ``{"error": "invalid_grant", "error_description": ...}`` (400) or ``invalid_client`` (401).
- ``/oauth/userinfo`` (scope ``openid``): ``sub``, ``nickname``, ``groups`` (direct
  memberships and their subgroups) and ``https://gitlab.org/claims/groups/<role>``
  (direct owner/maintainer/developer memberships); 401 ``invalid_token`` otherwise.
- REST API v4: ``/api/v4/user``; ``/api/v4/groups`` with offset pagination (``page``,
  ``per_page``; ``X-Page``, ``X-Per-Page``, ``X-Next-Page``, ``X-Prev-Page``, ``X-Total``,
  ``X-Total-Pages`` and ``Link``), shared (invited) groups included;
  ``/api/v4/groups/:id/members/all/:user_id``. Errors: 401 ``{"message": "401
  Unauthorized"}``, 403 ``{"message": "403 Forbidden - Your account has been blocked."}``,
  403 ``insufficient_scope``, 404 ``{"message": "404 Not found"}``.
- Rate limits: :func:`rate_limited` is GitLab.com's 429 ``Retry later`` with the
  ``RateLimit-*`` and ``Retry-After`` headers.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.responses import Response as Answer
from starlette.routing import Route

from connectors.fakeoauth import (
    NO_STORE,
    client_credentials,
    pkce_matches,
    redirect_back,
    request_params,
)

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "FakeGitLab", "FakeUser", "rate_limited"]

CLIENT_ID = "2c6f5e1c0a0c4b27a2d1e9f5d1a0b3c4e5f60718293a4b5c6d7e8f90a1b2c3d4"
CLIENT_SECRET = "gloas-8f7e6d5c4b3a29180f1e2d3c4b5a69788796a5b4c3d2e1f0"
ROLES = {50: "owner", 40: "maintainer", 30: "developer"}  # the userinfo role claims
Handler = Callable[[Request], Answer]

#: Doorkeeper's (GitLab's OAuth provider) error descriptions.
DESCRIPTIONS = {
    "invalid_grant": "The provided authorization grant is invalid, expired, revoked, does not "
    "match the redirection URI used in the authorization request, or was issued to another "
    "client.",
    "invalid_client": "Client authentication failed due to unknown client, no client "
    "authentication included, or unsupported authentication method.",
    "invalid_request": "Missing required parameter: grant_type.",
    "unsupported_grant_type": "The authorization grant type is not supported by the "
    "authorization server.",
    "unsupported_response_type": "The authorization server does not support this response type.",
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
    "access_denied": "The resource owner or authorization server denied the request.",
    "insufficient_scope": "The request requires higher privileges than provided by the access "
    "token.",
}


def rate_limited(retry_after: int = 60) -> Handler:
    """GitLab.com's throttle answer (Rack::Attack): 429, ``Retry later``, RateLimit-*."""

    def answer(_request: Request) -> Answer:
        reset = datetime.now(UTC) + timedelta(seconds=retry_after)
        headers = {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": "2000",
            "RateLimit-Observed": "2001",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(reset.timestamp())),
            "RateLimit-ResetTime": format_datetime(reset, usegmt=True),
            "Retry-After": str(retry_after),
        }
        return PlainTextResponse("Retry later\n", status_code=429, headers=headers)

    return answer


def _pkce_matches(challenge: tuple[str, str], verifier: str) -> bool:
    """RFC 7636 §4.6 (S256 or plain); no challenge at authorize: nothing to check."""
    expected, method = challenge
    return not expected or pkce_matches(expected, method, verifier)


def oauth_error(status: int, error: str) -> JSONResponse:
    """An RFC 6749 §5.2 error as Doorkeeper words it."""
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer realm="Doorkeeper", error="{error}"'
    body = {"error": error, "error_description": DESCRIPTIONS[error]}
    return JSONResponse(body, status, headers=headers)


@dataclass
class FakeUser:
    id: int
    username: str
    name: str
    email: str
    state: str = "active"  # "blocked", "deactivated", "banned": the API answers 403


@dataclass
class Grant:
    user_id: int
    scopes: tuple[str, ...]
    redirect_uri: str = ""
    expires_at: datetime | None = None
    refresh_token: str = ""  # for an access token: the refresh token issued with it
    challenge: tuple[str, str] = ("", "")  # a code's PKCE code_challenge and method


@dataclass
class FakeGitLab:
    """The fake's state; tests change it between requests."""

    prefix: str = ""  # "/gitlab": a self-managed instance under a relative URL
    redirect_uri: str = "http://127.0.0.1:5556/dex/callback"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    app_scopes: frozenset[str] = frozenset({"read_user", "openid", "read_api", "profile", "email"})
    expires_in: int = 7200
    max_per_page: int = 100  # GitLab's cap; lower it to make tests page
    x_next_page: bool = True  # False: a Link header only (as keyset pagination answers)
    users: dict[int, FakeUser] = field(default_factory=dict)
    group_ids: dict[str, int] = field(default_factory=dict)  # full_path -> id
    members: dict[tuple[str, int], int] = field(default_factory=dict)  # -> access_level
    shares: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, invited group)
    signed_in: int | None = None  # who is signed in at GitLab when the browser arrives
    deny: bool = False  # the person clicks "Deny" on the authorize page
    codes: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    fail: dict[str, Handler] = field(default_factory=dict)  # path after prefix -> answer
    #: (method, path after prefix, query and form parameters, headers) of every request.
    requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = field(default_factory=list)

    # -- test set-up ----------------------------------------------------------------------
    def add_user(self, user_id: int, username: str, name: str = "", email: str = "") -> FakeUser:
        user = FakeUser(user_id, username, name, email or f"{username}@example.com")
        self.users[user_id] = user
        return user

    def add_group(self, full_path: str) -> int:
        return self.group_ids.setdefault(full_path, 9000 + len(self.group_ids))

    def join(self, user: FakeUser, full_path: str, access_level: int = 30) -> None:
        self.add_group(full_path)
        self.members[(full_path, user.id)] = access_level

    def leave(self, user: FakeUser, full_path: str) -> None:
        self.members.pop((full_path, user.id), None)

    def share(self, full_path: str, with_group: str, access_level: int = 30) -> None:
        """Invite ``with_group``'s members into ``full_path`` (a group link)."""
        self.add_group(full_path)
        self.shares[(full_path, with_group)] = access_level

    def revoke(self, user: FakeUser) -> None:
        """The user revokes the application in their GitLab settings."""
        for store in (self.access_tokens, self.refresh_tokens):
            for token in [t for t, grant in store.items() if grant.user_id == user.id]:
                del store[token]

    def calls(self, path: str) -> list[dict[str, str]]:
        """The parameters of every request made to ``path`` (after the prefix)."""
        return [params for _method, seen, params, _headers in self.requests if seen == path]

    # -- memberships ----------------------------------------------------------------------
    def direct_and_descendants(self, user_id: int) -> dict[str, int]:
        found: dict[str, int] = {}
        for (ancestor, member), level in self.members.items():
            if member == user_id:
                for path in self.group_ids:
                    if path == ancestor or path.startswith(ancestor + "/"):
                        found[path] = max(level, found.get(path, 0))
        return found

    def effective(self, user_id: int) -> dict[str, int]:
        """Direct, inherited and shared-group memberships, each with its access level."""
        found = self.direct_and_descendants(user_id)
        for (target, invited), limit in self.shares.items():
            if invited in found:
                for path in self.group_ids:
                    if path == target or path.startswith(target + "/"):
                        found[path] = max(min(limit, found[invited]), found.get(path, 0))
        return found

    # -- the app --------------------------------------------------------------------------
    @property
    def app(self) -> Starlette:
        p = self.prefix
        return Starlette(
            routes=[
                Route(f"{p}/oauth/authorize", self._wrap(self._authorize)),
                Route(f"{p}/oauth/token", self._wrap(self._token), methods=["POST"]),
                Route(f"{p}/oauth/userinfo", self._wrap(self._userinfo), methods=["GET", "POST"]),
                Route(f"{p}/api/v4/user", self._wrap(self._user)),
                Route(f"{p}/api/v4/groups", self._wrap(self._groups)),
                Route(
                    f"{p}/api/v4/groups/{{group_id:int}}/members/all/{{user_id:int}}",
                    self._wrap(self._member),
                ),
            ]
        )

    def _wrap(
        self, handler: Callable[[Request], Awaitable[Answer]]
    ) -> Callable[[Request], Awaitable[Answer]]:
        """Record the request; answer with ``fail[path]`` when the test set one."""

        async def endpoint(request: Request) -> Answer:
            path = request.url.path.removeprefix(self.prefix)
            params = await request_params(request)
            self.requests.append((request.method, path, params, dict(request.headers)))
            override = self.fail.get(path)
            return override(request) if override else await handler(request)

        return endpoint

    def _root(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{self.prefix}"

    # -- OAuth ----------------------------------------------------------------------------
    async def _authorize(self, request: Request) -> Answer:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return HTMLResponse(f"<html><p>{DESCRIPTIONS['invalid_client']}</p></html>", 401)
        if q.get("redirect_uri") != self.redirect_uri:
            return HTMLResponse("<html><p>The redirect URI included is not valid.</p></html>", 400)
        scopes = tuple(q.get("scope", "").split())
        error = ""
        if q.get("response_type") != "code":
            error = "unsupported_response_type"
        elif not scopes or not set(scopes) <= self.app_scopes:
            error = "invalid_scope"
        elif self.signed_in is None:
            return HTMLResponse("<html><form>Sign in to GitLab</form></html>")
        elif self.deny:
            error = "access_denied"
        if error:
            back = {"error": error, "error_description": DESCRIPTIONS[error]}
        else:
            code = secrets.token_hex(32)
            assert self.signed_in is not None
            expires = self.clock() + timedelta(minutes=10)
            grant = Grant(self.signed_in, scopes, self.redirect_uri, expires)
            grant.challenge = (q.get("code_challenge", ""), q.get("code_challenge_method", ""))
            self.codes[code] = grant
            back = {"code": code}
        back["state"] = q.get("state", "")
        return redirect_back(self.redirect_uri, back)

    def _client_authenticated(self, request: Request, form: dict[str, str]) -> bool:
        client_id, secret = client_credentials(request, form)
        same_id = secrets.compare_digest(client_id, self.client_id)
        return secrets.compare_digest(secret, self.client_secret) and same_id

    async def _token(self, request: Request) -> Answer:
        form = {key: str(value) for key, value in (await request.form()).items()}
        kind = form.get("grant_type", "")
        if not kind:
            return oauth_error(400, "invalid_request")
        if not self._client_authenticated(request, form):
            return oauth_error(401, "invalid_client")
        now = self.clock()
        if kind == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                return oauth_error(400, "invalid_grant")
            if grant.expires_at is not None and now >= grant.expires_at:
                return oauth_error(400, "invalid_grant")
            if not _pkce_matches(grant.challenge, form.get("code_verifier", "")):
                return oauth_error(400, "invalid_grant")  # Doorkeeper validate_pkce
        elif kind == "refresh_token":
            used = form.get("refresh_token", "")
            grant = self.refresh_tokens.pop(used, None)
            if grant is None:
                return oauth_error(400, "invalid_grant")
            # Doorkeeper revokes the access token issued with the used refresh token.
            for token in [t for t, g in self.access_tokens.items() if g.refresh_token == used]:
                del self.access_tokens[token]
        else:
            return oauth_error(400, "unsupported_grant_type")
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        expires = now + timedelta(seconds=self.expires_in)
        self.access_tokens[access] = Grant(grant.user_id, grant.scopes, "", expires, refresh)
        self.refresh_tokens[refresh] = Grant(grant.user_id, grant.scopes)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": refresh,
            "scope": " ".join(grant.scopes),
            "created_at": int(now.timestamp()),
        }
        if "openid" in grant.scopes:
            body["id_token"] = "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"  # Dex does not read it
        return JSONResponse(body, headers=NO_STORE)

    def _authorized(
        self, request: Request, needed: set[str], *, api: bool = True
    ) -> Grant | Answer:
        """The grant of the Bearer token, or GitLab's refusal (API or Doorkeeper shaped)."""
        header = request.headers.get("authorization", "")
        grant = self.access_tokens.get(header[7:] if header.lower().startswith("bearer ") else "")
        deadline = grant.expires_at if grant is not None else None
        expired = deadline is not None and self.clock() >= deadline
        if grant is None or expired:
            if api:
                return JSONResponse({"message": "401 Unauthorized"}, 401)
            reason = "The access token expired" if expired else "The access token is invalid"
            challenge = (
                f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{reason}"'
            )
            body = {"error": "invalid_token", "error_description": reason, "state": "unauthorized"}
            return JSONResponse(body, 401, headers={"WWW-Authenticate": challenge})
        state = self.users[grant.user_id].state
        if state != "active":
            return JSONResponse({"message": f"403 Forbidden - Your account has been {state}."}, 403)
        if not needed & set(grant.scopes):
            error = "insufficient_scope"
            scope = " ".join(sorted(needed))
            body = {"error": error, "error_description": DESCRIPTIONS[error], "scope": scope}
            return JSONResponse(body, 403)
        return grant

    async def _userinfo(self, request: Request) -> Answer:
        grant = self._authorized(request, {"openid"}, api=False)
        if not isinstance(grant, Grant):
            return grant
        user, root = self.users[grant.user_id], self._root(request)
        body: dict[str, Any] = {
            "sub": str(user.id), "sub_legacy": secrets.token_hex(32), "name": user.name,
            "nickname": user.username, "preferred_username": user.username,
            "email": user.email, "email_verified": True, "website": "",
            "profile": f"{root}/{user.username}",
            "picture": f"{root}/uploads/-/system/user/avatar/{user.id}/avatar.png",
            "groups": sorted(self.direct_and_descendants(user.id)),
        }  # fmt: skip
        for level, role in ROLES.items():
            direct = sorted(
                p for (p, who), lvl in self.members.items() if (who, lvl) == (user.id, level)
            )
            if direct:
                body[f"https://gitlab.org/claims/groups/{role}"] = direct
        return JSONResponse(body)

    # -- REST API v4 ----------------------------------------------------------------------
    async def _user(self, request: Request) -> Answer:
        grant = self._authorized(request, {"read_user", "read_api", "api"})
        if not isinstance(grant, Grant):
            return grant
        user, root = self.users[grant.user_id], self._root(request)
        return JSONResponse(
            {
                "id": user.id, "username": user.username, "name": user.name,
                "state": user.state, "locked": False,
                "avatar_url": f"{root}/uploads/-/system/user/avatar/{user.id}/avatar.png",
                "web_url": f"{root}/{user.username}", "created_at": "2020-01-01T00:00:00.000Z",
                "bio": "", "public_email": "", "bot": False, "email": user.email,
                "commit_email": user.email, "two_factor_enabled": True, "external": False,
                "private_profile": False, "can_create_group": True, "identities": [],
            }
        )  # fmt: skip

    async def _groups(self, request: Request) -> Answer:
        grant = self._authorized(request, {"read_api", "api"})
        if not isinstance(grant, Grant):
            return grant
        q = request.query_params
        per_page = min(int(q.get("per_page", "20")), self.max_per_page)
        page = max(int(q.get("page", "1")), 1)
        paths = sorted(self.effective(grant.user_id))
        last = max((len(paths) + per_page - 1) // per_page, 1)
        base = f"{self._root(request)}/api/v4/groups"

        def link(number: int, rel: str) -> str:
            query = {"all_available": q.get("all_available", "false"), "page": number}
            return f'<{base}?{urlencode({**query, "per_page": per_page})}>; rel="{rel}"'

        links = [link(page + 1, "next")] if page < last else []
        links += [link(page - 1, "prev")] if page > 1 else []
        headers = {"Link": ", ".join([*links, link(1, "first"), link(last, "last")])}
        if self.x_next_page:
            headers |= {
                "X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(paths)),
                "X-Total-Pages": str(last), "X-Next-Page": str(page + 1) if page < last else "",
                "X-Prev-Page": str(page - 1) if page > 1 else "",
            }  # fmt: skip
        chunk = paths[(page - 1) * per_page : page * per_page]
        return JSONResponse([self._group(request, path) for path in chunk], headers=headers)

    def _group(self, request: Request, path: str) -> dict[str, Any]:
        parent, _, name = path.rpartition("/")
        return {
            "id": self.group_ids[path], "web_url": f"{self._root(request)}/groups/{path}",
            "name": name.title(), "path": name, "description": "", "visibility": "private",
            "full_name": path.replace("/", " / "), "full_path": path,
            "parent_id": self.group_ids.get(parent), "created_at": "2020-01-01T00:00:00.000Z",
        }  # fmt: skip

    async def _member(self, request: Request) -> Answer:
        grant = self._authorized(request, {"read_api", "api"})
        if not isinstance(grant, Grant):
            return grant
        group_id, user_id = request.path_params["group_id"], request.path_params["user_id"]
        paths = [path for path, ident in self.group_ids.items() if ident == group_id]
        level = self.effective(user_id).get(paths[0]) if paths and user_id in self.users else None
        if level is None:
            return JSONResponse({"message": "404 Not found"}, 404)
        user = self.users[user_id]
        return JSONResponse(
            {
                "id": user.id, "username": user.username, "name": user.name,
                "state": user.state, "access_level": level,
                "created_at": "2020-01-01T00:00:00.000Z", "expires_at": None,
            }
        )  # fmt: skip
