"""Issue 2/5, acceptance 1: Passgate's ``oidc`` connector signs a person in at a real
OpenID Provider (node-oidc-provider, started on loopback), the client receives Passgate
tokens with the upstream groups, a refresh after the upstream groups change carries the
new groups, and after the upstream disables the person the refresh is ``invalid_grant``."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest

from passgate.clock import FrozenClock
from server.harness import (
    BASE_URL,
    CLIENT_ID,
    PREFIX,
    REDIRECT_URI,
    Harness,
    basic,
    config_text,
    running,
)
from upstream.provider import Upstream, free_port, page_form, running_upstream

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALLBACK = f"{BASE_URL}{PREFIX}/callback"
ALICE = {
    "email": "alice@example.com",
    "email_verified": True,
    "name": "Alice",
    "preferred_username": "alice",
    "groups": ["devs"],
}


def connector(upstream: Upstream) -> str:
    """A Dex ``connectors:`` entry, written as Dex documents it."""
    return f"""connectors:
- type: oidc
  id: upstream
  name: Corporate SSO
  config:
    issuer: {upstream.issuer}
    clientID: {upstream.client_id}
    clientSecret: {upstream.client_secret}
    redirectURI: {CALLBACK}
    scopes: [openid, profile, email, groups, offline_access]
    insecureEnableGroups: true
    userNameKey: name
    pkceChallenge: S256
"""


async def sign_in(harness: Harness) -> str:
    """A browser: Passgate's /auth, the upstream's own login and consent pages, back to
    Passgate's /callback, then to the client with a code."""
    params = harness.auth_params(state="client-state", connector_id="upstream")
    response = await harness.client.get(f"{PREFIX}/auth", params=params)
    upstream_url = ""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        for _ in range(12):
            assert response.status_code in (200, 302, 303), response.text[:300]
            location = response.headers.get("location", "")
            if location.startswith(REDIRECT_URI):
                query = parse_qs(urlsplit(location).query)
                assert query["state"] == ["client-state"]
                return query["code"][0]
            if location.startswith((PREFIX, CALLBACK)):
                target = urlsplit(location)
                path = f"{target.path}?{target.query}" if target.query else target.path
                response = await harness.client.get(path)
            elif location:  # a page of the upstream provider (relative or absolute)
                upstream_url = urljoin(upstream_url, location)
                response = await browser.get(upstream_url)
            else:  # the upstream's login page, then its consent page
                action, fields = page_form(response.text)
                if 'name="login"' in response.text:
                    fields.update(login="alice", password="x")
                upstream_url = urljoin(upstream_url, action)
                response = await browser.post(upstream_url, data=fields)
    raise AssertionError("the sign-in did not come back to the client")


async def test_upstream_sign_in_groups_follow_upstream_and_disable_revokes() -> None:
    with running_upstream(CALLBACK, {"alice": ALICE}) as upstream:
        text = config_text(oauth2="  skipApprovalScreen: true", extra=connector(upstream))
        async with running(text, clock=FrozenClock(datetime.now(UTC))) as harness:
            code = await sign_in(harness)
            form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
            tokens = (await harness.token(form, basic())).json()
            claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
            assert claims["aud"] == CLIENT_ID
            assert claims["email"] == "alice@example.com"
            assert claims["email_verified"] is True
            assert claims["groups"] == ["devs"]

            upstream.change("alice", groups=["devs", "admins"])
            refreshed = await harness.refresh(tokens["refresh_token"], headers=basic())
            assert refreshed.status_code == 200, refreshed.text
            new_claims = jwt.decode(
                refreshed.json()["id_token"], options={"verify_signature": False}
            )
            assert new_claims["groups"] == ["devs", "admins"]

            upstream.change("alice", disabled=True)
            denied = await harness.refresh(refreshed.json()["refresh_token"], headers=basic())
            assert denied.status_code == 400
            assert denied.json()["error"] == "invalid_grant"


async def test_upstream_that_is_down_gives_a_clear_page_not_a_500() -> None:
    """Issue 2/5, acceptance 3 (down): nothing listens at the upstream's address."""
    closed = Upstream(
        issuer=f"http://127.0.0.1:{free_port()}",
        admin="",
        client_id="passgate",
        client_secret="upstream-secret-value",
    )
    text = config_text(extra=connector(closed))
    async with running(text, clock=FrozenClock(datetime.now(UTC))) as harness:
        params = harness.auth_params(connector_id="upstream")
        response = await harness.client.get(f"{PREFIX}/auth", params=params)
        assert response.status_code == 302
        page = await harness.client.get(response.headers["location"])
        assert page.status_code == 502
        assert "Corporate SSO" in page.text
        assert "text/html" in page.headers["content-type"]
        assert "Traceback" not in page.text
