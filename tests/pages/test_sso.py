"""Browser single sign-on in Chromium against a real ``passgate serve``: one sign-in for
two clients (the same ``sid`` and ``auth_time``), ``prompt=none`` and ``prompt=login``,
the session cookie as Chromium keeps it, the logout confirmation (and a forged sign-out
refused), and Back-Channel Logout tokens received by a relying party on loopback.

Every flow runs in Chromium with its own cookie jar, following Passgate's real redirects
and submitting its pages' forms; the codes are exchanged by an independent client library
(Authlib) and every token is checked with PyJWT against the JWKS the issuer publishes, so
nothing here relies on Passgate's own code to read what Passgate wrote.
"""

from __future__ import annotations

import base64
import contextlib
import html
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt as pyjwt
import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, Request, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route as HttpRoute

from connectors.fakeserver import serve_app

from .conftest import (
    CHROMIUM_ARGS,
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    PASSWORD,
    Server,
    _config,
    free_port,
    run_passgate,
)

with warnings.catch_warnings():
    # Authlib 1.9 deprecates its httpx integration (for "httpx2"); it still works (see
    # tests/e2e/test_browser_login.py).
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client

pytestmark = pytest.mark.slow

SCOPE = "openid email profile"
SESSION_COOKIE = "passgate_session"  # sessions.cookieName's default (an http issuer)
LOGIN_PATH = "/dex/auth/local/login"
CONNECTOR_PATH = "/dex/auth/local"
APPROVAL_PATH = "/dex/approval"
LOGOUT_PATH = "/dex/logout"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
USER_ID = "5b1e6c1e-0d7e-4c43-9a3e-0c1f5f2b0b7a"  # conftest's staticPasswords userID
BASE64URL = "[A-Za-z0-9_-]"
POLL_SECONDS = 10.0


@dataclass(frozen=True)
class App:
    """One OIDC client of the issuer: a confidential web app."""

    id: str
    secret: str
    name: str
    redirect_uri: str  # at the relying party on loopback


@dataclass(frozen=True)
class Issuer:
    server: Server
    first: App  # conftest's page-app
    second: App
    rp: RelyingParty
    rp_base: str  # http://127.0.0.1:PORT

    @property
    def url(self) -> str:
        return self.server.issuer


# -- the relying party on loopback ---------------------------------------------------------
@dataclass
class Delivery:
    client_id: str
    content_type: str
    fields: list[tuple[str, str]]

    @property
    def token(self) -> str:
        return dict(self.fields)["logout_token"]


@dataclass
class RelyingParty:
    """The clients' side on loopback: ``GET /cb/{client}``, each client's redirect URI
    (a small page); ``POST /bcl/{client}``, each client's back-channel logout URI,
    keeping what came; ``GET /forge?target=``, another site's page with a sign-out form
    aimed at Passgate."""

    received: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def logout(self, request: HttpRequest) -> Response:
        form = await request.form()
        fields = [(key, str(value)) for key, value in form.multi_items()]
        delivery = Delivery(
            request.path_params["client"], request.headers.get("content-type", ""), fields
        )
        with self.lock:
            self.received.append(delivery)
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    async def callback(self, request: HttpRequest) -> Response:
        return HTMLResponse("<!doctype html><title>Client</title><h1>client callback</h1>")

    async def forge(self, request: HttpRequest) -> Response:
        target = html.escape(request.query_params["target"], quote=True)
        return HTMLResponse(
            "<!doctype html><title>Win a prize</title>"
            f'<form method="post" action="{target}">'
            '<input type="hidden" name="confirm" value="yes">'
            '<button id="forge" type="submit">Claim your prize</button></form>'
        )

    def deliveries(self) -> list[Delivery]:
        with self.lock:
            return list(self.received)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                HttpRoute("/cb/{client}", self.callback, methods=["GET"]),
                HttpRoute("/bcl/{client}", self.logout, methods=["POST"]),
                HttpRoute("/forge", self.forge, methods=["GET"]),
            ]
        )


# -- the issuer --------------------------------------------------------------------------
def sso_config(tmp_path: Path, port: int, first: App, second: App, rp_base: str) -> str:
    """conftest's page config, with a second web client and both clients registered for
    back-channel logout at the relying party (approval screen on, sessions' defaults)."""
    issuer = f"http://127.0.0.1:{port}/dex"
    config = yaml.safe_load(
        _config(issuer, f"127.0.0.1:{port}", tmp_path / "passgate.db", first.redirect_uri)
    )
    clients = config["staticClients"]
    [page_app] = [client for client in clients if client["id"] == first.id]
    page_app["backchannelLogoutURI"] = f"{rp_base}/bcl/{first.id}"
    clients.append(
        {
            "id": second.id,
            "name": second.name,
            "secret": second.secret,
            "redirectURIs": [second.redirect_uri],
            "backchannelLogoutURI": f"{rp_base}/bcl/{second.id}",
        }
    )
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


@contextlib.contextmanager
def run_sso_passgate(tmp_path: Path, first: App, second: App, rp_base: str) -> Iterator[Server]:
    """``passgate serve`` with :func:`sso_config`, healthy; stopped after."""
    port = free_port()
    text = sso_config(tmp_path, port, first, second, rp_base)
    with run_passgate(tmp_path, port, first.redirect_uri, text=text) as server:
        yield server


@pytest.fixture
def sso(tmp_path: Path) -> Iterator[Issuer]:
    """The relying party on loopback, then ``passgate serve`` with two web clients that
    both send their back-channel logouts to it."""
    rp = RelyingParty()
    with serve_app(rp.app()) as rp_base:
        first = App(CLIENT_ID, CLIENT_SECRET, "Page App", f"{rp_base}/cb/{CLIENT_ID}")
        second = App(
            "page-other", "cGFnZS1vdGhlci1zZWNyZXQ", "Other App", f"{rp_base}/cb/page-other"
        )
        with run_sso_passgate(tmp_path, first, second, rp_base) as server:
            yield Issuer(server, first, second, rp, rp_base)


@pytest.fixture
def chromium(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# -- the OIDC client side (Authlib) and token checks (PyJWT) ------------------------------
@dataclass(frozen=True)
class Authorization:
    """One authorization request as the client library composed it."""

    app: App
    url: str
    state: str
    nonce: str
    verifier: str


def authorization(issuer: Issuer, app: App, *, state: str = "", **params: str) -> Authorization:
    verifier = generate_token(64)
    nonce = generate_token(24)
    with OAuth2Client(
        client_id=app.id,
        client_secret=app.secret,
        scope=SCOPE,
        redirect_uri=app.redirect_uri,
        code_challenge_method="S256",
    ) as client:
        url, sent_state = client.create_authorization_url(
            f"{issuer.url}/auth",
            state=state or None,
            code_verifier=verifier,
            nonce=nonce,
            **params,
        )
    return Authorization(app, url, sent_state, nonce, verifier)


def exchange(issuer: Issuer, request: Authorization, callback: str) -> dict[str, Any]:
    """The client at /token with what the browser carried back (Authlib checks state)."""
    with OAuth2Client(
        client_id=request.app.id,
        client_secret=request.app.secret,
        scope=SCOPE,
        redirect_uri=request.app.redirect_uri,
        code_challenge_method="S256",
        timeout=10.0,
    ) as client:
        token: dict[str, Any] = client.fetch_token(
            f"{issuer.url}/token",
            authorization_response=callback,
            state=request.state,
            code_verifier=request.verifier,
        )
    return token


def published_keys(issuer: Issuer) -> pyjwt.PyJWKSet:
    """The issuer's JWKS, found through discovery and fetched over HTTP."""
    discovery = httpx.get(f"{issuer.url}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["jwks_uri"] == f"{issuer.url}/keys"
    return pyjwt.PyJWKSet.from_dict(httpx.get(discovery["jwks_uri"], timeout=10).json())


def verified(issuer: Issuer, token: str, audience: str, *, required: list[str]) -> dict[str, Any]:
    """A JWT of the issuer's, checked by PyJWT: RS256 with a published key, iss, aud,
    exp and iat (no leeway beyond a clock tick)."""
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == "RS256", header
    key = published_keys(issuer)[header["kid"]].key
    claims: dict[str, Any] = pyjwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer.url,
        leeway=1,
        options={"require": ["iss", "aud", "exp", "iat", *required]},
    )
    return claims


def id_token_claims(issuer: Issuer, request: Authorization, callback: str) -> dict[str, Any]:
    """Exchange the code; the ID token's claims, verified, for this request's nonce."""
    token = exchange(issuer, request, callback)
    claims = verified(
        issuer, token["id_token"], request.app.id, required=["sub", "auth_time", "sid", "nonce"]
    )
    assert claims["nonce"] == request.nonce
    assert claims["email"] == EMAIL
    return claims


# -- Chromium --------------------------------------------------------------------------------
class Tab:
    """A page in a browser context of its own (its own cookie jar) that records every
    navigation request, redirect hops included."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context()
        self.context.set_default_timeout(15_000)
        self.navigations: list[str] = []
        self.context.on("request", self._record)
        self.page: Page = self.context.new_page()

    def _record(self, request: Request) -> None:
        if request.is_navigation_request() and request.frame.parent_frame is None:
            self.navigations.append(request.url)

    def paths(self) -> list[str]:
        """The paths of the navigations recorded so far."""
        return [urlsplit(url).path for url in self.navigations]

    def session_cookies(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self.context.cookies() if c["name"] == SESSION_COOKIE]


def stage(url: str, app: App) -> str:
    """Which page of a sign-in ``url`` is."""
    if url.startswith(f"{app.redirect_uri}?"):
        return "client"
    path = urlsplit(url).path
    if path == LOGIN_PATH:
        return "login"
    if path == APPROVAL_PATH:
        return "approval"
    return f"elsewhere: {url}"


def at(app: App, *stages: str) -> Callable[[str], bool]:
    return lambda url: stage(url, app) in stages


@dataclass
class Visit:
    """What one authorization request did in the browser."""

    callback: str  # where the browser arrived at the client
    shown: list[str]  # the pages the person saw, in order
    navigations: list[str]  # every navigation request, redirects included

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.callback).query)


def visit(tab: Tab, request: Authorization, *, remember_me: bool = False) -> Visit:
    """Open the authorization URL and go through whatever pages Passgate shows (the
    password form: sign in; the approval page: grant) until the browser is back at the
    client."""
    app = request.app
    tab.navigations.clear()
    response = tab.page.goto(request.url)
    assert response is not None
    shown: list[str] = []
    page = tab.page
    for _ in range(3):
        where = stage(page.url, app)
        shown.append(where)
        if where == "login":
            assert not page.is_checked("#remember-me")  # rememberMeCheckedByDefault: false
            page.fill("#login", EMAIL)
            page.fill("#password", PASSWORD)
            if remember_me:
                page.check("#remember-me")
            page.click("#submit-login")
            page.wait_for_url(at(app, "approval", "client"))
        elif where == "approval":
            assert app.name in page.inner_text("h1")
            page.click("#grant-access")
            page.wait_for_url(at(app, "client"))
        elif where == "client":
            assert page.inner_text("h1") == "client callback"
            return Visit(page.url, shown, list(tab.navigations))
        else:
            pytest.fail(f"unexpected page {where}: {page.inner_text('body')[:500]}")
    pytest.fail(f"no way back to the client after {shown}")


def sign_in(tab: Tab, issuer: Issuer, app: App, **params: str) -> dict[str, Any]:
    """A first sign-in at ``app``: the password form, then approval; its ID token's claims."""
    request = authorization(issuer, app, **params)
    result = visit(tab, request)
    assert result.shown == ["login", "approval", "client"], result.navigations
    return id_token_claims(issuer, request, result.callback)


def prompt_none(tab: Tab, request: Authorization) -> Visit:
    """A ``prompt=none`` request: straight back to the client, no page on the way."""
    assert "prompt=none" in request.url
    result = visit(tab, request)
    assert result.shown == ["client"]
    # One request to /auth, answered by a redirect to the client: no page in between.
    assert [urlsplit(url).path for url in result.navigations] == [
        "/dex/auth",
        urlsplit(request.app.redirect_uri).path,
    ], result.navigations
    assert result.query["state"] == [request.state]
    return result


def silently(tab: Tab, issuer: Issuer, app: App, state: str = "") -> Visit:
    return prompt_none(tab, authorization(issuer, app, state=state, prompt="none"))


def b64decoded(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# -- the tests -------------------------------------------------------------------------------
def test_one_sign_in_serves_two_clients_with_one_sid(chromium: Browser, sso: Issuer) -> None:
    tab = Tab(chromium)
    first = sign_in(tab, sso, sso.first)
    assert LOGIN_PATH in tab.paths()
    time.sleep(1.1)  # auth_time counts seconds: a second sign-in would show

    request = authorization(sso, sso.second)
    second_visit = visit(tab, request)
    # No password form, nor the connector that leads to it: at most the second client's
    # own approval (consent is per client).
    assert "login" not in second_visit.shown, second_visit.navigations
    assert second_visit.shown in (["client"], ["approval", "client"])
    paths = [urlsplit(url).path for url in second_visit.navigations]
    assert LOGIN_PATH not in paths, second_visit.navigations
    assert CONNECTOR_PATH not in paths, second_visit.navigations
    second = id_token_claims(sso, request, second_visit.callback)

    assert first["aud"] == sso.first.id
    assert second["aud"] == sso.second.id
    assert second["sub"] == first["sub"]
    assert second["sid"] == first["sid"]
    assert second["auth_time"] == first["auth_time"]  # when the person signed in: once


def test_prompt_none_with_and_without_a_session(chromium: Browser, sso: Issuer) -> None:
    signed_in = Tab(chromium)
    first = sign_in(signed_in, sso, sso.first)
    time.sleep(1.1)  # auth_time counts seconds: a new sign-in would show
    request = authorization(sso, sso.first, prompt="none")
    silent = prompt_none(signed_in, request)
    assert set(silent.query) == {"code", "state"}
    claims = id_token_claims(sso, request, silent.callback)
    assert (claims["sub"], claims["sid"], claims["auth_time"]) == (
        first["sub"],
        first["sid"],
        first["auth_time"],
    )

    # A fresh context has no cookie: login_required, the state exactly as sent.
    stranger = Tab(chromium)
    odd_state = "st/ä te+&=?#%20" + generate_token(8)
    refused = silently(stranger, sso, sso.first, state=odd_state)
    assert refused.query["error"] == ["login_required"]
    assert refused.query["state"] == [odd_state]
    assert "code" not in refused.query
    assert stranger.session_cookies() == []


def test_the_session_cookie_as_chromium_keeps_it(chromium: Browser, sso: Issuer) -> None:
    plain = Tab(chromium)
    claims = sign_in(plain, sso, sso.first)
    [cookie] = plain.session_cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/dex"
    assert cookie["domain"] == "127.0.0.1"  # host-only, no Domain attribute
    assert cookie["secure"] is False  # an http issuer
    assert cookie["expires"] == -1  # no "remember me": gone when the browser closes
    # Scripts cannot read it (HttpOnly, as Chromium enforces it).
    plain.page.goto(f"{sso.url}/healthz")
    assert SESSION_COOKIE not in plain.page.evaluate("document.cookie")

    # The value is a reference, <session id>.<secret>, and carries nobody's identity.
    value = cookie["value"]
    match = re.fullmatch(f"({BASE64URL}+)\\.({BASE64URL}+)", value)
    assert match is not None, value
    session_id, secret = match.groups()
    assert session_id == claims["sid"]
    assert len(b64decoded(secret)) >= 32  # 256 random bits
    decoded = b64decoded(session_id) + b64decoded(secret)
    for identity in (EMAIL, "jane", USER_ID, claims["sub"]):
        assert identity not in value
        assert identity.encode() not in decoded

    # "Keep me signed in" on the login page: the cookie outlives the browser, until the
    # session's absolute lifetime (24 h by default).
    kept = Tab(chromium)
    request = authorization(sso, sso.first)
    before = time.time()
    result = visit(kept, request, remember_me=True)
    assert result.shown == ["login", "approval", "client"]
    [remembered] = kept.session_cookies()
    assert remembered["httpOnly"] is True
    assert remembered["sameSite"] == "Lax"
    assert remembered["path"] == "/dex"
    assert before + 24 * 3600 - 60 <= remembered["expires"] <= time.time() + 24 * 3600 + 60
    assert remembered["value"].partition(".")[0] != session_id  # another browser's session
    assert id_token_claims(sso, request, result.callback)["sid"] != claims["sid"]


def forged_sign_out(tab: Tab, origin: str, issuer: Issuer) -> str:
    """Another origin's page POSTs ``confirm=yes`` to /logout without the CSRF token:
    refused with the "Form expired" page. The Cookie header the POST carried."""
    page = tab.page
    page.goto(f"{origin}/forge?target={issuer.url}/logout")
    with page.expect_response(
        lambda r: urlsplit(r.url).path == LOGOUT_PATH and r.request.method == "POST"
    ) as answer:
        page.click("#forge")
    assert answer.value.status == 403
    page.wait_for_url(f"{issuer.url}/logout")
    assert page.inner_text("h1") == "Form expired"
    return answer.value.request.all_headers().get("cookie", "")


def test_logout_confirmation_and_a_forged_sign_out(chromium: Browser, sso: Issuer) -> None:
    tab = Tab(chromium)
    first = sign_in(tab, sso, sso.first)
    [cookie] = tab.session_cookies()

    # Another origin on the same site (its POST carries the Lax cookies, so only the
    # CSRF token stops it), then another site (its POST carries none): neither signs the
    # person out.
    port = urlsplit(sso.rp_base).port
    for origin, same_site in ((sso.rp_base, True), (f"http://localhost:{port}", False)):
        sent = forged_sign_out(tab, origin, sso)
        assert (f"{SESSION_COOKIE}=" in sent) is same_site, (origin, sent)
        assert [c["value"] for c in tab.session_cookies()] == [cookie["value"]], origin
        still = silently(tab, sso, sso.first)
        assert "code" in still.query, origin

    # GET /logout without id_token_hint: the confirmation page, then "Sign out".
    response = tab.page.goto(f"{sso.url}/logout")
    assert response is not None
    assert response.status == 200
    assert tab.page.inner_text("h1") == "Sign out?"
    assert [c["value"] for c in tab.session_cookies()] == [cookie["value"]]  # nothing ends
    with tab.page.expect_response(
        lambda r: urlsplit(r.url).path == LOGOUT_PATH and r.request.method == "POST"
    ) as answer:
        tab.page.click("#sign-out")
    assert answer.value.status == 200
    tab.page.wait_for_load_state()
    assert tab.page.inner_text("h1") == "You have signed out"
    assert tab.session_cookies() == []

    refused = silently(tab, sso, sso.first)
    assert refused.query["error"] == ["login_required"]
    # The old cookie, put back by hand, no longer names a live session either.
    tab.context.add_cookies(
        [
            {
                "name": SESSION_COOKIE,
                "value": cookie["value"],
                "domain": "127.0.0.1",
                "path": "/dex",
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    assert silently(tab, sso, sso.first).query["error"] == ["login_required"]
    # Signing in again means the password again, and a new session.
    assert sign_in(tab, sso, sso.first)["sid"] != first["sid"]


def test_back_channel_logout_reaches_every_client(chromium: Browser, sso: Issuer) -> None:
    tab = Tab(chromium)
    first = sign_in(tab, sso, sso.first)
    request = authorization(sso, sso.second)
    second_visit = visit(tab, request)
    assert "login" not in second_visit.shown
    second = id_token_claims(sso, request, second_visit.callback)
    sid = first["sid"]
    assert second["sid"] == sid
    assert sso.rp.deliveries() == []  # nothing before the sign-out

    tab.page.goto(f"{sso.url}/logout")
    tab.page.click("#sign-out")
    tab.page.wait_for_selector("text=You have signed out")
    signed_out_at = int(time.time())

    # Delivery runs in the background: poll the relying party.
    deadline = time.monotonic() + POLL_SECONDS
    while len(sso.rp.deliveries()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    deliveries = sso.rp.deliveries()
    assert sorted(d.client_id for d in deliveries) == sorted([sso.first.id, sso.second.id]), (
        deliveries
    )

    id_tokens = {sso.first.id: first, sso.second.id: second}
    jtis = set()
    for delivery in deliveries:
        # BCL 1.0 §2.5: a form POST with only the token.
        assert delivery.content_type.split(";")[0] == "application/x-www-form-urlencoded"
        assert [name for name, _ in delivery.fields] == ["logout_token"]
        token = delivery.token
        header = pyjwt.get_unverified_header(token)
        assert header["typ"] == "logout+jwt"  # BCL 1.0 §2.4: explicitly typed
        assert header["alg"] == "RS256"
        claims = verified(sso, token, delivery.client_id, required=["jti", "events", "sid"])
        assert claims["aud"] in (delivery.client_id, [delivery.client_id])
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert claims["sid"] == id_tokens[delivery.client_id]["sid"] == sid
        if "sub" in claims:
            assert claims["sub"] == id_tokens[delivery.client_id]["sub"]
        assert "nonce" not in claims  # §2.4: prohibited
        assert abs(claims["iat"] - signed_out_at) <= 5
        assert claims["iat"] < claims["exp"] <= claims["iat"] + 600  # short-lived
        jtis.add(claims["jti"])
    assert len(jtis) == 2
    # One token per client: nothing more arrived while the tokens were checked.
    assert len(sso.rp.deliveries()) == 2


def test_prompt_login_asks_again_and_moves_auth_time(chromium: Browser, sso: Issuer) -> None:
    tab = Tab(chromium)
    first = sign_in(tab, sso, sso.first)
    [cookie] = tab.session_cookies()
    time.sleep(1.1)  # auth_time counts seconds

    request = authorization(sso, sso.first, prompt="login")
    again = visit(tab, request)
    assert again.shown[0] == "login", again.navigations  # the password page, again
    assert again.shown[-1] == "client"
    second = id_token_claims(sso, request, again.callback)
    assert second["auth_time"] > first["auth_time"]
    assert second["auth_time"] >= first["auth_time"] + 1
    # The same person in the same browser: the session (sid) goes on, its secret changes.
    assert second["sid"] == first["sid"]
    [renewed] = tab.session_cookies()
    assert renewed["value"].partition(".")[0] == cookie["value"].partition(".")[0]
    assert renewed["value"] != cookie["value"]

    # Without prompt=login the renewed sign-in is what counts now.
    silent = authorization(sso, sso.first, prompt="none")
    later = id_token_claims(sso, silent, prompt_none(tab, silent).callback)
    assert later["auth_time"] == second["auth_time"]
