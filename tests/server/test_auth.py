"""The pages: /auth, /auth/{connector}, the password form and approval, with every
request a browser or an attacker could make instead of the right one."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import httpx
import pytest

from .harness import (
    CLIENT_ID,
    DESCRIPTION,
    EMAIL,
    OTHER_ID,
    PREFIX,
    PUBLIC_ID,
    PUBLIC_REDIRECT_URI,
    REDIRECT_URI,
    Form,
    Harness,
    assert_error_page,
    config_text,
    new_verifier,
    parse_form,
    query_of,
    running,
    without_query,
)

pytestmark = pytest.mark.anyio

CSRF_COOKIE = "passgate_csrf"


def assert_error_redirect(
    response: httpx.Response, error: str, state: str, redirect_uri: str = REDIRECT_URI
) -> None:
    """RFC 6749 §4.1.2.1: back to the registered redirect URI with error and state."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert without_query(location) == redirect_uri, location
    query = query_of(location)
    assert query["error"] == error, query
    assert query.get("state", "") == state, query
    assert "code" not in query
    if "error_description" in query:
        assert DESCRIPTION.fullmatch(query["error_description"]), query


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"


async def code_count(harness: Harness) -> int:
    storage = harness.runtime.services.storage
    return len(storage._auth_codes)  # type: ignore[attr-defined]


# -- /auth: before the redirect URI is trusted, a page; never a redirect --------------
@pytest.mark.parametrize(
    "change",
    [
        {"client_id": None},
        {"client_id": "nobody"},
        {"client_id": "x" * 5000},
        {"redirect_uri": None},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "//evil.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": REDIRECT_URI + "?next=https://evil.example"},
        {"redirect_uri": REDIRECT_URI + "#frag"},
        {"redirect_uri": REDIRECT_URI.upper()},
        {"redirect_uri": "http://127.0.0.1:5556/callback"},  # another port
        {"redirect_uri": "http://127.0.0.1:5555/callback/../other"},
        {"redirect_uri": "javascript:alert(1)"},
        {"redirect_uri": "http://127.0.0.1:5555/other"},  # another client's URI
        {"redirect_uri": "http://localhost:9999"},  # loopback port: public clients only
    ],
    ids=lambda change: f"{next(iter(change))}={str(next(iter(change.values())))[:40]}",
)
async def test_untrusted_client_or_redirect_uri_shows_a_page(
    harness: Harness, change: dict[str, str | None]
) -> None:
    params: dict[str, str | None] = {**harness.auth_params(state="s1"), **change}
    query = {name: value for name, value in params.items() if value is not None}
    for response in (
        await harness.client.get(f"{PREFIX}/auth", params=query),
        await harness.client.post(f"{PREFIX}/auth", data=query),
    ):
        assert_error_page(response, 400)
        assert_security_headers(response)
        assert "evil.example" not in response.text


async def test_error_pages_escape_what_the_request_said(harness: Harness) -> None:
    script = "<script>alert(1)</script>"
    for params in (
        {**harness.auth_params(), "client_id": script},
        {**harness.auth_params(), "redirect_uri": f"https://x/{script}"},
    ):
        response = await harness.client.get(f"{PREFIX}/auth", params=params)
        assert_error_page(response, 400)
        assert "<script" not in response.text
    page = await harness.client.get(f"{PREFIX}/approval", params={"req": script})
    assert_error_page(page, 400)
    assert "<script" not in page.text


async def test_public_client_redirect_checks(harness: Harness) -> None:
    verifier = new_verifier()
    for uri in ("http://localhost:9999", "http://localhost:18000"):
        # RFC 8252 §7.3: a loopback redirect on any port is fine for a native app...
        params = harness.auth_params(client_id=PUBLIC_ID, redirect_uri=uri, verifier=verifier)
        response = await harness.client.get(f"{PREFIX}/auth", params=params)
        assert response.status_code == 302
        assert response.headers["location"].startswith(f"{PREFIX}/auth/local?")
    for uri in ("http://localhost:9999/elsewhere", "https://localhost:8000", "http://evil:8000"):
        # ...but only the registered path and scheme, and only on loopback.
        params = harness.auth_params(client_id=PUBLIC_ID, redirect_uri=uri, verifier=verifier)
        assert_error_page(await harness.client.get(f"{PREFIX}/auth", params=params), 400)


@pytest.mark.parametrize("name", ["client_id", "redirect_uri", "state", "response_type"])
async def test_repeated_parameter_shows_a_page(harness: Harness, name: str) -> None:
    # RFC 6749 §3.1: parameters MUST NOT be included more than once. The request cannot
    # be trusted, so its redirect URI is not either.
    params = list(harness.auth_params(state="s1").items())
    value = dict(params)[name]
    params.append((name, value))
    response = await harness.client.get(f"{PREFIX}/auth?{urlencode(params)}")
    assert_error_page(response, 400)


async def test_oversized_and_malformed_requests(harness: Harness) -> None:
    params = harness.auth_params(state="s1")
    too_long = await harness.client.get(f"{PREFIX}/auth", params={**params, "nonce": "n" * 9000})
    assert too_long.status_code == 414
    oversized = await harness.client.get(f"{PREFIX}/auth", params={**params, "nonce": "n" * 4097})
    assert_error_page(oversized, 400)
    nul = await harness.client.get(f"{PREFIX}/auth", params={**params, "state": "a\x00b"})
    assert_error_page(nul, 400)
    too_many = {**params, **{f"p{i}": "1" for i in range(70)}}
    assert_error_page(await harness.client.get(f"{PREFIX}/auth", params=too_many), 400)
    json_post = await harness.client.post(f"{PREFIX}/auth", json=params)
    assert_error_page(json_post, 400)
    huge_post = await harness.client.post(f"{PREFIX}/auth", data={**params, "x": "y" * 70_000})
    assert huge_post.status_code == 413
    assert harness.runtime.services.storage._auth_requests == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "id_token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": "code token"}, "unsupported_response_type"),
        ({"response_type": "CODE"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "email profile"}, "invalid_scope"),
        ({"scope": None}, "invalid_scope"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"scope": "openid OPENID"}, "invalid_scope"),
        ({"scope": "openid audience:server:client_id:"}, "invalid_scope"),
        ({"scope": f"openid audience:server:client_id:{OTHER_ID}"}, "invalid_scope"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"response_mode": "form_post"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "sometimes"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"max_age": "1e3"}, "invalid_request"),
        ({"max_age": "9" * 40}, "invalid_request"),
        ({"max_age": "\u00b2"}, "invalid_request"),  # "²": isdigit() yet not int()
        ({"max_age": "\u0661\u0662"}, "invalid_request"),  # Arabic-Indic "12"
        ({"max_age": "\uff19"}, "invalid_request"),  # fullwidth "9"
        ({"max_age": " 1"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),  # OIDC Core §3.1.2.6
        ({"request_uri": "https://evil.example/r"}, "request_uri_not_supported"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge": "a" * 43, "code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "a" * 129}, "invalid_request"),
        ({"connector_id": "ldap"}, "invalid_request"),
    ],
    ids=lambda value: str(value)[:48] if isinstance(value, dict) else value,
)
async def test_errors_after_the_redirect_uri_is_trusted_go_back_to_the_client(
    harness: Harness, change: dict[str, str | None], error: str
) -> None:
    state = "st/+ &=?#ü"
    params: dict[str, str | None] = {**harness.auth_params(state=state), **change}
    query = {name: value for name, value in params.items() if value is not None}
    get = await harness.client.get(f"{PREFIX}/auth", params=query)
    assert_error_redirect(get, error, state)
    post = await harness.client.post(f"{PREFIX}/auth", data=query)
    assert_error_redirect(post, error, state)


async def test_error_redirect_without_state_has_no_state(harness: Harness) -> None:
    params = {**harness.auth_params(), "response_type": "token"}
    del params["state"]
    response = await harness.client.get(f"{PREFIX}/auth", params=params)
    assert_error_redirect(response, "unsupported_response_type", "")
    assert "state" not in query_of(response.headers["location"])


async def test_public_client_without_pkce_is_refused(harness: Harness) -> None:
    params = harness.auth_params(client_id=PUBLIC_ID, redirect_uri=PUBLIC_REDIRECT_URI, state="p")
    response = await harness.client.get(f"{PREFIX}/auth", params=params)
    # RFC 9700 §2.1.1: PKCE is required for public clients.
    assert_error_redirect(response, "invalid_request", "p", PUBLIC_REDIRECT_URI)


async def test_enforced_pkce_applies_to_confidential_clients() -> None:
    async with running(config_text(oauth2="  pkce:\n    enforce: true")) as harness:
        params = harness.auth_params(state="e")
        response = await harness.client.get(f"{PREFIX}/auth", params=params)
        assert_error_redirect(response, "invalid_request", "e")
        plain = {**params, "code_challenge": "a" * 43, "code_challenge_method": "plain"}
        assert (await harness.client.get(f"{PREFIX}/auth", params=plain)).status_code == 302


async def test_auth_sets_an_httponly_samesite_cookie(harness: Harness) -> None:
    response = await harness.client.get(f"{PREFIX}/auth", params=harness.auth_params())
    assert response.status_code == 302
    cookie = SimpleCookie(response.headers["set-cookie"])[CSRF_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == PREFIX
    assert not cookie["secure"]  # http issuer; an https one sets Secure (below)
    assert 32 <= len(cookie.value) <= 64


async def test_https_issuer_sets_secure_cookie_and_hsts() -> None:
    text = config_text().replace("http://127.0.0.1:5556/dex", "https://127.0.0.1:5556/dex", 1)
    async with running(text) as harness:
        response = await harness.client.get(f"{PREFIX}/auth", params=harness.auth_params())
        cookie = SimpleCookie(response.headers["set-cookie"])[CSRF_COOKIE]
        assert cookie["secure"]
        assert cookie["httponly"]
        assert "max-age=" in response.headers["strict-transport-security"]


# -- /auth/{connector} ---------------------------------------------------------------
async def test_connector_start_refuses_bad_state(harness: Harness) -> None:
    url = await harness.login_url(harness.auth_params())
    state = query_of(url)["state"]
    bad = [
        f"{PREFIX}/auth/local",
        f"{PREFIX}/auth/local?state=",
        f"{PREFIX}/auth/local?state=unknown",
        f"{PREFIX}/auth/local?state={state}&state={state}",
        f"{PREFIX}/auth/local?state={'s' * 5000}",
        f"{PREFIX}/auth/ldap?state={state}",
        f"{PREFIX}/auth/%00?state={state}",
    ]
    for path in bad:
        assert_error_page(await harness.client.get(path), 400)
    # The good one still works after all that.
    good = await harness.client.get(f"{PREFIX}/auth/local?state={state}")
    assert good.status_code == 302
    harness.clock.advance(timedelta(hours=24, seconds=1))
    assert_error_page(await harness.client.get(f"{PREFIX}/auth/local?state={state}"), 400)


async def test_connector_not_allowed_for_the_client_is_refused() -> None:
    extra = """connectors:
- type: mockPassword
  id: mock
  name: Mock
  config: {username: kilgore, password: trout}
"""
    text = config_text(extra=extra).replace(
        f'redirectURIs: ["{REDIRECT_URI}"]',
        f'redirectURIs: ["{REDIRECT_URI}"]\n  allowedConnectors: [mock]',
    )
    async with running(text) as harness:
        response = await harness.client.get(f"{PREFIX}/auth", params=harness.auth_params())
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith(f"{PREFIX}/auth/mock?")
        state = query_of(location)["state"]
        for path in (f"/auth/local?state={state}", f"/auth/local/login?state={state}"):
            assert_error_page(await harness.client.get(PREFIX + path), 400)
        wanted = {**harness.auth_params(state="c"), "connector_id": "local"}
        assert_error_redirect(
            await harness.client.get(f"{PREFIX}/auth", params=wanted), "invalid_request", "c"
        )


# -- the password form ---------------------------------------------------------------
async def test_login_page_has_security_headers_and_no_store(harness: Harness) -> None:
    url = await harness.login_url(harness.auth_params())
    response = await harness.client.get(url)
    assert response.status_code == 200
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"
    form = parse_form(response.text)
    assert form.fields["csrf_token"]
    assert "password" in form.fields


async def test_login_form_refuses_bad_state(harness: Harness) -> None:
    for path in ("/auth/local/login", "/auth/local/login?state=nope", "/auth/ldap/login?state=x"):
        assert_error_page(await harness.client.get(PREFIX + path), 400)
        assert_error_page(await harness.client.post(PREFIX + path, data={"login": EMAIL}), 400)


async def test_login_post_without_the_cookie_is_403(harness: Harness) -> None:
    form = await harness.login_form(await harness.login_url(harness.auth_params()))
    stranger = await harness.browser()  # no cookie at all
    response = await harness.submit_login(form, browser=stranger)
    assert_error_page(response, 403)
    assert_security_headers(response)


@pytest.mark.parametrize(
    "csrf_token", ["", "0" * 64, "x", "é" * 64], ids=["missing", "zeros", "short", "unicode"]
)
async def test_login_post_with_a_wrong_csrf_token_is_403(harness: Harness, csrf_token: str) -> None:
    form = await harness.login_form(await harness.login_url(harness.auth_params()))
    response = await harness.submit_login(form, csrf_token=csrf_token)
    assert_error_page(response, 403)
    # The request was not signed in by that POST.
    assert (await harness.submit_login(form)).status_code == 303


async def test_login_post_with_a_token_from_another_browser_is_403(harness: Harness) -> None:
    url = await harness.login_url(harness.auth_params())
    mine = await harness.login_form(url)
    other_browser = await harness.browser()
    theirs = await harness.login_form(url, other_browser)
    assert mine.fields["csrf_token"] != theirs.fields["csrf_token"]
    # The attacker's page makes the victim's browser post the attacker's token, and
    # the victim's token does not work in the attacker's browser either.
    assert_error_page(await harness.submit_login(mine, csrf_token=theirs.fields["csrf_token"]), 403)
    crossed = await harness.submit_login(theirs, browser=other_browser, **{
        "csrf_token": mine.fields["csrf_token"]
    })  # fmt: skip
    assert_error_page(crossed, 403)


async def test_login_post_with_a_token_of_another_request_is_403(harness: Harness) -> None:
    first = await harness.login_form(await harness.login_url(harness.auth_params()))
    second = await harness.login_form(await harness.login_url(harness.auth_params()))
    forged = Form(second.action, {**second.fields, "csrf_token": first.fields["csrf_token"]})
    assert_error_page(await harness.submit_login(forged), 403)


async def test_login_post_with_a_malformed_body(harness: Harness) -> None:
    form = await harness.login_form(await harness.login_url(harness.auth_params()))
    as_json = await harness.client.post(form.action, json={**form.fields, "login": EMAIL})
    assert_error_page(as_json, 400)
    body = urlencode([*form.fields.items(), ("login", EMAIL), ("login", "x"), ("password", "p")])
    repeated = await harness.client.post(
        form.action, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error_page(repeated, 400)
    oversized = await harness.submit_login(form, password="p" * 5000)
    assert_error_page(oversized, 400)
    huge = await harness.submit_login(form, password="p" * 70_000)
    assert huge.status_code == 413


async def test_wrong_password_shows_the_form_again(harness: Harness) -> None:
    form = await harness.login_form(await harness.login_url(harness.auth_params()))
    for login, password in ((EMAIL, "wrong"), ("nobody@example.com", "password"), (EMAIL, "")):
        response = await harness.submit_login(form, login=login, password=password)
        # 200 as in Dex: a 401 would need a WWW-Authenticate challenge (RFC 9110 §15.5.2).
        assert response.status_code == 200
        assert "location" not in response.headers
        assert "Invalid username or password." in response.text
        assert parse_form(response.text).fields["csrf_token"] == form.fields["csrf_token"]
    # bcrypt ignores bytes past 72: a longer "password" must not pass as "password".
    long = await harness.submit_login(form, password="password" * 10)
    assert long.status_code == 200
    assert "Invalid username or password." in long.text
    assert (await harness.submit_login(form)).status_code == 303


async def test_repeated_wrong_passwords_lock_the_account(harness: Harness) -> None:
    form = await harness.login_form(await harness.login_url(harness.auth_params()))
    for _ in range(5):
        wrong = await harness.submit_login(form, password="wrong")
        assert "Invalid username or password." in wrong.text
    locked = await harness.submit_login(form)  # even the right password
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 + 1
    assert "Too many failed attempts" in locked.text
    assert "location" not in locked.headers
    # Another browser does not get around it: the lock is on the account.
    other = await harness.browser()
    url = await harness.login_url(harness.auth_params(), other)
    other_form = await harness.login_form(url, other)
    assert (await harness.submit_login(other_form, browser=other)).status_code == 429
    harness.clock.advance(timedelta(minutes=15, seconds=1))
    assert (await harness.submit_login(form)).status_code == 303


async def test_login_after_the_request_expired(harness: Harness) -> None:
    form = await harness.login_form(await harness.login_url(harness.auth_params()))
    harness.clock.advance(timedelta(hours=24, seconds=1))
    assert_error_page(await harness.submit_login(form), 400)


# -- approval ------------------------------------------------------------------------
async def test_approval_page_has_security_headers(harness: Harness) -> None:
    url = await harness.approval_url(harness.auth_params())
    response = await harness.client.get(url)
    assert response.status_code == 200
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"
    assert "approve" in parse_form(response.text).buttons["approval"]


async def test_approval_get_with_a_bad_hmac_is_403(harness: Harness) -> None:
    url = await harness.approval_url(harness.auth_params())
    req = query_of(url)["req"]
    for hmac in ("", "0" * 64, "zz", "ü"):
        response = await harness.client.get(f"{PREFIX}/approval", params={"req": req, "hmac": hmac})
        assert_error_page(response, 403)
    assert_error_page(await harness.client.get(f"{PREFIX}/approval", params={"req": req}), 403)


async def test_approval_refuses_missing_or_unknown_requests(harness: Harness) -> None:
    for params in ({}, {"req": "nope", "hmac": "0" * 64}, {"req": "x" * 5000}):
        assert_error_page(await harness.client.get(f"{PREFIX}/approval", params=params), 400)
        assert_error_page(await harness.client.post(f"{PREFIX}/approval", data=params), 400)
    repeated = await harness.client.get(f"{PREFIX}/approval?req=a&req=b")
    assert_error_page(repeated, 400)


async def test_approval_before_signing_in_is_refused(harness: Harness) -> None:
    url = await harness.login_url(harness.auth_params())
    req = query_of(url)["state"]  # the auth request's id
    response = await harness.client.get(f"{PREFIX}/approval", params={"req": req, "hmac": "0"})
    assert_error_page(response, 400)
    post = await harness.client.post(
        f"{PREFIX}/approval", data={"req": req, "approval": "approve", "csrf_token": "x"}
    )
    assert_error_page(post, 400)
    assert await code_count(harness) == 0


async def test_approval_post_without_the_cookie_is_403(harness: Harness) -> None:
    form = await harness.approval_form(await harness.approval_url(harness.auth_params()))
    stranger = await harness.browser()
    assert_error_page(await harness.submit_approval(form, browser=stranger), 403)
    assert await code_count(harness) == 0


@pytest.mark.parametrize("csrf_token", ["", "0" * 64, "not-a-token"])
async def test_approval_post_with_a_wrong_csrf_token_is_403(
    harness: Harness, csrf_token: str
) -> None:
    form = await harness.approval_form(await harness.approval_url(harness.auth_params()))
    assert_error_page(await harness.submit_approval(form, csrf_token=csrf_token), 403)
    assert await code_count(harness) == 0


async def test_approval_post_with_a_token_from_another_browser_is_403(harness: Harness) -> None:
    victim = await harness.approval_form(await harness.approval_url(harness.auth_params()))
    attacker = await harness.browser()
    theirs = await harness.approval_form(
        await harness.approval_url(harness.auth_params(), attacker), attacker
    )
    forged = Form(victim.action, {**victim.fields, "csrf_token": theirs.fields["csrf_token"]})
    assert_error_page(await harness.submit_approval(forged), 403)
    assert_error_page(await harness.submit_approval(victim, browser=attacker), 403)
    assert await code_count(harness) == 0


async def test_approval_login_token_is_not_an_approval_token(harness: Harness) -> None:
    login = await harness.login_form(await harness.login_url(harness.auth_params()))
    location = (await harness.submit_login(login)).headers["location"]
    form = await harness.approval_form(location)
    reused = await harness.submit_approval(form, csrf_token=login.fields["csrf_token"])
    assert_error_page(reused, 403)


async def test_approval_is_single_use(harness: Harness) -> None:
    form = await harness.approval_form(await harness.approval_url(harness.auth_params()))
    first = await harness.submit_approval(form)
    assert first.status_code == 303
    assert "code" in query_of(first.headers["location"])
    second = await harness.submit_approval(form)
    assert_error_page(second, 400)
    assert await code_count(harness) == 1
    # And the approval page of a finished request is gone too.
    assert_error_page(await harness.client.get(f"{PREFIX}/approval?req={form.fields['req']}"), 400)


async def test_denying_redirects_with_access_denied(harness: Harness) -> None:
    params = harness.auth_params(state="deny-me")
    form = await harness.approval_form(await harness.approval_url(params))
    response = await harness.submit_approval(form, approval="rejected")
    assert_error_redirect(response, "access_denied", "deny-me")
    assert_error_page(await harness.submit_approval(form), 400)
    assert await code_count(harness) == 0


async def test_approval_of_an_expired_request(harness: Harness) -> None:
    url = await harness.approval_url(harness.auth_params())
    form = await harness.approval_form(url)
    harness.clock.advance(timedelta(hours=24, seconds=1))
    assert_error_page(await harness.client.get(url), 400)
    assert_error_page(await harness.submit_approval(form), 400)
    assert await code_count(harness) == 0


async def test_approval_post_with_a_malformed_body(harness: Harness) -> None:
    form = await harness.approval_form(await harness.approval_url(harness.auth_params()))
    assert_error_page(await harness.client.post(form.action, json=form.fields), 400)
    body = urlencode([*form.fields.items(), ("approval", "approve"), ("approval", "approve")])
    repeated = await harness.client.post(
        form.action, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error_page(repeated, 400)
    assert await code_count(harness) == 0
    assert (await harness.submit_approval(form)).status_code == 303


async def test_skip_approval_redirects_straight_to_the_client() -> None:
    async with running(config_text(oauth2="  skipApprovalScreen: true")) as harness:
        params = harness.auth_params(state="skip")
        form = await harness.login_form(await harness.login_url(params))
        response = await harness.submit_login(form)
        assert response.status_code == 303
        location = response.headers["location"]
        assert without_query(location) == REDIRECT_URI
        assert query_of(location)["state"] == "skip"
        # prompt=consent still asks.
        consent = harness.auth_params(prompt="consent")
        assert (await harness.approval_url(consent)).startswith(f"{PREFIX}/approval?")


async def test_the_code_is_delivered_only_to_the_registered_uri(harness: Harness) -> None:
    result = await harness.get_code(client_id=CLIENT_ID)
    assert result.redirect_uri == REDIRECT_URI
    assert len(result.code) >= 43


# -- only POST changes anything --------------------------------------------------------
async def test_head_or_get_with_form_fields_in_the_query_does_not_sign_in(
    harness: Harness,
) -> None:
    url = await harness.login_url(harness.auth_params())
    form = await harness.login_form(url)
    # Starlette answers HEAD wherever GET is routed; neither may act like the POST, or
    # passwords would travel (and be logged) in URLs.
    query = {**query_of(url), **form.fields, "login": EMAIL, "password": "password"}
    for method in ("HEAD", "GET"):
        response = await harness.client.request(method, without_query(url), params=query)
        assert response.status_code == 200, (method, response.status_code)
        assert "location" not in response.headers
    storage = harness.runtime.services.storage
    request = await storage.get_auth_request(query_of(url)["state"])
    assert not request.logged_in


async def test_head_or_get_with_approval_fields_in_the_query_issues_no_code(
    harness: Harness,
) -> None:
    url = await harness.approval_url(harness.auth_params())
    form = await harness.approval_form(url)
    query = {**query_of(url), **form.fields, "approval": "approve"}
    for method in ("HEAD", "GET"):
        response = await harness.client.request(method, f"{PREFIX}/approval", params=query)
        assert response.status_code == 200, (method, response.status_code)
        assert "location" not in response.headers
    assert await code_count(harness) == 0
    assert (await harness.submit_approval(form)).status_code == 303


async def test_pages_do_not_reflect_the_host_header(harness: Harness) -> None:
    url = await harness.login_url(harness.auth_params())
    response = await harness.client.get(url, headers={"Host": "evil.example"})
    assert response.status_code == 200
    # Behind a proxy that rewrites Host, an absolute URL built from it points nowhere.
    assert "evil.example" not in response.text
    assert f'href="{PREFIX}/static/main.css"' in response.text
