"""A user's Google groups, read from the Admin SDK Directory API as Dex does.

``groups.list?userKey=`` answers the groups a user *or a group* is a direct member of,
one page at a time (``nextPageToken``). With ``fetchTransitiveGroupMembership`` each
group is asked in turn for the groups it belongs to; a group seen once is not asked
again, so membership cycles end. Groups are named by their email addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from passgate.config.connectors.google import WILDCARD_DOMAIN
from passgate.connectors.base import ConnectorError, UpstreamUnavailableError
from passgate.connectors.google.service_account import DelegatedTokens
from passgate.connectors.http import UpstreamRateLimitedError, json_object, send

__all__ = ["DIRECTORY_URL", "MAX_REQUESTS", "GroupDirectory", "domain_of"]

#: The Admin SDK host (the Go client's default base URL).
DIRECTORY_URL = "https://admin.googleapis.com"
#: Directory calls one lookup may make: pages times groups with transitive membership.
MAX_REQUESTS = 1000
#: Google's ``errors[].reason`` values for a quota or rate limit (answered with 403 or 429).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


def domain_of(email: str) -> str:
    """The part after the last ``@``; Dex's ``*`` for something that is not an address."""
    at = email.rfind("@")
    return email[at + 1 :] if at >= 0 else WILDCARD_DOMAIN


def _reasons(response: httpx.Response) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    error = body.get("error") if isinstance(body, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    if not isinstance(errors, list):
        return set()
    return {e["reason"] for e in errors if isinstance(e, dict) and isinstance(e.get("reason"), str)}


@dataclass
class _Walk:
    """One lookup: the groups already listed (cycles end) and the calls made so far."""

    checked: set[str] = field(default_factory=set)
    requests: int = 0

    def count_request(self, key: str) -> None:
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            raise UpstreamUnavailableError(
                f"Google Directory API: more than {MAX_REQUESTS} requests to list "
                f"the groups of {key}"
            )


class GroupDirectory:
    """Group lookups through a service account with domain-wide delegation."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: DelegatedTokens,
        admin_emails: Mapping[str, str],
        *,
        transitive: bool = False,
        base_url: str = DIRECTORY_URL,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._admins = dict(admin_emails)
        self._transitive = transitive
        self._url = base_url.rstrip("/") + "/admin/directory/v1/groups"

    def admin_for(self, key: str) -> str:
        """The admin to act for when asking about ``key``: its domain's, else ``*``'s."""
        domain = domain_of(key)
        admin = self._admins.get(domain) or self._admins.get(WILDCARD_DOMAIN)
        if not admin:
            raise ConnectorError(
                f"cannot look up the Google groups of {key}: domainToAdminEmail has no "
                f"admin for the domain {domain!r} and no {WILDCARD_DOMAIN!r} entry"
            )
        return admin

    async def groups_of(self, email: str) -> list[str]:
        """The email addresses of ``email``'s groups, in Dex's order (depth first)."""
        return await self._list(email, _Walk())

    async def _list(self, key: str, walk: _Walk) -> list[str]:
        admin = self.admin_for(key)
        found: list[str] = []
        page_token = ""
        seen_tokens: set[str] = set()
        while True:
            walk.count_request(key)
            page = await self._page(admin, key, page_token)
            for group in _groups(page, key):
                if group in walk.checked:
                    continue
                walk.checked.add(group)
                found.append(group)
                if self._transitive:
                    # groups.list takes a group's address as userKey just as a user's.
                    found += await self._list(group, walk)
            next_token = page.get("nextPageToken")
            if not next_token:
                return found
            if not isinstance(next_token, str) or next_token in seen_tokens:
                raise UpstreamUnavailableError(
                    f"Google Directory API answered a bad nextPageToken for {key}"
                )
            seen_tokens.add(next_token)
            page_token = next_token

    async def _page(self, admin: str, key: str, page_token: str) -> dict[str, Any]:
        what = f"Google Directory API (groups of {key})"
        params = {"userKey": key}
        if page_token:
            params["pageToken"] = page_token
        response = await self._get(what, admin, params)
        if response.status_code == 401:
            self._tokens.forget(admin)  # revoked before it expired: one more try
            response = await self._get(what, admin, params)
        return _checked_page(what, response)

    async def _get(self, what: str, admin: str, params: dict[str, str]) -> httpx.Response:
        token = await self._tokens.token(admin)
        request = self._http.build_request(
            "GET",
            self._url,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        return await send(self._http, what, request)


def _checked_page(what: str, response: httpx.Response) -> dict[str, Any]:
    """The page, or the error it stands for (Google's ``{"error": {...}}`` bodies)."""
    status = response.status_code
    if status in (403, 429) and _reasons(response) & RATE_LIMIT_REASONS:
        retry = response.headers.get("retry-after", "")
        retry_after = int(retry) if retry.isdigit() else None
        raise UpstreamRateLimitedError(f"{what} is rate limiting us", retry_after)
    try:
        return json_object(what, response)
    except UpstreamUnavailableError:
        raise
    except ConnectorError as error:
        if status == 404:
            raise ConnectorError(f"{error} (not found in the Google directory)") from None
        if status in (401, 403):
            # The service account (or the admin it acts for) may not read groups: a
            # setup problem, not a fact about the person.
            raise UpstreamUnavailableError(
                f"{error} (check that the admin in domainToAdminEmail may read groups)"
            ) from None
        raise


def _groups(page: dict[str, Any], key: str) -> list[str]:
    """The group addresses of one ``admin#directory#groups`` page (no ``groups`` key when
    there are none)."""
    groups = page.get("groups", [])
    if not isinstance(groups, list):
        raise UpstreamUnavailableError(f"Google Directory API answered no group list for {key}")
    emails: list[str] = []
    for group in groups:
        email = group.get("email") if isinstance(group, dict) else None
        if not isinstance(email, str) or not email:
            raise UpstreamUnavailableError(
                f"Google Directory API answered a group without an email for {key}"
            )
        emails.append(email)
    return emails
