"""The device flow (RFC 8628) against a real ``passgate serve``: the device asks for a code
over HTTP, a person approves (or declines) in Chromium, and the device polls /token, once
with an independent client library (Authlib) doing the token requests."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .conftest import (
    CHROMIUM_ARGS,
    DEVICE_CLIENT_ID,
    EMAIL,
    PASSWORD,
    Server,
    free_port,
    run_passgate,
)

with warnings.catch_warnings():
    # Authlib 1.9 deprecates its httpx integration (for "httpx2"); it still works (see
    # tests/e2e/test_browser_login.py).
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

pytestmark = pytest.mark.slow

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "openid email profile groups offline_access"


def device_code(server: Server) -> dict[str, Any]:
    """The device's RFC 8628 §3.1 request, found through discovery as a client would."""
    discovery = httpx.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert GRANT in discovery["grant_types_supported"]
    response = httpx.post(
        discovery["device_authorization_endpoint"],
        data={"client_id": DEVICE_CLIENT_ID, "scope": SCOPE},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def poll(server: Server, code: dict[str, Any]) -> httpx.Response:
    data = {"grant_type": GRANT, "device_code": code["device_code"], "client_id": DEVICE_CLIENT_ID}
    return httpx.post(f"{server.issuer}/token", data=data, timeout=10)


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"])


@pytest.fixture
def chromium(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def confirm_and_sign_in(page: Page, code: dict[str, Any]) -> None:
    """On the confirmation page: check the code, continue, sign in: the approval screen."""
    assert page.inner_text("#user-code") == code["user_code"]
    assert "Page CLI" in page.inner_text("main")
    page.click("#confirm-device")
    page.wait_for_url("**/dex/auth/local/login?**")
    page.fill("#login", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("#submit-login")
    page.wait_for_url("**/dex/approval?**")
    assert "Page CLI" in page.inner_text("h1")


def test_device_approved_in_chromium_and_picked_up_with_authlib(
    passgate_server: Server, chromium: Browser, tmp_path: Path, artifacts: Path
) -> None:
    code = device_code(passgate_server)
    assert error_of(poll(passgate_server, code)) == "authorization_pending"
    # RFC 8628 §3.5: polled again at once, too fast.
    assert error_of(poll(passgate_server, code)) == "slow_down"

    page = chromium.new_page()
    page.set_default_timeout(15_000)
    response = page.goto(code["verification_uri_complete"])
    assert response is not None
    assert response.status == 200
    confirm_and_sign_in(page, code)
    page.click("#grant-access")
    page.wait_for_url("**/dex/device/callback?**")
    assert page.inner_text("#device-result") == "Device approved"
    page.screenshot(path=artifacts / "device-approved.png", full_page=True)

    # An independent client composes and parses the token requests (client_id in the
    # body: token_endpoint_auth_method "none").
    client = OAuth2Client(client_id=DEVICE_CLIENT_ID, token_endpoint_auth_method="none")
    with client:
        time.sleep(code["interval"] + 5)  # the interval grew by 5 s after the slow_down
        token = client.fetch_token(
            f"{passgate_server.issuer}/token",
            grant_type=GRANT,
            device_code=code["device_code"],
        )
        assert {"access_token", "id_token", "refresh_token"} <= set(token)
        assert token["token_type"].lower() == "bearer"
        userinfo = client.get(f"{passgate_server.issuer}/userinfo")
        assert userinfo.json()["email"] == EMAIL
        with pytest.raises(OAuthError) as spent:
            client.fetch_token(
                f"{passgate_server.issuer}/token",
                grant_type=GRANT,
                device_code=code["device_code"],
            )
        assert spent.value.error == "invalid_grant"


def test_typed_code_and_denial_in_chromium(passgate_server: Server, chromium: Browser) -> None:
    code = device_code(passgate_server)
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    page.goto(code["verification_uri"])
    page.fill("#user_code", "nope")
    page.click("#submit-code")
    page.wait_for_selector("p.error")
    assert "not a valid code" in page.inner_text("p.error")
    # RFC 8628 §6.1: lower case and without the dash is the same code.
    page.fill("#user_code", code["user_code"].lower().replace("-", ""))
    page.click("#submit-code")
    page.wait_for_selector("#confirm-device")
    confirm_and_sign_in(page, code)
    page.click("button[value=rejected]")
    page.wait_for_url("**/dex/device/callback?**")
    assert page.inner_text("#device-result") == "Device denied"
    assert error_of(poll(passgate_server, code)) == "access_denied"


def test_expired_device_code(tmp_path: Path, chromium: Browser) -> None:
    port = free_port()
    extra = "expiry:\n  deviceRequests: 2s\n"
    with run_passgate(tmp_path, port, f"http://127.0.0.1:{free_port()}/cb", extra) as server:
        code = device_code(server)
        assert code["expires_in"] == 2
        time.sleep(2.5)
        page = chromium.new_page()
        page.set_default_timeout(15_000)
        response = page.goto(code["verification_uri_complete"])
        assert response is not None
        assert response.status == 400
        assert "expired" in page.inner_text("p.error")
        assert error_of(poll(server, code)) == "expired_token"
