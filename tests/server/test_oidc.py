"""Discovery, JWKS, health and UserInfo: what they answer to wrong methods, junk and
missing, bad, expired and revoked tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .harness import (
    CLIENT_ID,
    ISSUER,
    PREFIX,
    Harness,
    assert_error_page,
    assert_oauth_error,
    basic,
    bearer,
)

pytestmark = pytest.mark.anyio

INVALID_TOKEN = 'Bearer error="invalid_token"'


def assert_invalid_token(response: httpx.Response) -> None:
    """RFC 6750 §3: 401 with the error named in ``WWW-Authenticate``."""
    assert_oauth_error(response, "invalid_token", status=401)
    challenge = response.headers["www-authenticate"]
    # With no credentials at all the challenge names no error (RFC 6750 §3.1).
    assert challenge == 'Bearer error="invalid_token"' or challenge == 'Bearer realm="passgate"', (
        challenge
    )


# -- discovery and JWKS --------------------------------------------------------------
async def test_discovery_names_the_exact_issuer_and_ignores_query_junk(harness: Harness) -> None:
    response = await harness.client.get(
        f"{PREFIX}/.well-known/openid-configuration", params={"x": "1", "issuer": "evil"}
    )
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == ISSUER
    assert document["token_endpoint"] == f"{ISSUER}/token"
    assert document["code_challenge_methods_supported"] == ["S256", "plain"]


@pytest.mark.parametrize(
    "path",
    ["/.well-known/openid-configuration", "/keys", "/healthz", "/healthz/live", "/healthz/ready"],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_read_only_endpoints_refuse_other_methods(
    harness: Harness, path: str, method: str
) -> None:
    response = await harness.client.request(method, PREFIX + path, content=b"x=1")
    assert_oauth_error(response, "invalid_request", status=405, no_store=False)
    # RFC 9110 §15.5.6: a 405 names the methods the resource supports.
    assert "GET" in response.headers["allow"]


async def test_keys_publish_only_public_rsa_keys(harness: Harness) -> None:
    response = await harness.client.get(f"{PREFIX}/keys", params={"kid": "x" * 100})
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), key


async def test_discovery_is_served_with_an_etag(harness: Harness) -> None:
    url = f"{PREFIX}/.well-known/openid-configuration"
    response = await harness.client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.json()["issuer"] == "http://127.0.0.1:5556/dex"
    etag = response.headers["etag"]
    again = await harness.client.get(url)
    assert (again.content, again.headers["etag"]) == (response.content, etag)
    unchanged = await harness.client.get(url, headers={"if-none-match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""


async def test_keys_carry_cache_control_and_an_etag(harness: Harness) -> None:
    response = await harness.client.get(f"{PREFIX}/keys")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # Never longer than the time a new key is published before it signs.
    assert response.headers["cache-control"] == "public, max-age=60, must-revalidate"
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), etag
    # RFC 9110 §13.1.2: If-None-Match compares weakly, takes lists and "*".
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        unchanged = await harness.client.get(f"{PREFIX}/keys", headers={"if-none-match": header})
        assert unchanged.status_code == 304, header
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == etag
        assert unchanged.headers["cache-control"] == response.headers["cache-control"]
    changed = await harness.client.get(f"{PREFIX}/keys", headers={"if-none-match": '"old"'})
    assert changed.status_code == 200
    assert changed.content == response.content
    # A new key published: a new document, a new validator.
    await harness.runtime.services.keys.publish_next()
    rotated = await harness.client.get(f"{PREFIX}/keys", headers={"if-none-match": etag})
    assert rotated.status_code == 200
    assert rotated.headers["etag"] != etag
    assert len(rotated.json()["keys"]) == len(response.json()["keys"]) + 1


@pytest.mark.parametrize("path", ["/healthz", "/healthz/live", "/healthz/ready"])
async def test_health_answers_ok_whatever_the_query(harness: Harness, path: str) -> None:
    response = await harness.client.get(PREFIX + path, params={"verbose": "1" * 100})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_unknown_path_is_a_json_404_or_a_page_for_browsers(harness: Harness) -> None:
    response = await harness.client.get(f"{PREFIX}/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}
    page = await harness.client.get(f"{PREFIX}/nope", headers={"Accept": "text/html"})
    assert_error_page(page, 404)


async def test_over_long_query_is_414(harness: Harness) -> None:
    for path in ("/.well-known/openid-configuration", "/keys", "/healthz", "/userinfo"):
        response = await harness.client.get(PREFIX + path, params={"q": "a" * 9000})
        assert_oauth_error(response, "invalid_request", status=414)


# -- UserInfo ------------------------------------------------------------------------
async def test_userinfo_answers_a_valid_token(harness: Harness) -> None:
    tokens = await harness.tokens()
    response = await harness.userinfo(tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    claims = response.json()
    assert claims["email"] == "admin@example.com"
    assert "aud" not in claims
    assert "jti" not in claims
    # RFC 6750 §2.2: the form body works too.
    form = await harness.client.post(
        f"{PREFIX}/userinfo", data={"access_token": tokens["access_token"]}
    )
    assert form.status_code == 200
    assert form.json() == claims


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Bearer " + "eyJ" * 6000},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc"},
        {"Authorization": "bearer\tabc"},
    ],
    ids=[
        "none", "empty", "scheme-only", "scheme-space", "junk", "dots", "huge", "basic",
        "other-scheme", "tab",
    ],
)  # fmt: skip
async def test_userinfo_without_a_usable_token_is_401(
    harness: Harness, headers: dict[str, str]
) -> None:
    assert_invalid_token(await harness.client.get(f"{PREFIX}/userinfo", headers=headers))


async def test_userinfo_without_any_token_has_a_bare_challenge(harness: Harness) -> None:
    # RFC 6750 §3.1: with no authentication information, no error code in the challenge.
    response = await harness.client.get(f"{PREFIX}/userinfo")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="passgate"'
    bad = await harness.client.get(f"{PREFIX}/userinfo", headers={"Authorization": "Bearer x.y.z"})
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]


async def test_userinfo_refuses_an_access_token_in_the_query(harness: Harness) -> None:
    tokens = await harness.tokens()
    # RFC 6750 §2.3 is optional and leaks tokens into logs; Passgate does not read it.
    response = await harness.client.get(
        f"{PREFIX}/userinfo", params={"access_token": tokens["access_token"]}
    )
    assert_invalid_token(response)


async def test_userinfo_refuses_tokens_it_did_not_issue(harness: Harness) -> None:
    tokens = await harness.tokens()
    claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    header = pyjwt.get_unverified_header(tokens["access_token"])
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = pyjwt.encode(claims, other_key, algorithm="RS256", headers={"kid": header["kid"]})
    assert_invalid_token(await harness.userinfo(forged))
    unsigned = pyjwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    assert_invalid_token(await harness.userinfo(unsigned))
    hs256 = pyjwt.encode(claims, "secret" * 6, algorithm="HS256", headers={"kid": header["kid"]})
    assert_invalid_token(await harness.userinfo(hs256))
    # An ID token is not an access token (it has no jti and cannot be revoked).
    assert_invalid_token(await harness.userinfo(tokens["id_token"]))
    # Nor is a refresh token.
    assert_invalid_token(await harness.userinfo(tokens["refresh_token"]))


async def test_userinfo_refuses_a_tampered_token(harness: Harness) -> None:
    token = (await harness.tokens())["access_token"]
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert_invalid_token(await harness.userinfo(f"{head}.{payload}.{flipped}"))


async def test_userinfo_refuses_an_expired_token(harness: Harness) -> None:
    token = (await harness.tokens())["access_token"]
    harness.clock.advance(timedelta(hours=1) - timedelta(seconds=1))
    assert (await harness.userinfo(token)).status_code == 200
    harness.clock.advance(timedelta(seconds=1))
    # RFC 7519 §4.1.4: not accepted on or after exp, with no leeway.
    assert_invalid_token(await harness.userinfo(token))


async def test_userinfo_token_sent_twice_is_invalid_request(harness: Harness) -> None:
    # RFC 6750 §3.1: using more than one method for the token is invalid_request (400).
    token = (await harness.tokens())["access_token"]
    response = await harness.client.post(
        f"{PREFIX}/userinfo", data={"access_token": token}, headers=bearer(token)
    )
    assert_oauth_error(response, "invalid_request", status=400)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"access_token": "x"}'),
        ("multipart/form-data; boundary=zz", b"--zz--\r\n"),
        ("text/plain", b"access_token=x"),
    ],
)
async def test_userinfo_post_with_a_body_of_another_type_is_refused(
    harness: Harness, content_type: str, body: bytes
) -> None:
    token = (await harness.tokens())["access_token"]
    response = await harness.client.post(
        f"{PREFIX}/userinfo", content=body, headers={**bearer(token), "Content-Type": content_type}
    )
    assert_oauth_error(response, "invalid_request", status=400)


async def test_userinfo_post_with_repeated_or_oversized_form_fields(harness: Harness) -> None:
    repeated = await harness.client.post(
        f"{PREFIX}/userinfo",
        content=b"access_token=a&access_token=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(repeated, "invalid_request", status=400)
    oversized = await harness.client.post(f"{PREFIX}/userinfo", data={"access_token": "a" * 5000})
    assert_oauth_error(oversized, "invalid_request", status=400)
    too_large = await harness.client.post(f"{PREFIX}/userinfo", data={"x": "a" * 70_000})
    assert_oauth_error(too_large, "invalid_request", status=413)


async def test_userinfo_refuses_the_access_token_of_a_replayed_code(harness: Harness) -> None:
    result = await harness.get_code()
    first = await harness.exchange(result)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert (await harness.userinfo(access)).status_code == 200
    assert_oauth_error(await harness.exchange(result), "invalid_grant", status=400)
    assert_invalid_token(await harness.userinfo(access))


async def test_client_credentials_token_works_at_userinfo_only_while_valid(
    harness: Harness,
) -> None:
    response = await harness.token(
        {"grant_type": "client_credentials", "scope": "openid"}, basic(CLIENT_ID)
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert (await harness.userinfo(token)).status_code == 200
    harness.clock.advance(timedelta(hours=2))
    assert_invalid_token(await harness.userinfo(token))
