"""POST /token: client authentication, every grant's failure modes, replay and reuse
detection, and the RFC 6749 §5.1/§5.2 shape of every answer."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlencode

import anyio
import httpx
import pytest

from .harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    OTHER_ID,
    OTHER_REDIRECT_URI,
    OTHER_SECRET,
    PASSWORD,
    PREFIX,
    PUBLIC_ID,
    PUBLIC_REDIRECT_URI,
    REDIRECT_URI,
    CodeResult,
    Harness,
    assert_oauth_error,
    basic,
    config_text,
    query_of,
    running,
)

pytestmark = pytest.mark.anyio

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BASIC_CHALLENGE = "Basic"


def assert_token_response(response: httpx.Response) -> dict[str, object]:
    """RFC 6749 §5.1: 200, JSON, no-store, bearer token with a positive lifetime."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body: dict[str, object] = response.json()
    assert body["token_type"] == "bearer"
    assert isinstance(body["expires_in"], int)
    assert body["expires_in"] > 0
    return body


def assert_invalid_client(response: httpx.Response, *, challenge: bool) -> None:
    """RFC 6749 §5.2: 401; ``WWW-Authenticate`` when the client used HTTP Basic."""
    assert_oauth_error(response, "invalid_client", status=401)
    if challenge:
        assert response.headers["www-authenticate"].startswith(BASIC_CHALLENGE)


async def post_raw(harness: Harness, body: str | bytes, **headers: str) -> httpx.Response:
    return await harness.client.post(f"{PREFIX}/token", content=body, headers=headers)


# -- the request itself ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (None, b"grant_type=client_credentials"),
        ("application/json", b'{"grant_type": "client_credentials"}'),
        ("text/plain", b"grant_type=client_credentials"),
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; '
         b'name="grant_type"\r\n\r\nclient_credentials\r\n--b--\r\n'),
        ("application/x-www-form-urlencodedx", b"grant_type=client_credentials"),
    ],
    ids=["none", "json", "text", "multipart", "lookalike"],
)  # fmt: skip
async def test_only_urlencoded_bodies_are_accepted(
    harness: Harness, content_type: str | None, body: bytes
) -> None:
    headers = basic()
    if content_type:
        headers["Content-Type"] = content_type
    response = await harness.client.post(f"{PREFIX}/token", content=body, headers=headers)
    assert_oauth_error(response, "invalid_request", status=400)


async def test_content_type_parameters_are_fine(harness: Harness) -> None:
    response = await post_raw(
        harness,
        "grant_type=client_credentials",
        **basic(),
        **{"Content-Type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"},
    )
    assert_token_response(response)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": ""}, "invalid_request"),
        ({"grant_type": "magic"}, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, "unsupported_grant_type"),
        # Implemented (RFC 8628, tests/server/test_device.py): no device_code is malformed.
        ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, "invalid_request"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"},
         "unsupported_grant_type"),
        ({"grant_type": "x" * 5000}, "invalid_request"),
        ({"grant_type": "client_credentials", "scope": "x" * 4097}, "invalid_request"),
        ({"grant_type": "client_credentials", "scope": "a\x00b"}, "invalid_request"),
    ],
    ids=["empty", "blank", "unknown", "implicit", "device", "exchange", "huge-grant",
         "huge-scope", "nul"],
)  # fmt: skip
async def test_missing_unknown_and_oversized_parameters(
    harness: Harness, data: dict[str, str], error: str
) -> None:
    assert_oauth_error(await harness.token(data, basic()), error, status=400)


@pytest.mark.parametrize("name", ["grant_type", "client_id", "scope", "code", "refresh_token"])
async def test_repeated_parameters_are_invalid_request(harness: Harness, name: str) -> None:
    pairs = [("grant_type", "client_credentials"), (name, "a"), (name, "a")]
    if name == "grant_type":
        pairs = [("grant_type", "client_credentials")] * 2
    response = await post_raw(harness, urlencode(pairs), **basic(), **FORM)
    # RFC 6749 §3.2: parameters MUST NOT be included more than once.
    assert_oauth_error(response, "invalid_request", status=400)


async def test_too_many_parameters(harness: Harness) -> None:
    pairs = [("grant_type", "client_credentials"), *((f"p{i}", "1") for i in range(70))]
    response = await post_raw(harness, urlencode(pairs), **basic(), **FORM)
    assert_oauth_error(response, "invalid_request", status=400)


async def test_oversized_body_is_413(harness: Harness) -> None:
    body = urlencode({"grant_type": "client_credentials", "x": "y" * 70_000})
    assert_oauth_error(await post_raw(harness, body, **basic(), **FORM), status=413)
    lying = await post_raw(harness, "grant_type=x", **FORM, **{"Content-Length": "99999999"})
    assert lying.status_code == 413
    garbled = await post_raw(harness, "grant_type=x", **FORM, **{"Content-Length": "abc"})
    assert garbled.status_code == 400


async def test_oversized_streamed_body_is_413(harness: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"grant_type=client_credentials&x="
        for _ in range(80):
            yield b"y" * 1024

    response = await harness.client.post(
        f"{PREFIX}/token", content=chunks(), headers={**basic(), **FORM}
    )
    assert "content-length" not in response.request.headers
    assert_oauth_error(response, "invalid_request", status=413)


async def test_over_long_query_is_414(harness: Harness) -> None:
    response = await harness.client.post(
        f"{PREFIX}/token?{'q' * 9000}", data={"grant_type": "client_credentials"}, headers=basic()
    )
    assert_oauth_error(response, "invalid_request", status=414)


async def test_get_is_405(harness: Harness) -> None:
    response = await harness.client.get(f"{PREFIX}/token", params={"grant_type": "password"})
    assert_oauth_error(response, "invalid_request", status=405, no_store=False)
    assert response.headers["allow"] == "POST"


# -- client authentication (RFC 6749 §2.3) ---------------------------------------------
async def test_wrong_secret_with_basic_is_401_with_a_challenge(harness: Harness) -> None:
    for headers in (basic(CLIENT_ID, "wrong"), basic(CLIENT_ID, ""), basic("nobody", "x")):
        response = await harness.token({"grant_type": "client_credentials"}, headers)
        assert_invalid_client(response, challenge=True)


async def test_wrong_secret_in_the_body_is_401(harness: Harness) -> None:
    for data in (
        {"client_id": CLIENT_ID, "client_secret": "wrong"},
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET + "x"},
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET[:-1]},
        {"client_id": CLIENT_ID, "client_secret": OTHER_SECRET},
        {"client_id": "nobody", "client_secret": "x"},
        {"client_id": CLIENT_ID},  # a confidential client must authenticate
        {"client_secret": CLIENT_SECRET},
        {},
    ):
        response = await harness.token({"grant_type": "client_credentials", **data})
        assert_invalid_client(response, challenge=False)


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic ",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Bearer abc",
        "Digest username=x",
        "basic" + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
        # NUL reached storage (a 500 on PostgreSQL, whose text cannot hold it).
        "Basic " + base64.b64encode(b"nobody\x00:secret").decode(),
        "Basic " + base64.b64encode(b"nobody%00:secret").decode(),
        "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}\x00".encode()).decode(),
    ],
    ids=[
        "scheme",
        "empty",
        "junk",
        "no-colon",
        "not-utf8",
        "bearer",
        "digest",
        "no-space",
        "nul-id",
        "encoded-nul-id",
        "nul-secret",
    ],
)
async def test_malformed_authorization_is_401(harness: Harness, authorization: str) -> None:
    response = await harness.token(
        {"grant_type": "client_credentials"}, {"Authorization": authorization}
    )
    assert_invalid_client(response, challenge=True)


async def test_basic_credentials_are_form_urlencoded(harness: Harness) -> None:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
    raw = f"{CLIENT_ID}:{CLIENT_SECRET}".replace("-", "%2D").encode()
    response = await harness.token(
        {"grant_type": "client_credentials"},
        {"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert_token_response(response)


async def test_two_authentication_methods_are_refused(harness: Harness) -> None:
    response = await harness.token(
        {"grant_type": "client_credentials", "client_secret": CLIENT_SECRET}, basic()
    )
    # RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
    assert_oauth_error(response, "invalid_request", status=400)
    mismatch = await harness.token(
        {"grant_type": "client_credentials", "client_id": OTHER_ID}, basic()
    )
    assert_oauth_error(mismatch, "invalid_request", status=400)


async def test_public_client_with_a_secret_is_refused(harness: Harness) -> None:
    response = await harness.token(
        {"grant_type": "client_credentials", "client_id": PUBLIC_ID, "client_secret": "x"}
    )
    assert_invalid_client(response, challenge=False)
    assert_invalid_client(
        await harness.token({"grant_type": "client_credentials"}, basic(PUBLIC_ID, "x")),
        challenge=True,
    )


# -- client_credentials (RFC 6749 §4.4) ------------------------------------------------
async def test_client_credentials_for_a_public_client_is_unauthorized(harness: Harness) -> None:
    response = await harness.token({"grant_type": "client_credentials", "client_id": PUBLIC_ID})
    assert_oauth_error(response, "unauthorized_client", status=400)


@pytest.mark.parametrize(
    "scope",
    ["openid offline_access", "openid admin", f"openid audience:server:client_id:{OTHER_ID}"],
)
async def test_client_credentials_scope_errors(harness: Harness, scope: str) -> None:
    response = await harness.token({"grant_type": "client_credentials", "scope": scope}, basic())
    assert_oauth_error(response, "invalid_scope", status=400)


async def test_client_credentials_succeeds_without_a_refresh_token(harness: Harness) -> None:
    body = assert_token_response(
        await harness.token({"grant_type": "client_credentials", "scope": "openid"}, basic())
    )
    assert "refresh_token" not in body


# -- authorization_code (RFC 6749 §4.1.3) ----------------------------------------------
async def test_code_exchange_succeeds_once(harness: Harness) -> None:
    body = assert_token_response(await harness.exchange(await harness.get_code()))
    assert {"access_token", "id_token", "refresh_token"} <= set(body)


async def test_missing_or_unknown_code(harness: Harness) -> None:
    base = {"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI}
    assert_oauth_error(await harness.token(base, basic()), "invalid_request", status=400)
    for code in ("nope", "x" * 4096, "é"):
        response = await harness.token({**base, "code": code}, basic())
        assert_oauth_error(response, "invalid_grant", status=400)


async def test_replayed_code_revokes_what_the_first_use_issued(harness: Harness) -> None:
    result = await harness.get_code()
    first = assert_token_response(await harness.exchange(result))
    replay = await harness.exchange(result)
    assert_oauth_error(replay, "invalid_grant", status=400)
    # RFC 6749 §4.1.2 / §10.5: the tokens the code issued are revoked.
    refreshed = await harness.refresh(str(first["refresh_token"]))
    assert_oauth_error(refreshed, "invalid_grant", status=400)
    userinfo = await harness.userinfo(str(first["access_token"]))
    assert userinfo.status_code == 401
    assert userinfo.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    # A third attempt is still refused.
    assert_oauth_error(await harness.exchange(result), "invalid_grant", status=400)


async def test_racing_exchanges_of_one_code_yield_one_token(harness: Harness) -> None:
    result = await harness.get_code()
    responses: list[httpx.Response] = []

    async def exchange() -> None:
        responses.append(await harness.exchange(result))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(exchange)
    assert sorted(response.status_code for response in responses) == [200, 400, 400, 400, 400]
    for response in responses:
        if response.status_code == 400:
            assert_oauth_error(response, "invalid_grant")


async def test_expired_code(harness: Harness) -> None:
    result = await harness.get_code()
    # RFC 6749 §4.1.2: codes live at most ten minutes.
    harness.clock.advance(timedelta(minutes=10, seconds=1))
    assert_oauth_error(await harness.exchange(result), "invalid_grant", status=400)


async def test_code_still_valid_just_before_it_expires(harness: Harness) -> None:
    result = await harness.get_code()
    harness.clock.advance(timedelta(minutes=10))
    assert_token_response(await harness.exchange(result))


@pytest.mark.parametrize(
    "verifier",
    ["", "a" * 43, "short", "a" * 129, "é" * 43, "a" * 42 + " "],
    ids=["missing", "wrong", "short", "long", "unicode", "space"],
)
async def test_pkce_mismatch_or_missing_verifier(harness: Harness, verifier: str) -> None:
    result = await harness.get_code()
    response = await harness.exchange(result, code_verifier=verifier)
    assert_oauth_error(response, "invalid_grant", "invalid_request", status=400)


async def test_verifier_without_a_challenge_is_refused(harness: Harness) -> None:
    result = await harness.get_code(pkce=False)
    response = await harness.exchange(result, code_verifier="a" * 43)
    assert_oauth_error(response, "invalid_grant", status=400)
    assert_token_response(await harness.exchange(result))


async def test_plain_pkce_compares_exactly(harness: Harness) -> None:
    verifier = "v" * 43
    params = harness.auth_params(code_challenge=verifier, code_challenge_method="plain")
    url = await harness.approval_url(params)
    response = await harness.submit_approval(await harness.approval_form(url))
    code = query_of(response.headers["location"])["code"]
    result = CodeResult(code, "", verifier, REDIRECT_URI, CLIENT_ID)
    wrong = await harness.exchange(result, code_verifier="V" * 43)
    assert_oauth_error(wrong, "invalid_grant", status=400)
    assert_token_response(await harness.exchange(result))


@pytest.mark.parametrize(
    "redirect_uri",
    ["", REDIRECT_URI + "/", OTHER_REDIRECT_URI, REDIRECT_URI.replace("5555", "5556")],
    ids=["missing", "slash", "other-client", "port"],
)
async def test_redirect_uri_mismatch_at_the_token_endpoint(
    harness: Harness, redirect_uri: str
) -> None:
    result = await harness.get_code()
    response = await harness.exchange(result, redirect_uri=redirect_uri)
    # RFC 6749 §4.1.3: identical to the authorization request's.
    assert_oauth_error(response, "invalid_grant", "invalid_request", status=400)


async def test_code_of_another_client(harness: Harness) -> None:
    result = await harness.get_code()
    for redirect_uri in (REDIRECT_URI, OTHER_REDIRECT_URI):
        response = await harness.exchange(
            result, auth=basic(OTHER_ID, OTHER_SECRET), redirect_uri=redirect_uri
        )
        assert_oauth_error(response, "invalid_grant", status=400)
    public = await harness.exchange(
        result, auth={}, client_id=PUBLIC_ID, redirect_uri=PUBLIC_REDIRECT_URI
    )
    assert_oauth_error(public, "invalid_grant", status=400)


async def test_public_client_code_flow(harness: Harness) -> None:
    result = await harness.get_code(client_id=PUBLIC_ID, redirect_uri=PUBLIC_REDIRECT_URI)
    assert_oauth_error(
        await harness.exchange(result, code_verifier=""), "invalid_grant", status=400
    )
    assert_oauth_error(
        await harness.exchange(result, auth={}, client_id=""), "invalid_client", status=401
    )
    assert_token_response(await harness.exchange(result))


# -- refresh_token (RFC 6749 §6) -------------------------------------------------------
@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b", "a." + "b" * 200, "." + "b" * 43, "id." + "é" * 43, "x" * 4096],
    ids=["missing", "garbage", "short", "long-secret", "no-id", "unicode", "huge"],
)
async def test_malformed_refresh_token(harness: Harness, token: str) -> None:
    response = await harness.refresh(token)
    assert_oauth_error(response, "invalid_grant", "invalid_request", status=400)


async def test_refresh_token_with_a_wrong_secret_or_id(harness: Harness) -> None:
    token = str((await harness.tokens())["refresh_token"])
    token_id, secret = token.split(".")
    assert_oauth_error(await harness.refresh(f"{token_id}.{'A' * 43}"), "invalid_grant")
    assert_oauth_error(await harness.refresh(f"unknown.{secret}"), "invalid_grant")


async def test_refresh_token_of_another_client(harness: Harness) -> None:
    token = str((await harness.tokens())["refresh_token"])
    response = await harness.refresh(token, headers=basic(OTHER_ID, OTHER_SECRET))
    assert_oauth_error(response, "invalid_grant", status=400)
    public = await harness.token(
        {"grant_type": "refresh_token", "refresh_token": token, "client_id": PUBLIC_ID}
    )
    assert_oauth_error(public, "invalid_grant", status=400)
    assert_invalid_client(
        await harness.refresh(token, headers=basic(CLIENT_ID, "wrong")), challenge=True
    )
    # The rightful client still refreshes.
    assert_token_response(await harness.refresh(token))


@pytest.mark.parametrize(
    "scope", ["openid email profile groups offline_access federated:id", "openid admin"]
)
async def test_refresh_cannot_widen_the_scope(harness: Harness, scope: str) -> None:
    tokens = await harness.tokens(scope="openid email offline_access")
    response = await harness.refresh(str(tokens["refresh_token"]), scope=scope)
    # RFC 6749 §6: the scope MUST NOT include any scope not originally granted.
    assert_oauth_error(response, "invalid_scope", status=400)
    narrowed = assert_token_response(
        await harness.refresh(str(tokens["refresh_token"]), scope="openid offline_access")
    )
    assert narrowed["scope"] == "openid offline_access"


async def test_reused_rotated_token_outside_the_interval_revokes_it(harness: Harness) -> None:
    first = str((await harness.tokens())["refresh_token"])
    second = str(assert_token_response(await harness.refresh(first))["refresh_token"])
    assert second != first
    harness.clock.advance(timedelta(seconds=4))  # past the 3 s reuse interval
    replay = await harness.refresh(first)
    assert_oauth_error(replay, "invalid_grant", status=400)
    # RFC 9700 §4.14.2: reuse means the token leaked; the whole family is revoked.
    assert_oauth_error(await harness.refresh(second), "invalid_grant", status=400)


async def test_reused_rotated_token_inside_the_interval_gets_the_same_token(
    harness: Harness,
) -> None:
    first = str((await harness.tokens())["refresh_token"])
    second = str(assert_token_response(await harness.refresh(first))["refresh_token"])
    harness.clock.advance(timedelta(seconds=2))
    retried = assert_token_response(await harness.refresh(first))
    assert retried["refresh_token"] == second
    assert_token_response(await harness.refresh(second))


async def test_refresh_token_lifetimes() -> None:
    expiry = "  refreshTokens:\n    validIfNotUsedFor: 1h\n    absoluteLifetime: 3h"
    async with running(config_text(expiry=expiry)) as harness:
        token = str((await harness.tokens())["refresh_token"])
        harness.clock.advance(timedelta(minutes=50))
        token = str(assert_token_response(await harness.refresh(token))["refresh_token"])
        harness.clock.advance(timedelta(hours=1, seconds=1))
        assert_oauth_error(await harness.refresh(token), "invalid_grant", status=400)
        fresh = str((await harness.tokens())["refresh_token"])
        for _ in range(3):
            harness.clock.advance(timedelta(minutes=59))
            fresh = str(assert_token_response(await harness.refresh(fresh))["refresh_token"])
        harness.clock.advance(timedelta(minutes=59))
        assert_oauth_error(await harness.refresh(fresh), "invalid_grant", status=400)


# -- password (RFC 6749 §4.3) ----------------------------------------------------------
def password_form(**overrides: str) -> dict[str, str]:
    return {
        "grant_type": "password",
        "username": EMAIL,
        "password": PASSWORD,
        "scope": "openid email offline_access",
        **overrides,
    }


async def test_password_grant_succeeds(harness: Harness) -> None:
    body = assert_token_response(await harness.token(password_form(), basic()))
    assert "refresh_token" in body


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"username": ""}, "invalid_request"),
        ({"password": ""}, "invalid_request"),
        ({"password": "wrong"}, "invalid_grant"),
        ({"username": "nobody@example.com"}, "invalid_grant"),
        ({"password": "p" * 100}, "invalid_grant"),
        ({"scope": "openid admin"}, "invalid_scope"),
    ],
    ids=["no-user", "no-password", "wrong", "unknown-user", "long", "bad-scope"],
)
async def test_password_grant_failures(
    harness: Harness, overrides: dict[str, str], error: str
) -> None:
    response = await harness.token(password_form(**overrides), basic())
    assert_oauth_error(response, error, status=400)


async def test_password_grant_needs_client_authentication(harness: Harness) -> None:
    response = await harness.token(password_form(client_id=CLIENT_ID))
    assert_invalid_client(response, challenge=False)
    wrong = await harness.token(password_form(), basic(CLIENT_ID, "nope"))
    assert_invalid_client(wrong, challenge=True)


async def test_password_grant_locks_out_after_repeated_failures(harness: Harness) -> None:
    for _ in range(5):
        wrong = await harness.token(password_form(password="wrong"), basic())
        assert_oauth_error(wrong, "invalid_grant", status=400)
    locked = await harness.token(password_form(), basic())
    assert_oauth_error(locked, status=429)
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 + 1
    # The browser form shares the lock.
    form = await harness.login_form(await harness.login_url(harness.auth_params()))
    assert (await harness.submit_login(form)).status_code == 429
    harness.clock.advance(timedelta(minutes=15, seconds=1))
    assert_token_response(await harness.token(password_form(), basic()))


async def test_password_grant_without_a_password_connector() -> None:
    text = config_text().replace("  passwordConnector: local\n", "")
    async with running(text) as harness:
        response = await harness.token(password_form(), basic())
        assert_oauth_error(response, "unsupported_grant_type", status=400)


# -- every answer ----------------------------------------------------------------------
async def test_disabled_grant_types_are_unsupported() -> None:
    oauth2 = "  grantTypes: [authorization_code, refresh_token]"
    async with running(config_text(oauth2=oauth2)) as harness:
        for grant in ("client_credentials", "password"):
            response = await harness.token(password_form(grant_type=grant), basic())
            assert_oauth_error(response, "unsupported_grant_type", status=400)
        assert_token_response(await harness.exchange(await harness.get_code()))
