"""Browser single sign-on at /auth, as the OpenID Foundation's Basic OP plan checks it
(oidcc-prompt-none-*, oidcc-prompt-login, oidcc-max-age-*, oidcc-id-token-hint) and as
Dex's ``sessions`` describe it: one sign-in per browser, ``sid`` shared by every client
of the session, ``auth_time`` always when the person last proved who they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from passgate.storage.models import BrowserSessionFilter

from .harness import (
    CLIENT_ID,
    OTHER_ID,
    PREFIX,
    SESSION_COOKIE,
    USER_ID,
    Harness,
    config_text,
    running,
)
from .sso_support import (
    SECOND_EMAIL,
    SECOND_PASSWORD,
    AuthAnswer,
    add_second_user,
    approve_it,
    authorize,
    claims,
    sign_in,
    tokens_of,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sso(anyio_backend: str) -> AsyncIterator[Harness]:
    """The test issuer, approval skipped (consent is tested on its own)."""
    async with running(config_text(oauth2="  skipApprovalScreen: true")) as built:
        yield built


async def signed_in_at(harness: Harness, client_id: str = CLIENT_ID, **extra: str) -> dict:
    """Sign in at ``client_id`` with the password; its tokens."""
    answer = await sign_in(harness, await authorize(harness, client_id=client_id, **extra))
    return await tokens_of(harness, answer)


async def test_a_second_client_needs_no_password_and_shares_the_sid(sso: Harness) -> None:
    first = claims((await signed_in_at(sso))["id_token"])
    sso.clock.advance(timedelta(minutes=5))
    answer = await authorize(sso, client_id=OTHER_ID)
    assert answer.to_client, answer.response.text[:300]  # no form, no approval
    second = claims((await tokens_of(sso, answer))["id_token"])
    assert second["aud"] == OTHER_ID
    assert second["sid"] == first["sid"]
    # auth_time: when the person signed in, not when the second client asked.
    assert second["auth_time"] == first["auth_time"] == second["iat"] - 300
    assert second["nonce"] == answer.params["nonce"]  # every token its own request's
    session = await sso.runtime.services.storage.get_browser_session(first["sid"])
    assert session.clients == (CLIENT_ID, OTHER_ID)
    assert (session.user_id, session.connector_id) == (USER_ID, "local")


async def test_the_cookie_is_a_reference_httponly_and_lax(sso: Harness) -> None:
    answer = await authorize(sso)
    form_answer = await sign_in(sso, answer)
    assert form_answer.to_client
    value = sso.client.cookies[SESSION_COOKIE]
    session_id, _, secret = value.partition(".")
    stored = await sso.runtime.services.storage.get_browser_session(session_id)
    assert secret
    assert secret not in repr(stored)
    assert stored.cookie_hash != secret
    [cookie] = [c for c in sso.client.cookies.jar if c.name == SESSION_COOKIE]
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite", "").lower() == "lax"
    assert cookie.path == PREFIX
    assert cookie.expires is None  # no "remember me": gone with the browser
    assert not cookie.secure  # an http issuer; the https case is tested below


async def test_remember_me_makes_the_cookie_outlive_the_browser(sso: Harness) -> None:
    await sign_in(sso, await authorize(sso), remember_me="yes")
    [cookie] = [c for c in sso.client.cookies.jar if c.name == SESSION_COOKIE]
    assert cookie.expires is not None
    session_id = sso.client.cookies[SESSION_COOKIE].partition(".")[0]
    session = await sso.runtime.services.storage.get_browser_session(session_id)
    assert session.remember_me
    assert session.absolute_expiry - session.created_at == timedelta(hours=24)


async def test_prompt_none_signed_in_and_not(sso: Harness) -> None:
    # oidcc-prompt-none-not-logged-in: an error back to the client, state intact.
    stranger = await sso.browser()
    answer = await authorize(sso, stranger, prompt="none", state="s" * 128)
    assert answer.to_client
    assert answer.query == {
        "error": "login_required",
        "error_description": "prompt=none but the user must sign in",
        "state": "s" * 128,
    }
    # oidcc-prompt-none-logged-in: a code, no page; the same person, the same auth_time.
    first = claims((await signed_in_at(sso))["id_token"])
    sso.clock.advance(timedelta(seconds=30))
    again = await authorize(sso, prompt="none")
    second = claims((await tokens_of(sso, again))["id_token"])
    assert (second["sub"], second["auth_time"], second["sid"]) == (
        first["sub"],
        first["auth_time"],
        first["sid"],
    )


async def test_prompt_login_asks_again_and_moves_auth_time(sso: Harness) -> None:
    first = claims((await signed_in_at(sso))["id_token"])
    sso.clock.advance(timedelta(seconds=5))
    answer = await authorize(sso, prompt="login")
    assert answer.to_login_form  # oidcc-prompt-login: the page is shown again
    second = claims((await tokens_of(sso, await sign_in(sso, answer)))["id_token"])
    assert second["auth_time"] == first["auth_time"] + 5
    assert second["sid"] == first["sid"]  # the same person: the same browser session


async def test_max_age(sso: Harness) -> None:
    first = claims((await signed_in_at(sso))["id_token"])
    sso.clock.advance(timedelta(seconds=2))
    # oidcc-max-age-10000: young enough, no page, the first auth_time.
    young = claims((await tokens_of(sso, await authorize(sso, max_age="10000")))["id_token"])
    assert young["auth_time"] == first["auth_time"]
    # oidcc-max-age-1: too old, the page again, a later auth_time.
    answer = await authorize(sso, max_age="1")
    assert answer.to_login_form
    fresh = claims((await tokens_of(sso, await sign_in(sso, answer)))["id_token"])
    assert fresh["auth_time"] > first["auth_time"]
    # max_age=0: always a fresh sign-in; with prompt=none that is login_required.
    assert (await authorize(sso, max_age="0")).to_login_form
    refused = await authorize(sso, max_age="0", prompt="none")
    assert refused.query["error"] == "login_required"


async def test_id_token_hint(sso: Harness) -> None:
    await add_second_user(sso)
    mine = (await signed_in_at(sso))["id_token"]
    # oidcc-id-token-hint: the person the hint names is signed in: no page.
    same = await authorize(sso, prompt="none", id_token_hint=mine)
    assert "code" in same.query
    # Somebody else's hint: sign in again (prompt=none: login_required).
    bob_browser = await sso.browser()
    bobs = await sign_in(
        sso, await authorize(sso, bob_browser), bob_browser, login=SECOND_EMAIL,
        password=SECOND_PASSWORD,
    )  # fmt: skip
    bob_hint = (await tokens_of(sso, bobs))["id_token"]
    assert (await authorize(sso, id_token_hint=bob_hint)).to_login_form
    other = await authorize(sso, prompt="none", id_token_hint=bob_hint)
    assert other.query["error"] == "login_required"
    # An expired hint is still a hint (OIDC Core §3.1.2.1: the OP uses it as a hint).
    sso.clock.advance(timedelta(hours=2))
    assert "code" in (await authorize(sso, prompt="none", id_token_hint=mine)).query
    # Not an ID token of ours: invalid_request, back to the client.
    forged = mine[:-4] + ("AAAA" if not mine.endswith("AAAA") else "BBBB")
    refused = await authorize(sso, id_token_hint=forged)
    assert refused.query["error"] == "invalid_request"


async def test_select_account(sso: Harness) -> None:
    await add_second_user(sso)
    await signed_in_at(sso)
    answer = await authorize(sso, prompt="select_account")
    assert answer.response.status_code == 200
    assert "admin@example.com" in answer.response.text
    assert 'id="use-another-account"' in answer.response.text
    form = answer.response.text
    from .harness import parse_form

    choice = parse_form(form)
    kept = await sso.client.post(choice.action, data={**choice.fields, "account": "continue"})
    assert kept.status_code == 303
    assert "code=" in kept.headers["location"]
    # "Use another account": the password form, and the browser's session is Bob's after.
    answer = await authorize(sso, prompt="select_account")
    choice = parse_form(answer.response.text)
    other = await sso.client.post(choice.action, data={**choice.fields, "account": "other"})
    assert other.status_code == 302
    page = await sso.client.get(other.headers["location"])
    page = await sso.client.get(page.headers["location"]) if page.status_code == 302 else page
    assert 'name="password"' in page.text
    bob = await sign_in(sso, AuthAnswer(page, answer.params), login=SECOND_EMAIL,
                        password=SECOND_PASSWORD)  # fmt: skip
    assert claims((await tokens_of(sso, bob))["id_token"])["email"] == SECOND_EMAIL
    # A forged choice (no form token) is refused.
    answer = await authorize(sso, prompt="select_account")
    choice = parse_form(answer.response.text)
    forged = await sso.client.post(
        choice.action, data={**choice.fields, "account": "continue", "csrf_token": "x"}
    )
    assert forged.status_code == 403


async def test_another_person_in_the_same_browser_replaces_the_session(sso: Harness) -> None:
    await add_second_user(sso)
    jane = claims((await signed_in_at(sso))["id_token"])
    answer = await authorize(sso, prompt="login")
    bob = claims(
        (await tokens_of(sso, await sign_in(sso, answer, login=SECOND_EMAIL,
                                            password=SECOND_PASSWORD)))["id_token"]
    )  # fmt: skip
    assert bob["sid"] != jane["sid"]
    storage = sso.runtime.services.storage
    assert (await storage.get_browser_session(jane["sid"])).revoked_by == "replaced"
    assert (await storage.get_browser_session(bob["sid"])).revoked_at is None


async def test_a_tampered_or_stale_cookie_is_no_session(sso: Harness) -> None:
    await signed_in_at(sso)
    value = sso.client.cookies[SESSION_COOKIE]
    for bad in (value[:-2] + "xx", value.split(".")[0] + ".", "garbage", "a" * 5000, ".", ""):
        browser = await sso.browser()
        browser.cookies.set(SESSION_COOKIE, bad, path=PREFIX)
        answer = await authorize(sso, browser)
        assert answer.to_login_form, (bad[:20], answer.response.status_code)
    # A renewed sign-in changes the cookie's secret: a copy of the old one stops working.
    renewed = await sign_in(sso, await authorize(sso, prompt="login"))
    assert renewed.to_client
    thief = await sso.browser()
    thief.cookies.set(SESSION_COOKIE, value, path=PREFIX)
    assert (await authorize(sso, thief)).to_login_form


async def test_idle_and_absolute_lifetimes(anyio_backend: str) -> None:
    text = config_text(
        oauth2="  skipApprovalScreen: true",
        extra="sessions:\n  absoluteLifetime: 3h\n  validIfNotUsedFor: 1h\n",
    )
    async with running(text) as harness:
        await signed_in_at(harness)
        for _ in range(3):  # used every 50 minutes: the idle timeout keeps moving
            harness.clock.advance(timedelta(minutes=50))
            assert (await authorize(harness)).to_client
        harness.clock.advance(timedelta(minutes=40))  # 3h10m after sign-in
        assert (await authorize(harness)).to_login_form
        await signed_in_at(harness)
        harness.clock.advance(timedelta(minutes=61))  # idle too long
        assert (await authorize(harness)).to_login_form


async def test_consent_is_remembered_per_client(harness: Harness) -> None:
    answer = await sign_in(harness, await authorize(harness))
    assert answer.to_client  # approved once
    # prompt=none for the same client and scopes: no page now.
    assert "code" in (await authorize(harness, prompt="none")).query
    # Another client was never approved: consent_required, or the approval page.
    refused = await authorize(harness, client_id=OTHER_ID, prompt="none")
    assert refused.query["error"] == "consent_required"
    page = await authorize(harness, client_id=OTHER_ID)
    assert page.to_approval
    assert (await approve_it(harness, page)).to_client
    assert "code" in (await authorize(harness, client_id=OTHER_ID, prompt="none")).query
    # More scopes than approved: ask again. prompt=consent always asks.
    wider = await authorize(
        harness, scope="openid email profile groups offline_access federated:id"
    )
    assert wider.to_approval
    assert (await authorize(harness, prompt="consent")).to_approval


async def test_allowed_connectors_and_sso_sharing(anyio_backend: str) -> None:
    text = config_text(
        oauth2="  skipApprovalScreen: true",
        extra="connectors:\n- type: mockPassword\n  id: mock\n  name: Mock\n"
        "  config: {username: jane, password: pw}\n",
    ).replace(
        '  redirectURIs: ["http://127.0.0.1:5555/other"]\n',
        '  redirectURIs: ["http://127.0.0.1:5555/other"]\n  allowedConnectors: [mock]\n',
    )
    async with running(text) as harness:
        first = await authorize(harness)
        chooser = first.response.text
        assert "Mock" in chooser  # two connectors: the chooser
        answer = await harness.client.get(f"{PREFIX}/auth/local", params={"state": _state(chooser)})
        page = await harness.client.get(answer.headers["location"])
        from .sso_support import AuthAnswer

        await sign_in(harness, AuthAnswer(page, first.params))
        # other-app may only use "mock": the local session does not sign it in.
        assert not (await authorize(harness, client_id=OTHER_ID)).to_client
        refused = await authorize(harness, client_id=OTHER_ID, prompt="none")
        assert refused.query["error"] == "interaction_required"


def _state(chooser_html: str) -> str:
    marker = "/auth/local?state="
    start = chooser_html.index(marker) + len(marker)
    return chooser_html[start : chooser_html.index('"', start)]


async def test_sso_shared_with(anyio_backend: str) -> None:
    text = config_text(oauth2="  skipApprovalScreen: true").replace(
        '  redirectURIs: ["http://127.0.0.1:5555/callback"]\n',
        '  redirectURIs: ["http://127.0.0.1:5555/callback"]\n  ssoSharedWith: []\n',
    )
    async with running(text) as harness:
        await signed_in_at(harness)  # at example-app, which shares with nobody
        assert (await authorize(harness, client_id=OTHER_ID)).to_login_form
        assert (await authorize(harness)).to_client  # its own session still works
    none_default = config_text(
        oauth2="  skipApprovalScreen: true", extra="sessions:\n  ssoSharedWithDefault: none\n"
    )
    async with running(none_default) as harness:
        await signed_in_at(harness)
        assert (await authorize(harness, client_id=OTHER_ID)).to_login_form


async def test_logout_ends_single_sign_on(sso: Harness) -> None:
    tokens = await signed_in_at(sso)
    await tokens_of(sso, await authorize(sso, client_id=OTHER_ID))
    response = await sso.client.get(
        f"{PREFIX}/logout", params={"id_token_hint": tokens["id_token"]}
    )
    assert response.status_code == 200
    assert "You have signed out" in response.text
    assert (await authorize(sso, prompt="none")).query["error"] == "login_required"
    assert (await authorize(sso, client_id=OTHER_ID)).to_login_form
    sid = claims(tokens["id_token"])["sid"]
    session = await sso.runtime.services.storage.get_browser_session(sid)
    assert session.revoked_by == "logout"


async def test_revoking_the_user_ends_their_browser_sessions(sso: Harness) -> None:
    await signed_in_at(sso)
    await sso.runtime.services.revoker.revoke_user(USER_ID, actor="admin:ci")
    assert (await authorize(sso)).to_login_form
    storage = sso.runtime.services.storage
    assert await storage.list_browser_sessions(BrowserSessionFilter(), sso.clock()) == []


async def test_a_person_removed_upstream_loses_the_session_at_its_next_check(
    anyio_backend: str,
) -> None:
    text = config_text(oauth2="  skipApprovalScreen: true")
    async with running(text) as harness:
        await add_second_user(harness)
        answer = await authorize(harness)
        bob = await sign_in(harness, answer, login=SECOND_EMAIL, password=SECOND_PASSWORD)
        assert bob.to_client
        harness.clock.advance(timedelta(minutes=30))
        assert (await authorize(harness)).to_client  # within the identity lifetime (1h)
        await harness.runtime.services.storage.delete_password(SECOND_EMAIL)
        assert (await authorize(harness)).to_client  # not asked yet
        harness.clock.advance(timedelta(minutes=31))
        assert (await authorize(harness)).to_login_form  # asked, refused: session ended
        [ended] = await harness.runtime.services.storage.list_browser_sessions(
            BrowserSessionFilter(include_revoked=True), harness.clock()
        )
        assert ended.revoked_by == "upstream"
