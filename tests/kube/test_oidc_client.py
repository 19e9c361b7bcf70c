"""The plugin's OIDC client against an in-memory issuer: discovery, client
authentication, token errors, refresh, revocation and ID token verification."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from kube.fake_issuer import CLIENT_ID, ISSUER, FakeIssuer, json_response, oauth_error
from passgate.kube.cache import CachedTokens
from passgate.kube.errors import OIDCError, TokenEndpointError
from passgate.kube.oidc_client import OIDCClient
from passgate.kube.settings import TLSOptions


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer()


def test_discovery(issuer: FakeIssuer) -> None:
    provider = issuer.client().provider()
    assert provider.token_endpoint == f"{ISSUER}/token"
    assert provider.device_authorization_endpoint == f"{ISSUER}/device/code"
    assert provider.revocation_endpoint == f"{ISSUER}/token/revoke"
    assert provider.algorithms == ("RS256",)


def test_discovery_must_name_the_same_issuer(issuer: FakeIssuer) -> None:
    http = httpx.Client(transport=httpx.MockTransport(issuer.handle))
    with pytest.raises(OIDCError, match="names issuer"):
        OIDCClient(http, ISSUER + "/", CLIENT_ID).provider()


def test_unreachable_issuer_is_a_clear_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(OIDCError, match="cannot reach the issuer"):
        OIDCClient(http, ISSUER, CLIENT_ID).provider()


def test_public_client_names_itself_confidential_uses_basic(issuer: FakeIssuer) -> None:
    seen: list[httpx.Request] = []
    handle = issuer.handle

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handle(request)

    issuer.token_handler = lambda form: issuer.tokens()
    for secret in ("", "s e/c:ret"):
        client = issuer.client(secret)
        client.http = httpx.Client(transport=httpx.MockTransport(spy))
        client.tokens({"grant_type": "refresh_token", "refresh_token": "r"}, nonce=None)
    public, confidential = [request for request in seen if request.url.path.endswith("/token")]
    assert b"client_id=kubectl" in public.content
    assert "authorization" not in public.headers
    assert b"client_id" not in confidential.content
    expected = base64.b64encode(b"kubectl:s+e%2Fc%3Aret").decode()  # RFC 6749 §2.3.1
    assert confidential.headers["authorization"] == f"Basic {expected}"


def test_token_error_carries_the_oauth_error(issuer: FakeIssuer) -> None:
    issuer.token_handler = lambda form: oauth_error("invalid_grant")
    with pytest.raises(TokenEndpointError) as raised:
        issuer.client().refresh(CachedTokens("old", 0, "r"))
    assert raised.value.error == "invalid_grant"
    issuer.token_handler = lambda form: httpx.Response(502, text="bad gateway")
    with pytest.raises(OIDCError, match="HTTP 502") as other:
        issuer.client().refresh(CachedTokens("old", 0, "r"))
    assert not isinstance(other.value, TokenEndpointError)


def test_refresh_keeps_the_old_refresh_token_unless_rotated(issuer: FakeIssuer) -> None:
    issuer.token_handler = lambda form: issuer.tokens(refresh="")
    kept = issuer.client().refresh(CachedTokens("old", 0, "r1"))
    assert kept.refresh_token == "r1"
    issuer.token_handler = lambda form: issuer.tokens(refresh="r2")
    assert issuer.client().refresh(CachedTokens("old", 0, "r1")).refresh_token == "r2"
    assert issuer.token_requests()[-1] == {
        "grant_type": "refresh_token",
        "refresh_token": "r1",
        "client_id": CLIENT_ID,
    }


def test_token_response_without_id_token_is_refused(issuer: FakeIssuer) -> None:
    issuer.token_handler = lambda form: json_response({"access_token": "a"})
    with pytest.raises(OIDCError, match="no id_token"):
        issuer.client().refresh(CachedTokens("old", 0, "r"))


def test_valid_id_token(issuer: FakeIssuer) -> None:
    token = issuer.id_token(nonce="n1", aud=["web", CLIENT_ID])
    claims = issuer.client().verify_id_token(token, nonce="n1")
    assert claims["email"] == "jane@example.com"


@pytest.mark.parametrize(
    ("claims", "nonce"),
    [
        ({"iss": ISSUER + "/"}, None),
        ({"aud": "web"}, None),
        ({"aud": ["web"]}, None),
        ({"nonce": "other"}, "n1"),
        ({"nonce": None}, "n1"),
        ({"lifetime": -120}, None),
        ({"sub": None}, None),
    ],
)
def test_id_token_rules(issuer: FakeIssuer, claims: dict[str, Any], nonce: str | None) -> None:
    token = issuer.id_token(**claims)
    with pytest.raises(OIDCError, match="failed verification"):
        issuer.client().verify_id_token(token, nonce=nonce)


def test_id_token_signed_by_another_key_is_refused(issuer: FakeIssuer) -> None:
    stranger = RSAKey.generate_key(2048, {"kid": str(issuer.key.kid)})
    body = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "exp": 2_000_000_000}
    forged = jwt.encode({"alg": "RS256", "kid": stranger.kid}, body, stranger)
    with pytest.raises(OIDCError, match="failed verification"):
        issuer.client().verify_id_token(forged, nonce=None)
    with pytest.raises(OIDCError, match="malformed"):
        issuer.client().verify_id_token("not a jwt", nonce=None)


def test_unknown_kid_refetches_the_jwks_once(issuer: FakeIssuer) -> None:
    client = issuer.client()
    client.verify_id_token(issuer.id_token(), nonce=None)
    assert issuer.jwks_fetches == 1
    issuer.key = RSAKey.generate_key(2048, {"kid": "k2"})  # rotation at the issuer
    client.verify_id_token(issuer.id_token(), nonce=None)
    assert issuer.jwks_fetches == 2


def test_revoke(issuer: FakeIssuer) -> None:
    assert issuer.client().revoke("r1") is True
    assert issuer.revoked == ["r1"]
    assert issuer.requests[-1][1]["token_type_hint"] == "refresh_token"
    issuer.revocation = False
    assert issuer.client().revoke("r2") is False
    assert issuer.revoked == ["r1"]


def test_tls_options(tmp_path: Any) -> None:
    assert TLSOptions().verify() is True
    assert TLSOptions(insecure=True).verify() is False
    with pytest.raises(OIDCError, match="certificate authority"):
        TLSOptions(ca_data="not base64!").verify()
    with pytest.raises(OIDCError, match="certificate authority"):
        TLSOptions(ca_file=str(tmp_path / "missing.pem")).verify()
