"""Forward-auth end to end: a real ``passgate serve`` (SQLite) as the auth server of
Debian's real nginx (oauth2-proxy's documented ``auth_request`` config, and what
ingress-nginx generates for ``auth-url``/``auth-signin``) and Caddy (``forward_auth``), in
front of echo sites that show what the proxy passed on.

One person signs in once, through the proxies' own redirects, and every ``*.apps.test``
site opens with the identity headers; a site restricted to a group the person lacks is
403; signing out through one site, an admin ending the browser session (also through
another replica behind the same nginx), or the person's deletion (at the next refresh)
closes every site; what a client can send (bad, foreign, expired, huge or repeated
cookies; open redirects) is a sign-in or a refusal, never a 500.

Chromium (Playwright, its own cookie jar) runs the nginx flow once; the rest uses httpx
with the rig's loopback transport. Sites: ``grafana``, ``wiki`` and the restricted
``vault`` below ``.apps.test``, per proxy.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import httpx
import pytest
from playwright.sync_api import Page, Request, sync_playwright

from e2e.forward_auth_rig import (
    BROWSER_ACCEPT,
    COOKIE,
    LOGIN_PATH,
    Admin,
    BalancedNginx,
    Visitor,
    forward_auth_sections,
    request_count,
)
from e2e.proxies import (
    DEFAULT_RESPONSE_HEADERS,
    CaddyProxy,
    EchoSite,
    LoopbackTransport,
    NginxProxy,
    Site,
)
from e2e.support import Launcher, PassgateServer
from pages.conftest import CHROMIUM_ARGS as PAGE_CHROMIUM_ARGS
from passgate.forwardauth.seal import Sealer

pytestmark = [pytest.mark.slow]

GRAFANA, WIKI, VAULT = "grafana.apps.test", "wiki.apps.test", "vault.apps.test"
INGRESS = ("grafana-ingress.apps.test", "wiki-ingress.apps.test", "vault-ingress.apps.test")
CADDY = ("grafana-caddy.apps.test", "wiki-caddy.apps.test", "vault-caddy.apps.test")
CADDY_HEADERS = (
    *(h for h in DEFAULT_RESPONSE_HEADERS if h != "Authorization"),
    "X-Auth-Request-Access-Token",
)
#: The group the restricted sites want; the test user is in platform-admins, developers.
AUDITORS = "auditors"
RESTRICTED = (VAULT, INGRESS[2], CADDY[2])
REFRESH_S = 2.0
SHORT_LIFETIME_S = 3
#: The route label of /oauth2/auth in passgate_http_requests_total.
AUTH_ENDPOINT = "/oauth2/auth"
#: The page tests' Chromium flags, and every *.apps.test host on loopback.
CHROMIUM_ARGS = [
    *PAGE_CHROMIUM_ARGS,
    "--no-proxy-server",
    "--host-resolver-rules=MAP *.apps.test 127.0.0.1",
]


# -- the rig ----------------------------------------------------------------------------------
@dataclass
class Stack:
    """One Passgate, one echo site, one nginx (both flavours) and one Caddy."""

    root: Path
    launcher: Launcher
    passgate: PassgateServer
    echo: EchoSite
    nginx: NginxProxy
    caddy: CaddyProxy

    @property
    def admin(self) -> Admin:
        return Admin(self.passgate)

    @property
    def credentials(self) -> tuple[str, str]:
        return self.passgate.user.email, self.passgate.user.password

    def proxy(self, host: str) -> NginxProxy | CaddyProxy:
        return self.caddy if host in CADDY else self.nginx

    def origin(self, host: str) -> str:
        return self.proxy(host).origin(host)

    def url(self, host: str, path: str = "/dash") -> str:
        return self.proxy(host).url(host, path)


def start(server: PassgateServer) -> None:
    anyio.run(server.start)


@pytest.fixture(scope="module")
def stack(
    nginx_binary: str, caddy_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("forward-auth")
    launcher = Launcher(root / "passgate")
    try:
        passgate = launcher.new()
        passgate.extra = forward_auth_sections(RESTRICTED, group=AUDITORS)
        passgate.write_config()
        start(passgate)
        with EchoSite() as echo:
            nginx_sites = [Site(host, echo.url) for host in (GRAFANA, WIKI, VAULT)] + [
                Site(host, echo.url, flavour="ingress-nginx") for host in INGRESS
            ]
            # passAuthorization is off: Caddy copies what Passgate sends (README).
            caddy_sites = [Site(host, echo.url, response_headers=CADDY_HEADERS) for host in CADDY]
            nginx = NginxProxy(root / "nginx", passgate.issuer, nginx_sites, binary=nginx_binary)
            caddy = CaddyProxy(root / "caddy", passgate.issuer, caddy_sites, binary=caddy_binary)
            with nginx, caddy:
                yield Stack(root, launcher, passgate, echo, nginx, caddy)
    finally:
        launcher.close()


def identity_headers(stack: Stack) -> dict[str, str]:
    """What the site must receive about the test user (oauth2-proxy's names)."""
    user = stack.passgate.user
    return {
        "x-auth-request-user": user.email,  # userClaim: email (the default)
        "x-auth-request-email": user.email,
        "x-auth-request-groups": ",".join(user.groups),
        "x-auth-request-preferred-username": user.username,
    }


def cookie_values(echoed: dict[str, Any]) -> list[str]:
    """The forward-auth cookies in the Cookie header the site received."""
    header = echoed["headers"].get("cookie", "")
    found = [part.strip().partition("=") for part in header.split(";")]
    return [value for name, _, value in found if name == COOKIE]


def signed_in(stack: Stack, host: str = GRAFANA) -> Visitor:
    """A new browser (cookie jar) that signed in at ``host``'s proxy."""
    visitor = Visitor(stack.credentials)
    visit = visitor.get(stack.url(host))
    assert (visit.status, visit.prompts) == (200, 1), (visit.status, visit.hops)
    visitor.credentials = None  # from now on a password form is where a visit ends
    return visitor


# -- 1. nginx auth_request, in Chromium -------------------------------------------------------
class Tab:
    """A Chromium page with a cookie jar of its own that records every top-level
    navigation request (redirect hops included)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.navigations: list[str] = []
        self.forms_shown = 0
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        if request.is_navigation_request() and request.frame.parent_frame is None:
            self.navigations.append(request.url)
            if request.method == "GET" and urlsplit(request.url).path == LOGIN_PATH:
                self.forms_shown += 1

    def open(self, url: str, referer: str | None = None) -> tuple[int, dict[str, Any] | None]:
        """Load ``url``: its status and, for the echo site's answer, what it received."""
        response = self.page.goto(url, referer=referer)
        assert response is not None
        if response.status == 200 and urlsplit(self.page.url).path != LOGIN_PATH:
            body: dict[str, Any] = response.json()
            return 200, body
        return response.status, None

    def at_login(self) -> bool:
        return urlsplit(self.page.url).path == LOGIN_PATH

    def sign_in(self, email: str, password: str, back_to: str) -> dict[str, Any]:
        """Fill in the password form shown now; the site's answer once back at it."""
        assert self.at_login(), self.page.url
        self.page.fill("#login", email)
        self.page.fill("#password", password)
        with self.page.expect_navigation(url=lambda u: u.startswith(back_to)) as navigation:
            self.page.click("#submit-login")
        response = navigation.value
        assert response is not None
        assert response.status == 200, (response.status, self.navigations)
        body: dict[str, Any] = response.json()
        return body


def test_nginx_auth_request_in_chromium(stack: Stack, chromium_path: str) -> None:
    """oauth2-proxy's nginx config: one password form for every site, the identity
    headers at the sites, 403 for the restricted one; sign-out at one site closes both;
    an admin ending the browser session closes both within a second."""
    email, password = stack.credentials
    grafana, wiki = stack.url(GRAFANA), stack.url(WIKI, "/page")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(15_000)
            tab = Tab(context.new_page())
            # A first visit: nginx's 401 page → /oauth2/sign_in → Passgate's form.
            status, _ = tab.open(grafana)
            assert (status, tab.at_login()) == (200, True), tab.navigations
            hops = [urlsplit(url) for url in tab.navigations]
            assert (hops[0].netloc, hops[0].path) == (stack.nginx.host_header(GRAFANA), "/dash")
            assert (hops[1].netloc, hops[1].path) == (
                stack.nginx.host_header(GRAFANA),
                "/oauth2/sign_in",
            )
            assert parse_qs(hops[1].query)["rd"] == [grafana]
            echoed = tab.sign_in(email, password, grafana)
            assert echoed["path"] == "/dash"
            expected = identity_headers(stack)
            assert echoed["headers"].items() >= expected.items()
            # oauth2-proxy's documented X-User / X-Email lines as well.
            assert echoed["headers"]["x-user"] == email
            assert echoed["headers"]["x-email"] == email
            assert "authorization" not in echoed["headers"]  # passAuthorization is off
            # The cookie as Chromium keeps it: one, for the whole domain, HttpOnly, Lax.
            [cookie] = [c for c in context.cookies() if c["name"] == COOKIE]
            assert cookie["domain"] == ".apps.test"
            assert (cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == ("/", True, "Lax")
            assert email not in cookie["value"]
            assert cookie_values(echoed) == [cookie["value"]]
            # The sign-in's own cookie (nonce and PKCE verifier) is gone again.
            names = {c["name"] for c in context.cookies()}
            assert not [n for n in names if n.startswith(f"{COOKIE}_csrf")], names
            # The other site: no second password form, the same cookie sent to it.
            status, at_wiki = tab.open(wiki)
            assert status == 200
            assert at_wiki is not None
            assert at_wiki["path"] == "/page"
            assert at_wiki["headers"].items() >= expected.items()
            assert cookie_values(at_wiki) == [cookie["value"]]
            assert tab.forms_shown == 1
            # The site the person's groups do not open.
            assert tab.open(stack.url(VAULT))[0] == 403
            assert tab.forms_shown == 1

            # Sign-out through the wiki ends both: the next visit to either is a sign-in.
            bye = stack.url(WIKI, "/bye")
            # The wiki's own "sign out" link (a same-origin Referer: plain http sends no
            # Fetch Metadata).
            tab.open(stack.url(WIKI, f"/oauth2/sign_out?rd={quote(bye, safe='')}"),
                     referer=stack.url(WIKI, "/page"))  # fmt: skip
            assert tab.at_login(), tab.navigations
            assert [c for c in context.cookies() if c["name"] == COOKIE] == []
            assert bye in tab.navigations
            tab.open(grafana)
            assert tab.at_login()
            assert tab.forms_shown == 3

            # Signed in again (the password form again: the session ended)...
            echoed = tab.sign_in(email, password, grafana)
            assert echoed["headers"].items() >= expected.items()
            assert tab.open(wiki)[0] == 200
            [cookie] = [c for c in context.cookies() if c["name"] == COOKIE]
            sid = cookie["value"].split(".")[0]
            assert sid in stack.admin.browser_session_ids()
            # ... and an admin ends the browser session: both sites close at once.
            began = time.monotonic()
            stack.admin.call("DELETE", f"/browser-sessions/{sid}", status=204)
            closed = until_closed(lambda: [refused_in(tab, url) for url in (grafana, wiki)])
            delay = closed - began
            print(f"\nadmin revocation, Chromium through nginx (one replica): {delay:.3f} s")
            assert delay < 1.0
            assert sid not in stack.admin.browser_session_ids()
        finally:
            browser.close()


def refused_in(tab: Tab, url: str) -> bool:
    tab.open(url)
    return tab.at_login()


def until_closed(probe: Callable[[], list[bool]], limit: float = 5.0) -> float:
    """Run ``probe`` until every answer is True (the sites refuse); when that was."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all(probe()):
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"still open after {limit} s")


# -- 1b. the password database user deleted ---------------------------------------------------
def test_deleted_user_is_refused_at_the_refresh_not_before(stack: Stack) -> None:
    """A person the password database no longer has keeps the sites until forward-auth
    asks the connector again (refreshInterval: 2s after the sign-in), and loses every
    site then: the browser session is ended as the upstream's refusal."""
    email, password = f"kim-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    body = {"email": email, "password": password, "groups": ["developers"]}
    stack.admin.call("POST", "/users", status=201, json=body)
    with Visitor((email, password)) as visitor:
        visit = visitor.get(stack.url(GRAFANA))
        assert (visit.status, visit.prompts) == (200, 1), visit.hops
        assert visit.echoed()["headers"]["x-auth-request-email"] == email
        visitor.credentials = None
        sid = (visitor.cookie() or "").split(".")[0]
        stack.admin.call("DELETE", f"/users/{email}", status=204)
        seen: list[tuple[float, bool]] = []  # (seconds after the sign-in, refused)
        while True:
            visit = visitor.get(stack.url(WIKI if len(seen) % 2 else GRAFANA))
            after = time.monotonic() - visitor.signed_in_at
            assert visit.status == 200, (visit.status, visit.hops)
            refused = visit.at_login
            if not refused:
                assert visit.echoed()["headers"]["x-auth-request-email"] == email
            seen.append((after, refused))
            if refused or after > REFRESH_S + 3:
                break
            time.sleep(0.1)
        first_open, _ = seen[0]
        refused_after, refused = seen[-1]
        print(f"\nuser deleted: refused {refused_after:.3f} s after the sign-in ({REFRESH_S} s)")
        assert first_open < REFRESH_S - 0.5, "too slow to see the sites open before the refresh"
        assert [r for _, r in seen[:-1]] == [False] * (len(seen) - 1)
        assert refused, seen
        assert REFRESH_S <= refused_after < REFRESH_S + 1.0, seen
        for host in (GRAFANA, WIKI):
            assert visitor.get(stack.url(host)).at_login, host
    ended = stack.admin.call("GET", f"/browser-sessions/{sid}", status=200)
    assert ended["revoked_by"] == "upstream"
    assert ended["revoked_at"]


# -- 2. ingress-nginx ---------------------------------------------------------------------------
def test_ingress_nginx_auth_url_and_auth_signin(stack: Stack) -> None:
    """The generated config: Passgate's 401 becomes ingress-nginx's 302 to auth-signin
    (``/oauth2/start`` on the site, ``rd`` the escaped URI); one sign-in opens both sites
    with the identity headers (``auth-response-headers``); the restricted one is 403."""
    grafana, wiki, vault = INGRESS
    with Visitor(stack.credentials) as visitor:
        first = visitor.http.get(stack.url(grafana, "/dash?x=1"))
        assert first.status_code == 302
        origin = stack.origin(grafana)
        assert first.headers["location"] == f"{origin}/oauth2/start?rd=%2Fdash%3Fx%3D1"
        visit = visitor.get(stack.url(grafana, "/dash?x=1"))
        assert (visit.prompts, visit.url) == (1, f"{origin}/dash?x=1"), visit.hops
        echoed = visit.echoed()
        assert (echoed["path"], echoed["query"]) == ("/dash", "x=1")
        assert echoed["headers"].items() >= identity_headers(stack).items()
        assert visitor.http.cookies.get(COOKIE, domain=".apps.test")
        visitor.credentials = None
        other = visitor.get(stack.url(wiki, "/page"))
        assert (other.status, other.prompts, len(other.hops)) == (200, 0, 1)
        assert other.echoed()["headers"].items() >= identity_headers(stack).items()
        reached = len(stack.echo.requests)
        forbidden = visitor.get(stack.url(vault))
        assert forbidden.status == 403
        assert "403 Forbidden" in forbidden.response.text  # nginx's own page
        assert len(stack.echo.requests) == reached


# -- 3. Caddy forward_auth ----------------------------------------------------------------------
def test_caddy_forward_auth(stack: Stack) -> None:
    """Caddy hands the auth answer to the browser: Passgate itself answers a page load
    with a 302 to ``/oauth2/start`` on the site, and an API call with 401. One sign-in
    opens both sites, the restricted one is 403, a sign-out through one closes both."""
    grafana, wiki, vault = CADDY
    api = {"Accept": "application/json"}
    with Visitor(stack.credentials) as visitor:
        assert visitor.http.get(stack.url(grafana), headers=api).status_code == 401
        first = visitor.http.get(stack.url(grafana, "/dash?x=1"))
        assert first.status_code == 302
        location = urlsplit(first.headers["location"])
        assert f"{location.scheme}://{location.netloc}" == stack.origin(grafana)
        assert location.path == "/oauth2/start"
        assert parse_qs(location.query)["rd"] == [stack.url(grafana, "/dash?x=1")]
        visit = visitor.get(stack.url(grafana, "/dash?x=1"))
        assert (visit.status, visit.prompts) == (200, 1), visit.hops
        echoed = visit.echoed()
        assert (echoed["path"], echoed["query"]) == ("/dash", "x=1")
        assert echoed["headers"].items() >= identity_headers(stack).items()
        visitor.credentials = None
        for host in (grafana, wiki):
            again = visitor.get(stack.url(host, "/page"))
            assert (again.status, again.prompts, len(again.hops)) == (200, 0, 1)
            assert again.echoed()["headers"]["host"] == stack.caddy.host_header(host)
            assert visitor.http.get(stack.url(host), headers=api).status_code == 200
        forbidden = visitor.get(stack.url(vault))
        assert (forbidden.status, len(forbidden.hops)) == (403, 1)
        # Sign-out through the wiki: both sites ask for a sign-in again.
        bye = stack.url(wiki, "/bye")
        out = visitor.get(stack.url(wiki, f"/oauth2/sign_out?rd={quote(bye, safe='')}"),
                          headers={"Referer": stack.url(wiki, "/page")})  # fmt: skip
        assert out.hops[1] == bye
        assert out.at_login, out.hops
        assert visitor.cookie() is None
        for host in (grafana, wiki):
            assert visitor.get(stack.url(host)).at_login
            assert visitor.http.get(stack.url(host), headers=api).status_code == 401


# -- 4. two replicas behind one nginx ------------------------------------------------------------
@dataclass
class Replicas:
    a: PassgateServer
    b: PassgateServer
    nginx: BalancedNginx


@pytest.fixture(scope="module")
def replicas(stack: Stack, nginx_binary: str) -> Iterator[Replicas]:
    """A second process on the same SQLite file, and an nginx whose auth server is an
    ``upstream`` of both (round robin)."""
    b = stack.launcher.replica(stack.passgate)
    start(b)
    sites = [Site(host, stack.echo.url) for host in (GRAFANA, WIKI)]
    nginx = BalancedNginx(stack.root / "balanced", [stack.passgate, b], sites, binary=nginx_binary)
    try:
        with nginx:
            yield Replicas(stack.passgate, b, nginx)
    finally:
        b.stop()


def test_revocation_on_one_replica_is_honoured_by_the_other(
    stack: Stack, replicas: Replicas
) -> None:
    """nginx balances the auth requests over replicas A and B; an admin ends the browser
    session through A; requests nginx sends to B are refused within a second."""
    nginx = replicas.nginx
    visitor = Visitor(stack.credentials)
    with visitor:
        # Signing in through both replicas (the steps alternate): state is in storage.
        visit = visitor.get(nginx.url(GRAFANA, "/dash"))
        assert (visit.status, visit.prompts) == (200, 1), visit.hops
        visitor.credentials = None
        urls = [nginx.url(GRAFANA, "/dash"), nginx.url(WIKI, "/page")]
        b_open = request_count(replicas.b, AUTH_ENDPOINT, "202")
        for url in urls * 3:
            assert visitor.http.get(url).status_code == 200
        assert request_count(replicas.b, AUTH_ENDPOINT, "202") - b_open >= 3  # B answers too
        sid = (visitor.cookie() or "").split(".")[0]
        refusals = {
            r.port: request_count(r, AUTH_ENDPOINT, "401") for r in (replicas.a, replicas.b)
        }
        refused_by: dict[int, float] = {}  # replica port: when its first refusal was seen
        began = time.monotonic()
        Admin(replicas.a).call("DELETE", f"/browser-sessions/{sid}", status=204)
        # Until six answers in a row (three from each replica) are refusals.
        streak_began: float | None = None
        streak = 0
        while streak < 6:
            assert time.monotonic() < began + 5, "still open after 5 s"
            sent = time.monotonic()
            response = visitor.http.get(urls[streak % 2])
            for replica in (replicas.a, replicas.b):
                if replica.port not in refused_by and (
                    request_count(replica, AUTH_ENDPOINT, "401") > refusals[replica.port]
                ):
                    refused_by[replica.port] = time.monotonic() - began
            if response.status_code == 302:
                assert urlsplit(response.headers["location"]).path == "/oauth2/sign_in"
                streak_began = sent if streak == 0 else streak_began
                streak += 1
            else:
                assert response.status_code == 200, response.text[:300]
                streak, streak_began = 0, None
                time.sleep(0.02)
        assert streak_began is not None
        delay = streak_began - began
        a_delay, b_delay = refused_by[replicas.a.port], refused_by[replicas.b.port]
        print(
            f"\nadmin revocation through replica A: A refused after {a_delay:.3f} s, "
            f"B after {b_delay:.3f} s; every answer through nginx refused after {delay:.3f} s"
        )
        assert b_delay < 1.0
        assert delay < 1.0
        assert request_count(replicas.b, AUTH_ENDPOINT, "401") - refusals[replicas.b.port] >= 3


# -- 5. bad input through the proxies -------------------------------------------------------------
#: Per front door, (a site, the proxy's answer to a page load nobody is signed in for).
FRONT_DOORS = {
    "nginx": (GRAFANA, "/oauth2/sign_in"),
    "ingress-nginx": (INGRESS[0], "/oauth2/start"),
    "caddy": (CADDY[0], "/oauth2/start"),
}


def assert_sent_to_sign_in(stack: Stack, host: str, response: httpx.Response) -> None:
    """What a person not signed in sees: the proxy's (or Caddy's Passgate's) 302 to the
    sign-in on the site itself, never the page, never a 500."""
    assert response.status_code == 302, (host, response.status_code, response.text[:300])
    location = urlsplit(response.headers["location"])
    sign_in = dict(FRONT_DOORS.values())[host]
    assert location.path == sign_in, response.headers["location"]
    assert location.netloc in ("", stack.proxy(host).host_header(host))


def assert_no_server_error(server: PassgateServer) -> None:
    """Nothing the tests sent made Passgate fail (its log is at level warn)."""
    log = server.log_path.read_text(errors="replace")
    assert "unhandled error" not in log, server.log_tail()
    assert '"level": "error"' not in log, server.log_tail()


def raw_get(stack: Stack, host: str, cookies: list[bytes], path: str = "/dash") -> httpx.Response:
    """A page load with exactly these Cookie headers (raw bytes: anything goes), no jar."""
    headers = [(b"accept", BROWSER_ACCEPT.encode()), *((b"cookie", c) for c in cookies)]
    with httpx.Client(transport=LoopbackTransport(), timeout=10) as http:
        return http.get(stack.url(host, path), headers=headers)


def test_tampered_and_foreign_cookies_are_a_sign_in(stack: Stack) -> None:
    with signed_in(stack) as visitor:
        good = visitor.cookie()
    assert good is not None
    sid, iat, exp, mac = good.split(".")
    foreign = Sealer(secrets.token_bytes(32))  # another deployment's key
    now = datetime.now(UTC)
    bad = {
        "a longer life": f"{sid}.{iat}.{int(exp) + 86400}.{mac}",
        "another session": f"{secrets.token_urlsafe(16)}.{iat}.{exp}.{mac}",
        "an edited MAC": f"{sid}.{iat}.{exp}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",
        "no MAC": f"{sid}.{iat}.{exp}.",
        "another key's": foreign.seal(sid, now, now + timedelta(hours=1)),
        "dots": "....",
        "long": "x" * 3000,
        "utf-8": "\u00e9\u00e9.1.2.3",
        "empty": "",
    }
    for door, (host, _) in FRONT_DOORS.items():
        assert raw_get(stack, host, [f"{COOKIE}={good}".encode()]).status_code == 200, door
        reached = len(stack.echo.requests)
        for value in bad.values():
            response = raw_get(stack, host, [f"{COOKIE}={value}".encode()])
            assert_sent_to_sign_in(stack, host, response)
        assert len(stack.echo.requests) == reached, door
    # The cookie the browser keeps for another domain is never sent to these sites.
    with Visitor() as visitor:
        visitor.http.cookies.set(COOKIE, good, domain=".apps.example")
        for host, _ in FRONT_DOORS.values():
            first = visitor.http.get(stack.url(host))
            assert "cookie" not in first.request.headers
            assert_sent_to_sign_in(stack, host, first)
    assert_no_server_error(stack.passgate)


def test_huge_and_repeated_cookie_headers(stack: Stack) -> None:
    with signed_in(stack) as visitor:
        good = visitor.cookie()
    assert good is not None
    junk = [f"junk{i}={'j' * 7000}".encode() for i in range(4)]  # 28 KB in four headers
    for door, (host, _) in FRONT_DOORS.items():
        # Tens of KB the proxy accepts (several headers) reach Passgate: a sign-in.
        assert_sent_to_sign_in(stack, host, raw_get(stack, host, junk))
        # Repeated cookies of the name, in one header and in several.
        repeated = f"{COOKIE}=a; {COOKIE}=b.c.d.e; {COOKIE}=".encode()
        assert_sent_to_sign_in(stack, host, raw_get(stack, host, [repeated]))
        several = [f"{COOKIE}=junk{i}".encode() for i in range(12)]
        assert_sent_to_sign_in(stack, host, raw_get(stack, host, several))
        # A stale cookie of the name does not hide the good one (a browser may send both).
        both = [f"{COOKIE}=stale; {COOKIE}={good}".encode()]
        assert raw_get(stack, host, both).status_code == 200, door
        split = [f"{COOKIE}=stale".encode(), f"{COOKIE}={good}".encode()]
        assert raw_get(stack, host, split).status_code == 200, door
    # One 40 KB Cookie header: nginx refuses it itself (large_client_header_buffers), a
    # 400 of its own; Caddy passes it on, and Passgate answers with the sign-in.
    huge = [f"{COOKIE}={'y' * 40_000}".encode()]
    for host in (GRAFANA, INGRESS[0]):
        response = raw_get(stack, host, huge)
        assert response.status_code == 400
        assert "Request Header Or Cookie Too Large" in response.text
    assert_sent_to_sign_in(stack, CADDY[0], raw_get(stack, CADDY[0], huge))
    # Passgate reads the first 64 KB of Cookie: a good cookie behind 40 KB of others is
    # still found; one behind 70 KB is not, and the person is sent to sign in (not a 500).
    huge_then_good = [f"junk={'y' * 40_000}; {COOKIE}={good}".encode()]
    assert raw_get(stack, CADDY[0], huge_then_good).status_code == 200
    too_far = [f"junk={'y' * 70_000}; {COOKIE}={good}".encode()]
    assert_sent_to_sign_in(stack, CADDY[0], raw_get(stack, CADDY[0], too_far))
    assert_no_server_error(stack.passgate)


@dataclass
class ShortLived:
    passgate: PassgateServer
    nginx: NginxProxy


@pytest.fixture(scope="module")
def short_lived(stack: Stack, nginx_binary: str) -> Iterator[ShortLived]:
    """Another process on the same storage whose cookies live a few seconds, behind an
    nginx of its own."""
    server = stack.launcher.replica(stack.passgate)
    sections = forward_auth_sections(
        RESTRICTED, group=AUDITORS, lifetime=f"{SHORT_LIFETIME_S}s", refresh_interval="1h"
    )
    server.extra = sections
    server.write_config()
    start(server)
    sites = [Site(host, stack.echo.url) for host in (GRAFANA, WIKI)]
    nginx = NginxProxy(stack.root / "short", server.base_url, sites, binary=nginx_binary)
    try:
        with nginx:
            yield ShortLived(server, nginx)
    finally:
        server.stop()


def test_an_expired_cookie_is_a_sign_in(stack: Stack, short_lived: ShortLived) -> None:
    nginx = short_lived.nginx
    with Visitor(stack.credentials) as visitor:
        visit = visitor.get(nginx.url(GRAFANA))
        assert (visit.status, visit.prompts) == (200, 1), visit.hops
        cookie = visitor.cookie()
        assert cookie is not None
        _, iat, exp, _ = cookie.split(".")
        assert int(exp) - int(iat) == SHORT_LIFETIME_S
        assert visitor.http.get(nginx.url(WIKI)).status_code == 200
        time.sleep(max(0.0, int(exp) - time.time()) + 0.2)
        for host in (GRAFANA, WIKI):
            response = visitor.http.get(nginx.url(host))
            assert response.status_code == 302, response.status_code
            assert urlsplit(response.headers["location"]).path == "/oauth2/sign_in"
        # The session itself is still there: the expired cookie alone is refused, and
        # the sign-in it is sent to needs no password (single sign-on) for a new cookie.
        assert cookie.split(".")[0] in stack.admin.browser_session_ids()
        again = visitor.get(nginx.url(GRAFANA))
        assert (again.status, again.prompts, again.at_login) == (200, 0, False), again.hops
        assert again.echoed()["headers"]["x-auth-request-email"] == stack.credentials[0]
        assert visitor.cookie() != cookie


#: ``rd`` values, as they are written in the query (percent-encoded where marked).
OPEN_REDIRECTS = [
    "//evil.example/",
    "%2F%2Fevil.example%2F",
    "https://evil.example.com.attacker/",
    "https://grafana.apps.test.attacker.example/",
    "https%3A%2F%2Fevil.example%2F",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "https://grafana.apps.test%5C@evil.example/",
    "https:%5C%5Cevil.example",
    "https://evil.example@grafana.apps.test/",
    "https://user:pw@wiki.apps.test/",
    "http://grafana.apps.test:80@evil.example/",
    "https://grafana.apps.test%252eevil.example/",
    "https://evil%252Eexample/",
    "%252F%252Fevil.example",
    "/%09/evil.example",
    "/%0D%0ALocation:%20https://evil.example/",
    "javascript:alert(document.domain)//.apps.test",
]


@pytest.mark.parametrize("rd", OPEN_REDIRECTS)
def test_open_redirects_are_refused_with_a_page(stack: Stack, rd: str) -> None:
    with httpx.Client(transport=LoopbackTransport(), timeout=10) as http:
        for host, _ in FRONT_DOORS.values():
            url = f"{stack.origin(host)}/oauth2/start?rd={rd}"
            response = http.get(url, headers={"Accept": BROWSER_ACCEPT})
            assert response.status_code == 400, (host, rd, response.status_code)
            assert "location" not in response.headers
            assert response.headers["content-type"].startswith("text/html")
            assert "does not send people to" in response.text


def test_a_site_path_and_a_site_url_are_allowed(stack: Stack) -> None:
    """The counterpart: rd on the site or below the domain goes on to the sign-in."""
    with httpx.Client(transport=LoopbackTransport(), timeout=10) as http:
        for host, _ in FRONT_DOORS.values():
            for rd in ("/dash?x=1", quote(stack.url(WIKI, "/x"), safe="")):
                response = http.get(f"{stack.origin(host)}/oauth2/start?rd={rd}")
                assert response.status_code == 302, (host, rd)
                assert response.headers["location"].startswith(f"{stack.passgate.issuer}/auth?")


# -- what the proxies make of Passgate's other answers ------------------------------------------
@pytest.mark.parametrize("header", ["X-Forwarded-Host", "X-Original-URL"])
def test_a_client_header_naming_another_site_is_refused_not_a_500_behind_nginx(
    stack: Stack, header: str
) -> None:
    """nginx's auth_request passes a client's X-Forwarded-Host / X-Original-URL on
    unchanged (ingress-nginx: X-Forwarded-Host; it sets X-Original-URL itself): naming
    the wiki on a request for the vault (or grafana) is refused, and what the person
    sees is that refusal, never nginx's 500; the vault stays closed."""
    value = {
        "X-Forwarded-Host": stack.nginx.host_header(WIKI),
        "X-Original-URL": stack.url(WIKI, "/page"),
    }[header]
    with signed_in(stack) as visitor:
        log_size = stack.nginx.log_path.stat().st_size
        reached = len(stack.echo.requests)
        seen = {
            host: visitor.http.get(stack.url(host), headers={header: value}).status_code
            for host in (VAULT, GRAFANA, INGRESS[0], INGRESS[2])
        }
        new_log = stack.nginx.log_path.read_bytes()[log_size:].decode(errors="replace")
    # Refused (or, where the proxy replaced the header, judged as the site it is)...
    assert 500 not in seen.values(), seen
    assert seen[VAULT] in (302, 403), seen
    assert seen[INGRESS[2]] in (302, 403), seen
    assert len(stack.echo.requests) == reached + list(seen.values()).count(200)
    assert "auth request unexpected status" not in new_log


def test_caddy_sites_get_no_authorization_passgate_did_not_send(stack: Stack) -> None:
    """Caddy 2.6 copies a header the answer lacks as its placeholder text: Passgate sends
    every X-Auth-Request-* header, and the documented Caddy setup copies Authorization
    only for sites with passAuthorization (an empty one would replace a client's own)."""
    with signed_in(stack, CADDY[0]) as visitor:
        echoed = visitor.get(stack.url(CADDY[1])).echoed()
    assert echoed["headers"].items() >= identity_headers(stack).items()
    assert echoed["headers"].get("authorization", "") == ""


def test_a_form_post_through_nginx(stack: Stack) -> None:
    """A POST to the site: nginx's auth subrequest (a GET without the body, hence the
    documented ``proxy_pass_request_body off``) lets it through, or sends the person to
    sign in; the site gets the POST itself."""
    with signed_in(stack) as visitor:
        posted = visitor.http.post(stack.url(WIKI, "/form"), data={"a": "1"})
    assert posted.status_code == 200, posted.text[:300]
    assert posted.json()["method"] == "POST"
    anonymous = httpx.Client(transport=LoopbackTransport(), timeout=10)
    with anonymous:
        refused = anonymous.post(stack.url(WIKI, "/form"), data={"a": "1"})
    assert refused.status_code == 302, refused.text[:300]  # nginx's sign-in redirect
    assert_no_server_error(stack.passgate)
