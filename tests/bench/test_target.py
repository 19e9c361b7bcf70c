import base64

import httpx
import pytest
from bench.target import FlowError, basic_auth, discover, discovery_url, need, token_response
from fakeissuer import ISSUER, FakeIssuer


def test_basic_auth_form_encodes_first() -> None:
    # RFC 6749 §2.3.1: "a:b" / "s/+" are sent as "a%3Ab:s%2F%2B".
    assert basic_auth("a:b", "s/+") == "Basic " + base64.b64encode(b"a%3Ab:s%2F%2B").decode()


def test_discovery_url() -> None:
    assert discovery_url("http://x/dex") == "http://x/dex/.well-known/openid-configuration"
    assert discovery_url("http://x/dex/") == "http://x/dex/.well-known/openid-configuration"


def test_need() -> None:
    assert need("v", "thing") == "v"
    with pytest.raises(FlowError, match="no thing"):
        need(None, "thing")


def test_token_response() -> None:
    assert token_response(200, b'{"access_token": "a"}') == {"access_token": "a"}
    with pytest.raises(FlowError, match="400"):
        token_response(400, b'{"error": "invalid_grant"}')
    with pytest.raises(FlowError, match="no access_token"):
        token_response(200, b'{"id_token": "i"}')


@pytest.mark.anyio
async def test_discover_reads_the_endpoints() -> None:
    transport = httpx.ASGITransport(app=FakeIssuer().app)
    async with httpx.AsyncClient(transport=transport) as client:
        endpoints = await discover(client, ISSUER)
    assert endpoints.discovery == discovery_url(ISSUER)
    assert endpoints.authorization == f"{ISSUER}/auth"
    assert endpoints.token == f"{ISSUER}/token"
    assert endpoints.jwks == f"{ISSUER}/keys"
