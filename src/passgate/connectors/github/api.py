"""The few GitHub REST API calls the connector makes, on behalf of one signed-in user.

Every call sends the documented media type and API version, follows ``Link`` pagination
(100 per page) without ever sending the token to another host, and turns GitHub's error
shapes into the shared ones: 401 ``Bad credentials`` means the authorization is gone
(:class:`ConnectorError`, a refresh is refused), while the primary (``X-RateLimit-*``)
and secondary (``Retry-After``) rate limits and 5xx answers say nothing about the person
(:class:`UpstreamUnavailableError`, a refresh is only postponed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from passgate.clock import Clock
from passgate.connectors.base import ConnectorError
from passgate.connectors.github.groups import Email, Team
from passgate.connectors.http import (
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
    collect_pages,
    is_text,
    json_body,
    next_link,
    optional_text,
    send,
)

__all__ = ["API_VERSION", "MAX_PAGES", "PER_PAGE", "GitHubAPI", "GitHubUser"]

#: ``X-GitHub-Api-Version`` sent with every call (GitHub REST API versioning).
API_VERSION = "2022-11-28"
#: The largest page GitHub serves; Dex asks for it too.
PER_PAGE = 100
#: A bound on pages followed (10,000 teams), so a looping ``Link`` cannot hang a login.
MAX_PAGES = 100
#: GitHub's advice when a secondary rate limit names no wait: "at least one minute".
DEFAULT_RETRY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class GitHubUser:
    """What ``GET /user`` says about the signed-in user."""

    id: int
    login: str
    name: str
    email: str  # the public profile email, often empty


class GitHubAPI:
    """REST calls with one access token (``Authorization: Bearer``)."""

    def __init__(self, http: httpx.AsyncClient, api_url: str, token: str, clock: Clock):
        self._http = http
        self._base = httpx.URL(api_url.rstrip("/") + "/")
        self._api_url = api_url.rstrip("/")
        self._clock = clock
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "Passgate",
        }

    # -- the calls ---------------------------------------------------------------------
    async def user(self) -> GitHubUser:
        """``GET /user``: the authenticated user."""
        what = "GitHub GET /user"
        body = self._json(what, await self._get(what, f"{self._api_url}/user"))
        if not isinstance(body, dict):
            raise UpstreamUnavailableError(f"{what} did not answer a JSON object")
        user_id, login = body.get("id"), body.get("login")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or not is_text(login):
            raise UpstreamUnavailableError(f"{what} answered no numeric id and login")
        return GitHubUser(
            user_id, str(login), optional_text(body, "name"), optional_text(body, "email")
        )

    async def emails(self) -> list[Email]:
        """``GET /user/emails``: every address, private ones included (``user:email``)."""
        what = "GitHub GET /user/emails"
        found: list[Email] = []
        for item in await self._pages(what, "/user/emails"):
            email, verified, primary = item.get("email"), item.get("verified"), item.get("primary")
            if not (is_text(email) and isinstance(verified, bool) and isinstance(primary, bool)):
                raise UpstreamUnavailableError(f"{what} answered an unexpected entry")
            found.append(Email(str(email), verified, primary))
        return found

    async def orgs(self) -> list[str]:
        """``GET /user/orgs``: the logins of the user's organisations."""
        what = "GitHub GET /user/orgs"
        logins = [item.get("login") for item in await self._pages(what, "/user/orgs")]
        if not all(is_text(login) for login in logins):
            raise UpstreamUnavailableError(f"{what} answered an organisation without login")
        return [str(login) for login in logins]

    async def teams(self) -> list[Team]:
        """``GET /user/teams``: the user's teams across organisations (``read:org``)."""
        what = "GitHub GET /user/teams"
        found: list[Team] = []
        for item in await self._pages(what, "/user/teams"):
            org = item.get("organization")
            login = org.get("login") if isinstance(org, dict) else None
            name, slug = item.get("name"), item.get("slug")
            if not (is_text(login) and is_text(name) and is_text(slug)):
                raise UpstreamUnavailableError(f"{what} answered an unexpected team")
            found.append(Team(str(login), str(name), str(slug)))
        return found

    async def in_org(self, org: str, login: str) -> bool:
        """``GET /orgs/{org}/members/{username}``: 204 when a member; 302 (the requester,
        here the user, is not a member) or 404 when not, as Dex reads it."""
        what = f"GitHub GET /orgs/{org}/members/{login}"
        url = f"{self._api_url}/orgs/{quote(org, safe='')}/members/{quote(login, safe='')}"
        response = await self._get(what, url)
        if response.status_code == 204:
            return True
        if response.status_code in (302, 404):
            return False
        self._json(what, response)  # raises for the error statuses
        raise UpstreamUnavailableError(
            f"{what} answered HTTP {response.status_code} instead of 204, 302 or 404"
        )

    # -- plumbing --------------------------------------------------------------------
    async def _get(self, what: str, url: str) -> httpx.Response:
        request = self._http.build_request("GET", url, headers=self._headers)
        return await send(self._http, what, request)

    def _json(self, what: str, response: httpx.Response) -> Any:
        if response.status_code in (403, 429):
            self._check_rate_limit(what, response)
        if response.status_code == 401:
            detail = _message(response)
            raise ConnectorError(
                f"{what} answered HTTP 401{detail}: the GitHub authorization was revoked "
                "or has expired"
            )
        return json_body(what, response)

    def _check_rate_limit(self, what: str, response: httpx.Response) -> None:
        """GitHub REST API rate limits: the primary one answers 403/429 with
        ``X-RateLimit-Remaining: 0`` and the reset time in ``X-RateLimit-Reset`` (epoch
        seconds); the secondary one answers 403/429 with ``Retry-After`` (or no header)."""
        headers = response.headers
        wait: int | None = None
        retry_after = headers.get("retry-after", "")
        reset = headers.get("x-ratelimit-reset", "")
        if retry_after.isdigit():
            wait = int(retry_after)
        elif headers.get("x-ratelimit-remaining") == "0":
            now = int(self._clock().timestamp())
            wait = max(0, int(reset) - now) if reset.isdigit() else DEFAULT_RETRY_SECONDS
        elif response.status_code == 429 or "rate limit" in _message(response).lower():
            wait = DEFAULT_RETRY_SECONDS
        if wait is not None:
            raise UpstreamRateLimitedError(
                f"{what} is rate limiting us (HTTP {response.status_code}); retry in {wait} s",
                wait,
            )

    async def _pages(self, what: str, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list, following ``Link: rel="next"`` (RFC 8288)."""
        first = f"{self._api_url}{path}?per_page={PER_PAGE}"

        async def fetch(url: str) -> tuple[list[dict[str, Any]], str | None]:
            response = await self._get(what, url)
            page = self._json(what, response)
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise UpstreamUnavailableError(f"{what} did not answer a JSON array of objects")
            following = next_link(response)
            if following is not None and not self._same_api(following):
                # The token only ever goes to the configured API.
                raise UpstreamUnavailableError(f"{what} pointed its next page elsewhere")
            return page, following

        return await collect_pages(what, first, fetch, MAX_PAGES)

    def _same_api(self, url: str) -> bool:
        target = httpx.URL(url)
        base = self._base
        return (target.scheme, target.host, target.port) == (
            base.scheme,
            base.host,
            base.port,
        ) and target.path.startswith(base.path)


def _message(response: httpx.Response) -> str:
    """GitHub's ``{"message": ..., "documentation_url": ...}`` error text, if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f": {message[:200]}" if isinstance(message, str) else ""
