"""The account page in Chromium against a real ``passgate serve``: a person signed in on
two browsers (two browser contexts, two browser sessions), the second one also at an
application that redeemed its code for a refresh token at /token. From the first
browser's account page they end the other browser; its refresh token is then refused at
/token and the TokenReview webhook answers ``authenticated: false`` within a second,
while the first browser stays signed in."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from .conftest import (
    CHROMIUM_ARGS,
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    PASSWORD,
    Server,
    free_port,
    redeem,
    run_passgate,
)
from .test_login import assert_screenshot

pytestmark = pytest.mark.slow

# The cluster whose API server accepts the page app's tokens (the TokenReview webhook
# answers for the clusters Passgate knows).
CLUSTER = f"""
kubernetes:
  clusters:
  - name: prod
    server: https://127.0.0.1:6443
    insecureSkipTLSVerify: true
    clientID: {CLIENT_ID}
"""


@pytest.fixture
def server(tmp_path: Path) -> Any:
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    with run_passgate(tmp_path, free_port(), redirect_uri, CLUSTER) as running:
        yield running


def sign_in_at_the_app(browser: Browser, server: Server) -> dict[str, Any]:
    """In a browser of its own: /auth for the page app with a refresh token, the password
    form, approval; the app redeems the code at /token (PKCE)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": server.redirect_uri,
        "response_type": "code",
        "scope": "openid email profile offline_access",
        "state": secrets.token_urlsafe(12),
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    landed: list[str] = []

    def callback(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>app</h1>")

    page = browser.new_context().new_page()
    page.set_default_timeout(15_000)
    page.route(f"{server.redirect_uri}**", callback)
    page.goto(f"{server.issuer}/auth?{urlencode(params)}")
    page.fill("#login", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("#submit-login")
    page.wait_for_url("**/dex/approval?**")
    page.click("#grant-access")
    page.wait_for_url(f"{server.redirect_uri}?**")
    [code] = parse_qs(urlsplit(landed[0]).query)["code"]
    response = redeem(server, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    assert tokens["refresh_token"]
    return tokens


def token_review(server: Server, token: str) -> bool:
    review = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }
    response = httpx.post(f"{server.issuer}/kubernetes/tokenreview", json=review, timeout=5)
    assert response.status_code == 200, response.text
    return bool(response.json()["status"]["authenticated"])


def refresh(server: Server, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return httpx.post(
        f"{server.issuer}/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5
    )


def test_end_another_browser_from_the_account_page(
    server: Server, chromium_path: str, tmp_path: Path, artifacts: Path
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            tokens = sign_in_at_the_app(browser, server)
            assert token_review(server, tokens["id_token"])

            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{server.issuer}/account")
            assert urlsplit(page.url).path == "/dex/auth/local/login"  # sign in first
            page.fill("#login", EMAIL)
            page.fill("#password", PASSWORD)
            page.click("#submit-login")
            page.wait_for_url(f"{server.issuer}/account")
            assert page.inner_text("h1") == "Your account"
            assert page.locator("#browsers tbody tr").count() == 2
            assert page.locator("#browsers tr.current").count() == 1
            assert "Page App" in page.inner_text("#grants")
            assert "refresh token" in page.inner_text("#grants")
            assert page.locator("#claims-page-app").count() == 1
            page.screenshot(path=artifacts / "account.png", full_page=True)
            assert_screenshot(artifacts / "account.png")

            # Keyboard only: focus the other browser's End button and press Enter.
            other = page.locator("#browsers tbody tr:not(.current) button")
            other.focus()
            page.keyboard.press("Enter")
            page.wait_for_url("**/dex/account?done=ended")
            ended_at = time.monotonic()
            assert page.inner_text("#notice") == "The session was ended."
            assert page.locator("#browsers tbody tr").count() == 1
            page.screenshot(path=artifacts / "account-ended.png", full_page=True)
            assert_screenshot(artifacts / "account-ended.png")
        finally:
            browser.close()

    refused = refresh(server, tokens["refresh_token"])
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_grant"
    while token_review(server, tokens["id_token"]):
        assert time.monotonic() - ended_at < 1.0, "TokenReview still says authenticated"
        time.sleep(0.05)
