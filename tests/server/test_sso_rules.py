"""The finer rules of browser single sign-on: a session answers only for what its
connector was asked (groups), ``prompt=login`` wins over ``select_account``, a logout
hint for another session asks first, a sign-out between sign-in and approval stops the
approval (a device's too), and revocation rules outlive the forward-auth cookies they
refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from passgate.config.builtin import FORWARD_AUTH_CLIENT_ID
from passgate.storage.models import BrowserSessionFilter

from .device_support import confirm, start
from .forward_auth_support import GRAFANA, WIKI, ask, forward_auth_config, sign_in_at
from .harness import (
    ISSUER,
    OTHER_ID,
    PREFIX,
    SESSION_COOKIE,
    Harness,
    config_text,
    parse_form,
    running,
)
from .sso_support import authorize, claims, sign_in, tokens_of

pytestmark = pytest.mark.anyio

WITHOUT_GROUPS = "openid email profile offline_access"
HTTPS_ORIGIN = "https://sso.example.com"
GROUPS = "admins,developers"  # the test user's


@pytest.fixture
async def sso(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(config_text(oauth2="  skipApprovalScreen: true")) as built:
        yield built


async def test_a_session_signed_in_without_groups_asks_again_for_a_client_that_wants_them(
    sso: Harness,
) -> None:
    first = await sign_in(sso, await authorize(sso, scope=WITHOUT_GROUPS))
    first_sid = claims((await tokens_of(sso, first))["id_token"])["sid"]
    storage = sso.runtime.services.storage
    assert not (await storage.get_browser_session(first_sid)).with_groups
    assert (await authorize(sso, scope=WITHOUT_GROUPS)).to_client  # what it has: reused
    # Groups were never asked of the connector: a fresh sign-in, not somebody's old word.
    assert (await authorize(sso, prompt="none")).query["error"] == "login_required"
    wants_groups = await authorize(sso)
    assert wants_groups.to_login_form
    second = await tokens_of(sso, await sign_in(sso, wants_groups))
    session = await storage.get_browser_session(first_sid)
    assert claims(second["id_token"])["sid"] == first_sid  # the same person: renewed
    assert session.with_groups
    # auth_time of the fresh sign-in is the session's, to the second.
    assert claims(second["id_token"])["auth_time"] == int(session.auth_time.timestamp())
    assert (await authorize(sso, prompt="none")).to_client


async def test_codes_come_back_uncacheable(sso: Harness) -> None:
    answer = await sign_in(sso, await authorize(sso))
    assert answer.response.headers["cache-control"] == "no-store"  # after the password
    again = await authorize(sso)
    assert again.to_client
    assert again.response.headers["cache-control"] == "no-store"  # through the session


async def test_prompt_login_with_select_account_asks_for_the_password_not_the_account(
    sso: Harness,
) -> None:
    await sign_in(sso, await authorize(sso))
    assert (await authorize(sso, prompt="login select_account")).to_login_form


async def test_a_hint_for_another_session_of_the_same_person_asks_first(sso: Harness) -> None:
    here = claims((await tokens_of(sso, await sign_in(sso, await authorize(sso))))["id_token"])
    laptop = await sso.browser()
    elsewhere = await tokens_of(sso, await sign_in(sso, await authorize(sso, laptop), laptop))
    assert claims(elsewhere["id_token"])["sid"] != here["sid"]
    asked = await sso.client.get(
        f"{PREFIX}/logout", params={"id_token_hint": elsewhere["id_token"]}
    )
    assert asked.status_code == 200
    assert 'name="confirm"' in asked.text  # nothing ended unasked
    storage = sso.runtime.services.storage
    active = await storage.list_browser_sessions(BrowserSessionFilter(), sso.clock())
    assert len(active) == 2
    form = parse_form(asked.text)
    done = await sso.client.post(form.action, data={**form.fields, "confirm": "yes"})
    assert "You have signed out" in done.text
    # Only this browser's session ended; the other browser's stays signed in.
    [left] = await storage.list_browser_sessions(BrowserSessionFilter(), sso.clock())
    assert left.id == claims(elsewhere["id_token"])["sid"]
    assert (await authorize(sso, laptop, prompt="none")).to_client


async def test_a_device_cannot_be_approved_from_a_browser_signed_out_meanwhile(
    anyio_backend: str,
) -> None:
    async with running(config_text()) as harness:  # approval shown
        await sign_in(harness, await authorize(harness))
        device = await start(harness)
        location = (await confirm(harness, device.user_code)).headers["location"]
        while not location.startswith(f"{PREFIX}/approval"):
            location = (await harness.client.get(location)).headers["location"]
        approval = await harness.approval_form(location)
        out = await harness.client.post(f"{PREFIX}/logout", data={})
        form = parse_form(out.text)
        await harness.client.post(form.action, data={**form.fields, "confirm": "yes"})
        refused = await harness.submit_approval(approval)
        assert refused.status_code == 400
        assert "sign in again" in refused.text


async def test_a_client_rule_refuses_forward_auth_cookies_for_as_long_as_they_live(
    anyio_backend: str,
) -> None:
    """forwardAuth.lifetime (12h) outlives the ID tokens (1h): so must the rule."""
    text = forward_auth_config("sessions:\n  validIfNotUsedFor: 24h\n")
    async with running(text) as harness:
        browser = await harness.browser()
        assert (await sign_in_at(harness, browser, GRAFANA)).status_code == 302
        assert (await ask(harness, browser, WIKI)).status_code == 202
        services = harness.runtime.services
        revoked_at = harness.clock()
        await services.revoker.revoke_client(FORWARD_AUTH_CLIENT_ID, actor="admin:ops")
        assert (await ask(harness, browser, WIKI)).status_code == 401
        [rule] = [r for r in await services.storage.list_revocations() if r.kind == "client"]
        assert rule.expiry >= revoked_at + timedelta(hours=12)
        # Every replica's cache (a fresh start reads the rules) still refuses at 11 hours.
        harness.clock.advance(timedelta(hours=11))
        async with running(text, clock=harness.clock,
                           storage=services.storage) as replica:  # fmt: skip
            assert (await ask(replica, browser, WIKI)).status_code == 401


async def test_on_https_the_cookie_is_host_prefixed_secure_and_site_wide(
    anyio_backend: str,
) -> None:
    """RFC 6265bis §4.1.3.2: a ``__Host-`` cookie must be Secure, Path=/ and carry no
    Domain, or the browser drops it."""
    text = config_text(oauth2="  skipApprovalScreen: true").replace(
        f"issuer: {ISSUER}", f"issuer: {HTTPS_ORIGIN}{PREFIX}"
    )
    async with running(text) as harness:
        transport = httpx.ASGITransport(app=harness.runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url=HTTPS_ORIGIN) as browser:
            answer = await authorize(harness, browser)
            posted = await harness.submit_login(parse_form(answer.response.text), browser=browser)
            [cookie] = [
                value
                for value in posted.headers.get_list("set-cookie")
                if value.startswith("__Host-passgate_session=")
            ]
            attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
            assert {"path=/", "secure", "httponly", "samesite=lax"} <= attributes
            assert not any(part.startswith("domain=") for part in attributes)
            # The browser sends it back to the issuer: the next client needs no password.
            assert (await authorize(harness, browser, client_id=OTHER_ID)).to_client


async def test_the_approval_page_sets_and_clears_remember_me(anyio_backend: str) -> None:
    """Connectors without a login form of Passgate's ask "keep me signed in" on approval
    (Dex DEP 4560): ticked, the cookie outlives the browser; unticked, it does not."""
    async with running(config_text()) as harness:
        storage = harness.runtime.services.storage
        for ticked in (True, False):
            # The login form's box says the opposite: the approval page has the last word.
            extra = {} if ticked else {"remember_me": "yes"}
            answer = await authorize(harness, prompt="login consent")
            shown = await sign_in(harness, answer, approve=False, **extra)
            assert shown.to_approval
            form = parse_form(shown.response.text)
            assert form.fields["ask_remember_me"] == "yes"
            fields = {k: v for k, v in form.fields.items() if k != "remember_me"}
            data = {**fields, "approval": "approve"} | ({"remember_me": "yes"} if ticked else {})
            response = await harness.client.post(form.action, data=data)
            assert response.status_code == 303
            [cookie] = [
                value
                for value in response.headers.get_list("set-cookie")
                if value.startswith(f"{SESSION_COOKIE}=")
            ]
            assert ("max-age=" in cookie.lower()) is ticked
            [session] = await storage.list_browser_sessions(BrowserSessionFilter(), harness.clock())
            assert session.remember_me is ticked


async def test_forward_auth_never_answers_from_a_session_renewed_without_groups(
    anyio_backend: str,
) -> None:
    async with running(forward_auth_config()) as harness:
        browser = await harness.browser()
        assert (await sign_in_at(harness, browser, GRAFANA)).status_code == 302
        assert (await ask(harness, browser, WIKI)).headers["x-auth-request-groups"] == GROUPS
        # A client without the groups scope makes the person sign in again in this browser.
        again = await authorize(harness, browser, scope=WITHOUT_GROUPS, prompt="login")
        assert (await sign_in(harness, again, browser)).to_client
        harness.clock.advance(timedelta(seconds=31))  # past the gate's session cache
        assert (await ask(harness, browser, WIKI)).status_code == 401  # not a wrong 403
        # Signing in through forward-auth asks for groups again (a password, once).
        assert (await sign_in_at(harness, browser, GRAFANA)).status_code == 302
        assert (await ask(harness, browser, WIKI)).headers["x-auth-request-groups"] == GROUPS
