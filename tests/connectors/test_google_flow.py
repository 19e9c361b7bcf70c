"""The ``google`` connector inside Passgate: /auth → the fake Google on loopback (real
HTTP, real service account grant and Directory API) → /callback → tokens with the Google
groups → refresh that sees group changes and refuses a suspended account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.fake_google import CLIENT_ID, CLIENT_SECRET, FakeGoogle, rate_limited
from connectors.flow import (
    CALLBACK,
    back_from,
    callback,
    claims_of,
    code_to_tokens,
    passgate_with,
    to_upstream,
    use_factory,
)
from connectors.test_google import fake_google
from passgate.clock import FrozenClock
from passgate.config.connectors import GoogleConfig
from passgate.connectors.base import Connector
from passgate.connectors.google import GoogleConnector
from passgate.provider.directory import Directory
from server.harness import Harness, assert_error_page, assert_oauth_error

pytestmark = pytest.mark.anyio


def connector_yaml(key_file: Path, extra: str) -> str:
    return f"""connectors:
- type: google
  id: google
  name: Google
  config:
    clientID: {CLIENT_ID}
    clientSecret: {CLIENT_SECRET}
    redirectURI: {CALLBACK}
    hostedDomains: [example.com]
    serviceAccountFilePath: {key_file}
    domainToAdminEmail:
      "*": admin@example.com
{extra}"""


@asynccontextmanager
async def passgate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, extra: str = ""
) -> AsyncIterator[tuple[Harness, FakeGoogle]]:
    clock = FrozenClock()
    google = fake_google(clock)
    google.redirect_uris.add(CALLBACK)
    with google.serve() as base_url:

        def factory(ident: str, options: Mapping[str, Any], _directory: Directory) -> Connector:
            config = GoogleConfig.model_validate(options)
            return GoogleConnector(
                config, ident, clock=clock, issuer=base_url, directory_url=base_url
            )

        # The test's own factory (scoped to this test): Google is the fake.
        use_factory(monkeypatch, "google", factory)
        yaml = connector_yaml(google.key_file(tmp_path), extra)
        async with passgate_with(yaml, clock) as harness:
            yield harness, google


async def through_google(harness: Harness, google: FakeGoogle) -> httpx.Response:
    """/auth, pick Google on the chooser, sign in at the fake, back to /callback."""
    location = await to_upstream(harness, "google")
    assert location.startswith(f"{google.base_url}/o/oauth2/v2/auth?")
    return await callback(harness, await back_from(location))  # the real browser hop


async def sign_in(harness: Harness, google: FakeGoogle) -> dict[str, Any]:
    return await code_to_tokens(harness, await through_google(harness, google))


async def test_sign_in_with_google_groups_then_refresh(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with passgate(monkeypatch, tmp_path) as (harness, google):
        tokens = await sign_in(harness, google)
        claims = claims_of(tokens["id_token"])
        assert (claims["email"], claims["email_verified"]) == ("jane@example.com", True)
        assert claims["name"] == "Jane Doe"
        assert claims["groups"] == ["devs@example.com", "ops@example.com"]

        # A group change in Google Workspace shows at the next refresh.
        google.groups["devs@example.com"].members.clear()
        google.add_group("sre@example.com", "jane@example.com")
        refreshed = await harness.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert claims_of(refreshed.json()["id_token"])["groups"] == [
            "ops@example.com",
            "sre@example.com",
        ]
        info = (await harness.userinfo(refreshed.json()["access_token"])).json()
        assert info["groups"] == ["ops@example.com", "sre@example.com"]

        # Suspended in the Admin console: Google refuses the refresh token.
        google.accounts["jane@example.com"].disabled = True
        refused = await harness.refresh(refreshed.json()["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)


async def test_removed_from_the_required_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    extra = "    groups: [ops@example.com]\n"
    async with passgate(monkeypatch, tmp_path, extra) as (harness, google):
        tokens = await sign_in(harness, google)
        assert claims_of(tokens["id_token"])["groups"] == ["ops@example.com"]
        google.groups["ops@example.com"].members.clear()
        refused = await harness.refresh(tokens["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)
        # And a new sign-in gets a page that says why, and no code.
        page = await through_google(harness, google)
        assert_error_page(page, 403)
        assert "not a member of any Google group allowed here" in page.text


async def test_an_account_of_another_domain_gets_a_403_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with passgate(monkeypatch, tmp_path) as (harness, google):
        google.add_user("joe@gmail.com", "Joe")
        google.signed_in = "joe@gmail.com"
        page = await through_google(harness, google)
        assert_error_page(page, 403)
        assert "hosted domain" in page.text


async def test_a_rate_limited_directory_keeps_the_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with passgate(monkeypatch, tmp_path) as (harness, google):
        tokens = await sign_in(harness, google)
        google.fail["/admin/directory/v1/groups"] = lambda _request: rate_limited(429)
        busy = await harness.refresh(tokens["refresh_token"])
        assert_oauth_error(busy, "temporarily_unavailable", status=503)
        del google.fail["/admin/directory/v1/groups"]
        again = await harness.refresh(tokens["refresh_token"])
        assert again.status_code == 200, again.text
