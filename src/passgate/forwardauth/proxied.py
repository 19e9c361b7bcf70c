"""What a reverse proxy tells Passgate about the request it is asking about, read the way
each proxy sends it (DESIGN §7; recorded from the real proxies in tests/e2e/proxies.py):

- nginx ``auth_request`` (oauth2-proxy's documented config): the site's own ``Host`` and
  ``X-Forwarded-Uri``;
- ingress-nginx ``auth-url``: ``Host`` is Passgate's, the site is ``X-Original-URL``
  (with ``X-Original-Method`` and ``X-Sent-From: nginx-ingress-controller``);
- Traefik ``forwardAuth`` and Caddy ``forward_auth``: ``X-Forwarded-Method``, ``-Proto``,
  ``-Host`` and ``-Uri`` (Caddy keeps the site's ``Host`` too);
- Envoy ``ext_authz`` (HTTP service): the site's Host and method, and the site's path
  appended to the check's ``path_prefix`` (``<issuer>/oauth2/auth/<path>``).

Proxies pass most headers a client sends straight through, so a client can add the ones
its proxy does not set. So no single header is trusted: every header that names a host
of the protected domains is a candidate, and a request whose headers name two different
sites is refused rather than judged by the rules of the site it claims to be (Passgate's
own host, and the address a proxy reaches Passgate at, are not sites). Likewise a path
skips the sign-in only when every path the headers name does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

__all__ = ["AmbiguousSiteError", "ProxyHeaders", "Site", "resolve_site"]


class AmbiguousSiteError(ValueError):
    """The headers name more than one site."""


@dataclass(frozen=True, slots=True)
class ProxyHeaders:
    """The request headers that matter (empty when absent)."""

    host: str = ""
    forwarded_host: str = ""
    forwarded_proto: str = ""
    forwarded_uri: str = ""
    forwarded_method: str = ""
    original_url: str = ""
    original_method: str = ""
    auth_request_redirect: str = ""
    sent_from: str = ""
    accept: str = ""
    requested_with: str = ""
    #: Envoy's ext_authz HTTP service: the request's own method and path (Envoy appends
    #: the original path to the check's path prefix); "" for the other proxies.
    envoy_method: str = ""

    def passes_answer_to_browser(self) -> bool:
        """Traefik, Caddy and Envoy hand a non-2xx answer to the browser as it is, so a
        browser needs a redirect; nginx and ingress-nginx turn anything but 401/403 into
        a 500 and do the redirect themselves."""
        if self.envoy_method:
            return True
        ingress = bool(self.original_method) or self.sent_from == "nginx-ingress-controller"
        return bool(self.forwarded_method or self.original_url) and not ingress

    def from_browser(self) -> bool:
        """A page load, not an API call or a script's XHR."""
        method = (
            self.envoy_method or self.forwarded_method or self.original_method or "GET"
        ).upper()
        return (
            method in ("GET", "HEAD")
            and "text/html" in self.accept.lower()
            and self.requested_with.lower() != "xmlhttprequest"
        )


@dataclass(frozen=True, slots=True)
class Site:
    """The site a proxied request is for: ``scheme://netloc`` and the URI it asked."""

    scheme: str
    netloc: str  # host[:port], as the browser addressed it
    uri: str = ""  # path and query at the site ("" when the proxy did not say)
    paths: tuple[str, ...] = ()  # every path the headers name (see resolve_site)

    @property
    def host(self) -> str:
        return _hostname(self.netloc)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.uri or '/'}"


def _hostname(netloc: str) -> str:
    try:
        return (urlsplit(f"//{netloc}").hostname or "").lower()
    except ValueError:
        return ""


# host[:port]: a name, IPv4 or [IPv6] literal; nothing a URL parser would read otherwise.
_NETLOC = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


def _first(value: str) -> str:
    """The first of a comma-joined header (a proxy chain appends)."""
    return value.split(",", 1)[0].strip()


def resolve_site(
    headers: ProxyHeaders,
    issuer_host: str,
    default_scheme: str,
    is_site: Callable[[str], bool],
) -> Site:
    """The site the request is about; ``AmbiguousSiteError`` when the headers disagree.
    ``is_site`` says whether a host name is one of the protected sites' (the cookie and
    redirect domains, the configured hosts)."""
    try:
        original = urlsplit(headers.original_url) if headers.original_url else None
        if original is not None:
            original.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise AmbiguousSiteError("X-Original-URL is not a URL") from None
    # Every X-Forwarded-Host value counts: a repeated or comma-joined header is no way
    # around the two-sites check.
    named = [headers.host, *(h.strip() for h in headers.forwarded_host.split(","))]
    if original is not None:
        named.append(original.netloc)
    sites = {
        _hostname(netloc): netloc
        for netloc in named
        if netloc and _hostname(netloc) != issuer_host and is_site(_hostname(netloc))
    }
    if len(sites) > 1:
        raise AmbiguousSiteError("the request names more than one site")
    if any(not _NETLOC.fullmatch(netloc) for netloc in named if netloc):
        raise AmbiguousSiteError("the request names a host that is not a host name")
    if sites:
        [netloc] = sites.values()
    elif original is not None and original.netloc:
        netloc = original.netloc  # ingress-nginx: Host is how it reached Passgate
    else:
        netloc = _first(headers.forwarded_host) or headers.host
    if not _hostname(netloc):
        raise AmbiguousSiteError("the request names no site")
    proto = _first(headers.forwarded_proto).lower()
    if original is not None and original.scheme in ("http", "https"):
        scheme = original.scheme
    elif proto in ("http", "https"):
        scheme = proto
    else:
        scheme = default_scheme
    return Site(scheme, netloc, _uri(headers, original), _paths(headers, original))


def _uri(headers: ProxyHeaders, original: SplitResult | None) -> str:
    uri = headers.forwarded_uri
    if not uri and original is not None:
        uri = original.path + (f"?{original.query}" if original.query else "")
    return uri if uri.startswith("/") else ""


def _paths(headers: ProxyHeaders, original: SplitResult | None) -> tuple[str, ...]:
    """Every path the headers name: a rule that lets a path skip the sign-in must let
    all of them, so a header the client added cannot claim a path the proxy did not."""
    found = [headers.forwarded_uri.partition("?")[0]]
    if original is not None:
        found.append(original.path)
    return tuple(dict.fromkeys(path for path in found if path))
