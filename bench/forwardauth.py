"""Forward-auth as the bench drives it: Passgate's ``forwardAuth`` section for one protected
site, the reverse proxy in front of that site, and a person's sign-in through it.

The site is nginx in oauth2-proxy's documented shape: the site's ``/oauth2/`` is passed to
Passgate's ``<issuer>/oauth2/`` with the site's own Host, and every page request is first
asked about at ``<issuer>/oauth2/auth`` (``auth_request``) with the site's Host, the
browser's cookies and ``X-Forwarded-Uri``. No site or proxy runs: :class:`SiteProxy` is
the proxy's routing inside the bench's browser, and the scenario's step is the
``auth_request`` subrequest itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from bench.loginflow import walk
from bench.target import FlowError, Target, need

#: Every site below this domain shares one sign-in (``forwardAuth.cookieDomain``).
SITE_DOMAIN = "apps.bench"
#: The protected site the scenario asks about.
SITE_HOST = f"grafana.{SITE_DOMAIN}"
#: The page behind it; every request asks about this one.
SITE_PAGE = "/dashboard"
#: The group the site lets in, and the bench user is in.
SITE_GROUP = "bench-users"
#: Passgate's default forward-auth cookie (``forwardAuth.cookieName``).
COOKIE = "_passgate_fa"


def forward_auth_config(host: str = SITE_HOST) -> dict[str, Any]:
    """Passgate's ``forwardAuth`` section: one cookie for the domain, and a rule for the
    site by group, so the rule is checked on every request."""
    return {
        "cookieDomain": f".{SITE_DOMAIN}",
        "allowedRedirectDomains": [f".{SITE_DOMAIN}"],
        "hosts": [{"host": host, "allowedGroups": [SITE_GROUP]}],
    }


def auth_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/oauth2/auth"


def auth_headers(host: str, cookie: str) -> dict[str, str]:
    """What nginx ``auth_request`` sends for a browser's request to ``host`` +
    ``SITE_PAGE``: the site's Host, the browser's cookie, and the page."""
    return {"Host": host, "Cookie": f"{COOKIE}={cookie}", "X-Forwarded-Uri": SITE_PAGE}


class SiteProxy(httpx.AsyncBaseTransport):
    """The reverse proxy in front of ``host``, inside the bench's browser: the site's
    ``/oauth2/...`` goes to ``<issuer>/oauth2/...`` with the site's Host kept; requests to
    anywhere else pass on unchanged. The browser (and its cookie jar) still sees the
    site's own URLs, so cookies for the site and its domain are kept as a browser would."""

    def __init__(self, issuer: str, host: str, inner: httpx.AsyncBaseTransport) -> None:
        self.issuer = httpx.URL(issuer)
        self.host = host
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.host == self.host:
            if not url.path.startswith("/oauth2/"):
                raise FlowError(f"no site runs behind the bench's proxy: {url}")
            path = self.issuer.path.rstrip("/") + url.path
            forwarded = httpx.Request(
                request.method,
                self.issuer.copy_with(path=path, query=url.query or None),
                headers=request.headers,  # Host: the site's
                stream=request.stream,
                extensions=request.extensions,
            )
            return await self.inner.handle_async_request(forwarded)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def sign_in(browser: httpx.AsyncClient, target: Target) -> str:
    """A person opening the site for the first time: ``/oauth2/start`` at the site,
    Passgate's sign-in, ``/oauth2/callback`` at the site, back at the page. The browser
    must route the site through a :class:`SiteProxy`. Returns the forward-auth cookie."""
    host = need(target.forward_auth_host, "forward_auth_host")
    page = f"http://{host}{SITE_PAGE}"
    browser.cookies.clear()
    start = await browser.get(f"http://{host}/oauth2/start?{urlencode({'rd': page})}")

    def at_site(url: str) -> bool:
        parts = urlsplit(url)
        return parts.hostname == host and not parts.path.startswith("/oauth2/")

    back = await walk(browser, start, target, at_site, f"the site {host}")
    if back != page:
        raise FlowError(f"the sign-in went back to {back}, not {page}")
    for cookie in browser.cookies.jar:
        domain = cookie.domain.lstrip(".")
        below = host == domain or host.endswith(f".{domain}")
        if cookie.name == COOKIE and cookie.value and below:
            return cookie.value
    raise FlowError(f"the sign-in set no {COOKIE} cookie for {host}")
