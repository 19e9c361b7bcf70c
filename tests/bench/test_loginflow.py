import base64
import dataclasses
import hashlib

import httpx
import pytest
from bench.loginflow import authorization_code_login, pkce_pair
from bench.target import FlowError, Target, discover
from fakeissuer import ISSUER, TARGET, FakeIssuer


def test_pkce_pair_is_s256() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128  # RFC 7636 §4.1
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert pkce_pair()[0] != verifier


async def login(issuer: FakeIssuer, target: Target = TARGET) -> dict[str, object]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=issuer.app)) as client:
        endpoints = await discover(client, ISSUER)
        return await authorization_code_login(client, endpoints, target)


@pytest.mark.anyio
@pytest.mark.parametrize("chooser", [False, True])
async def test_login_walks_the_pages_and_exchanges_the_code(chooser: bool) -> None:
    issuer = FakeIssuer(chooser=chooser)
    tokens = await login(issuer)
    assert tokens["refresh_token"] in issuer.refresh_tokens
    assert issuer.grants == ["authorization_code"]
    assert issuer.codes == {}


@pytest.mark.anyio
async def test_each_login_starts_without_cookies() -> None:
    issuer = FakeIssuer()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=issuer.app)) as client:
        endpoints = await discover(client, ISSUER)
        client.cookies.set("session", "old")
        await authorization_code_login(client, endpoints, TARGET)
        assert "session" not in client.cookies


@pytest.mark.anyio
async def test_wrong_password_is_a_flow_error() -> None:
    with pytest.raises(FlowError, match="login form shown again"):
        await login(FakeIssuer(), dataclasses.replace(TARGET, password="nope"))


@pytest.mark.anyio
async def test_a_refused_client_secret_is_a_flow_error() -> None:
    with pytest.raises(FlowError, match="token endpoint: 401"):
        await login(FakeIssuer(), dataclasses.replace(TARGET, client_secret="nope"))


@pytest.mark.anyio
async def test_an_error_redirect_is_a_flow_error() -> None:
    with pytest.raises(FlowError, match="authorization error: access_denied"):
        await login(FakeIssuer(deny=True))


@pytest.mark.anyio
async def test_a_page_without_a_way_on_is_a_flow_error() -> None:
    with pytest.raises(FlowError, match="no form and no connector link"):
        await login(FakeIssuer(auth_page="<p>Down for maintenance</p>"))


@pytest.mark.anyio
async def test_an_error_status_is_a_flow_error() -> None:
    page = '<a href="/dex/auth/missing">Broken</a>'
    with pytest.raises(FlowError, match=r"404 at http://idp\.test/dex/auth/missing"):
        await login(FakeIssuer(auth_page=page))


@pytest.mark.anyio
async def test_a_page_that_loops_is_given_up_on() -> None:
    page = '<form action="/dex/auth"><input type="hidden" name="again" value="1"></form>'
    with pytest.raises(FlowError, match="no redirect to the client after"):
        await login(FakeIssuer(auth_page=page))
