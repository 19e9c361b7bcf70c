"""The Microsoft Graph calls Dex's ``microsoft`` connector makes, with the signed-in
person's delegated access token: who they are, and which groups they are in.

Graph collections may come in pages (``@odata.nextLink``, "Paging Microsoft Graph data in
your app"); the next link is followed only on the Graph host itself, because the request
carries the person's bearer token.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from passgate.connectors.base import UpstreamUnavailableError
from passgate.connectors.http import collect_pages, fetch_json

__all__ = ["MAX_IDS_PER_REQUEST", "MAX_PAGES", "Graph", "GraphUser"]

#: directoryObject: getByIds takes at most 1000 ids per request (Graph v1.0 reference).
MAX_IDS_PER_REQUEST = 1000
#: A bound on pages followed for one collection, against an upstream that loops.
MAX_PAGES = 200


@dataclass(frozen=True, slots=True)
class GraphUser:
    """The fields of ``GET /me`` Dex selects: ``id``, ``displayName``, ``userPrincipalName``."""

    id: str
    display_name: str
    user_principal_name: str


def _text(body: dict[str, Any], key: str, what: str, required: bool = False) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""  # Graph answers null for an unset property
    if not isinstance(value, str) or (required and not value):
        raise UpstreamUnavailableError(f"{what} answered no valid {key!r}")
    return value


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Graph:
    """Microsoft Graph v1.0 at ``base_url`` (``https://graph.microsoft.com`` or a national
    cloud's host), called with one access token."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, access_token: str) -> None:
        self._http = http
        self._base = base_url
        self._origin = urlsplit(base_url)[:2]
        self._headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}

    async def me(self) -> GraphUser:
        """The signed-in user (Graph ``GET /me`` with ``$select``, as Dex asks)."""
        what = "Microsoft Graph /me"
        url = f"{self._base}/v1.0/me?$select=id,displayName,userPrincipalName"
        request = self._http.build_request("GET", url, headers=self._headers)
        body = await fetch_json(self._http, what, request)
        return GraphUser(
            id=_text(body, "id", what, required=True),
            display_name=_text(body, "displayName", what),
            user_principal_name=_text(body, "userPrincipalName", what),
        )

    async def member_group_ids(self, security_enabled_only: bool) -> list[str]:
        """Ids of every group the user is in, directly or through nested groups
        (``POST /me/getMemberGroups``)."""
        what = "Microsoft Graph getMemberGroups"
        url = f"{self._base}/v1.0/me/getMemberGroups"
        payload = {"securityEnabledOnly": security_enabled_only}
        ids: list[str] = []
        for item in await self._post_collection(what, url, payload):
            if not isinstance(item, str):
                raise UpstreamUnavailableError(f"{what} answered a group id that is not a string")
            ids.append(item)
        return ids

    async def group_names(self, ids: list[str]) -> list[str]:
        """The display names of the groups ``ids`` (``POST /directoryObjects/getByIds``,
        at most :data:`MAX_IDS_PER_REQUEST` ids a request)."""
        what = "Microsoft Graph getByIds"
        url = f"{self._base}/v1.0/directoryObjects/getByIds"
        names: list[str] = []
        for chunk in _chunks(ids, MAX_IDS_PER_REQUEST):
            payload = {"ids": chunk, "types": ["group"]}
            for item in await self._post_collection(what, url, payload):
                if not isinstance(item, dict):
                    raise UpstreamUnavailableError(f"{what} answered an object that is not one")
                name = item.get("displayName")
                if isinstance(name, str) and name:
                    names.append(name)
        return names

    async def _post_collection(self, what: str, url: str, payload: dict[str, Any]) -> list[Any]:
        """POST ``payload`` to ``url`` and to every ``@odata.nextLink``; all ``value`` items."""
        seen: set[str] = set()

        async def fetch(page_url: str) -> tuple[list[Any], str | None]:
            request = self._http.build_request(
                "POST", page_url, json=payload, headers=self._headers
            )
            body = await fetch_json(self._http, what, request)
            value = body.get("value")
            if not isinstance(value, list):
                raise UpstreamUnavailableError(f"{what} answered no 'value' list")
            next_url = body.get("@odata.nextLink")
            if next_url is None:
                return value, None
            seen.add(page_url)
            return value, self._next(what, next_url, seen)

        return await collect_pages(what, url, fetch, MAX_PAGES)

    def _next(self, what: str, link: object, seen: set[str]) -> str:
        if not isinstance(link, str) or urlsplit(link)[:2] != self._origin:
            # The next request carries the person's token: only ever to Graph itself.
            raise UpstreamUnavailableError(f"{what} answered a next link off the Graph host")
        if link in seen:
            raise UpstreamUnavailableError(f"{what} answered a next link that loops")
        return link
