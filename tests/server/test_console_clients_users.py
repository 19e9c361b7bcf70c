"""Clients and password-database users through the console, in-process: each form is
the admin API's service call (same rules, same audit events, actor ``admin:<email>``),
static records stay read-only, and a refused form comes back with the error."""

from __future__ import annotations

import re

import pytest

from passgate.storage.models import AuditFilter

from .console_support import CONSOLE, PLAIN_EMAIL, console, post, signed_in
from .harness import (
    CLIENT_ID,
    EMAIL,
    PREFIX,
    USER_ID,
    Harness,
    assert_error_page,
    basic,
)

pytestmark = pytest.mark.anyio
__all__ = ["console"]  # the fixture

ACTOR = f"admin:{EMAIL}"
MADE_REDIRECT = "http://127.0.0.1:5555/made"


def secret_in(page: str) -> str:
    found = re.search(r'<code id="new-secret"[^>]*>([^<]+)</code>', page)
    assert found is not None, "no secret on the page"
    return found[1]


async def client_credentials(harness: Harness, client_id: str, secret: str) -> int:
    data = {"grant_type": "client_credentials", "scope": "openid"}
    return (await harness.token(data, basic(client_id, secret))).status_code


async def admin_events(harness: Harness, prefix: str) -> list[tuple[str, str, str]]:
    found = await harness.runtime.services.storage.list_audit_events(
        AuditFilter(action=prefix, limit=1000)
    )
    return [(e.action, e.outcome, e.actor) for e in reversed(found)]


async def test_a_client_is_created_changed_given_a_new_secret_and_deleted(
    console: Harness,
) -> None:
    browser = await signed_in(console)
    data = {"id": "made", "name": "Made here", "redirect_uris": f"{MADE_REDIRECT}\n\n"}
    created = await post(browser, "/clients", data)
    assert created.status_code == 201, created.text[:500]
    first = secret_in(created.text)
    assert "no-store" in created.headers["cache-control"]
    assert await client_credentials(console, "made", first) == 200
    # The secret is shown once: the client's page never shows it again.
    page = await browser.get(f"{CONSOLE}/clients/made")
    assert first not in page.text
    assert 'id="new-secret"' not in page.text
    assert MADE_REDIRECT in page.text

    other = "http://127.0.0.1:5555/other-made"
    saved = await post(browser, "/clients/made", {"name": "Renamed",
                       "redirect_uris": f"{MADE_REDIRECT}\n{other}"})  # fmt: skip
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{CONSOLE}/clients/made?done=client-saved"
    stored = await console.runtime.services.storage.get_client("made")
    assert (stored.name, stored.redirect_uris) == ("Renamed", (MADE_REDIRECT, other))
    assert "The client was saved." in (await browser.get(saved.headers["location"])).text

    rotated = await post(browser, "/clients/made/secret", {})
    assert rotated.status_code == 200
    second = secret_in(rotated.text)
    assert second != first
    assert await client_credentials(console, "made", first) == 401
    assert await client_credentials(console, "made", second) == 200

    deleted = await post(browser, "/clients/made/delete", {})
    assert deleted.headers["location"] == f"{CONSOLE}/clients?done=client-deleted"
    assert_error_page(await browser.get(f"{CONSOLE}/clients/made"), 404)
    assert await admin_events(console, "admin.client.") == [
        ("admin.client.create", "success", ACTOR),  # its page shows what create made
        ("admin.client.get", "success", ACTOR),
        ("admin.client.update", "success", ACTOR),
        ("admin.client.get", "success", ACTOR),
        ("admin.client.rotate_secret", "success", ACTOR),
        ("admin.client.delete", "success", ACTOR),
        ("admin.client.get", "failure", ACTOR),
    ]


async def test_a_refused_client_form_comes_back_with_the_error_and_its_values(
    console: Harness,
) -> None:
    browser = await signed_in(console)
    bad = await post(browser, "/clients", {"id": "bad", "name": "Kept",
                                           "redirect_uris": "not a url"})  # fmt: skip
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text
    assert "redirect_uris.0" in bad.text
    assert 'value="Kept"' in bad.text
    assert "not a url</textarea>" in bad.text
    taken = await post(browser, "/clients", {"id": CLIENT_ID})
    assert taken.status_code == 409
    assert "staticClients" in taken.text
    await post(browser, "/clients", {"id": "pub", "public": "yes"})
    assert (await console.runtime.services.storage.get_client("pub")).public
    no_secret = await post(browser, "/clients/pub/secret", {})
    assert no_secret.status_code == 409
    assert "public" in no_secret.text
    gone = await post(browser, "/clients/nothing/delete", {})
    assert_error_page(gone, 404)


async def test_a_static_client_is_shown_read_only_with_a_note(console: Harness) -> None:
    browser = await signed_in(console)
    listed = await browser.get(f"{CONSOLE}/clients")
    assert "config file" in listed.text
    page = await browser.get(f"{CONSOLE}/clients/{CLIENT_ID}")
    assert 'id="static-note"' in page.text
    assert "lives in git" in page.text
    assert 'id="save-client"' not in page.text
    assert 'id="delete-client"' not in page.text
    refused = await post(browser, f"/clients/{CLIENT_ID}", {"name": "Hijacked"})
    assert refused.status_code == 409
    assert "read-only" in refused.text
    assert (await post(browser, f"/clients/{CLIENT_ID}/delete", {})).status_code == 409


async def test_users_are_created_reset_disabled_and_enabled(console: Harness) -> None:
    browser = await signed_in(console)
    created = await post(browser, "/users", {"email": "Sam@Example.com", "name": "Sam",
                         "groups": "ops, dev", "password": "first-password"})  # fmt: skip
    assert created.headers["location"] == f"{CONSOLE}/users?done=user-created"
    user = await console.runtime.services.storage.get_password("sam@example.com")
    assert (user.name, user.groups) == ("Sam", ("ops", "dev"))

    async def grant(password: str) -> int:
        data = {"grant_type": "password", "username": PLAIN_EMAIL, "password": password,
                "scope": "openid offline_access"}  # fmt: skip
        return (await console.token(data, basic())).status_code

    assert await grant("first-password") == 200
    reset = await post(browser, "/users/password", {"email": PLAIN_EMAIL,
                                                    "password": "second-password"})  # fmt: skip
    assert reset.headers["location"] == f"{CONSOLE}/users?done=password-set"
    assert await grant("first-password") == 400
    assert await grant("second-password") == 200

    disabled = await post(browser, "/users/disable", {"email": PLAIN_EMAIL, "reason": "left"})
    assert disabled.headers["location"] == f"{CONSOLE}/users?done=user-disabled&n=2"
    assert "Sessions ended: 2." in (await browser.get(disabled.headers["location"])).text
    assert await grant("second-password") == 400
    page = (await browser.get(f"{CONSOLE}/users")).text
    assert "disabled</span>" in page
    enabled = await post(browser, "/users/enable", {"email": PLAIN_EMAIL})
    assert enabled.headers["location"] == f"{CONSOLE}/users?done=user-enabled"
    assert await grant("second-password") == 200
    assert [e[0] for e in await admin_events(console, "admin.user.")] == [
        "admin.user.create", "admin.user.password", "admin.user.disable", "admin.user.list",
        "admin.user.list", "admin.user.enable",
    ]  # fmt: skip


async def test_user_forms_refuse_bad_input_and_static_users(console: Harness) -> None:
    browser = await signed_in(console)
    short = await post(browser, "/users", {"email": "kim@example.com", "name": "Kim",
                                           "password": "short"})  # fmt: skip
    assert short.status_code == 400
    assert "password" in short.text
    assert 'value="kim@example.com"' in short.text  # kept
    assert "short" not in re.findall(r'id="user-password"[^>]*>', short.text)[0]
    static = await post(browser, "/users/disable", {"email": EMAIL})
    assert static.status_code == 409
    assert "staticPasswords" in static.text
    missing = await post(browser, "/users/password", {"email": "no@example.com",
                                                      "password": "long-enough"})  # fmt: skip
    assert missing.status_code == 404
    assert 'value="no@example.com"' not in missing.text  # not a user to create
    page = (await browser.get(f"{CONSOLE}/users")).text
    assert f"{PREFIX}/console/sessions?user_id={USER_ID}" in page
