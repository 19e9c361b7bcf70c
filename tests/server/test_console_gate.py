"""The console's door in-process: who gets in (the admin API's own authentication with
the portal's ID token), sign-in and back for strangers, 403 pages for people outside the
admin groups and for forged forms, and what every page answers with."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from passgate.storage.models import AuditFilter

from .console_support import (
    ACTIONS,
    CONSOLE,
    PAGES,
    PLAIN_EMAIL,
    PLAIN_PASSWORD,
    add_plain_user,
    console,
    csrf_of,
    post,
    signed_in,
)
from .harness import PREFIX, Harness, assert_error_page, config_text, query_of, running

pytestmark = pytest.mark.anyio
__all__ = ["console"]  # the fixture


async def test_a_stranger_signs_in_and_comes_back_to_the_page(console: Harness) -> None:
    browser = await console.browser()
    page = await browser.get(f"{CONSOLE}/audit", params={"actor": "admin:a@b.c", "limit": "50"})
    assert page.status_code == 303
    assert "no-store" in page.headers["cache-control"]
    location = page.headers["location"]
    assert urlsplit(location).path == f"{PREFIX}/signin"
    back = query_of(location)["next"]
    assert back == "/console/audit?actor=admin%3Aa%40b.c&limit=50"
    # The whole round trip lands on that page again, its query intact.
    again = await signed_in(console, next_path=back)
    landed = await again.get(PREFIX + back)
    assert landed.status_code == 200
    assert 'value="admin:a@b.c"' in landed.text
    # A form posted without a sign-in does nothing and goes to sign in.
    refused = await browser.post(f"{CONSOLE}/keys/rotate", data={"csrf_token": "x"})
    assert refused.status_code == 303
    assert query_of(refused.headers["location"])["next"] == "/console"


async def test_someone_outside_the_admin_groups_gets_403_everywhere(console: Harness) -> None:
    await add_plain_user(console)
    browser = await signed_in(console, PLAIN_EMAIL, PLAIN_PASSWORD, next_path="/")
    home = await browser.get(f"{PREFIX}/")
    assert 'id="go-console"' not in home.text
    for page in PAGES:
        response = await browser.get(CONSOLE + page)
        assert_error_page(response, 403)
        assert "Not an administrator" in response.text
    # A real form token of their own sign-in changes nothing: the door comes first.
    token = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert token is not None
    for action in ACTIONS:
        response = await browser.post(CONSOLE + action, data={"csrf_token": token[1]})
        assert_error_page(response, 403)
    refused = await console.runtime.services.storage.list_audit_events(
        AuditFilter(action="admin.auth.failure", limit=1000)
    )
    assert len(refused) == len(PAGES) + len(ACTIONS)
    assert {event.actor for event in refused} == {PLAIN_EMAIL}
    assert {event.details["path"] for event in refused} >= {f"{CONSOLE}/keys/rotate"}
    keys = await console.runtime.services.storage.get_keys()
    assert keys.next_key is None  # no rotation happened


async def test_a_forged_or_missing_form_token_is_403_and_changes_nothing(
    console: Harness,
) -> None:
    browser = await signed_in(console)
    other = await signed_in(console)  # the same admin, another browser
    foreign = await csrf_of(other)
    for action in ACTIONS:
        for token in ("", "0" * 43, foreign):
            data = {"id": "forged", "kind": "all", "confirm": "everyone", "value": ""}
            response = await post(browser, action, data, token=token)
            assert_error_page(response, 403)
            assert "Form expired" in response.text
    assert [c.id for c in await console.runtime.services.storage.list_clients()] == []
    assert (await console.runtime.services.storage.get_keys()).next_key is None
    assert await console.runtime.services.storage.list_revocations() == []


async def test_every_page_is_no_store_with_the_house_csp_and_no_inline_script(
    console: Harness,
) -> None:
    browser = await signed_in(console)
    for page in PAGES:
        response = await browser.get(CONSOLE + page)
        assert response.status_code == 200, (page, response.text[:500])
        assert "no-store" in response.headers["cache-control"], page
        assert "script-src" not in response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        if page.endswith(".csv"):
            continue
        assert 'id="nav-console" aria-current="page"' in response.text, page
        for script in re.findall(r"<script[^>]*>", response.text):
            assert " src=" in script, (page, script)  # no inline script: the CSP holds
        typed = (
            r'<(?:input[^>]*type="(?:text|email|password|datetime-local)"|select|textarea)[^>]*>'
        )
        for field in re.findall(typed, response.text):
            ident = re.search(r'id="([^"]+)"', field)
            assert ident is not None, (page, field)
            assert f'for="{ident[1]}"' in response.text, (page, field)  # labelled


async def test_every_form_has_the_token_and_a_console_action(console: Harness) -> None:
    browser = await signed_in(console)
    await console.tokens()  # a session to revoke, so the sessions page has its forms
    for page in PAGES[:-1]:
        text = (await browser.get(CONSOLE + page)).text
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", text, re.S):
            action = re.search(r'action="([^"]+)"', form)
            assert action is not None
            assert action[1].startswith((CONSOLE, f"{PREFIX}/signout")), action[1]
            assert 'name="csrf_token"' in form, (page, form[:200])


async def test_the_console_is_off_without_an_admin_section(anyio_backend: str) -> None:
    async with running(config_text()) as harness:
        browser = await harness.browser()
        response = await browser.get(CONSOLE)
        assert_error_page(response, 404)
        assert "admin section" in response.text


async def test_admin_tokens_without_groups_close_the_console(anyio_backend: str) -> None:
    extra = 'admin:\n  tokens:\n  - name: ci\n    hash: "sha256:' + "0" * 64 + '"\n'
    async with running(config_text(extra=extra)) as harness:
        browser = await signed_in(harness, next_path="/")
        response = await browser.get(CONSOLE)
        assert_error_page(response, 403)
        assert "No admin groups are configured" in response.text
