"""Back-Channel Logout 1.0 from the issuer's side: every client of a browser session that
registered ``backchannelLogoutURI`` gets a logout token when the session ends (a sign-out,
an admin, a revoked user), checked here by a relying party as §2.6 says, with PyJWT
against the issuer's JWKS; clients without the URI and other sessions are left alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt as pyjwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.fakeserver import serve_app
from passgate.oauth2.errors import InvalidTokenError
from passgate.provider.backchannel import LOGOUT_EVENT
from passgate.storage.models import AuditFilter

from .harness import CLIENT_ID, ISSUER, OTHER_ID, PREFIX, USER_ID, Harness, config_text, running
from .sso_support import authorize, claims, sign_in, tokens_of

pytestmark = pytest.mark.anyio


class RelyingParty:
    """``POST /bcl/{client}``: keeps what arrived; answers 200 as §2.8 asks."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str]] = []  # client, content type, token

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        assert list(form) == ["logout_token"]  # §2.5: only the token
        token = form["logout_token"]
        assert isinstance(token, str)
        client = request.path_params["client"]
        self.received.append((client, request.headers["content-type"], token))
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bcl/{client}", self.logout, methods=["POST"])])


@pytest.fixture
def rp() -> Iterator[tuple[RelyingParty, str]]:
    party = RelyingParty()
    with serve_app(party.app()) as base:
        yield party, base


@pytest.fixture
async def bcl(anyio_backend: str, rp: tuple[RelyingParty, str]) -> AsyncIterator[Harness]:
    """example-app and other-app both registered for back-channel logout; kubectl not."""
    _, base = rp
    text = config_text(oauth2="  skipApprovalScreen: true")
    for client in (CLIENT_ID, OTHER_ID):
        marker = f"- id: {client}\n"
        text = text.replace(marker, f"{marker}  backchannelLogoutURI: {base}/bcl/{client}\n")
    async with running(text) as harness:
        yield harness


async def _keys(harness: Harness) -> pyjwt.PyJWKSet:
    return pyjwt.PyJWKSet.from_dict((await harness.client.get(f"{PREFIX}/keys")).json())


async def _verified(harness: Harness, token: str, audience: str) -> dict[str, Any]:
    """§2.6: as an RP validates a logout token (time checks against the frozen clock)."""
    header = pyjwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"
    assert header["alg"] == "RS256"
    key = (await _keys(harness))[header["kid"]].key
    payload: dict[str, Any] = pyjwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "jti"]},
    )  # fmt: skip
    now = int(harness.clock().timestamp())
    assert payload["iat"] == now
    assert 0 < payload["exp"] - payload["iat"] <= 300
    assert payload["events"] == {LOGOUT_EVENT: {}}
    assert "nonce" not in payload  # §2.4: prohibited
    return payload


async def test_sign_out_tells_every_client_of_the_session(
    bcl: Harness, rp: tuple[RelyingParty, str]
) -> None:
    party, _ = rp
    first = await tokens_of(bcl, await sign_in(bcl, await authorize(bcl)))
    second = await tokens_of(bcl, await authorize(bcl, client_id=OTHER_ID))
    sid = claims(first["id_token"])["sid"]
    assert claims(second["id_token"])["sid"] == sid
    # Another browser's session of the same person is not part of it.
    elsewhere = await bcl.browser()
    await sign_in(bcl, await authorize(bcl, elsewhere), elsewhere)
    response = await bcl.client.get(f"{PREFIX}/logout", params={"id_token_hint": first["id_token"]})
    assert response.status_code == 200
    await bcl.runtime.notifier.drain()  # type: ignore[union-attr]
    assert sorted(client for client, _, _ in party.received) == [CLIENT_ID, OTHER_ID]
    for client, content_type, token in party.received:
        assert content_type == "application/x-www-form-urlencoded"
        payload = await _verified(bcl, token, client)
        assert payload["sid"] == sid
        assert payload["sub"] == claims(first["id_token"])["sub"]
    assert len({claims_token["jti"] for claims_token in map(_unverified, party.received)}) == 2
    events = await bcl.runtime.services.storage.list_audit_events(
        AuditFilter(action="logout.backchannel")
    )
    assert sorted((e.client_id, e.outcome, e.session_id) for e in events) == [
        (CLIENT_ID, "success", sid),
        (OTHER_ID, "success", sid),
    ]
    assert all(token not in str(e) for e in events for _, _, token in party.received)


def _unverified(received: tuple[str, str, str]) -> dict[str, Any]:
    return claims(received[2])


async def test_an_admin_ending_the_session_and_revoking_the_user(
    bcl: Harness, rp: tuple[RelyingParty, str]
) -> None:
    party, _ = rp
    tokens = await tokens_of(bcl, await sign_in(bcl, await authorize(bcl)))
    sid = claims(tokens["id_token"])["sid"]
    revoker = bcl.runtime.services.revoker
    assert await revoker.end_browser_session(sid, actor="admin:ops", reason="lost laptop")
    assert not await revoker.end_browser_session(sid, actor="admin:ops")  # once
    await bcl.runtime.notifier.drain()  # type: ignore[union-attr]
    assert [client for client, _, _ in party.received] == [CLIENT_ID]
    party.received.clear()
    again = await tokens_of(bcl, await sign_in(bcl, await authorize(bcl)))
    await revoker.revoke_user(USER_ID, actor="admin:ops")
    await bcl.runtime.notifier.drain()  # type: ignore[union-attr]
    [(client, _, token)] = party.received
    assert client == CLIENT_ID
    assert (await _verified(bcl, token, CLIENT_ID))["sid"] == claims(again["id_token"])["sid"]


async def test_a_logout_token_is_no_bearer_token(
    bcl: Harness, rp: tuple[RelyingParty, str]
) -> None:
    """BCL 1.0 §4: signed by the same key, a logout token must not pass for an access or
    ID token anywhere (userinfo, introspection, TokenReview, the admin API)."""
    party, _ = rp
    tokens = await tokens_of(bcl, await sign_in(bcl, await authorize(bcl)))
    await bcl.client.get(f"{PREFIX}/logout", params={"id_token_hint": tokens["id_token"]})
    await bcl.runtime.notifier.drain()  # type: ignore[union-attr]
    [(_, _, token)] = party.received
    refused = await bcl.userinfo(token)
    assert refused.status_code == 401
    with pytest.raises(InvalidTokenError):
        await bcl.runtime.services.issuer.verify_token(token)
