"""GET/POST /logout (OIDC RP-Initiated Logout 1.0): a valid id_token_hint ends its
session (and only it), redirects only to a registered post_logout_redirect_uri with
state, and without a hint the person confirms on a CSRF-bound form first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from passgate.storage.models import SessionFilter

from .harness import (
    CLIENT_ID,
    OTHER_ID,
    PREFIX,
    SESSION_COOKIE,
    Harness,
    assert_error_page,
    parse_form,
    query_of,
    running,
    without_query,
)
from .revocation_support import POST_LOGOUT_URI, authenticated, events, introspect, kube_config

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kube(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(kube_config()) as built:
        yield built


async def test_hint_ends_that_session_and_redirects_with_state(kube: Harness) -> None:
    # The same person in two browsers: signing out in one leaves the other signed in.
    first, second = await kube.tokens(), await kube.tokens(browser=await kube.browser())
    response = await kube.client.get(
        f"{PREFIX}/logout",
        params={
            "id_token_hint": first["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "s-1",
            "client_id": CLIENT_ID,
        },
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert without_query(location) == POST_LOGOUT_URI
    assert query_of(location) == {"state": "s-1"}
    assert not await authenticated(kube, first["id_token"])
    assert not (await introspect(kube, first["refresh_token"]))["active"]
    assert await authenticated(kube, second["id_token"])
    [event] = await events(kube, "logout")
    assert event.details["session_ended"] == "true"
    # The hint's sid is the browser session: it ended, and the grant made through it.
    storage = kube.runtime.services.storage
    browser_session = await storage.get_browser_session(event.session_id)
    assert browser_session.revoked_by == "logout"
    grants = await storage.list_sessions(
        SessionFilter(browser_session_id=browser_session.id, include_revoked=True), kube.clock()
    )
    assert [(g.client_id, g.revoked_by) for g in grants] == [(CLIENT_ID, "logout")]


async def test_an_expired_hint_still_ends_the_session(kube: Harness) -> None:
    tokens = await kube.tokens()
    kube.clock.advance(timedelta(hours=2))
    response = await kube.client.post(
        f"{PREFIX}/logout", data={"id_token_hint": tokens["id_token"]}
    )
    assert response.status_code == 200
    assert "You have signed out" in response.text
    assert not (await introspect(kube, tokens["refresh_token"]))["active"]


async def test_unregistered_redirects_are_refused_with_a_page(kube: Harness) -> None:
    tokens = await kube.tokens()
    cases = [
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"},
        {"post_logout_redirect_uri": POST_LOGOUT_URI},  # no client known
        {"client_id": OTHER_ID, "post_logout_redirect_uri": POST_LOGOUT_URI},
        {"client_id": "nobody"},
        # client_id must be an audience of the hint
        {"id_token_hint": tokens["id_token"], "client_id": OTHER_ID},
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT_URI + "/"},
    ]
    for params in cases:
        response = await kube.client.get(f"{PREFIX}/logout", params=params)
        assert_error_page(response, 400)
    assert await authenticated(kube, tokens["id_token"])
    assert await events(kube, "logout") == []


async def test_without_a_hint_the_person_confirms(kube: Harness) -> None:
    tokens = await kube.tokens()
    params = {"client_id": CLIENT_ID, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "z"}
    page = await kube.client.get(f"{PREFIX}/logout", params=params)
    assert page.status_code == 200
    assert "Sign out?" in page.text
    form = parse_form(page.text)
    # Another browser (no cookie) cannot replay the form.
    stranger = await kube.browser()
    refused = await stranger.post(form.action, data={**form.fields, "confirm": "yes"})
    assert_error_page(refused, 403)
    forged = await kube.client.post(
        form.action, data={**form.fields, "csrf_token": "forged", "confirm": "yes"}
    )
    assert_error_page(forged, 403)
    # Until the person confirms, nothing has ended.
    assert await authenticated(kube, tokens["id_token"])
    done = await kube.client.post(form.action, data={**form.fields, "confirm": "yes"})
    assert done.status_code == 303
    assert query_of(done.headers["location"]) == {"state": "z"}
    # The browser's own session ended (its cookie is cleared), and with it its tokens.
    assert SESSION_COOKIE in done.headers["set-cookie"]
    assert "Max-Age=0" in done.headers["set-cookie"]
    assert SESSION_COOKIE not in kube.client.cookies
    assert not await authenticated(kube, tokens["id_token"])
    [event] = await events(kube, "logout")
    assert event.details["session_ended"] == "true"


async def test_an_access_token_is_no_hint(kube: Harness) -> None:
    tokens = await kube.tokens()
    page = await kube.client.get(
        f"{PREFIX}/logout", params={"id_token_hint": tokens["access_token"]}
    )
    assert page.status_code == 200
    assert "Sign out?" in page.text
    assert await authenticated(kube, tokens["id_token"])
