"""The ``oidc`` connector inside Passgate, in process: /auth → the upstream (a fake behind
``httpx.MockTransport``) → /callback → code → tokens → refresh, plus the refusal pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from connectors.flow import CALLBACK, callback, code_to_tokens, passgate_with, use_factory
from connectors.flow import to_upstream as choose
from connectors.test_oidc import CLIENT_ID, CLIENT_SECRET, UPSTREAM, Upstream
from passgate.clock import FrozenClock
from passgate.config.connectors import OIDCConfig
from passgate.connectors.base import Connector
from passgate.connectors.oidc import OIDCConnector
from passgate.provider.directory import Directory
from server.harness import (
    PREFIX,
    REDIRECT_URI,
    Harness,
    assert_error_page,
    assert_oauth_error,
    basic,
    query_of,
)

pytestmark = pytest.mark.anyio


def connector_yaml(**extra: str) -> str:
    lines = "".join(f"    {key}: {value}\n" for key, value in extra.items())
    return (
        "connectors:\n- type: oidc\n  id: up\n  name: Upstream IdP\n  config:\n"
        f"    issuer: {UPSTREAM}\n    clientID: {CLIENT_ID}\n    clientSecret: {CLIENT_SECRET}\n"
        f"    redirectURI: {CALLBACK}\n    insecureEnableGroups: true\n{lines}"
    )


@asynccontextmanager
async def passgate(
    monkeypatch: pytest.MonkeyPatch, **extra: str
) -> AsyncIterator[tuple[Harness, Upstream]]:
    clock = FrozenClock()
    upstream = Upstream(clock, redirect=CALLBACK)

    def factory(_id: str, options: Mapping[str, Any], _directory: Directory) -> Connector:
        config = OIDCConfig.model_validate(options)
        return OIDCConnector(config, "up", upstream.client(), clock=clock)

    # The test's own factory (scoped to this test): the upstream is the fake.
    use_factory(monkeypatch, "oidc", factory)
    async with passgate_with(connector_yaml(**extra), clock) as harness:
        yield harness, upstream


async def to_upstream(harness: Harness) -> str:
    """/auth, pick the upstream on the chooser: the upstream's authorization URL."""
    location = await choose(harness, "up")
    assert location.startswith(f"{UPSTREAM}/authorize?")
    query = query_of(location)
    assert query["redirect_uri"] == CALLBACK
    assert "offline_access" in query["scope"].split()
    return location


async def test_sign_in_through_the_upstream_then_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    async with passgate(monkeypatch) as (harness, upstream):
        back = upstream.authorize(await to_upstream(harness))
        tokens = await code_to_tokens(harness, await callback(harness, back))
        info = (await harness.userinfo(tokens["access_token"])).json()
        assert info["email"] == "jane@example.com"
        assert info["groups"] == ["admins", "devs"]

        # Groups changed upstream: a refresh asks the upstream and picks them up.
        upstream.claims["groups"] = ["ops"]
        refreshed = await harness.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        info = (await harness.userinfo(refreshed.json()["access_token"])).json()
        assert info["groups"] == ["ops"]

        # The user was disabled upstream: Passgate answers invalid_grant.
        upstream.refresh_tokens.clear()
        refused = await harness.refresh(refreshed.json()["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)


async def test_a_user_outside_the_allowed_groups_gets_a_403_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with passgate(monkeypatch, allowedGroups="[finance]") as (harness, upstream):
        back = upstream.authorize(await to_upstream(harness))
        response = await callback(harness, back)
        assert_error_page(response, 403)
        assert "not in any group allowed here" in response.text


async def test_an_upstream_error_is_a_502_page(monkeypatch: pytest.MonkeyPatch) -> None:
    async with passgate(monkeypatch) as (harness, _upstream):
        state = query_of(await to_upstream(harness))["state"]
        response = await harness.client.get(
            f"{PREFIX}/callback", params={"state": state, "error": "access_denied"}
        )
        assert_error_page(response, 502)
        assert "access_denied" in response.text


async def test_a_code_for_another_browser_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async with passgate(monkeypatch) as (harness, upstream):
        back = upstream.authorize(await to_upstream(harness))
        other = await harness.browser()
        assert_error_page(await other.get(f"{PREFIX}/callback", params=back), 403)


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        (httpx.Response(503, text="maintenance"), "30"),
        (httpx.Response(200, text="<html>oops</html>"), "30"),
        (httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow"}), "7"),
    ],
    ids=["5xx", "garbage", "rate-limited"],
)
async def test_an_unavailable_upstream_keeps_the_session(
    monkeypatch: pytest.MonkeyPatch, answer: httpx.Response, retry_after: str
) -> None:
    """A refresh while the upstream is broken is 503 temporarily_unavailable, not
    invalid_grant: the outage says nothing about the person, so the token still works."""
    async with passgate(monkeypatch) as (harness, upstream):
        back = upstream.authorize(await to_upstream(harness))
        response = await harness.client.get(f"{PREFIX}/callback", params=back)
        code = query_of(response.headers["location"])["code"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        refresh_token = (await harness.token(form, basic())).json()["refresh_token"]

        upstream.fail["/token"] = lambda _request: answer
        broken = await harness.refresh(refresh_token)
        assert_oauth_error(broken, "temporarily_unavailable", status=503)
        assert broken.headers["retry-after"] == retry_after

        del upstream.fail["/token"]
        again = await harness.refresh(refresh_token)
        assert again.status_code == 200, again.text
