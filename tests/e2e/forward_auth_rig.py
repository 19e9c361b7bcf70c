"""Helpers of ``test_forward_auth_proxies``: real ``passgate serve`` processes with
``forwardAuth`` and ``admin`` on, an nginx that balances ``auth_request`` over several
Passgate replicas, a browser-like httpx client that follows the proxies' real redirects
(and signs in on the password form it meets), and the admin API as a test calls it.

Passgate's sign-in pages live at the issuer (``http://127.0.0.1:PORT/dex``); the sites
are ``*.apps.test`` names on the proxies' ports (:class:`e2e.proxies.LoopbackTransport`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from e2e.browser import parse_forms
from e2e.proxies import LoopbackTransport, NginxProxy, Site
from e2e.support import PassgateServer
from passgate.admin.auth import hash_token

__all__ = [
    "ADMIN_TOKEN",
    "BROWSER_ACCEPT",
    "COOKIE",
    "LOGIN_PATH",
    "Admin",
    "BalancedNginx",
    "Visit",
    "Visitor",
    "forward_auth_sections",
    "request_count",
]

#: The forward-auth cookie (``forwardAuth.cookieName``'s default).
COOKIE = "_passgate_fa"
#: The password form of the ``local`` connector, below the issuer.
LOGIN_PATH = "/dex/auth/local/login"
#: What Chromium sends for a page load.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
#: The admin API's bearer token (the config holds its SHA-256 only).
ADMIN_TOKEN = "pgadm_e2e-forward-auth-admin-token-0123456789abcdef"


def forward_auth_sections(
    restricted: Sequence[str],
    *,
    group: str,
    refresh_interval: str = "2s",
    lifetime: str | None = None,
) -> dict[str, Any]:
    """The ``forwardAuth`` and ``admin`` sections: the cookie for every ``*.apps.test``
    site, ``restricted`` hosts open to ``group`` only, the connector asked again every
    ``refresh_interval``."""
    forward_auth: dict[str, Any] = {
        "cookieDomain": ".apps.test",
        "allowedRedirectDomains": [".apps.test"],
        "refreshInterval": refresh_interval,
        "hosts": [{"host": host, "allowedGroups": [group]} for host in restricted],
    }
    if lifetime is not None:
        forward_auth["lifetime"] = lifetime
    return {
        "forwardAuth": forward_auth,
        "admin": {"tokens": [{"name": "e2e", "hash": hash_token(ADMIN_TOKEN)}]},
    }


# -- the admin API ----------------------------------------------------------------------------
@dataclass
class Admin:
    """``<base>/admin/v1`` of one Passgate process, with the admin token."""

    server: PassgateServer

    def call(self, method: str, path: str, *, status: int, json: Any = None) -> Any:
        """One call that must answer ``status``; its JSON (None for a 204)."""
        with httpx.Client(timeout=10) as http:
            response = http.request(
                method,
                self.server.url(f"/admin/v1{path}"),
                json=json,
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
        assert response.status_code == status, (method, path, response.text[:500])
        return None if status == 204 else response.json()

    def browser_session_ids(self) -> set[str]:
        listed = self.call("GET", "/browser-sessions", status=200)
        return {entry["id"] for entry in listed["browser_sessions"]}


def request_count(server: PassgateServer, endpoint: str, code: str) -> float:
    """``passgate_http_requests_total`` of ``endpoint`` answered ``code``, from the
    process's telemetry listener: which replica answered what."""
    text = httpx.get(f"http://127.0.0.1:{server.telemetry_port}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith("passgate_http_requests_total{"):
            continue
        labels, _, value = line.rpartition(" ")
        if f'endpoint="{endpoint}"' in labels and f'code="{code}"' in labels:
            total += float(value)
    return total


# -- a browser made of httpx ------------------------------------------------------------------
@dataclass
class Visit:
    """Where a page load ended, and how it got there."""

    response: httpx.Response
    hops: list[str] = field(default_factory=list)  # every URL requested, in order
    prompts: int = 0  # password forms filled in on the way

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def url(self) -> str:
        return str(self.response.url)

    @property
    def at_login(self) -> bool:
        """Ended at Passgate's password form (and did not fill it in)."""
        return (
            self.status == 200
            and urlsplit(self.url).path == LOGIN_PATH
            and 'name="password"' in self.response.text
        )

    def echoed(self) -> dict[str, Any]:
        """The echo site's account of the request the proxy passed on."""
        assert self.status == 200, (self.status, self.url, self.response.text[:500])
        body: dict[str, Any] = self.response.json()
        return body


class Visitor:
    """One browser (one cookie jar) as httpx: sends ``Accept: text/html`` like a page
    load, connects to 127.0.0.1 for every ``*.apps.test`` name, follows every redirect
    hop by hop, and fills in the password form when it has ``credentials``."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.http = httpx.Client(
            transport=LoopbackTransport(), timeout=10, headers={"Accept": BROWSER_ACCEPT}
        )
        #: When the last password form was sent (the browser session starts then).
        self.signed_in_at = 0.0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Visitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cookie(self) -> str | None:
        """The forward-auth cookie in the jar (scoped to ``.apps.test``)."""
        return self.http.cookies.get(COOKIE, domain=".apps.test")

    def get(self, url: str, headers: dict[str, str] | None = None) -> Visit:
        response = self.http.get(url, headers=headers)
        visit = Visit(response, [url])
        return self._follow(visit)

    def _follow(self, visit: Visit) -> Visit:
        for _ in range(20):
            response = visit.response
            if response.status_code in (301, 302, 303, 307, 308):
                location = urljoin(str(response.url), response.headers["location"])
                visit.hops.append(location)
                visit.response = self.http.get(location)
                continue
            if visit.at_login and self.credentials is not None and visit.prompts == 0:
                visit.prompts += 1
                [form] = parse_forms(response.text)
                login, password = self.credentials
                self.signed_in_at = time.monotonic()
                action = urljoin(str(response.url), form.action)
                visit.hops.append(action)
                visit.response = self.http.post(
                    action, data={**form.hidden(), "login": login, "password": password}
                )
                continue
            return visit
        raise AssertionError(f"redirect loop: {visit.hops}")


# -- nginx in front of several replicas ---------------------------------------------------------
class BalancedNginx(NginxProxy):
    """:class:`NginxProxy` (``auth_request`` sites) whose auth server is an ``upstream`` of
    several Passgate replicas, balanced round robin (nginx's default): every
    ``/oauth2/auth`` subrequest and ``/oauth2/`` request goes to the next replica."""

    UPSTREAM = "passgate_replicas"

    def __init__(
        self,
        directory: Path,
        replicas: Sequence[PassgateServer],
        sites: Sequence[Site],
        *,
        binary: str,
    ) -> None:
        if any(site.flavour != "auth_request" for site in sites):
            raise ValueError("BalancedNginx serves auth_request sites only")
        super().__init__(directory, replicas[0].base_url, sites, binary=binary)
        self.replicas = tuple(replicas)
        # proxy_pass http://passgate_replicas/dex/oauth2/...: the upstream by name.
        self.auth_origin = f"http://{self.UPSTREAM}"

    def config(self) -> str:
        servers = "\n".join(
            f"        server 127.0.0.1:{replica.port};" for replica in self.replicas
        )
        upstream = f"    upstream {self.UPSTREAM} {{\n{servers}\n    }}\n\n"
        marker = "    # A Host no site claims."
        text = super().config()
        assert marker in text, "NginxProxy's config changed: update BalancedNginx"
        return text.replace(marker, upstream + marker, 1)
