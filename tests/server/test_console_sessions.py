"""Sessions, revocations, signing keys and the audit log through the console,
in-process: searching and revoking one, a user's, a client's or everything; rotating
and replacing keys (the new kid in the JWKS); filtering, paging and exporting the log."""

from __future__ import annotations

import csv
import html
import io
import re
from urllib.parse import urlsplit

import pytest

from passgate.storage.models import SessionFilter

from .console_support import (
    CONSOLE,
    PLAIN_EMAIL,
    PLAIN_PASSWORD,
    add_plain_user,
    console,
    post,
    signed_in,
)
from .harness import CLIENT_ID, EMAIL, PREFIX, Harness, basic, query_of

pytestmark = pytest.mark.anyio
__all__ = ["console"]  # the fixture


async def password_tokens(harness: Harness, email: str, password: str) -> str:
    """A grant of ``email`` at the example app; its refresh token."""
    data = {"grant_type": "password", "username": email, "password": password,
            "scope": "openid email offline_access"}  # fmt: skip
    response = await harness.token(data, basic())
    assert response.status_code == 200, response.text
    return str(response.json()["refresh_token"])


async def refreshes(harness: Harness, refresh_token: str) -> bool:
    return (await harness.refresh(refresh_token)).status_code == 200


async def test_sessions_are_searched_and_one_or_a_users_are_revoked(console: Harness) -> None:
    await add_plain_user(console)
    browser = await signed_in(console)
    sam_user_id = (await console.runtime.services.storage.get_password(PLAIN_EMAIL)).user_id
    first = await password_tokens(console, PLAIN_EMAIL, PLAIN_PASSWORD)
    second = await password_tokens(console, PLAIN_EMAIL, PLAIN_PASSWORD)
    admins = await password_tokens(console, EMAIL, "password")

    page = await browser.get(f"{CONSOLE}/sessions", params={"user_id": sam_user_id})
    assert page.status_code == 200
    assert 'Grants <span class="count">(2)</span>' in page.text
    assert 'id="revoke-user"' in page.text
    assert EMAIL not in page.text.split('id="grants-heading"')[1].split("</table>")[0]
    everyone = await browser.get(f"{CONSOLE}/sessions")
    assert 'Grants <span class="count">(4)</span>' in everyone.text  # the admin's portal too

    storage = console.runtime.services.storage
    [one, _] = await storage.list_sessions(SessionFilter(user_id=sam_user_id), console.clock())
    back = f"/sessions?user_id={sam_user_id}"
    revoked = await post(browser, "/revocations", {"kind": "session", "value": one.id,
                                                   "back": back})  # fmt: skip
    assert revoked.status_code == 303
    location = revoked.headers["location"]
    assert urlsplit(location).path == f"{CONSOLE}/sessions"
    assert query_of(location) == {"done": "revoked", "n": "1", "user_id": sam_user_id}
    assert [await refreshes(console, token) for token in (first, second)].count(True) == 1

    user = await post(browser, "/revocations", {"kind": "user", "value": sam_user_id,
                                                "reason": "lost laptop", "back": back})  # fmt: skip
    assert query_of(user.headers["location"])["n"] == "1"
    assert not await refreshes(console, first)
    assert not await refreshes(console, second)
    assert await refreshes(console, admins)
    after = await browser.get(user.headers["location"])
    assert "Revoked. Sessions ended: 1." in after.text
    assert 'Grants <span class="count">(0)</span>' in after.text
    rules = await browser.get(f"{CONSOLE}/revocations")
    assert "lost laptop" in rules.text
    assert sam_user_id in rules.text


async def test_a_clients_grants_and_everything_are_revoked(console: Harness) -> None:
    browser = await signed_in(console)
    token = await password_tokens(console, EMAIL, "password")
    by_client = await browser.get(f"{CONSOLE}/sessions", params={"client_id": CLIENT_ID})
    assert 'id="revoke-client"' in by_client.text
    assert 'id="browsers-heading"' not in by_client.text
    done = await post(browser, "/revocations", {"kind": "client", "value": CLIENT_ID,
                      "back": f"/sessions?client_id={CLIENT_ID}"})  # fmt: skip
    assert query_of(done.headers["location"])["client_id"] == CLIENT_ID
    assert not await refreshes(console, token)

    unconfirmed = await post(browser, "/revocations", {"kind": "all", "back": "/revocations"})
    assert unconfirmed.status_code == 400
    assert "tick the box" in unconfirmed.text
    assert 'id="rules"' in unconfirmed.text  # the revocations page again
    bad = await post(browser, "/revocations", {"kind": "nonsense", "back": "/revocations"})
    assert bad.status_code == 400
    unknown = await post(browser, "/revocations", {"kind": "session", "value": "nope",
                                                   "back": "//evil.example/sessions"})  # fmt: skip
    assert unknown.status_code == 404  # shown on the revocations page: no open redirect
    assert 'id="rules"' in unknown.text

    everything = await post(browser, "/revocations", {"kind": "all", "confirm": "everyone",
                                                      "back": "/revocations"})  # fmt: skip
    assert everything.status_code == 303
    # That ended the admin's own sign-in too: the next page asks to sign in again.
    again = await browser.get(everything.headers["location"])
    assert again.status_code == 303
    assert urlsplit(again.headers["location"]).path == f"{PREFIX}/signin"


async def test_keys_rotate_into_the_jwks_and_replace_now_needs_its_box(
    console: Harness,
) -> None:
    browser = await signed_in(console)
    page = await browser.get(f"{CONSOLE}/keys")
    assert "none published yet" in page.text
    rotated = await post(browser, "/keys/rotate", {})
    assert rotated.headers["location"] == f"{CONSOLE}/keys?done=keys-rotated"
    status = await console.runtime.services.storage.get_keys()
    assert status.next_key is not None
    pending = str(status.next_key.public_jwk["kid"])
    jwks = (await console.client.get(f"{PREFIX}/keys")).json()
    assert pending in {key["kid"] for key in jwks["keys"]}
    shown = await browser.get(rotated.headers["location"])
    assert pending in shown.text.split('id="next-kid"')[1].split("</dd>")[0]

    refused = await post(browser, "/keys/replace", {})
    assert refused.status_code == 400
    assert "tick the box" in refused.text
    assert (await console.runtime.services.storage.get_keys()).next_key is not None
    replaced = await post(browser, "/keys/replace", {"confirm": "compromised"})
    assert replaced.headers["location"] == f"{CONSOLE}/keys?done=keys-replaced"
    keys = await console.runtime.services.storage.get_keys()
    assert keys.next_key is None
    new = str((keys.signing_key_pub or {})["kid"])
    assert new != pending
    jwks = (await console.client.get(f"{PREFIX}/keys")).json()
    assert new in {key["kid"] for key in jwks["keys"]}
    assert pending not in {key["kid"] for key in jwks["keys"]}


async def test_the_audit_log_is_filtered_paged_and_exported(console: Harness) -> None:
    browser = await signed_in(console)
    for login in ('=HYPERLINK("http://evil")', "@SUM(1)", "mallory"):
        form = await console.login_form(await console.login_url(console.auth_params()))
        await console.submit_login(form, login=login, password="wrong")
    page = await browser.get(f"{CONSOLE}/audit", params={"action": "login.failure",
                                                         "limit": "50"})  # fmt: skip
    assert page.status_code == 200
    assert page.text.count("<code>login.failure</code>") == 3
    assert "<code>admin." not in page.text
    assert 'id="older"' not in page.text

    two = await browser.get(f"{CONSOLE}/audit", params={"action": "login.", "limit": "50",
                            "actor": "mallory"})  # fmt: skip
    assert two.text.count("<code>login.failure</code>") == 1

    # Pages of one: "older" follows the cursor with the same filter, "newest" goes back.
    first = await browser.get(f"{CONSOLE}/audit", params={"action": "login.failure",
                                                          "limit": "1"})  # fmt: skip
    assert first.text.count("<code>login.failure</code>") == 1
    assert "mallory" in first.text
    older = _href(first.text, "older")
    assert query_of(older)["action"] == "login.failure"
    second = await browser.get(older)
    assert "@SUM(1)" in second.text
    assert "mallory" not in second.text
    assert query_of(_href(second.text, "newest")) == {"action": "login.failure", "limit": "1"}

    bad = await browser.get(f"{CONSOLE}/audit", params={"since": "yesterday"})
    assert bad.status_code == 400
    assert "RFC 3339" in bad.text
    local = await browser.get(f"{CONSOLE}/audit", params={"since": "2000-01-01T00:00"})
    assert local.status_code == 200
    assert 'value="2000-01-01T00:00:00"' in local.text  # read as UTC, shown again

    export = await browser.get(_href(page.text, "export"))
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert export.headers["content-disposition"].startswith('attachment; filename="passgate-audit-')
    assert "no-store" in export.headers["cache-control"]
    rows = list(csv.DictReader(io.StringIO(export.text, newline="")))
    assert [row["action"] for row in rows] == ["login.failure"] * 3
    assert [row["actor"] for row in rows] == ["mallory", "'@SUM(1)", '\'=HYPERLINK("http://evil")']
    bad_export = await browser.get(f"{CONSOLE}/audit.csv", params={"until": "soon"})
    assert bad_export.status_code == 400
    assert bad_export.headers["content-type"].startswith("text/html")


def _href(page: str, ident: str) -> str:
    found = re.search(rf'<a href="([^"]+)"[^>]* id="{ident}"', page)
    assert found is not None, f"no link {ident}"
    return html.unescape(found[1])
