"""The upstream provider itself behaves like a real IdP: an independent check of the test
fixture, driven as a plain relying party (no Passgate code)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from upstream.provider import page_form, running_upstream

pytestmark = pytest.mark.slow

REDIRECT = "http://127.0.0.1:5556/dex/callback"
ALICE = {"email": "alice@example.com", "email_verified": True, "name": "Alice", "groups": ["devs"]}


def claims(id_token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(id_token, options={"verify_signature": False})
    return decoded


def submit(client: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    action, hidden = page_form(page.text)
    return client.post(action, data={**hidden, **fields})


def sign_in(issuer: str, client_id: str) -> str:
    """The browser part: login and consent on the provider's own pages; returns the code."""
    with httpx.Client(base_url=issuer, follow_redirects=False, timeout=10) as browser:
        query = urlencode(
            {
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "openid email profile groups offline_access",
                "state": "s",
                "nonce": "n",
                "prompt": "consent",
            }
        )
        response = browser.get(f"/auth?{query}")
        for _ in range(8):
            if response.status_code in (302, 303):
                location = response.headers["location"]
                if location.startswith(REDIRECT):
                    return parse_qs(urlsplit(location).query)["code"][0]
                response = browser.get(location)
            elif 'name="login"' in response.text:
                response = submit(browser, response, login="alice", password="any")
            else:
                response = submit(browser, response)
        raise AssertionError(response.text[:500])


def test_upstream_login_refresh_group_change_and_disable() -> None:
    with running_upstream(REDIRECT, {"alice": ALICE}) as upstream:
        code = sign_in(upstream.issuer, upstream.client_id)
        auth = (upstream.client_id, upstream.client_secret)
        tokens = httpx.post(f"{upstream.issuer}/token", auth=auth, timeout=10,
                            data={"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": REDIRECT}).json()  # fmt: skip
        assert claims(tokens["id_token"])["groups"] == ["devs"]
        upstream.change("alice", groups=["devs", "admins"])
        refreshed = httpx.post(f"{upstream.issuer}/token", auth=auth, timeout=10,
                               data={"grant_type": "refresh_token",
                                     "refresh_token": tokens["refresh_token"]}).json()  # fmt: skip
        assert claims(refreshed["id_token"])["groups"] == ["devs", "admins"]
        upstream.change("alice", disabled=True)
        denied = httpx.post(f"{upstream.issuer}/token", auth=auth, timeout=10,
                            data={"grant_type": "refresh_token",
                                  "refresh_token": refreshed["refresh_token"]})  # fmt: skip
        assert denied.status_code == 400
        assert denied.json()["error"] == "invalid_grant"
