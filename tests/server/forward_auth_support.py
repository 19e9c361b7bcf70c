"""The in-process issuer with forward-auth on, and a browser that visits protected sites
as a reverse proxy in front of them would pass its requests on: a site's ``/oauth2/``
forwarded to Passgate's ``/dex/oauth2/`` with the site's own Host (oauth2-proxy's nginx
shape), and ``/oauth2/auth`` asked with ``X-Forwarded-Uri``."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from .harness import EMAIL, PASSWORD, PREFIX, Harness, config_text, parse_form

DOMAIN = "apps.test"
GRAFANA = f"grafana.{DOMAIN}"
WIKI = f"wiki.{DOMAIN}"
SECRET = f"secret.{DOMAIN}"

FORWARD_AUTH = f"""forwardAuth:
  cookieDomain: .{DOMAIN}
  allowedRedirectDomains: [.{DOMAIN}]
  hosts:
  - host: {GRAFANA}
    allowedGroups: [admins]
    skipAuthPaths: [/healthz, "^/public/"]
  - host: {SECRET}
    allowedGroups: [auditors]
  - host: tokens.{DOMAIN}
    passAuthorization: true
    passAccessToken: true
"""


def forward_auth_config(extra: str = "", oauth2: str = "  skipApprovalScreen: true") -> str:
    return config_text(oauth2=oauth2, extra=FORWARD_AUTH + extra)


def site_url(host: str, path: str) -> str:
    return f"http://{host}{path}"


async def ask(
    harness: Harness,
    browser: httpx.AsyncClient,
    host: str,
    uri: str = "/",
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """nginx ``auth_request``: GET /oauth2/auth with the site's Host, its cookies and
    X-Forwarded-Uri, as the proxy sends it for a browser's request to ``host`` + ``uri``."""
    sent = {"X-Forwarded-Uri": uri, **(headers or {})}
    return await browser.get(
        site_url(host, f"{PREFIX}/oauth2/auth"), params=dict(query or {}), headers=sent
    )


def _through_proxy(url: str) -> str:
    """The site's /oauth2/... as its proxy forwards it: to /dex/oauth2/... on Passgate."""
    parts = urlsplit(url)
    if parts.path.startswith("/oauth2/"):
        return url.replace(parts.path, PREFIX + parts.path, 1)
    return url


async def follow(browser: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    """Follow redirects like a browser, through each site's proxy, until a page or a
    redirect to the protected site itself (a path that is not /oauth2/ or the issuer)."""
    for _ in range(10):
        if response.status_code not in (302, 303):
            return response
        location = response.headers["location"]
        absolute = str(response.url.join(location))
        parts = urlsplit(absolute)
        if not parts.path.startswith(("/oauth2/", PREFIX)):
            return response  # back at the site: the proxy would now ask /oauth2/auth
        response = await browser.get(_through_proxy(absolute))
    raise AssertionError("too many redirects")


async def sign_in_at(
    harness: Harness,
    browser: httpx.AsyncClient,
    host: str,
    rd: str = "",
    *,
    login: str = EMAIL,
    password: str = PASSWORD,
) -> httpx.Response:
    """/oauth2/start at ``host``, the password form if one is shown, back to ``rd``: the
    last answer (a redirect to the site)."""
    params = {"rd": rd or site_url(host, "/dashboard")}
    response = await follow(
        browser, await browser.get(site_url(host, f"{PREFIX}/oauth2/start"), params=params)
    )
    if response.status_code == 200 and 'name="password"' in response.text:
        form = parse_form(response.text)
        posted = await browser.post(
            str(response.url.join(form.action)),
            data={**form.fields, "login": login, "password": password},
        )
        response = await follow(browser, posted)
    return response
