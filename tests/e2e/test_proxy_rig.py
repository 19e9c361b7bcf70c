"""The reverse-proxy rig (``e2e.proxies``) in front of a stub auth server, recorded.

A stub stands in for Passgate's forward-auth endpoints under the issuer path ``/dex``:
``/dex/oauth2/auth`` answers 202 with ``X-Auth-Request-User: jane``, ``-Email``,
``-Groups: a,b`` and a ``Set-Cookie`` for a request with cookie ``ok=1`` (403 when an
``allowed_groups`` in its query names neither group), otherwise 401 with a ``Set-Cookie``
of its own (or, to an ``Accept: text/html`` client, a 302 to :data:`LOGIN_URL`);
``/dex/oauth2/start`` redirects to :data:`LOGIN_URL`; ``/dex/oauth2/sign_in`` is a page.
The stub records what it received: that is the contract Passgate is built against.

What each proxy sent to the auth endpoint for ``GET|POST /dash/b?x=1&y=a%20b`` on
``<host>:<port>`` (recorded; "client headers" are every header of the browser's request,
``Cookie`` included, less hop-by-hop ones and ``Content-Length``; always a body-less GET):

* nginx ``auth_request`` (oauth2-proxy's documented config): ``GET /dex/oauth2/auth``, the
  query of ``auth_query`` only.
  ``Host: <host>:<port>`` (the rig's ``$http_host`` for the doc's ``$host``, which drops the
  port), ``X-Real-IP: 127.0.0.1``, ``X-Forwarded-Uri: /dash/b?x=1&y=a%20b`` (``$request_uri``:
  raw, with its query), ``Connection: close``, then the client headers.
  No ``X-Forwarded-Proto`` / ``-Host`` / ``-Method`` / ``-For``: whatever the *client* sent
  under those names (and ``X-Original-URL``, ``X-Auth-Request-Redirect``, ``X-Request-ID``
  and ``X-Sent-From``) reaches the auth endpoint unchanged.
* ingress-nginx (``nginx.tmpl``, ``auth-url`` / ``auth-signin``): ``GET /dex/oauth2/auth``,
  the auth-url's query only.
  ``X-Request-ID: <32 hex, or the client's X-Request-ID>``, ``Host: 127.0.0.1`` (the
  auth-url's host name, *not* the site's),
  ``X-Original-URL: http://<host>:<port>/dash/b?x=1&y=a%20b``,
  ``X-Original-Method: <the request's method>``, ``X-Sent-From: nginx-ingress-controller``,
  ``X-Real-IP: 127.0.0.1``, ``X-Forwarded-For: 127.0.0.1``,
  ``X-Auth-Request-Redirect: /dash/b?x=1&y=a%20b``, ``Connection: close``, then the client
  headers less ``X-Forwarded-Proto`` (cleared). A client's ``X-Forwarded-Host`` / ``-Uri`` /
  ``-Method`` reach the auth endpoint unchanged.
* Caddy ``forward_auth`` (2.6.2): ``GET /dex/oauth2/auth`` with the *original request's
  query* when ``uri`` has none (``?x=1&y=a%20b``), the ``uri``'s query when it has one.
  ``Host: <host>:<port>``, the client headers, ``X-Forwarded-For: 127.0.0.1``,
  ``X-Forwarded-Host: <host>:<port>``, ``X-Forwarded-Method: <the request's method>``,
  ``X-Forwarded-Proto: http``, ``X-Forwarded-Uri: /dash/b?x=1&y=a%20b``,
  ``X-Real-IP: 127.0.0.1`` (oauth2-proxy's ``header_up``); HTTP/1.1 keep-alive. Caddy
  replaces the client's ``X-Forwarded-*``; a client's ``X-Original-URL``,
  ``X-Auth-Request-Redirect``, ``X-Request-ID`` and ``X-Sent-From`` reach the auth endpoint
  unchanged.

And what came back: nginx takes 2xx as allowed, 401 and 403 as denied, anything else (a
302 too) as a 500; Caddy passes every non-2xx answer, body and ``Set-Cookie`` included, to
the client. ``Set-Cookie`` of a 2xx reaches the browser through nginx and ingress-nginx,
never through Caddy; that of a 401 only through ingress-nginx's sign-in redirect (and
Caddy's plain pass-through).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from e2e.proxies import (
    CaddyProxy,
    EchoSite,
    LoopbackTransport,
    NginxProxy,
    ReceivedRequest,
    ServerThread,
    Site,
)

pytestmark = [pytest.mark.slow]

LOGIN_URL = "http://login.apps.test/authorize?state=stub"
SESSION_COOKIE = "_passgate=refreshed; Path=/; HttpOnly"
CSRF_COOKIE = "_passgate_csrf=c1; Path=/"
USER_HEADERS = {
    "x-auth-request-user": "jane",
    "x-auth-request-email": "jane@example.com",
    "x-auth-request-groups": "a,b",
}
PATH = "/dash/b?x=1&y=a%20b"
#: What makes the stub answer 202.
SIGNED_IN = {"Cookie": "ok=1"}
#: ``set_escape_uri`` of PATH, as ingress-nginx puts it after ``rd=``.
ESCAPED_PATH = "%2Fdash%2Fb%3Fx%3D1%26y%3Da%2520b"
#: What ``Caddy 2.6.2`` ``copy_headers`` sets when the auth answer lacks the header
#: (caddyserver/caddy#6610, fixed in later releases).
CADDY_PLACEHOLDER = "{{http.reverse_proxy.header.{}}}"


class StubAuth(ServerThread):
    """A stand-in for Passgate's forward-auth endpoints; :attr:`requests` records them."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []

        async def auth(request: Request) -> Response:
            self.requests.append(ReceivedRequest.of(request))
            if request.cookies.get("ok") == "1":
                wanted = request.query_params.get("allowed_groups")
                if wanted and not set(wanted.split(",")) & {"a", "b"}:
                    return PlainTextResponse("stub: not in allowed_groups", 403)
                headers = {k.title(): v for k, v in USER_HEADERS.items()}
                return Response(status_code=202, headers=headers | {"Set-Cookie": SESSION_COOKIE})
            if "text/html" in request.headers.get("accept", ""):
                return Response(status_code=302, headers={"Location": LOGIN_URL})
            return PlainTextResponse("stub: no session", 401, headers={"Set-Cookie": CSRF_COOKIE})

        async def start(request: Request) -> Response:
            self.requests.append(ReceivedRequest.of(request))
            return Response(status_code=302, headers={"Location": LOGIN_URL})

        async def sign_in(request: Request) -> Response:
            self.requests.append(ReceivedRequest.of(request))
            return PlainTextResponse("stub: sign-in page")

        super().__init__(
            Starlette(
                routes=[
                    Route("/dex/oauth2/auth", auth),
                    Route("/dex/oauth2/start", start),
                    Route("/dex/oauth2/sign_in", sign_in),
                ]
            ),
            name="stub-auth",
        )

    def only(self, path: str) -> ReceivedRequest:
        """The one request the stub received, which must be for ``path``."""
        assert [r.path for r in self.requests] == [path], self.requests
        return self.requests[0]


@dataclass
class Rig:
    stub: StubAuth
    echo: EchoSite
    nginx: NginxProxy
    caddy: CaddyProxy
    http: httpx.Client

    def proxy(self, host: str) -> NginxProxy | CaddyProxy:
        return self.caddy if host.startswith("caddy") else self.nginx

    def url(self, host: str, path: str = PATH) -> str:
        return self.proxy(host).url(host, path)

    def origin(self, host: str) -> str:
        return self.proxy(host).origin(host)


@pytest.fixture(scope="module")
def rig(
    nginx_binary: str, caddy_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    """One stub, one echo site, one nginx (all its flavours) and one Caddy for the module."""
    root: Path = tmp_path_factory.mktemp("proxy-rig")
    with StubAuth() as stub, EchoSite() as echo:
        issuer = f"{stub.url}/dex"
        admins = "allowed_groups=admins"
        nginx_sites = [
            Site("plain.apps.test", echo.url),
            Site("legacy.apps.test", echo.url, on_401="sign_in_403"),
            Site("plain-admins.apps.test", echo.url, auth_query=admins),
            Site("ingress.apps.test", echo.url, flavour="ingress-nginx"),
            Site("ingress-admins.apps.test", echo.url, flavour="ingress-nginx", auth_query=admins),
        ]
        caddy_sites = [
            Site("caddy.apps.test", echo.url),
            Site("caddy-signin.apps.test", echo.url, on_401="sign_in"),
            Site("caddy-admins.apps.test", echo.url, auth_query=admins),
        ]
        nginx = NginxProxy(root / "nginx", issuer, nginx_sites, binary=nginx_binary)
        caddy = CaddyProxy(root / "caddy", issuer, caddy_sites, binary=caddy_binary)
        with nginx, caddy, httpx.Client(transport=LoopbackTransport(), timeout=10) as http:
            yield Rig(stub, echo, nginx, caddy, http)


@pytest.fixture
def proxies(rig: Rig) -> Rig:
    """The rig with empty recordings and no cookies."""
    rig.stub.requests.clear()
    rig.echo.requests.clear()
    rig.http.cookies.clear()
    return rig


def sent_by_client(response: httpx.Response, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The end-to-end headers of the client's request, as the auth endpoint receives them."""
    hop = ("host", "connection", "content-length", *drop)
    return {k: v for k, v in response.request.headers.items() if k not in hop}


def as_dict(received: ReceivedRequest) -> dict[str, str]:
    assert len(set(received.header_names)) == len(received.headers), received.headers
    return dict(received.headers)


# -- what the auth endpoint receives ----------------------------------------------------------
def test_nginx_auth_request_sends_the_documented_headers(proxies: Rig) -> None:
    host = "plain.apps.test"
    response = proxies.http.get(proxies.url(host), headers=SIGNED_IN)
    auth = proxies.stub.only("/dex/oauth2/auth")
    assert (auth.method, auth.query) == ("GET", "")
    assert as_dict(auth) == {
        "host": proxies.nginx.host_header(host),
        "x-real-ip": "127.0.0.1",
        "x-forwarded-uri": PATH,
        "connection": "close",
        **sent_by_client(response),
    }


def test_ingress_nginx_sends_the_template_headers(proxies: Rig) -> None:
    host = "ingress.apps.test"
    response = proxies.http.post(
        proxies.url(host),
        content=b"a body",
        headers=SIGNED_IN | {"X-Forwarded-Proto": "x"},
    )
    auth = proxies.stub.only("/dex/oauth2/auth")
    assert (auth.method, auth.query) == ("GET", "")
    headers = as_dict(auth)
    assert re.fullmatch(r"[0-9a-f]{32}", headers.pop("x-request-id"))
    assert headers == {
        "host": "127.0.0.1",
        "x-original-url": f"{proxies.origin(host)}{PATH}",
        "x-original-method": "POST",
        "x-sent-from": "nginx-ingress-controller",
        "x-real-ip": "127.0.0.1",
        "x-forwarded-for": "127.0.0.1",
        "x-auth-request-redirect": PATH,
        "connection": "close",
        **sent_by_client(response, drop=("x-forwarded-proto",)),
    }


def test_caddy_forward_auth_sends_x_forwarded_headers(proxies: Rig) -> None:
    host = "caddy.apps.test"
    response = proxies.http.post(proxies.url(host), headers=SIGNED_IN, content=b"a body")
    auth = proxies.stub.only("/dex/oauth2/auth")
    # forward_auth's `uri` has no query, so Caddy keeps the request's own.
    assert (auth.method, auth.query) == ("GET", "x=1&y=a%20b")
    assert as_dict(auth) == {
        "host": proxies.caddy.host_header(host),
        **sent_by_client(response),
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-host": proxies.caddy.host_header(host),
        "x-forwarded-method": "POST",
        "x-forwarded-proto": "http",
        "x-forwarded-uri": PATH,
        "x-real-ip": "127.0.0.1",
    }


@pytest.mark.parametrize(
    "host", ["plain-admins.apps.test", "ingress-admins.apps.test", "caddy-admins.apps.test"]
)
def test_the_auth_url_query_reaches_the_auth_endpoint(proxies: Rig, host: str) -> None:
    proxies.http.get(proxies.url(host, "/?allowed_groups=a"), headers=SIGNED_IN)
    # The configured query, never the client's (Caddy replaces it when `uri` has one).
    assert proxies.stub.only("/dex/oauth2/auth").query == "allowed_groups=admins"


SPOOFED = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Uri": "/evil",
    "X-Forwarded-Method": "DELETE",
    "X-Forwarded-For": "203.0.113.6",
    "X-Real-IP": "203.0.113.6",
    "X-Original-URL": "http://evil.example/",
    "X-Auth-Request-Redirect": "http://evil.example/",
    "X-Request-ID": "evil",
    "X-Sent-From": "evil",
}


@pytest.mark.parametrize(
    ("host", "passed"),
    [
        # Names each proxy does not set itself reach the auth endpoint as the client sent them.
        (
            "plain.apps.test",
            {
                "x-forwarded-host",
                "x-forwarded-proto",
                "x-forwarded-method",
                "x-forwarded-for",
                "x-original-url",
                "x-auth-request-redirect",
                "x-request-id",
                "x-sent-from",
            },
        ),
        (
            "ingress.apps.test",
            {"x-forwarded-host", "x-forwarded-uri", "x-forwarded-method", "x-request-id"},
        ),
        (
            "caddy.apps.test",
            {"x-original-url", "x-auth-request-redirect", "x-request-id", "x-sent-from"},
        ),
    ],
)
def test_client_sent_forwarding_headers_that_reach_the_auth_endpoint(
    proxies: Rig, host: str, passed: set[str]
) -> None:
    proxies.http.get(proxies.url(host), headers=SPOOFED)
    auth = as_dict(proxies.stub.only("/dex/oauth2/auth"))
    spoofed = {k.lower(): v for k, v in SPOOFED.items()}
    assert {k for k, v in spoofed.items() if auth.get(k) == v} == passed


# -- anonymous requests -----------------------------------------------------------------------
def test_nginx_sends_anonymous_requests_to_sign_in(proxies: Rig) -> None:
    """oauth2-proxy's recommended ``error_page 401 = @oauth2_signin``: a 302 to
    ``/oauth2/sign_in?rd=<scheme://host/uri>`` (``rd`` unescaped, as documented), and the
    401's ``Set-Cookie`` is lost (the named location has no ``add_header``)."""
    host = "plain.apps.test"
    response = proxies.http.get(proxies.url(host))
    origin = proxies.origin(host)
    assert response.status_code == 302
    assert response.headers["location"] == f"{origin}/oauth2/sign_in?rd={origin}{PATH}"
    assert "set-cookie" not in response.headers
    proxies.stub.only("/dex/oauth2/auth")
    assert proxies.echo.requests == []


def test_nginx_legacy_403_shows_the_sign_in_page(proxies: Rig) -> None:
    """The older documented ``error_page 401 =403 /oauth2/sign_in;``: the stub's sign-in
    page, with status 403, fetched by an internal redirect (its X-Auth-Request-Redirect is
    the original URI)."""
    host = "legacy.apps.test"
    response = proxies.http.get(proxies.url(host))
    assert (response.status_code, response.text) == (403, "stub: sign-in page")
    assert "set-cookie" not in response.headers
    auth, sign_in = proxies.stub.requests
    assert (auth.path, sign_in.path) == ("/dex/oauth2/auth", "/dex/oauth2/sign_in")
    assert sign_in.header("host") == proxies.nginx.host_header(host)
    assert sign_in.header("x-auth-request-redirect") == PATH


def test_ingress_nginx_redirects_to_auth_signin_with_the_escaped_uri(proxies: Rig) -> None:
    host = "ingress.apps.test"
    response = proxies.http.get(proxies.url(host))
    assert response.status_code == 302
    assert response.headers["location"] == f"{proxies.origin(host)}/oauth2/start?rd={ESCAPED_PATH}"
    # ingress-nginx's sign-in location passes the 401's Set-Cookie on.
    assert response.headers.get_list("set-cookie") == [CSRF_COOKIE]
    proxies.stub.only("/dex/oauth2/auth")


def test_caddy_passes_the_auth_answer_unchanged(proxies: Rig) -> None:
    url = proxies.url("caddy.apps.test")
    response = proxies.http.get(url)
    assert (response.status_code, response.text) == (401, "stub: no session")
    assert response.headers.get_list("set-cookie") == [CSRF_COOKIE]
    browser = proxies.http.get(url, headers={"Accept": "text/html"})
    assert (browser.status_code, browser.headers["location"]) == (302, LOGIN_URL)
    assert proxies.echo.requests == []


def test_caddy_oauth2_proxy_shape_redirects_to_sign_in(proxies: Rig) -> None:
    """oauth2-proxy's Caddy page: ``handle_response`` on 401 → 302 to ``/oauth2/sign_in``
    (a relative Location; the 401's headers, ``Set-Cookie`` too, are dropped)."""
    host = "caddy-signin.apps.test"
    response = proxies.http.get(proxies.url(host))
    assert response.status_code == 302
    assert response.headers["location"] == f"/oauth2/sign_in?rd={proxies.origin(host)}{PATH}"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("host", ["plain.apps.test", "ingress.apps.test"])
def test_nginx_turns_a_redirecting_auth_answer_into_500(proxies: Rig, host: str) -> None:
    """``auth_request`` knows only 2xx, 401 and 403: the auth endpoint must not answer
    nginx with a 302, even to a browser."""
    response = proxies.http.get(proxies.url(host), headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert proxies.stub.only("/dex/oauth2/auth").header("accept") == "text/html"


@pytest.mark.parametrize(
    ("host", "body"),
    [
        ("plain-admins.apps.test", "403 Forbidden"),
        ("ingress-admins.apps.test", "403 Forbidden"),
        ("caddy-admins.apps.test", "stub: not in allowed_groups"),
    ],
)
def test_forbidden_stays_403(proxies: Rig, host: str, body: str) -> None:
    response = proxies.http.get(proxies.url(host), headers=SIGNED_IN)
    assert response.status_code == 403
    assert body in response.text
    assert proxies.echo.requests == []


# -- signed-in requests -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "extra", "cookies"),
    [
        # The documented X-User / X-Email, then the rig's response headers.
        ("plain.apps.test", {"x-user": "jane", "x-email": "jane@example.com"}, [SESSION_COOKIE]),
        ("ingress.apps.test", {"x-forwarded-host": "ingress.apps.test"}, [SESSION_COOKIE]),
        # forward_auth copies headers into the request, never Set-Cookie into the response.
        ("caddy.apps.test", {"x-forwarded-host": "caddy.apps.test"}, []),
    ],
)
def test_signed_in_requests_reach_the_site_with_the_user(
    proxies: Rig, host: str, extra: dict[str, str], cookies: list[str]
) -> None:
    response = proxies.http.get(proxies.url(host), headers=SIGNED_IN)
    assert response.status_code == 200
    echoed = response.json()
    assert (echoed["method"], echoed["path"], echoed["query"]) == ("GET", "/dash/b", "x=1&y=a%20b")
    port = f":{proxies.proxy(host).port}"
    expected = {k: v + port if k == "x-forwarded-host" else v for k, v in extra.items()}
    assert echoed["headers"].items() >= (USER_HEADERS | expected).items()
    assert response.headers.get_list("set-cookie") == cookies


@pytest.mark.parametrize("host", ["plain.apps.test", "ingress.apps.test", "caddy.apps.test"])
def test_identity_headers_the_auth_answer_omits_are_not_the_clients(
    proxies: Rig, host: str
) -> None:
    """The stub sends no ``X-Auth-Request-Preferred-Username`` / ``Authorization``: nginx
    drops the client's (an empty ``proxy_set_header`` sends nothing); Debian's Caddy 2.6.2
    sets the literal placeholder instead (caddyserver/caddy#6610): Passgate should send
    every header a site may copy."""
    forged = {"X-Auth-Request-Preferred-Username": "mallory", "Authorization": "Bearer forged"}
    response = proxies.http.get(proxies.url(host), headers=SIGNED_IN | forged)
    echoed = response.json()["headers"]
    assert echoed["x-auth-request-user"] == "jane"
    for name in forged:
        assert echoed.get(name.lower()) in (None, CADDY_PLACEHOLDER.format(name))


# -- /oauth2/* on the site's host -------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "forwarded"),
    [
        ("plain.apps.test", {"x-auth-request-redirect": "/oauth2/start?rd=%2Fdash"}),
        ("ingress.apps.test", {"x-forwarded-host": "{host}", "x-forwarded-proto": "http"}),
        (
            "caddy.apps.test",
            {"x-forwarded-host": "{host}", "x-forwarded-uri": "/oauth2/start?rd=%2Fdash"},
        ),
    ],
)
def test_oauth2_start_on_the_site_host_reaches_the_auth_server(
    proxies: Rig, host: str, forwarded: dict[str, str]
) -> None:
    response = proxies.http.get(proxies.url(host, "/oauth2/start?rd=%2Fdash"))
    assert (response.status_code, response.headers["location"]) == (302, LOGIN_URL)
    start = proxies.stub.only("/dex/oauth2/start")
    host_header = proxies.proxy(host).host_header(host)
    assert (start.query, start.header("host")) == ("rd=%2Fdash", host_header)
    for name, value in forwarded.items():
        assert start.header(name) == value.format(host=host_header)
