"""The account page in-process: what a signed-in person sees at /account, ending another
browser or an application's access (its refresh token refused, its TokenReview false at
once), "everything else", forged ids and form tokens refused with a page, and changing a
password-database password."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import bcrypt
import httpx
import pytest

from passgate.provider.ids import mac
from passgate.storage.models import BrowserSessionFilter, Password

from .harness import (
    CLIENT_ID,
    EMAIL,
    PASSWORD,
    PREFIX,
    REDIRECT_URI,
    USER_ID,
    CodeResult,
    Harness,
    assert_error_page,
    basic,
    new_verifier,
    password_hash,
    query_of,
    running,
)
from .revocation_support import authenticated, events, kube_config

pytestmark = pytest.mark.anyio

ACCOUNT = f"{PREFIX}/account"
BOB, BOB_ID, BOB_PASSWORD = "bob@example.com", "bob-0001", "bob's old password"
NEW_PASSWORD = "a new password for bob"


@pytest.fixture
async def site(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(kube_config()) as harness:
        await harness.runtime.services.storage.create_password(
            Password(BOB, password_hash(BOB_PASSWORD).encode(), "bob", BOB_ID)
        )
        yield harness


async def sign_in(
    harness: Harness, login: str = EMAIL, password: str = PASSWORD
) -> httpx.AsyncClient:
    """A new browser signed in to the portal (its own browser session)."""
    browser = await harness.browser()
    start = await browser.get(f"{PREFIX}/signin", params={"next": "/account"})
    url = await harness.login_url(query_of(start.headers["location"]), browser)
    form = await harness.login_form(url, browser)
    response = await harness.submit_login(form, browser=browser, login=login, password=password)
    assert response.status_code == 303, response.text
    done = await browser.get(response.headers["location"])
    assert done.headers["location"] == ACCOUNT
    return browser


async def app_tokens(harness: Harness, login: str = EMAIL, password: str = PASSWORD) -> Any:
    """Another browser signs in at the example app (whose tokens the cluster accepts)
    and the app redeems the code: a grant with a refresh token."""
    browser, verifier = await harness.browser(), new_verifier()
    url = await harness.login_url(harness.auth_params(verifier=verifier), browser)
    form = await harness.login_form(url, browser)
    signed = await harness.submit_login(form, browser=browser, login=login, password=password)
    approval = await harness.approval_form(signed.headers["location"], browser)
    back = await harness.submit_approval(approval, browser=browser)
    query = query_of(back.headers["location"])
    code = CodeResult(query["code"], query["state"], verifier, REDIRECT_URI, CLIENT_ID)
    response = await harness.exchange(code)
    assert response.status_code == 200, response.text
    return response.json()


async def password_grant(harness: Harness) -> Any:
    """Tokens of the password grant: a grant made without any browser."""
    data = {"grant_type": "password", "username": EMAIL, "password": PASSWORD,
            "scope": "openid email groups offline_access"}  # fmt: skip
    response = await harness.token(data, basic())
    assert response.status_code == 200, response.text
    return response.json()


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to ``action``."""
    match = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]+)">',
        page,
    )
    assert match, f"no form for {action}"
    return {"csrf_token": html.unescape(match.group(1))}


def form_token(browser: httpx.AsyncClient, purpose: str) -> str:
    """What the page puts in a form it does not show now (an HMAC keyed by the cookie)."""
    cookie = browser.cookies.get("passgate_portal", path=PREFIX) or ""
    return mac(hashlib.sha256(cookie.encode()).digest(), purpose)


async def post(browser: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    page = (await browser.get(ACCOUNT)).text
    action = f"{ACCOUNT}{path}"
    return await browser.post(action, data={**form_fields(page, action), **fields})


async def browser_ids(harness: Harness, user_id: str = "") -> set[str]:
    storage, now = harness.runtime.services.storage, harness.clock()
    found = await storage.list_browser_sessions(BrowserSessionFilter(user_id=user_id), now)
    return {session.id for session in found}


async def refreshes(harness: Harness, tokens: dict[str, Any]) -> bool:
    return (await harness.refresh(tokens["refresh_token"])).status_code == 200


async def test_not_signed_in_goes_through_sign_in_first(site: Harness) -> None:
    browser = await site.browser()
    for response in (
        await browser.get(ACCOUNT),
        await browser.post(f"{ACCOUNT}/end-others", data={"csrf_token": "x"}),
    ):
        assert response.status_code == 303
        location = response.headers["location"]
        assert urlsplit(location).path == f"{PREFIX}/signin"
        assert query_of(location) == {"next": "/account"}


async def test_the_page_shows_identity_browsers_and_applications(site: Harness) -> None:
    tokens = await app_tokens(site)
    browser = await sign_in(site)
    page = await browser.get(ACCOUNT)
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    text = page.text
    assert 'aria-current="page"' in text
    assert EMAIL in text
    assert "this browser" in text
    assert text.count('<tr id="browser-') == 2
    [grant] = re.findall(r'<tr id="grant-([^"]+)"', text)
    assert "Example App" in text
    assert "refresh token" in text
    # The example app's claims, as its ID token has them (its scopes: no federated:id).
    shown = text.split('id="claims-example-app"')[1].split("</details>")[0]
    assert "<code>groups</code>" in shown
    assert "<code>federated_claims</code>" not in shown
    assert tokens["scope"] in shown
    assert 'id="password-static"' in text  # admin@example.com is in the config file
    assert 'id="password-form"' not in text
    assert grant in {event.session_id for event in await events(site, "login.success")}


async def test_ending_another_browser_ends_its_tokens_at_once(site: Harness) -> None:
    tokens = await app_tokens(site)  # another browser, signed in at the app
    assert await authenticated(site, tokens["id_token"])
    [other] = await browser_ids(site)
    browser = await sign_in(site)
    ended = await post(browser, "/end", session=other)
    assert ended.status_code == 303
    assert ended.headers["location"] == f"{ACCOUNT}?done=ended"
    assert "The session was ended." in (await browser.get(ended.headers["location"])).text
    assert not await refreshes(site, tokens)
    assert not await authenticated(site, tokens["id_token"])
    assert other not in await browser_ids(site)
    assert (await browser.get(ACCOUNT)).status_code == 200  # this browser stays signed in
    [event] = [e for e in await events(site, "session.revoke") if e.subject == other]
    assert event.actor == EMAIL
    token = form_token(browser, "account-end")
    again = await browser.post(f"{ACCOUNT}/end", data={"csrf_token": token, "session": other})
    assert again.headers["location"] == f"{ACCOUNT}?done=already"


async def test_ending_one_applications_access(site: Harness) -> None:
    browser = await sign_in(site)
    body = await password_grant(site)
    [grant] = re.findall(r'<tr id="grant-([^"]+)"', (await browser.get(ACCOUNT)).text)
    assert (await post(browser, "/end", session=grant)).status_code == 303
    assert not await refreshes(site, body)
    assert not await authenticated(site, body["id_token"])


async def test_other_peoples_sessions_and_forged_forms_are_refused(site: Harness) -> None:
    bobs = await app_tokens(site, BOB, BOB_PASSWORD)
    [bobs_browser] = await browser_ids(site, BOB_ID)
    bobs_grant = next(e.session_id for e in await events(site, "login.success", user_id=BOB_ID))
    browser = await sign_in(site)
    end = {"csrf_token": form_token(browser, "account-end")}
    for forged in (bobs_browser, bobs_grant, "no-such-session"):
        refused = await browser.post(f"{ACCOUNT}/end", data={**end, "session": forged})
        assert_error_page(refused, 404)
        assert "You have no such session." in refused.text
    assert await refreshes(site, bobs)
    # This browser ends by signing out, not here.
    [mine] = await browser_ids(site, USER_ID)
    this = await browser.post(f"{ACCOUNT}/end", data={**end, "session": mine})
    assert_error_page(this, 409)
    assert "sign out" in this.text
    # A form token of another form, or none: refused before anything happens.
    password_token = {"csrf_token": form_token(browser, "account-password")}
    for data in ({}, {"csrf_token": "0" * 43}, password_token):
        response = await browser.post(f"{ACCOUNT}/end-others", data=data)
        assert_error_page(response, 403)
    assert bobs_browser in await browser_ids(site)


async def test_ending_everything_else_keeps_this_browser(site: Harness) -> None:
    in_a_browser = await app_tokens(site)
    by_password = await password_grant(site)
    browser = await sign_in(site)
    done = await post(browser, "/end-others")
    assert done.headers["location"] == f"{ACCOUNT}?done=others"
    assert not await refreshes(site, in_a_browser)
    assert not await refreshes(site, by_password)
    assert not await authenticated(site, in_a_browser["id_token"])
    page = await browser.get(ACCOUNT)
    assert page.status_code == 200
    assert page.text.count('<tr id="browser-') == 1


async def test_changing_the_password(site: Harness) -> None:
    elsewhere = await app_tokens(site, BOB, BOB_PASSWORD)
    browser = await sign_in(site, BOB, BOB_PASSWORD)
    page = (await browser.get(ACCOUNT)).text
    assert 'id="password-form"' in page
    wrong = await post(
        browser, "/password", current_password="nope", new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )  # fmt: skip
    assert_error_page(wrong, 403)
    assert "Your current password is not right." in wrong.text
    short = await post(
        browser, "/password", current_password=BOB_PASSWORD, new_password="short",
        new_password_again="short",
    )  # fmt: skip
    assert_error_page(short, 400)
    assert "at least 8 characters" in short.text
    assert await refreshes(site, elsewhere)

    changed = await post(
        browser, "/password", current_password=BOB_PASSWORD, new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )  # fmt: skip
    assert changed.headers["location"] == f"{ACCOUNT}?done=password"
    stored = await site.runtime.services.storage.get_password(BOB)
    assert bcrypt.checkpw(NEW_PASSWORD.encode(), stored.hash)
    assert stored.hash.startswith(b"$2b$10$")  # Dex's minimum cost
    assert not await refreshes(site, elsewhere)
    assert (await browser.get(ACCOUNT)).status_code == 200
    recorded = await events(site, "password.change", user_id=BOB_ID)
    assert [event.outcome for event in recorded] == ["success", "failure", "failure"]
    assert {event.actor for event in recorded} == {BOB}


async def test_wrong_current_passwords_lock_out_like_sign_ins(site: Harness) -> None:
    browser = await sign_in(site, BOB, BOB_PASSWORD)
    statuses = []
    for _ in range(6):
        response = await post(
            browser, "/password", current_password="nope", new_password=NEW_PASSWORD,
            new_password_again=NEW_PASSWORD,
        )  # fmt: skip
        statuses.append(response.status_code)
    assert statuses[-1] == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many wrong passwords" in response.text


async def test_static_passwords_cannot_be_changed_here(site: Harness) -> None:
    browser = await sign_in(site)
    # The page offers no form; a request made anyway (with a valid form token) is refused.
    data = {
        "csrf_token": form_token(browser, "account-password"),
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
    }
    response = await browser.post(f"{ACCOUNT}/password", data=data)
    assert_error_page(response, 403)
    assert "staticPasswords" in response.text
