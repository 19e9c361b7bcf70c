"""The device's side of the device flow (RFC 8628) in the server tests: ask for codes,
poll, and the person's steps in a browser (confirm the code, sign in, approve)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .harness import ISSUER, PREFIX, PUBLIC_ID, Harness, basic, parse_form

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "openid email profile groups offline_access"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@dataclass
class Device:
    """The device's side: its codes and how it authenticates."""

    body: dict[str, Any]
    client_id: str = PUBLIC_ID
    secret: str = ""

    @property
    def device_code(self) -> str:
        return str(self.body["device_code"])

    @property
    def user_code(self) -> str:
        return str(self.body["user_code"])


async def start(
    harness: Harness, client_id: str = PUBLIC_ID, secret: str = "", scope: str = SCOPE
) -> Device:
    data = {"client_id": client_id, "scope": scope}
    headers = basic(client_id, secret) if secret else {}
    if secret:
        del data["client_id"]
    response = await harness.client.post(f"{PREFIX}/device/code", data=data, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return Device(response.json(), client_id, secret)


async def poll(harness: Harness, device: Device, **extra: str) -> httpx.Response:
    data = {"grant_type": GRANT, "device_code": device.device_code, **extra}
    if device.secret:
        return await harness.token(data, basic(device.client_id, device.secret))
    return await harness.token({"client_id": device.client_id, **data})


async def confirm(
    harness: Harness, user_code: str, browser: httpx.AsyncClient | None = None
) -> httpx.Response:
    """Open the verification page for the code and press Continue: the 303 to /auth."""
    browser = browser or harness.client
    page = await browser.get(f"{PREFIX}/device", params={"user_code": user_code})
    assert page.status_code == 200, page.text[:300]
    form = parse_form(page.text)
    response = await browser.post(form.action, data=form.fields)
    assert response.status_code == 303, (response.status_code, response.text[:300])
    return response


async def to_approval(
    harness: Harness, user_code: str, browser: httpx.AsyncClient | None = None
) -> str:
    """Confirm the code, sign in with the password form: the approval page's URL."""
    browser = browser or harness.client
    response = await confirm(harness, user_code, browser)
    location = response.headers["location"]
    while "/login?" not in location:
        response = await browser.get(location)
        assert response.status_code == 302, response.text[:300]
        location = response.headers["location"]
    response = await harness.submit_login(
        await harness.login_form(location, browser), browser=browser
    )
    assert response.status_code == 303, response.text[:300]
    return str(response.headers["location"])


async def callback_url(
    harness: Harness, user_code: str, approval: str = "approve",
    browser: httpx.AsyncClient | None = None,
) -> str:  # fmt: skip
    url = await to_approval(harness, user_code, browser)
    form = await harness.approval_form(url, browser)
    response = await harness.submit_approval(form, approval=approval, browser=browser)
    assert response.status_code == 303, response.text[:300]
    location = str(response.headers["location"])
    assert location.startswith(f"{ISSUER}/device/callback?"), location
    return location


async def approve(harness: Harness, device: Device, approval: str = "approve") -> httpx.Response:
    location = await callback_url(harness, device.user_code, approval)
    return await harness.client.get(path_of(location))
