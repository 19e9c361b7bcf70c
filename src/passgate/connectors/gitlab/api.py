"""The few GitLab calls the connector makes with one user's OAuth access token.

``GET /api/v4/user`` (scope ``read_user``) says who signed in; ``GET /oauth/userinfo``
(scope ``openid``) lists their groups; with ``inheritedGroups``, ``GET /api/v4/groups``
(scope ``read_api``) lists inherited memberships too, page by page. Errors keep
GitLab's own words: 401 ``{"message": "401 Unauthorized"}`` (the authorization is
gone) and 403 (a blocked user, a missing scope) refuse the person; 429 with
``Retry-After`` and 5xx answers only say GitLab cannot answer now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from passgate.connectors.base import ConnectorError
from passgate.connectors.gitlab.groups import ROLE_CLAIMS, ApiGroup, UserInfo, access_level_role
from passgate.connectors.http import (
    UpstreamUnavailableError,
    collect_pages,
    is_text,
    json_body,
    json_object,
    next_link,
    optional_text,
    send,
)

__all__ = ["MAX_PAGES", "PER_PAGE", "GitLabAPI", "GitLabUser"]

#: The largest page GitLab serves (offset pagination); Dex asks for it too.
PER_PAGE = 100
#: A bound on pages followed (10,000 groups), so a looping answer cannot hang a login.
MAX_PAGES = 100


@dataclass(frozen=True, slots=True)
class GitLabUser:
    """What ``GET /api/v4/user`` says about the signed-in user."""

    id: int
    username: str
    name: str
    email: str
    state: str  # "active", "blocked", "deactivated", "banned", ...


class GitLabAPI:
    """GitLab REST and OpenID userinfo calls with one access token."""

    def __init__(self, http: httpx.AsyncClient, root: str, access_token: str) -> None:
        self._http = http
        self._root = root
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
            "User-Agent": "Passgate",
        }

    async def user(self) -> GitLabUser:
        what = "GitLab GET /api/v4/user"
        body = json_object(what, await self._get(what, f"{self._root}/api/v4/user"))
        user_id, username = body.get("id"), body.get("username")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or not is_text(username):
            raise UpstreamUnavailableError(f"{what} answered no numeric id and username")
        return GitLabUser(
            id=user_id,
            username=str(username),
            name=optional_text(body, "name"),
            email=optional_text(body, "email"),
            state=optional_text(body, "state"),
        )

    async def userinfo(self) -> UserInfo:
        """OpenID userinfo: ``groups`` and the per-role group claims."""
        what = "GitLab GET /oauth/userinfo"
        body = json_object(what, await self._get(what, f"{self._root}/oauth/userinfo"))
        roles = {role: _paths(what, body, claim) for role, claim in ROLE_CLAIMS}
        return UserInfo(_paths(what, body, "groups"), roles)

    async def groups(self) -> list[ApiGroup]:
        """``GET /api/v4/groups?all_available=false``: every group the user belongs to,
        inherited memberships included, following GitLab's pagination headers."""
        what = "GitLab GET /api/v4/groups"
        base = f"{self._root}/api/v4/groups"
        params = {"all_available": "false", "per_page": str(PER_PAGE), "page": "1"}

        async def fetch(url: str) -> tuple[list[ApiGroup], str | None]:
            response = await self._get(what, url)
            page = json_body(what, response, "a JSON array")
            if not isinstance(page, list):
                raise UpstreamUnavailableError(f"{what} did not answer a JSON array")
            found = [group for item in page if (group := _api_group(what, item)) is not None]
            return found, self._next_page(what, response, base, params)

        first = str(httpx.URL(base, params=params))
        return await collect_pages(what, first, fetch, MAX_PAGES)

    async def member_role(self, group_id: int, user_id: int) -> str | None:
        """The user's effective role in a group (Members API ``/members/all/:id``);
        ``None`` when GitLab answers 403 or 404 for it (Dex skips the suffix then)."""
        what = f"GitLab GET /api/v4/groups/{group_id}/members/all/{user_id}"
        url = f"{self._root}/api/v4/groups/{group_id}/members/all/{user_id}"
        response = await self._get(what, url)
        if response.status_code in (403, 404):
            return None
        return access_level_role(json_object(what, response).get("access_level"))

    # -- plumbing -----------------------------------------------------------------------
    async def _get(self, what: str, url: str) -> httpx.Response:
        request = self._http.build_request("GET", url, headers=self._headers)
        return await send(self._http, what, request)

    def _next_page(
        self, what: str, response: httpx.Response, base: str, params: dict[str, str]
    ) -> str | None:
        """The next page: ``X-Next-Page`` (empty on the last page) built on our own URL,
        else a ``Link: rel="next"`` that stays on this GitLab (the token goes with it)."""
        if "x-next-page" in response.headers:
            number = response.headers["x-next-page"].strip()
            if not number:
                return None
            if not number.isdigit():
                raise UpstreamUnavailableError(f"{what} answered a bad X-Next-Page {number!r}")
            return str(httpx.URL(base, params={**params, "page": number}))
        link = next_link(response)
        if link is None:
            return None
        if not link.startswith(f"{base}?"):
            raise ConnectorError(f"{what} pointed its next page outside {self._root}")
        return link


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _paths(what: str, body: dict[str, Any], claim: str) -> tuple[str, ...]:
    value = body.get(claim)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UpstreamUnavailableError(f"{what} answered {claim!r} that is not a list of names")
    return tuple(value)


def _api_group(what: str, item: object) -> ApiGroup | None:
    if not isinstance(item, dict) or not _is_int(item.get("id")):
        raise UpstreamUnavailableError(f"{what} answered an entry that is not a group")
    path = item.get("full_path") or item.get("path")  # Dex: full_path, else path
    if not is_text(path):
        return None  # Dex skips a group with neither
    return ApiGroup(int(item["id"]), str(path))
