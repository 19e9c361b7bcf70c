"""The ``github`` connector inside the whole Passgate app, configured exactly as a Dex
config would (``hostName`` + ``rootCA`` of a GitHub Enterprise host: the fake, over TLS):
/auth → the chooser → the fake's authorize page → /callback → tokens with the groups →
refresh reflects a team change, survives a rate limit, and is refused after leaving the org.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from connectors.fake_github import FakeGitHub
from connectors.fakeserver import serve_app
from connectors.flow import (
    CALLBACK,
    back_from,
    callback,
    claims_of,
    code_to_tokens,
    passgate_with,
    to_upstream,
)
from e2e.tls import TLSFiles
from passgate.clock import FrozenClock
from server.harness import Harness, assert_error_page, assert_oauth_error, query_of

pytestmark = pytest.mark.anyio

CLIENT_ID = "Iv1.0123456789abcdef"
CLIENT_SECRET = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def ghe(clock: FrozenClock, tls: TLSFiles) -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        callback=CALLBACK,
        enterprise=True,
        now=lambda: clock().timestamp(),
    )
    fake.add_user("jane", 1042, name="Jane Doe", email="jane@corp.example")
    fake.add_user("mallory", 666, email="mallory@corp.example")
    fake.add_member("acme", "jane", "devs")
    fake.add_member("acme", "jane")
    fake.team("acme", "ops")
    with serve_app(fake.app(), tls=tls) as base_url:
        yield fake, base_url.removeprefix("https://")


@asynccontextmanager
async def passgate(host: str, tls: TLSFiles, clock: FrozenClock) -> AsyncIterator[Harness]:
    connector = f"""connectors:
- type: github
  id: github
  name: GitHub Enterprise
  config:
    clientID: {CLIENT_ID}
    clientSecret: {CLIENT_SECRET}
    redirectURI: {CALLBACK}
    orgs:
    - name: acme
      teams: [devs, ops]
    hostName: {host}
    rootCA: {tls.ca}
"""
    async with passgate_with(connector, clock) as harness:
        yield harness


async def sign_in(harness: Harness, tls: TLSFiles) -> httpx.Response:
    """/auth, the chooser, GitHub's authorize page (the fake), back to /callback."""
    authorize = await to_upstream(harness, "github")
    assert "/login/oauth/authorize?" in authorize
    assert query_of(authorize)["scope"] == "user:email read:org"
    return await callback(harness, await back_from(authorize, tls))


async def test_sign_in_then_refresh_follows_github(
    ghe: tuple[FakeGitHub, str], tls: TLSFiles, clock: FrozenClock
) -> None:
    fake, host = ghe
    fake.signed_in = "jane"
    async with passgate(host, tls, clock) as harness:
        tokens = await code_to_tokens(harness, await sign_in(harness, tls))
        claims = claims_of(tokens["id_token"])
        assert claims["groups"] == ["acme:devs"]
        assert (claims["name"], claims["preferred_username"]) == ("Jane Doe", "jane")
        assert (claims["email"], claims["email_verified"]) == ("jane@corp.example", True)

        # Added to a team at GitHub: the next refresh carries it.
        fake.add_member("acme", "jane", "ops")
        refreshed = await harness.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert claims_of(refreshed.json()["id_token"])["groups"] == ["acme:devs", "acme:ops"]
        assert claims_of(refreshed.json()["id_token"])["sub"] == claims["sub"]

        # Rate limited: the refresh is postponed, the session is kept.
        fake.rate_limit = "primary"
        limited = await harness.refresh(refreshed.json()["refresh_token"])
        assert_oauth_error(limited, "temporarily_unavailable")
        fake.rate_limit = None
        again = await harness.refresh(refreshed.json()["refresh_token"])
        assert again.status_code == 200, again.text

        # Left the organisation: the session ends with invalid_grant.
        fake.remove_member("acme", "jane")
        refused = await harness.refresh(again.json()["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)


async def test_a_revoked_authorization_ends_the_session(
    ghe: tuple[FakeGitHub, str], tls: TLSFiles, clock: FrozenClock
) -> None:
    fake, host = ghe
    fake.signed_in = "jane"
    async with passgate(host, tls, clock) as harness:
        tokens = await code_to_tokens(harness, await sign_in(harness, tls))
        fake.revoke("jane")
        refused = await harness.refresh(tokens["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)


async def test_a_user_outside_the_org_gets_a_403_page_that_says_why(
    ghe: tuple[FakeGitHub, str], tls: TLSFiles, clock: FrozenClock
) -> None:
    fake, host = ghe
    fake.signed_in = "mallory"
    async with passgate(host, tls, clock) as harness:
        response = await sign_in(harness, tls)
        assert_error_page(response, 403)
        assert "not in any of the teams devs, ops of the GitHub organisation" in response.text
