"""The redirect/callback connector flow, end to end in process with ``mockCallback``:
the chooser, the upstream round trip, and refusal of forged, cross-browser and replayed
callbacks."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from server.harness import PREFIX, REDIRECT_URI, Harness, basic, config_text, running

pytestmark = pytest.mark.anyio

MOCK = "connectors:\n- type: mockCallback\n  id: mock\n  name: Mock Upstream\n"


async def start(harness: Harness) -> str:
    """GET /auth, pick the mock connector on the chooser; returns the upstream URL."""
    client = harness.client
    page = await client.get(f"{PREFIX}/auth", params=harness.auth_params(state="s1"))
    assert page.status_code == 200
    assert "Mock Upstream" in page.text  # the chooser lists both connectors
    assert "Email" in page.text
    link = re.search(r'href="([^"]*/auth/mock\?[^"]*)"', page.text)
    assert link is not None
    upstream = await client.get(link.group(1).replace("&amp;", "&"))
    assert upstream.status_code == 302
    location: str = upstream.headers["location"]
    assert location.startswith("http://127.0.0.1:5556/dex/callback?state=")
    return location


async def test_callback_login_issues_a_code_with_the_upstream_identity() -> None:
    async with running(config_text(oauth2="  skipApprovalScreen: true", extra=MOCK)) as harness:
        back = await harness.client.get(await start(harness))
        assert back.status_code == 303
        target = urlsplit(back.headers["location"])
        assert back.headers["location"].startswith(REDIRECT_URI)
        query = parse_qs(target.query)
        assert query["state"] == ["s1"]
        tokens = await harness.client.post(
            f"{PREFIX}/token",
            data={"grant_type": "authorization_code", "code": query["code"][0],
                  "redirect_uri": REDIRECT_URI},
            headers=basic(),
        )  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        info = await harness.userinfo(tokens.json()["access_token"])
        assert info.json()["email"] == "kilgore@kilgore.trout"
        assert info.json()["groups"] == ["authors"]


async def test_forged_state_is_refused() -> None:
    async with running(config_text(extra=MOCK)) as harness:
        location = await start(harness)
        request_id = parse_qs(urlsplit(location).query)["state"][0].partition(".")[0]
        forged = await harness.client.get(
            f"{PREFIX}/callback", params={"state": f"{request_id}.00"}
        )
        assert forged.status_code == 403
        assert "location" not in forged.headers
        unknown = await harness.client.get(f"{PREFIX}/callback", params={"state": "nope.nope"})
        assert unknown.status_code == 400
        missing = await harness.client.get(f"{PREFIX}/callback")
        assert missing.status_code == 400


async def test_callback_in_another_browser_is_refused() -> None:
    async with running(config_text(extra=MOCK)) as harness:
        location = await start(harness)
        other = await harness.browser()
        assert (await other.get(location)).status_code == 403


async def test_replayed_callback_is_refused() -> None:
    async with running(config_text(extra=MOCK)) as harness:
        location = await start(harness)
        first = await harness.client.get(location)
        assert first.status_code == 303
        assert first.headers["location"].startswith(f"{PREFIX}/approval?")
        replay = await harness.client.get(location)
        assert replay.status_code == 400
        assert "already" in replay.text


async def test_the_chooser_shows_each_connector_with_its_type_icon() -> None:
    async with running(config_text(extra=MOCK)) as harness:
        page = await harness.client.get(f"{PREFIX}/auth", params=harness.auth_params())
        icons = re.findall(r'<img class="logo" src="([^"]+)"', page.text)
        assert icons == [f"{PREFIX}/static/img/mockCallback.svg", f"{PREFIX}/static/img/local.svg"]
        for icon in icons:
            served = await harness.client.get(icon)
            assert served.status_code == 200
            assert served.headers["content-type"].startswith("image/svg+xml")
