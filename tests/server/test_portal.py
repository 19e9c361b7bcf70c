"""The home page and the portal's sign-in in-process: Passgate as its own public client
through /auth with PKCE, the session cookie, sign-out, and every refusal as a page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from passgate.admin.auth import hash_token
from passgate.config.builtin import PORTAL_CLIENT_ID

from .harness import (
    EMAIL,
    PREFIX,
    PUBLIC_ID,
    USER_ID,
    Harness,
    assert_error_page,
    config_text,
    parse_form,
    query_of,
    running,
)

pytestmark = pytest.mark.anyio

HOME = f"{PREFIX}/"
ADMIN = f"""
admin:
  groups: [admins]
  tokens:
  - name: ci
    hash: "{hash_token("pgadm_portal-0123456789abcdef0123456789")}"
"""


@pytest.fixture
async def portal(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(config_text(extra=ADMIN)) as harness:
        yield harness


async def sign_in(harness: Harness, browser: httpx.AsyncClient, next_path: str = "") -> str:
    """/signin → /auth → password → (no approval: Passgate's own client) → callback; the
    Location the callback answers with."""
    start = await browser.get(f"{PREFIX}/signin", params={"next": next_path} if next_path else {})
    assert start.status_code == 303, start.text
    auth = start.headers["location"]
    assert auth.startswith(f"{PREFIX}/auth?")
    params = query_of(auth)
    assert params["client_id"] == PORTAL_CLIENT_ID
    assert params["redirect_uri"] == f"http://127.0.0.1:5556{PREFIX}/signin/callback"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert "groups" in params["scope"].split()
    cookie = start.headers["set-cookie"].lower()
    for attribute in ("httponly", "samesite=lax", f"path={PREFIX}"):
        assert attribute in cookie
    url = await harness.login_url(params, browser)
    form = await harness.login_form(url, browser)
    response = await harness.submit_login(form, browser=browser)
    assert response.status_code == 303, response.text
    callback = response.headers["location"]
    assert urlsplit(callback).path == f"{PREFIX}/signin/callback"
    done = await browser.get(callback)
    assert done.status_code == 303, done.text
    assert "passgate_portal=" in done.headers["set-cookie"]
    return done.headers["location"]


async def test_the_issuer_url_is_a_home_page_with_sign_in(portal: Harness) -> None:
    browser = await portal.browser()
    bare = await browser.get(PREFIX, follow_redirects=True)
    assert bare.status_code == 200
    assert str(bare.url).endswith(HOME)
    assert 'id="sign-in"' in bare.text
    assert "http://127.0.0.1:5556/dex" in bare.text
    assert "no-store" in bare.headers["cache-control"]
    assert 'id="nav-account"' not in bare.text


async def test_signing_in_shows_who_you_are_and_where_to_go(portal: Harness) -> None:
    browser = await portal.browser()
    assert await sign_in(portal, browser) == HOME
    page = await browser.get(HOME)
    assert page.status_code == 200, page.text
    assert EMAIL in page.text
    for group in ("admins", "developers"):
        assert f"<li>{group}</li>" in page.text
    assert 'id="go-account"' in page.text
    assert 'id="go-console"' in page.text  # in admin.groups
    assert 'id="go-kubeconfig"' not in page.text  # no clusters configured
    assert 'id="sign-out"' in page.text


async def test_sign_in_returns_to_a_local_path_only(portal: Harness) -> None:
    browser = await portal.browser()
    assert await sign_in(portal, browser, "/account") == f"{PREFIX}/account"
    for hostile in ("//evil.example", "https://evil.example/", "/\\evil", "/a b", "x"):
        browser = await portal.browser()
        assert await sign_in(portal, browser, hostile) == HOME, hostile


async def test_the_cookie_is_no_session_when_forged_foreign_old_or_revoked(
    portal: Harness,
) -> None:
    browser = await portal.browser()
    browser.cookies.set("passgate_portal", "x.y.z", path=PREFIX)
    assert 'id="sign-in"' in (await browser.get(HOME)).text
    # A genuine ID token of another client is no session.
    tokens = await portal.tokens(client_id=PUBLIC_ID, redirect_uri="http://localhost:8000")
    browser.cookies.set("passgate_portal", tokens["id_token"], path=PREFIX)
    assert 'id="sign-in"' in (await browser.get(HOME)).text

    browser = await portal.browser()
    await sign_in(portal, browser)
    assert 'id="sign-out"' in (await browser.get(HOME)).text
    portal.clock.advance(timedelta(minutes=61))
    assert 'id="sign-in"' in (await browser.get(HOME)).text

    browser = await portal.browser()
    await sign_in(portal, browser)
    await portal.runtime.services.revoker.revoke_user(USER_ID, actor="admin:test")
    assert 'id="sign-in"' in (await browser.get(HOME)).text


async def test_sign_out_needs_the_form_token_and_ends_the_browser_session(
    portal: Harness,
) -> None:
    browser = await portal.browser()
    await sign_in(portal, browser)
    refused = await browser.post(f"{PREFIX}/signout", data={"csrf_token": "0" * 43})
    assert_error_page(refused, 403)
    form = parse_form((await browser.get(HOME)).text, "sign-out-form")
    response = await browser.post(form.action, data=form.fields)
    assert response.status_code == 303
    assert 'passgate_portal=""' in response.headers["set-cookie"]
    logout = response.headers["location"]
    params = query_of(logout)
    assert urlsplit(logout).path == f"{PREFIX}/logout"
    assert params["client_id"] == PORTAL_CLIENT_ID
    assert params["post_logout_redirect_uri"] == "http://127.0.0.1:5556/dex/"
    assert params["id_token_hint"]
    assert 'id="sign-in"' in (await browser.get(HOME)).text


async def test_callback_refusals_are_pages(portal: Harness) -> None:
    browser = await portal.browser()
    expired = await browser.get(f"{PREFIX}/signin/callback", params={"code": "x", "state": "y"})
    assert_error_page(expired, 400)
    start = await browser.get(f"{PREFIX}/signin")
    assert start.status_code == 303
    forged = await browser.get(f"{PREFIX}/signin/callback", params={"code": "x", "state": "y"})
    assert_error_page(forged, 400)
    state = query_of(start.headers["location"])["state"]
    bad_code = await browser.get(
        f"{PREFIX}/signin/callback", params={"code": "nope", "state": state}
    )
    assert_error_page(bad_code, 400)
    denied = await browser.get(
        f"{PREFIX}/signin/callback", params={"error": "access_denied", "state": state}
    )
    assert_error_page(denied, 403)


async def test_the_callback_needs_the_browser_that_started_and_a_fresh_code(
    portal: Harness,
) -> None:
    starter = await portal.browser()
    start = await starter.get(f"{PREFIX}/signin")
    params = query_of(start.headers["location"])
    url = await portal.login_url(params, starter)
    form = await portal.login_form(url, starter)
    callback = (await portal.submit_login(form, browser=starter)).headers["location"]
    # Another browser (no login cookie) cannot finish it: login CSRF.
    other = await portal.browser()
    assert_error_page(await other.get(callback), 400)
    # A wrong state in the starting browser is refused, and the code stays unredeemed.
    query = query_of(callback)
    bad = await starter.get(f"{PREFIX}/signin/callback", params={**query, "state": "x"})
    assert_error_page(bad, 400)
    saved = httpx.Cookies(starter.cookies)
    finished = await starter.get(callback)
    assert finished.status_code == 303
    # The code is single use, even with the login cookie kept.
    replay = await portal.browser()
    replay.cookies.update(saved)
    replayed = await replay.get(callback)
    assert_error_page(replayed, 400)
    assert "already used" in replayed.text
