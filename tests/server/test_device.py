"""The device flow over HTTP (RFC 8628, Dex's paths): /device/code, the verification
pages, the sign-in through /auth, /device/callback and polling at /token."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passgate.storage.models import BrowserSessionFilter

from .device_support import (
    FORM,
    GRANT,
    SCOPE,
    Device,
    approve,
    callback_url,
    confirm,
    path_of,
    poll,
    start,
    to_approval,
)
from .harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    OTHER_ID,
    OTHER_SECRET,
    PREFIX,
    PUBLIC_ID,
    Harness,
    assert_error_page,
    assert_oauth_error,
    basic,
    config_text,
    parse_form,
    query_of,
    running,
)

pytestmark = pytest.mark.anyio


# -- discovery and the device authorization request ------------------------------------
async def test_discovery_advertises_the_device_endpoint_and_grant(harness: Harness) -> None:
    document = (await harness.client.get(f"{PREFIX}/.well-known/openid-configuration")).json()
    assert document["device_authorization_endpoint"] == f"{ISSUER}/device/code"
    assert GRANT in document["grant_types_supported"]


async def test_device_code_response(harness: Harness) -> None:
    device = await start(harness)
    body = device.body
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={device.user_code}"
    assert body["expires_in"] == 300
    assert body["interval"] == 5
    assert len(device.user_code) == 9


@pytest.mark.parametrize(
    ("data", "headers", "error", "status"),
    [
        ({}, {}, "invalid_client", 401),
        ({"client_id": "nobody"}, {}, "invalid_client", 401),
        ({"client_id": CLIENT_ID}, {}, "invalid_client", 401),
        ({}, basic(CLIENT_ID, "wrong"), "invalid_client", 401),
        ({"client_id": PUBLIC_ID, "client_secret": "x"}, {}, "invalid_client", 401),
        ({"client_id": PUBLIC_ID, "scope": "email"}, {}, "invalid_scope", 400),
        ({"client_id": PUBLIC_ID, "scope": "openid admin"}, {}, "invalid_scope", 400),
        ({"client_id": PUBLIC_ID, "code_challenge_method": "S256"}, {}, "invalid_request", 400),
        ({"client_id": PUBLIC_ID, "scope": "x" * 5000}, {}, "invalid_request", 400),
        ({"client_id": PUBLIC_ID, "scope": "a\x00b"}, {}, "invalid_request", 400),
    ],
    ids=["no-client", "unknown", "no-secret", "bad-secret", "public-secret", "no-openid",
         "unknown-scope", "pkce-method-only", "huge", "nul"],
)  # fmt: skip
async def test_device_code_errors(
    harness: Harness, data: dict[str, str], headers: dict[str, str], error: str, status: int
) -> None:
    response = await harness.client.post(
        f"{PREFIX}/device/code", data=data, headers={**FORM, **headers}
    )
    assert_oauth_error(response, error, status=status)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (f"client_id={PUBLIC_ID}&client_id={PUBLIC_ID}", FORM["Content-Type"]),
        (f"client_id={PUBLIC_ID}&scope=openid&scope=openid", FORM["Content-Type"]),
        ('{"client_id": "kubectl"}', "application/json"),
        (f"client_id={PUBLIC_ID}", ""),
        ("%zz=%%", FORM["Content-Type"]),
    ],
    ids=["repeated-client", "repeated-scope", "json", "no-type", "garbage"],
)
async def test_malformed_device_code_requests_are_invalid_request(
    harness: Harness, body: str, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await harness.client.post(f"{PREFIX}/device/code", content=body, headers=headers)
    assert_oauth_error(response, "invalid_request", "invalid_client", status=None)
    assert response.status_code in (400, 401)


async def test_get_device_code_is_405_json(harness: Harness) -> None:
    response = await harness.client.get(f"{PREFIX}/device/code")
    assert_oauth_error(response, "invalid_request", status=405, no_store=False)


# -- the whole flow --------------------------------------------------------------------
async def test_public_client_gets_the_code_flow_tokens_once(harness: Harness) -> None:
    device = await start(harness)
    assert_oauth_error(await poll(harness, device), "authorization_pending", status=400)
    result = await approve(harness, device)
    assert result.status_code == 200, result.text
    assert "Device approved" in result.text
    harness.clock.advance(timedelta(seconds=5))
    response = await poll(harness, device)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == SCOPE
    claims = await harness.runtime.services.keys.verify(tokens["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == PUBLIC_ID
    assert claims["groups"] == ["admins", "developers"]
    assert claims["email_verified"] is True
    userinfo = await harness.userinfo(tokens["access_token"])
    assert userinfo.status_code == 200
    refreshed = await harness.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
         "client_id": PUBLIC_ID}
    )  # fmt: skip
    assert refreshed.status_code == 200, refreshed.text
    # Spent: a second pickup is refused.
    harness.clock.advance(timedelta(seconds=5))
    assert_oauth_error(await poll(harness, device), "invalid_grant", status=400)


async def test_confidential_client_and_no_refresh_without_offline_access(
    harness: Harness,
) -> None:
    device = await start(harness, CLIENT_ID, CLIENT_SECRET, scope="openid email")
    await approve(harness, device)
    response = await poll(harness, device)
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()


async def test_the_wrong_client_cannot_poll(harness: Harness) -> None:
    device = await start(harness, CLIENT_ID, CLIENT_SECRET)
    await approve(harness, device)
    data = {"grant_type": GRANT, "device_code": device.device_code}
    # Another client's own credentials: the code is not theirs.
    other = await harness.token(data, basic(OTHER_ID, OTHER_SECRET))
    assert_oauth_error(other, "invalid_grant", status=400)
    public = await harness.token({**data, "client_id": PUBLIC_ID})
    assert_oauth_error(public, "invalid_grant", status=400)
    # The right client without its secret, or with a wrong one.
    assert_oauth_error(await harness.token({**data, "client_id": CLIENT_ID}), "invalid_client")
    wrong = await harness.token(data, basic(CLIENT_ID, "nope"))
    assert_oauth_error(wrong, "invalid_client", status=401)
    assert wrong.headers["www-authenticate"].startswith("Basic")
    # None of that spent the code.
    assert (await poll(harness, device)).status_code == 200


async def test_denied_on_the_approval_screen(harness: Harness) -> None:
    device = await start(harness)
    result = await approve(harness, device, approval="rejected")
    assert result.status_code == 200, result.text
    assert "Device denied" in result.text
    assert_oauth_error(await poll(harness, device), "access_denied", status=400)
    # The code cannot be used again to approve after all.
    page = await harness.client.get(f"{PREFIX}/device", params={"user_code": device.user_code})
    assert page.status_code == 400
    assert "already used" in page.text


async def test_slow_down_and_expiry(harness: Harness) -> None:
    device = await start(harness)
    assert_oauth_error(await poll(harness, device), "authorization_pending")
    harness.clock.advance(timedelta(seconds=1))
    assert_oauth_error(await poll(harness, device), "slow_down", status=400)
    harness.clock.advance(timedelta(seconds=10))
    assert_oauth_error(await poll(harness, device), "authorization_pending")
    harness.clock.advance(timedelta(minutes=5))
    assert_oauth_error(await poll(harness, device), "expired_token", status=400)
    page = await harness.client.get(f"{PREFIX}/device", params={"user_code": device.user_code})
    assert page.status_code == 400
    assert "expired" in page.text


async def test_short_expiry_from_the_config() -> None:
    async with running(config_text(expiry="  deviceRequests: 30s")) as harness:
        device = await start(harness)
        assert device.body["expires_in"] == 30
        url = await to_approval(harness, device.user_code)
        harness.clock.advance(timedelta(seconds=31))
        form = await harness.approval_form(url)
        response = await harness.submit_approval(form)
        location = response.headers["location"]
        assert_error_page(await harness.client.get(path_of(location)), 400)
        assert_oauth_error(await poll(harness, device), "expired_token")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": GRANT, "client_id": PUBLIC_ID}, "invalid_request"),
        ({"grant_type": GRANT, "client_id": PUBLIC_ID, "device_code": "nope"}, "invalid_grant"),
        ({"grant_type": GRANT, "device_code": "nope"}, "invalid_client"),
        ({"grant_type": GRANT, "client_id": PUBLIC_ID, "device_code": "x" * 5000},
         "invalid_request"),
        ({"grant_type": GRANT, "client_id": PUBLIC_ID, "device_code": "a\x00"},
         "invalid_request"),
    ],
    ids=["missing", "unknown", "no-client", "huge", "nul"],
)  # fmt: skip
async def test_token_endpoint_errors(harness: Harness, data: dict[str, str], error: str) -> None:
    assert_oauth_error(await harness.token(data), error)


@pytest.mark.parametrize("name", ["device_code", "grant_type", "client_id"])
async def test_repeated_poll_parameters_are_invalid_request(harness: Harness, name: str) -> None:
    device = await start(harness)
    pairs = [("grant_type", GRANT), ("client_id", PUBLIC_ID), ("device_code", device.device_code)]
    pairs.append(next(pair for pair in pairs if pair[0] == name))
    response = await harness.client.post(f"{PREFIX}/token", content=urlencode(pairs), headers=FORM)
    assert_oauth_error(response, "invalid_request", status=400)


async def test_device_pkce_as_dex_accepts_it(harness: Harness) -> None:
    verifier = "v" * 43
    response = await harness.client.post(
        f"{PREFIX}/device/code",
        data={"client_id": PUBLIC_ID, "scope": SCOPE, "code_challenge": verifier,
              "code_challenge_method": "plain"},
    )  # fmt: skip
    device = Device(response.json())
    await approve(harness, device)
    assert_oauth_error(await poll(harness, device), "invalid_grant")
    assert (await poll(harness, device, code_verifier=verifier)).status_code == 200


# -- the pages -------------------------------------------------------------------------
async def test_entry_page_prefill_and_typed_codes(harness: Harness) -> None:
    entry = await harness.client.get(f"{PREFIX}/device")
    assert entry.status_code == 200
    assert parse_form(entry.text).action == f"{PREFIX}/device"
    device = await start(harness)
    typed = device.user_code.lower().replace("-", "")
    page = await harness.client.get(f"{PREFIX}/device", params={"user_code": typed})
    assert page.status_code == 200
    assert device.user_code in page.text
    assert "kubectl" in page.text
    form = parse_form(page.text)
    assert form.action == f"{PREFIX}/device/auth/verify_code"
    assert form.fields["csrf_token"]


async def test_verify_sends_the_person_to_auth_for_the_device(harness: Harness) -> None:
    device = await start(harness)
    location = (await confirm(harness, device.user_code)).headers["location"]
    assert location.startswith(f"{PREFIX}/auth?")
    query = query_of(location)
    assert query["client_id"] == PUBLIC_ID
    assert query["redirect_uri"] == f"{ISSUER}/device/callback"
    assert query["scope"] == SCOPE
    assert query["code_challenge_method"] == "S256"
    assert query["state"].startswith(device.user_code + ".")


@pytest.mark.parametrize("code", ["", "hello", "BBBB-BBBB", "bbbbbbbb"])
async def test_unknown_codes_get_a_clear_page(harness: Harness, code: str) -> None:
    response = await harness.client.post(
        f"{PREFIX}/device/auth/verify_code", data={"user_code": code}
    )
    assert_error_page(response, 400)
    assert "code" in response.text
    page = await harness.client.get(f"{PREFIX}/device", params={"user_code": code})
    assert page.status_code == (400 if code else 200)


async def test_wrong_codes_are_rate_limited(harness: Harness) -> None:
    for _ in range(5):
        page = await harness.client.get(f"{PREFIX}/device", params={"user_code": "BBBB-BBBB"})
        assert page.status_code == 400
    device = await start(harness)
    page = await harness.client.get(f"{PREFIX}/device", params={"user_code": device.user_code})
    assert page.status_code == 429
    assert "Too many" in page.text


async def test_verify_is_csrf_protected(harness: Harness) -> None:
    device = await start(harness)
    page = await harness.client.get(f"{PREFIX}/device", params={"user_code": device.user_code})
    form = parse_form(page.text)
    url = f"{PREFIX}/device/auth/verify_code"
    no_token = await harness.client.post(url, data={"user_code": device.user_code})
    assert_error_page(no_token, 403)
    forged = await harness.client.post(url, data={**form.fields, "csrf_token": "0" * 64})
    assert_error_page(forged, 403)
    other = await harness.browser()
    assert_error_page(await other.post(url, data=form.fields), 403)
    assert (await harness.client.post(url, data=form.fields)).status_code == 303


async def test_callback_is_bound_to_the_confirming_browser_and_single_use(
    harness: Harness,
) -> None:
    device = await start(harness)
    location = path_of(await callback_url(harness, device.user_code))
    other = await harness.browser()
    assert_error_page(await other.get(location), 400)
    assert (await harness.client.get(location)).status_code == 200
    replay = await harness.client.get(location)
    assert_error_page(replay, 400)
    assert (await poll(harness, device)).status_code == 200


@pytest.mark.parametrize(
    "query",
    [{}, {"code": "x"}, {"state": "x"}, {"state": "BCDF-GHJK.x", "code": "y"},
     {"state": "x", "error": "server_error", "error_description": "boom"},
     {"state": "x", "error": "access_denied"}],
    ids=["empty", "no-state", "no-code", "unknown", "other-error", "forged-denial"],
)  # fmt: skip
async def test_bad_callbacks_get_a_page_never_a_500(
    harness: Harness, query: dict[str, str]
) -> None:
    response = await harness.client.get(f"{PREFIX}/device/callback", params=query)
    assert_error_page(response, 400)


async def test_a_sign_in_for_the_device_cannot_be_forced_on_another_callback(
    harness: Harness,
) -> None:
    # The device callback is accepted for any client, but only at /auth and only as
    # Passgate's own URL: lookalikes are still unregistered redirect URIs.
    params = harness.auth_params(client_id=CLIENT_ID, redirect_uri=f"{ISSUER}/device/callbackx")
    assert_error_page(await harness.client.get(f"{PREFIX}/auth", params=params), 400)


async def test_grant_disabled_by_config() -> None:
    text = config_text(oauth2="  grantTypes: [authorization_code, refresh_token]")
    async with running(text) as harness:
        document = (await harness.client.get(f"{PREFIX}/.well-known/openid-configuration")).json()
        assert "device_authorization_endpoint" not in document
        response = await harness.client.post(f"{PREFIX}/device/code", data={"client_id": PUBLIC_ID})
        assert_oauth_error(response, "unsupported_grant_type")
        params = harness.auth_params(client_id=CLIENT_ID, redirect_uri=f"{ISSUER}/device/callback")
        assert_error_page(await harness.client.get(f"{PREFIX}/auth", params=params), 400)


# -- anything else ---------------------------------------------------------------------
NAMES = (
    "client_id", "client_secret", "scope", "code_challenge", "code_challenge_method",
    "user_code", "csrf_token", "state", "code", "error", "error_description", "device_code",
    "grant_type", "code_verifier",
)  # fmt: skip
VALUES = st.sampled_from(
    [PUBLIC_ID, CLIENT_ID, CLIENT_SECRET, "openid", SCOPE, "openid admin", "S256", "plain",
     "v" * 43, "BCDF-GHJK", "bcdfghjk", "BCDF-GHJK.x", "access_denied", GRANT, "\u00b2",
     "%00", "a\x00b", "x" * 5000, ""]
) | st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # fmt: skip
PAIRS = st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=8), VALUES), max_size=8)
ENDPOINTS = {
    # endpoint: (method, path, the statuses it may answer with)
    "code": ("POST", "/device/code", {200, 400, 401}),
    "token": ("POST", "/token", {200, 400, 401}),
    "page": ("GET", "/device", {200, 400, 414, 429}),
    "verify": ("POST", "/device/auth/verify_code", {303, 400, 403, 429}),
    "callback": ("GET", "/device/callback", {200, 400, 414}),
}


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endpoint=st.sampled_from(sorted(ENDPOINTS)), pairs=PAIRS)
async def test_fuzz_device_endpoints_answer_json_or_a_page_never_500(
    harness: Harness, endpoint: str, pairs: list[tuple[str, str]]
) -> None:
    method, path, statuses = ENDPOINTS[endpoint]
    if method == "POST":
        response = await harness.client.post(
            f"{PREFIX}{path}", content=urlencode(pairs), headers=FORM
        )
    else:
        response = await harness.client.get(f"{PREFIX}{path}?{urlencode(pairs)}")
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    if endpoint in ("code", "token") and response.status_code != 200:
        assert_oauth_error(response)
    elif response.status_code == 414:  # a query over the size limit: refused before routing
        assert response.json()["error"] == "invalid_request"
    elif response.status_code == 303:
        assert response.headers["location"].startswith(f"{PREFIX}/auth?")
    elif response.status_code >= 400:
        assert_error_page(response, response.status_code)


async def test_the_device_signs_in_through_single_sign_on_but_keeps_its_own_session(
    harness: Harness,
) -> None:
    """The person approving a device in a browser that is signed in needs no password, but
    the device's tokens are its own: signing that browser out does not end them."""
    first = await start(harness)
    await approve(harness, first)  # signs the browser in (the password form)
    harness.clock.advance(timedelta(seconds=5))
    tokens = (await poll(harness, first)).json()
    second = await start(harness)
    response = await confirm(harness, second.user_code)
    location = response.headers["location"]
    for _ in range(3):  # /auth → approval, with no password form on the way
        assert "/login?" not in location, location
        if location.startswith(f"{PREFIX}/approval"):
            break
        location = (await harness.client.get(location)).headers["location"]
    assert location.startswith(f"{PREFIX}/approval"), location
    sid = (await harness.runtime.services.keys.verify(tokens["id_token"]))["sid"]
    browser_sessions = await harness.runtime.services.storage.list_browser_sessions(
        BrowserSessionFilter(), harness.clock()
    )
    assert sid not in {session.id for session in browser_sessions}
    out = await harness.client.post(f"{PREFIX}/logout", data={})
    form = parse_form(out.text)
    await harness.client.post(form.action, data={**form.fields, "confirm": "yes"})
    assert (await harness.userinfo(tokens["access_token"])).status_code == 200
    refreshed = await harness.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
         "client_id": PUBLIC_ID}
    )  # fmt: skip
    assert refreshed.status_code == 200, refreshed.text
