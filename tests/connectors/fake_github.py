"""A fake GitHub (github.com or GitHub Enterprise) built from GitHub's documented behaviour,
served on loopback by :func:`fakeserver.serve_app` so the connector's real HTTP client,
sockets and TLS are exercised.

What it follows from GitHub's docs:
- OAuth web flow: ``GET /login/oauth/authorize`` redirects back with ``code`` and ``state``
  (or ``error=access_denied`` / ``redirect_uri_mismatch``); ``POST
  /login/oauth/access_token`` answers JSON only when asked with ``Accept:
  application/json`` (form-encoded otherwise), and reports errors such as
  ``bad_verification_code`` with HTTP **200**. Codes are single-use and live 10 minutes.
  GitHub Apps with expiring user tokens answer ``expires_in`` and a ``refresh_token``.
- REST API under ``/`` (api.github.com) or ``/api/v3`` (Enterprise): ``/user``,
  ``/user/emails``, ``/user/orgs``, ``/user/teams`` paginated with ``per_page`` (default
  30, max 100) and ``page``, and a ``Link`` header (``next``, ``last``, ``first``,
  ``prev``); ``/orgs/{org}/members/{user}`` answers 204, 302 (requester not a member) or
  404. ``X-RateLimit-*`` headers on every answer; 401 ``Bad credentials``; primary (403,
  ``X-RateLimit-Remaining: 0``) and secondary (403 + ``Retry-After``) rate limits; an
  unsupported ``X-GitHub-Api-Version`` is a 400.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.fakeoauth import client_credentials, redirect_back

__all__ = ["FakeGitHub", "FakeUser"]

API_VERSIONS = ("2022-11-28",)
DOCS = "https://docs.github.com/rest"
TROUBLESHOOT = (
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors/"
)
# error -> (error_description, error_uri anchor), as GitHub's troubleshooting page lists them
OAUTH_ERRORS = {
    "incorrect_client_credentials": (
        "The client_id and/or client_secret passed are incorrect.", "#incorrect-client-credentials"
    ),
    "redirect_uri_mismatch": (
        "The redirect_uri MUST match the registered callback URL for this application.",
        "#redirect-uri-mismatch2",
    ),
    "bad_verification_code": ("The code passed is incorrect or expired.", "#bad-verification-code"),
    "bad_refresh_token": ("The refresh token passed is incorrect or expired.", ""),
    "unsupported_grant_type": ("The grant type is not supported.", ""),
}  # fmt: skip


@dataclass
class FakeUser:
    id: int
    login: str
    name: str | None = None
    email: str | None = None  # the public profile email
    emails: list[dict[str, Any]] = field(default_factory=list)  # /user/emails entries


@dataclass
class _Token:
    login: str
    scopes: tuple[str, ...]
    expires_at: float | None = None


class FakeGitHub:
    """State the test sets up and changes (users, orgs, teams), and the Starlette app."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        callback: str,
        enterprise: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.callback = callback  # the OAuth app's registered callback URL
        self.api = "/api/v3" if enterprise else ""
        self.now = now
        self.users: dict[str, FakeUser] = {}
        self.members: dict[str, set[str]] = {}  # org login -> member logins
        self.teams: list[dict[str, Any]] = []  # {"org", "name", "slug", "members": set}
        self.signed_in: str | None = None  # whose browser session is at GitHub
        self.deny = False  # the person clicks "Cancel" on the authorization page
        self.expiring_tokens = False  # a GitHub App with expiring user tokens
        self.rate_limit: str | None = None  # "primary" | "secondary" | "429"
        self.fail: dict[str, Callable[[Request], Response]] = {}  # path -> answer
        self.requests: list[Request] = []
        self.codes: dict[str, tuple[str, tuple[str, ...], str | None, float]] = {}
        self.tokens: dict[str, _Token] = {}
        self.refresh_tokens: dict[str, _Token] = {}

    # -- setting the scene -------------------------------------------------------------
    def add_user(self, login: str, user_id: int, **fields: Any) -> FakeUser:
        user = FakeUser(user_id, login, **fields)
        self.users[login] = user
        return user

    def add_member(self, org: str, login: str, *teams: str) -> None:
        """``login`` joins ``org`` and the named teams (created as needed; slug derived)."""
        self.members.setdefault(org, set()).add(login)
        for name in teams:
            self.team(org, name)["members"].add(login)

    def team(self, org: str, name: str, slug: str | None = None) -> dict[str, Any]:
        for team in self.teams:
            if team["org"] == org and team["name"] == name:
                return team
        team = {"org": org, "name": name, "slug": slug or name.lower().replace(" ", "-")}
        team["members"] = set()
        team["id"] = len(self.teams) + 1
        self.teams.append(team)
        return team

    def remove_member(self, org: str, login: str) -> None:
        self.members.get(org, set()).discard(login)
        for team in self.teams:
            if team["org"] == org:
                team["members"].discard(login)

    def revoke(self, login: str) -> None:
        """The person revoked the app at github.com/settings/applications."""
        for store in (self.tokens, self.refresh_tokens):
            for key in [k for k, t in store.items() if t.login == login]:
                del store[key]

    def api_requests(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.url.path == self.api + path]

    # -- the app -----------------------------------------------------------------------
    def app(self) -> Starlette:
        api = self.api
        routes = [
            Route("/login/oauth/authorize", self._authorize),
            Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
            Route(f"{api}/user", self._api(self._user)),
            Route(f"{api}/user/emails", self._api(self._emails)),
            Route(f"{api}/user/orgs", self._api(self._orgs)),
            Route(f"{api}/user/teams", self._api(self._teams)),
            Route(f"{api}/orgs/{{org}}/members/{{username}}", self._api(self._membership)),
        ]
        return Starlette(routes=routes)

    # -- OAuth web flow ------------------------------------------------------------------
    async def _authorize(self, request: Request) -> Response:
        self.requests.append(request)
        query = request.query_params
        if query.get("client_id") != self.client_id:
            return HTMLResponse("<html><body>Not Found</body></html>", status_code=404)
        state = query.get("state", "")
        redirect_uri = query.get("redirect_uri")
        if redirect_uri is not None and not _under_callback(redirect_uri, self.callback):
            return redirect_back(self.callback, _oauth_error("redirect_uri_mismatch", state))
        target = redirect_uri or self.callback
        if self.signed_in is None:
            return HTMLResponse("<html><body>Sign in to GitHub</body></html>")
        if self.deny:
            error = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": f"{TROUBLESHOOT}#access-denied",
                "state": state,
            }
            return redirect_back(target, error)
        code = secrets.token_hex(10)
        scopes = tuple(query.get("scope", "").replace(",", " ").split())
        self.codes[code] = (self.signed_in, scopes, redirect_uri, self.now() + 600)
        return redirect_back(target, {"code": code, "state": state})

    async def _access_token(self, request: Request) -> Response:
        self.requests.append(request)
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, secret = client_credentials(request, form)
        wants_json = "application/json" in request.headers.get("accept", "")
        if (client_id, secret) != (self.client_id, self.client_secret):
            return _token_answer(_oauth_error("incorrect_client_credentials"), wants_json)
        grant = form.get("grant_type", "authorization_code")
        if grant == "refresh_token":
            old = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if old is None:
                return _token_answer(_oauth_error("bad_refresh_token"), wants_json)
            return _token_answer(self._issue(old.login, old.scopes), wants_json)
        if grant != "authorization_code":
            return _token_answer(_oauth_error("unsupported_grant_type"), wants_json)
        found = self.codes.pop(form.get("code", ""), None)
        if found is None or found[3] < self.now():
            return _token_answer(_oauth_error("bad_verification_code"), wants_json)
        login, scopes, redirect_uri, _ = found
        if form.get("redirect_uri") not in (None, redirect_uri):
            return _token_answer(_oauth_error("redirect_uri_mismatch"), wants_json)
        return _token_answer(self._issue(login, scopes), wants_json)

    def _issue(self, login: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        if self.expiring_tokens:
            access = "ghu_" + secrets.token_hex(18)
            refresh = "ghr_" + secrets.token_hex(30)
            self.tokens[access] = _Token(login, scopes, self.now() + 28800)
            self.refresh_tokens[refresh] = _Token(login, scopes)
            return {
                "access_token": access,
                "expires_in": 28800,
                "refresh_token": refresh,
                "refresh_token_expires_in": 15811200,
                "scope": "",
                "token_type": "bearer",
            }
        access = "gho_" + secrets.token_hex(18)
        self.tokens[access] = _Token(login, scopes)
        return {"access_token": access, "token_type": "bearer", "scope": ",".join(scopes)}

    # -- REST API ---------------------------------------------------------------------------
    def _api(self, handler: Callable[[Request, FakeUser], Response]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            self.requests.append(request)
            gate = self._gate(request)
            response = handler(request, gate) if isinstance(gate, FakeUser) else gate
            for name, value in self._limit_headers(remaining=4999).items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    def _gate(self, request: Request) -> Response | FakeUser:
        """What GitHub checks before the endpoint itself: the version, limits, the token;
        the caller when all pass."""
        path = request.url.path
        if path in self.fail:
            return self.fail[path](request)
        version = request.headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            message = (
                f"Unsupported 'X-GitHub-Api-Version' header. Supported versions are: "
                f"{', '.join(API_VERSIONS)}"
            )
            return _message(400, message)
        if self.rate_limit == "primary":
            response = _message(403, "API rate limit exceeded for user ID 1.")
            response.headers.update(self._limit_headers(remaining=0))
            return response
        if self.rate_limit in ("secondary", "429"):
            status = 429 if self.rate_limit == "429" else 403
            response = _message(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again.",
            )
            response.headers["Retry-After"] = "60"
            return response
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not token:
            return _message(401, "Requires authentication")
        found = self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if found is None or found.login not in self.users:
            return _message(401, "Bad credentials")
        if found.expires_at is not None and found.expires_at < self.now():
            return _message(401, "Bad credentials")
        return self.users[found.login]

    def _limit_headers(self, remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Used": str(5000 - remaining),
            "X-RateLimit-Reset": str(int(self.now()) + 1800),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": API_VERSIONS[0],
        }

    def _user(self, request: Request, user: FakeUser) -> Response:
        return JSONResponse(_user_json(user, str(request.base_url).rstrip("/") + self.api))

    def _emails(self, request: Request, user: FakeUser) -> Response:
        return self._paginated(request, user.emails)

    def _orgs(self, request: Request, user: FakeUser) -> Response:
        base = str(request.base_url).rstrip("/") + self.api
        orgs = [org for org, members in self.members.items() if user.login in members]
        return self._paginated(request, [_org_json(org, i, base) for i, org in enumerate(orgs)])

    def _teams(self, request: Request, user: FakeUser) -> Response:
        base = str(request.base_url).rstrip("/") + self.api
        mine = [team for team in self.teams if user.login in team["members"]]
        return self._paginated(request, [_team_json(team, base) for team in mine])

    def _membership(self, request: Request, user: FakeUser) -> Response:
        org, username = request.path_params["org"], request.path_params["username"]
        if org not in self.members:
            return _message(404, "Not Found")
        if user.login not in self.members[org]:
            # The requester is not an organisation member: redirect to public members.
            base = str(request.base_url).rstrip("/") + self.api
            location = f"{base}/orgs/{org}/public_members/{username}"
            return Response(status_code=302, headers={"Location": location})
        if username in self.members[org]:
            return Response(status_code=204)
        return _message(404, "User does not exist or is not a member of the organization")

    def _paginated(self, request: Request, items: list[Any]) -> Response:
        query = request.query_params
        per_page = min(int(query.get("per_page", "30")), 100)
        page = max(int(query.get("page", "1")), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        response = JSONResponse(chunk)
        links = []

        def url(number: int) -> str:
            params = {**dict(query), "per_page": str(per_page), "page": str(number)}
            return f"{str(request.url).split('?')[0]}?{urlencode(params)}"

        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(page - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        if links:
            response.headers["Link"] = ", ".join(links)
        return response


# -- JSON shapes (from the REST API reference) ---------------------------------------------
def _user_json(user: FakeUser, base: str) -> dict[str, Any]:
    return {
        "login": user.login,
        "id": user.id,
        "node_id": base64.b64encode(f"04:User{user.id}".encode()).decode(),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
        "url": f"{base}/users/{user.login}",
        "html_url": f"https://github.com/{user.login}",
        "type": "User",
        "site_admin": False,
        "name": user.name,
        "company": None,
        "blog": "",
        "location": None,
        "email": user.email,
        "hireable": None,
        "bio": None,
        "public_repos": 2,
        "followers": 1,
        "following": 0,
        "created_at": "2008-01-14T04:33:35Z",
        "updated_at": "2008-01-14T04:33:35Z",
    }


def _org_json(login: str, index: int, base: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": 1000 + index,
        "node_id": base64.b64encode(f"012:Organization{1000 + index}".encode()).decode(),
        "url": f"{base}/orgs/{login}",
        "repos_url": f"{base}/orgs/{login}/repos",
        "members_url": f"{base}/orgs/{login}/members{{/member}}",
        "public_members_url": f"{base}/orgs/{login}/public_members{{/member}}",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif",
        "description": None,
    }


def _team_json(team: dict[str, Any], base: str) -> dict[str, Any]:
    org = team["org"]
    return {
        "id": team["id"],
        "url": f"{base}/teams/{team['id']}",
        "html_url": f"https://github.com/orgs/{org}/teams/{team['slug']}",
        "name": team["name"],
        "slug": team["slug"],
        "description": None,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "parent": None,
        "members_count": len(team["members"]),
        "organization": {**_org_json(org, 0, base), "name": org, "type": "Organization"},
    }


def _message(status: int, message: str) -> JSONResponse:
    """GitHub's REST error body."""
    return JSONResponse(
        {"message": message, "documentation_url": DOCS, "status": str(status)},
        status_code=status,
    )


def _oauth_error(error: str, state: str | None = None) -> dict[str, str]:
    description, anchor = OAUTH_ERRORS[error]
    body = {"error": error, "error_description": description, "error_uri": TROUBLESHOOT + anchor}
    if state is not None:
        body["state"] = state
    return body


def _token_answer(body: dict[str, Any], wants_json: bool) -> Response:
    """HTTP 200 for success and for errors alike, as GitHub answers."""
    if wants_json:
        return JSONResponse(body)
    return PlainTextResponse(
        urlencode({k: str(v) for k, v in body.items()}),
        media_type="application/x-www-form-urlencoded",
    )


def _under_callback(redirect_uri: str, callback: str) -> bool:
    """GitHub: same host and port as the callback URL, and a path below its path."""
    given, registered = urlsplit(redirect_uri), urlsplit(callback)
    return (given.scheme, given.netloc) == (registered.scheme, registered.netloc) and (
        given.path.rstrip("/") + "/"
    ).startswith(registered.path.rstrip("/") + "/")
