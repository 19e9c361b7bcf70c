"""Sessions and revocation over HTTP: RFC 7009 /token/revoke, RFC 7662 /token/introspect,
the TokenReview webhook, and the acceptance scenarios: one session revoked while the same
user's others keep working; a user, a client, everything revoked; reuse of a rotated
refresh token ending its session; every state change in the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from passgate.storage.models import SessionFilter

from .harness import (
    CLIENT_ID,
    EMAIL,
    OTHER_ID,
    OTHER_SECRET,
    PREFIX,
    USER_ID,
    Harness,
    assert_oauth_error,
    basic,
    running,
)
from .revocation_support import (
    V1,
    V1BETA1,
    authenticated,
    events,
    introspect,
    kube_config,
    revoke,
    token_review,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kube(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(kube_config()) as built:
        yield built


async def works(harness: Harness, tokens: dict[str, Any]) -> bool:
    """Every check agrees that the grant is alive (or that it is dead)."""
    results = {
        "access_introspection": (await introspect(harness, tokens["access_token"]))["active"],
        "id_introspection": (await introspect(harness, tokens["id_token"]))["active"],
        "refresh_introspection": (await introspect(harness, tokens["refresh_token"]))["active"],
        "tokenreview_id": await authenticated(harness, tokens["id_token"]),
        "tokenreview_access": await authenticated(harness, tokens["access_token"]),
        "userinfo": (await harness.userinfo(tokens["access_token"])).status_code == 200,
    }
    assert len(set(results.values())) == 1, results
    return bool(results["userinfo"])


async def refreshes(harness: Harness, tokens: dict[str, Any]) -> bool:
    response = await harness.refresh(tokens["refresh_token"])
    if response.status_code == 200:
        tokens.update(response.json())
        return True
    assert_oauth_error(response, "invalid_grant", status=400)
    return False


async def test_tokens_carry_the_session_and_the_session_records_the_sign_in(
    kube: Harness,
) -> None:
    tokens = await kube.tokens()
    answer = await introspect(kube, tokens["access_token"])
    sid = answer["sid"]
    # The sid is the browser session's; the grant is a session made through it.
    storage = kube.runtime.services.storage
    browser_session = await storage.get_browser_session(sid)
    assert (browser_session.user_id, browser_session.clients) == (USER_ID, (CLIENT_ID,))
    [session] = await storage.list_sessions(SessionFilter(browser_session_id=sid), kube.clock())
    assert (session.user_id, session.client_id, session.connector_id) == (
        USER_ID,
        CLIENT_ID,
        "local",
    )
    assert session.remote_addr == "127.0.0.1"
    assert session.user_agent.startswith("python-httpx")
    assert "offline_access" in session.scopes
    assert session.expiry is None  # a refresh token without limits holds it open
    assert (await introspect(kube, tokens["id_token"]))["sid"] == sid
    assert (await introspect(kube, tokens["refresh_token"]))["sid"] == sid
    [login] = await events(kube, "login.success")
    assert (login.session_id, login.details["browser_session"]) == (session.id, sid)
    issued = await events(kube, "token.issue")
    assert [(e.session_id, e.details["grant_type"]) for e in issued] == [
        (session.id, "authorization_code")
    ]


async def test_revoking_one_session_leaves_the_users_other_sessions(kube: Harness) -> None:
    laptop, desktop = await kube.tokens(), await kube.tokens()
    assert await works(kube, laptop)
    assert await works(kube, desktop)
    response = await revoke(kube, laptop["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    assert response.content == b""
    assert not await works(kube, laptop)
    assert not await refreshes(kube, laptop)
    assert await works(kube, desktop)
    assert await refreshes(kube, desktop)
    assert await works(kube, desktop)
    laptop_sid = (await introspect(kube, desktop["access_token"]))["sid"]
    revoked = await events(kube, "session.revoke")
    assert len(revoked) == 1
    assert revoked[0].session_id != laptop_sid
    assert revoked[0].actor == CLIENT_ID
    assert [e.details["token_type"] for e in await events(kube, "token.revoke")] == [
        "refresh_token"
    ]
    assert len(await events(kube, "token.refresh")) == 1


async def test_revoking_an_access_token_leaves_its_session(kube: Harness) -> None:
    tokens = await kube.tokens()
    assert (await revoke(kube, tokens["access_token"])).status_code == 200
    assert not (await introspect(kube, tokens["access_token"]))["active"]
    assert not await authenticated(kube, tokens["access_token"])
    assert (await kube.userinfo(tokens["access_token"])).status_code == 401
    assert await authenticated(kube, tokens["id_token"])
    assert await refreshes(kube, tokens)
    assert await works(kube, tokens)


async def test_rfc7009_unknown_tokens_answer_200_and_others_tokens_are_refused(
    kube: Harness,
) -> None:
    tokens = await kube.tokens()
    for junk in ("junk", "a.b.c", "x" * 4000, "abc.defghijklmnopqrstuvwxyz0123456789"):
        assert (await revoke(kube, junk)).status_code == 200
    other = basic(OTHER_ID, OTHER_SECRET)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        assert_oauth_error(await revoke(kube, token, other), "unauthorized_client", status=400)
    assert await works(kube, tokens)
    assert_oauth_error(await revoke(kube, tokens["access_token"], {}), "invalid_client")
    wrong = basic(CLIENT_ID, "wrong")
    assert_oauth_error(await revoke(kube, tokens["access_token"], wrong), "invalid_client")
    response = await revoke(kube, tokens["id_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_token_type"
    # Revoking twice is fine (RFC 7009 §2.2).
    assert (await revoke(kube, tokens["refresh_token"])).status_code == 200
    assert (await revoke(kube, tokens["refresh_token"])).status_code == 200
    assert not await works(kube, tokens)


async def test_introspection_of_another_clients_token_is_inactive(kube: Harness) -> None:
    tokens = await kube.tokens()
    other = basic(OTHER_ID, OTHER_SECRET)
    for token in (tokens["access_token"], tokens["id_token"], tokens["refresh_token"]):
        assert await introspect(kube, token, other) == {"active": False}
    answer = await introspect(kube, tokens["access_token"])
    assert answer["active"] is True
    assert answer["client_id"] == CLIENT_ID
    assert answer["token_type"] == "Bearer"
    assert answer["username"] == EMAIL
    assert set(answer["scope"].split()) >= {"openid", "offline_access"}
    assert answer["exp"] > answer["iat"]
    refresh = await introspect(kube, tokens["refresh_token"])
    assert refresh["token_type"] == "refresh_token"
    assert "exp" not in refresh
    for junk in ("", "junk", "a.b.c"):
        response = await kube.client.post(
            f"{PREFIX}/token/introspect", data={"token": junk}, headers=basic()
        )
        if junk:
            assert response.json() == {"active": False}
        else:
            assert_oauth_error(response, "invalid_request", status=400)
    response = await kube.client.post(f"{PREFIX}/token/introspect", data={"token": "x"})
    assert_oauth_error(response, "invalid_client", status=401)


async def test_introspection_follows_expiry_without_leeway(kube: Harness) -> None:
    tokens = await kube.tokens()
    kube.clock.advance(timedelta(hours=1) - timedelta(seconds=1))
    assert (await introspect(kube, tokens["access_token"]))["active"]
    kube.clock.advance(timedelta(seconds=1))
    assert not (await introspect(kube, tokens["access_token"]))["active"]
    assert not await authenticated(kube, tokens["id_token"])
    assert (await introspect(kube, tokens["refresh_token"]))["active"]


async def test_reuse_of_a_rotated_refresh_token_revokes_the_session(kube: Harness) -> None:
    tokens = await kube.tokens()
    stolen = tokens["refresh_token"]
    assert await refreshes(kube, tokens)
    assert await works(kube, tokens)
    kube.clock.advance(timedelta(seconds=10))  # past the reuse interval (3 s)
    assert_oauth_error(await kube.refresh(stolen), "invalid_grant", status=400)
    assert not await works(kube, tokens)
    assert not await refreshes(kube, tokens)
    sid = (
        await kube.runtime.services.storage.list_sessions(
            SessionFilter(include_revoked=True), kube.clock()
        )
    )[0]
    assert sid.revoked_by == "reuse"
    [event] = await events(kube, "session.revoke")
    assert event.session_id == sid.id
    assert event.details["reason"] == "refresh token reused"


async def test_a_retry_inside_the_reuse_interval_keeps_the_session(kube: Harness) -> None:
    tokens = await kube.tokens()
    first = tokens["refresh_token"]
    assert await refreshes(kube, tokens)
    retry = await kube.refresh(first)
    assert retry.status_code == 200
    assert await works(kube, tokens)


async def test_replayed_code_ends_the_session(kube: Harness) -> None:
    result = await kube.get_code()
    tokens = (await kube.exchange(result)).json()
    assert await works(kube, tokens)
    assert_oauth_error(await kube.exchange(result), "invalid_grant")
    assert not await works(kube, tokens)


async def test_revoke_a_user_a_client_and_everything(kube: Harness) -> None:
    services = kube.runtime.services
    mine, theirs = (
        await kube.tokens(),
        await kube.tokens(client_id=OTHER_ID, redirect_uri="http://127.0.0.1:5555/other"),
    )
    await services.revoker.revoke_client(OTHER_ID, actor="admin:test", reason="compromised")
    assert await works(kube, mine)
    other_auth = basic(OTHER_ID, OTHER_SECRET)
    assert not (await introspect(kube, theirs["access_token"], other_auth))["active"]
    assert_oauth_error(
        await kube.refresh(theirs["refresh_token"], headers=other_auth), "invalid_grant"
    )

    ended = await services.revoker.revoke_user(USER_ID, actor="admin:test", reason="lost laptop")
    assert len(ended) == 1
    assert not await works(kube, mine)
    assert not await refreshes(kube, mine)
    kube.clock.advance(timedelta(seconds=1))  # a later sign-in is not covered
    fresh = await kube.tokens()
    assert await works(kube, fresh)

    kid_before = (await services.keys.jwks())["keys"]
    ended = await services.revoker.revoke_everything(actor="admin:test", reason="breach")
    assert len(ended) == 1
    assert not await works(kube, fresh)
    kid_after = (await services.keys.jwks())["keys"]
    assert {k["kid"] for k in kid_after}.isdisjoint({k["kid"] for k in kid_before})
    kube.clock.advance(timedelta(seconds=1))
    assert await works(kube, await kube.tokens())
    bulk = [e.details["scope"] for e in await events(kube, "session.revoke")]
    assert bulk == ["all", "user", "client"]  # newest first
    assert (await events(kube, "keys.rotate"))[0].actor == "admin:test"


async def test_tokenreview_answers_like_the_apiserver_would(kube: Harness) -> None:
    tokens = await kube.tokens()
    sid = (await introspect(kube, tokens["id_token"]))["sid"]
    for version in (V1, V1BETA1):
        for token in (tokens["id_token"], tokens["access_token"]):
            status = (await token_review(kube, token, version))["status"]
            assert status["authenticated"] is True
            user = status["user"]
            assert user["username"] == EMAIL
            assert user["groups"] == ["oidc:admins", "oidc:developers"]
            assert user["extra"] == {"passgate.io/session-id": [sid]}
            assert user["uid"]
            assert "audiences" not in status
        # spec.audiences: authenticated only when the token's aud shares one.
        status = (await token_review(kube, tokens["id_token"], version, [CLIENT_ID, "x"]))["status"]
        assert status["authenticated"] is True
        assert status["audiences"] == [CLIENT_ID]
        status = (await token_review(kube, tokens["id_token"], version, ["https://kubernetes"]))[
            "status"
        ]
        assert status["authenticated"] is False
        assert "audiences" not in status
        assert status["error"]
    # A token of a client no cluster accepts.
    other = await kube.tokens(client_id=OTHER_ID, redirect_uri="http://127.0.0.1:5555/other")
    assert not await authenticated(kube, other["id_token"])
    assert not await authenticated(kube, "not-a-token")
    await revoke(kube, tokens["refresh_token"])
    for version in (V1, V1BETA1):
        status = (await token_review(kube, tokens["id_token"], version))["status"]
        assert status == {"authenticated": False, "error": "the token has been revoked"}


async def test_tokenreview_refuses_malformed_requests_with_a_tokenreview(kube: Harness) -> None:
    url = f"{PREFIX}/kubernetes/tokenreview"
    for body in (
        b"",
        b"[]",
        b"{",
        b'{"apiVersion": "v1"}',
        b'{"apiVersion": "authentication.k8s.io/v1beta1", "kind": "TokenReview"}',
        b'{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",'
        b' "spec": {"token": "x", "audiences": "a"}}',
    ):
        response = await kube.client.post(url, content=body)
        assert response.status_code == 400, body
        answer = response.json()
        assert answer["kind"] == "TokenReview"
        assert answer["status"]["authenticated"] is False
        assert answer["status"]["error"]
    response = await kube.client.post(
        url, content=b'{"apiVersion": "authentication.k8s.io/v1beta1", "kind": "TokenReview"}'
    )
    assert response.json()["apiVersion"] == V1BETA1


async def test_tokenreview_with_a_secret_needs_it(anyio_backend: str) -> None:
    config = kube_config(token_review="  tokenReview:\n    secret: s3cret-for-apiserver\n")
    async with running(config) as harness:
        tokens = await harness.tokens()
        response = await harness.client.post(
            f"{PREFIX}/kubernetes/tokenreview",
            json={"apiVersion": V1, "kind": "TokenReview", "spec": {"token": tokens["id_token"]}},
        )
        assert response.status_code == 401
        assert response.json()["status"]["authenticated"] is False
        headers = {"Authorization": "Bearer s3cret-for-apiserver"}
        status = (await token_review(harness, tokens["id_token"], headers=headers))["status"]
        assert status["authenticated"] is True


async def test_discovery_advertises_the_endpoints(kube: Harness) -> None:
    document = (await kube.client.get(f"{PREFIX}/.well-known/openid-configuration")).json()
    base = "http://127.0.0.1:5556/dex"
    assert document["revocation_endpoint"] == f"{base}/token/revoke"
    assert document["introspection_endpoint"] == f"{base}/token/introspect"
    assert document["end_session_endpoint"] == f"{base}/logout"


async def test_failed_sign_ins_are_audited(kube: Harness) -> None:
    params = kube.auth_params()
    form = await kube.login_form(await kube.login_url(params))
    response = await kube.submit_login(form, password="wrong")
    assert response.status_code == 200
    response = await kube.token(
        {"grant_type": "password", "username": EMAIL, "password": "nope", "scope": "openid"},
        basic(),
    )
    assert_oauth_error(response, "invalid_grant")
    failures = await events(kube, "login.failure")
    assert [(e.actor, e.outcome, e.client_id) for e in failures] == [
        (EMAIL, "failure", CLIENT_ID),
        (EMAIL, "failure", CLIENT_ID),
    ]
    assert all("wrong" not in str(e) and "nope" not in str(e) for e in failures)


async def test_password_grant_starts_a_session(kube: Harness) -> None:
    response = await kube.token(
        {
            "grant_type": "password",
            "username": EMAIL,
            "password": "password",
            "scope": "openid email groups offline_access",
        },
        basic(),
    )
    tokens = response.json()
    assert await works(kube, tokens)
    [event] = await events(kube, "login.success")
    assert event.details["via"] == "password"
    assert (await introspect(kube, tokens["id_token"]))["sid"] == event.session_id
    await revoke(kube, tokens["refresh_token"])
    assert not await works(kube, tokens)
