"""The sign-in pages in a real browser: /auth, the password form and the approval screen,
ending at the client's redirect URI with a code that redeems at /token.

This is what the in-process tests cannot show: that Chromium accepts the cookie, submits
the forms under the Content-Security-Policy (``form-action`` must allow the redirect to
the client), and follows the redirects to the client's URI.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from .conftest import CHROMIUM_ARGS, CLIENT_ID, EMAIL, PASSWORD, Server, redeem

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


def assert_screenshot(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG), path
    assert len(data) > 1000, (path, len(data))


def authorization_url(server: Server, state: str, challenge: str) -> str:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": server.redirect_uri,
        "response_type": "code",
        "scope": "openid email profile offline_access",
        "state": state,
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{server.issuer}/auth?{urlencode(params)}"


def test_sign_in_and_grant_access_in_chromium(
    passgate_server: Server, chromium_path: str, tmp_path: Path, artifacts: Path
) -> None:
    state = secrets.token_urlsafe(12)
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    landed: list[str] = []

    def callback(route: Route) -> None:
        # The client's redirect URI: record where the browser was sent, answer a page.
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>client callback</h1>")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page: Page = browser.new_page()
            page.set_default_timeout(15_000)
            page.route(f"{passgate_server.redirect_uri}**", callback)
            styles: list[int] = []
            page.on(
                "response",
                lambda response: (
                    styles.append(response.status)
                    if response.url.endswith("/static/main.css")
                    else None
                ),
            )

            response = page.goto(authorization_url(passgate_server, state, challenge))
            assert response is not None
            assert response.status == 200
            assert urlsplit(page.url).path == "/dex/auth/local/login"
            assert response.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            cookies = page.context.cookies()
            csrf = [cookie for cookie in cookies if cookie["name"] == "passgate_csrf"]
            assert len(csrf) == 1
            assert csrf[0]["httpOnly"]
            assert csrf[0]["sameSite"] == "Lax"
            assert styles == [200]  # the stylesheet loads under the CSP
            page.screenshot(path=artifacts / "login.png", full_page=True)
            assert_screenshot(artifacts / "login.png")

            # A wrong password first: the form comes back with a message.
            page.fill("#login", EMAIL)
            page.fill("#password", "not the password")
            page.click("#submit-login")
            page.wait_for_selector("p.error")
            assert "Invalid username or password." in page.inner_text("p.error")
            assert page.input_value("#login") == EMAIL

            page.fill("#password", PASSWORD)
            page.click("#submit-login")
            page.wait_for_url("**/dex/approval?**")
            assert "Page App" in page.inner_text("h1")
            assert EMAIL in page.inner_text("ul.scopes")
            page.screenshot(path=artifacts / "approval.png", full_page=True)
            assert_screenshot(artifacts / "approval.png")

            page.click("#grant-access")
            page.wait_for_url(f"{passgate_server.redirect_uri}?**")
            assert page.inner_text("h1") == "client callback"
        finally:
            browser.close()

    assert len(landed) == 1, landed
    url = urlsplit(landed[0])
    assert f"{url.scheme}://{url.netloc}{url.path}" == passgate_server.redirect_uri
    query = parse_qs(url.query)
    assert query["state"] == [state]
    assert len(query["code"]) == 1

    # The client redeems the code the browser carried.
    token = redeem(passgate_server, query["code"][0], verifier)
    assert token.status_code == 200, token.text
    assert {"access_token", "id_token", "refresh_token"} <= set(token.json())


def test_cancel_sends_access_denied_to_the_client(
    passgate_server: Server, chromium_path: str
) -> None:
    state = secrets.token_urlsafe(12)
    landed: list[str] = []

    def callback(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>client callback</h1>")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.route(f"{passgate_server.redirect_uri}**", callback)
            page.goto(authorization_url(passgate_server, state, "c" * 43))
            page.fill("#login", EMAIL)
            page.fill("#password", PASSWORD)
            page.click("#submit-login")
            page.wait_for_url("**/dex/approval?**")
            page.click("button[value=rejected]")
            page.wait_for_url(f"{passgate_server.redirect_uri}?**")
        finally:
            browser.close()

    assert len(landed) == 1, landed
    query = parse_qs(urlsplit(landed[0]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [state]
    assert "code" not in query
