"""The ``microsoft`` connector inside the whole Passgate app, configured as a Dex config
would be for a national cloud (``apiURL`` and ``graphURL``: the fake, over TLS with a
private CA): /auth → the chooser → Microsoft's sign-in (the fake) → /callback → tokens with
the groups → refresh reflects a group change, survives throttling, and is refused once the
account is disabled in Entra."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from connectors.fake_microsoft import FakeMicrosoft
from connectors.fakeserver import serve_app
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
from e2e.tls import TLSFiles
from passgate.clock import FrozenClock
from passgate.config.connectors import MicrosoftConfig
from passgate.connectors.base import Connector
from passgate.connectors.microsoft import MicrosoftConnector
from passgate.provider.directory import Directory
from server.harness import Harness, assert_error_page, assert_oauth_error, query_of

pytestmark = pytest.mark.anyio

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "Zx~8Q~flow.s3cret"
TENANT = "contoso.onmicrosoft.com"


@pytest.fixture
def cloud(clock: FrozenClock, tls: TLSFiles) -> Iterator[tuple[FakeMicrosoft, str]]:
    fake = FakeMicrosoft(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=CALLBACK,
                         domain=TENANT, now=lambda: clock().timestamp())  # fmt: skip
    fake.add_group("developers")
    fake.add_group("sre")
    fake.add_group("All Company", security=False)
    jane = fake.add_user("Jane Doe", "Jane.Doe@Contoso.onmicrosoft.com")
    fake.join(jane, "developers", "All Company")
    fake.add_user("Mallory", "mallory@contoso.onmicrosoft.com")
    fake.signed_in = jane.id
    with serve_app(fake.app(), tls=tls) as base_url:
        yield fake, base_url


@asynccontextmanager
async def passgate(
    monkeypatch: pytest.MonkeyPatch, base_url: str, tls: TLSFiles, clock: FrozenClock
) -> AsyncIterator[Harness]:
    connector = f"""connectors:
- type: microsoft
  id: microsoft
  name: Microsoft
  config:
    clientID: {CLIENT_ID}
    clientSecret: {CLIENT_SECRET}
    redirectURI: {CALLBACK}
    tenant: {TENANT}
    onlySecurityGroups: true
    groups: [developers, sre]
    emailToLowercase: true
    apiURL: {base_url}
    graphURL: {base_url}
"""

    def factory(_id: str, options: Mapping[str, Any], _directory: Directory) -> Connector:
        # Dex's microsoft connector has no rootCA option: the test CA goes in directly.
        config = MicrosoftConfig.model_validate(options)
        return MicrosoftConnector(config, "microsoft", clock=clock, root_cas=[str(tls.ca)])

    use_factory(monkeypatch, "microsoft", factory)
    async with passgate_with(connector, clock) as harness:
        yield harness


async def sign_in(harness: Harness, tls: TLSFiles) -> httpx.Response:
    """/auth, the chooser, Microsoft's sign-in page (the fake), back to /callback."""
    authorize = await to_upstream(harness, "microsoft")
    assert f"/{TENANT}/oauth2/v2.0/authorize?" in authorize
    scope = query_of(authorize)["scope"]
    assert scope == "user.read directory.read.all offline_access"
    return await callback(harness, await back_from(authorize, tls))


async def test_sign_in_then_refresh_follows_entra(
    monkeypatch: pytest.MonkeyPatch,
    cloud: tuple[FakeMicrosoft, str],
    tls: TLSFiles,
    clock: FrozenClock,
) -> None:
    fake, base_url = cloud
    jane = next(u for u in fake.users.values() if u.display_name == "Jane Doe")
    async with passgate(monkeypatch, base_url, tls, clock) as harness:
        tokens = await code_to_tokens(harness, await sign_in(harness, tls))
        claims = claims_of(tokens["id_token"])
        assert claims["groups"] == ["developers"]  # onlySecurityGroups
        assert claims["name"] == "Jane Doe"
        assert (claims["email"], claims["email_verified"]) == (
            "jane.doe@contoso.onmicrosoft.com", True,
        )  # fmt: skip
        info = (await harness.userinfo(tokens["access_token"])).json()
        assert info["groups"] == ["developers"]

        # Added to a group in Entra: the next refresh carries it.
        fake.join(jane, "sre")
        refreshed = await harness.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        new_claims = claims_of(refreshed.json()["id_token"])
        assert new_claims["groups"] == ["developers", "sre"]
        assert new_claims["sub"] == claims["sub"]

        # Graph throttles: the refresh is postponed, the session is kept.
        fake.throttle["graph"] = 1
        limited = await harness.refresh(refreshed.json()["refresh_token"])
        assert_oauth_error(limited, "temporarily_unavailable", status=503)
        assert limited.headers["retry-after"] == "7"
        again = await harness.refresh(refreshed.json()["refresh_token"])
        assert again.status_code == 200, again.text

        # Disabled in Entra: the session ends with invalid_grant, and stays ended.
        jane.account_enabled = False
        refused = await harness.refresh(again.json()["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)
        jane.account_enabled = True
        still = await harness.refresh(again.json()["refresh_token"])
        assert_oauth_error(still, "invalid_grant", status=400)


async def test_a_user_outside_the_required_groups_gets_a_403_page(
    monkeypatch: pytest.MonkeyPatch,
    cloud: tuple[FakeMicrosoft, str],
    tls: TLSFiles,
    clock: FrozenClock,
) -> None:
    fake, base_url = cloud
    fake.signed_in = next(u.id for u in fake.users.values() if u.display_name == "Mallory")
    async with passgate(monkeypatch, base_url, tls, clock) as harness:
        response = await sign_in(harness, tls)
        assert_error_page(response, 403)
        assert "not a member of any of the Microsoft groups required here" in response.text
        assert "developers, sre" in response.text


async def test_declining_consent_is_a_502_page_that_says_so(
    monkeypatch: pytest.MonkeyPatch,
    cloud: tuple[FakeMicrosoft, str],
    tls: TLSFiles,
    clock: FrozenClock,
) -> None:
    fake, base_url = cloud
    fake.deny = True
    async with passgate(monkeypatch, base_url, tls, clock) as harness:
        response = await sign_in(harness, tls)
        assert_error_page(response, 502)
        assert "AADSTS65004" in response.text
