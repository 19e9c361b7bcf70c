"""``GitLabConnector.refresh`` against the fake GitLab: the access token is reused while it
lives, renewed with GitLab's (rotating) refresh token once it has expired, and the user
and groups are read again every time; a blocked, revoked or departed user is refused."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable
from datetime import timedelta

import anyio
import pytest
from starlette.responses import PlainTextResponse

from connectors.test_gitlab import OFFLINE, Upstream, opened, teams, upstream
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.gitlab.connector import REFRESH_MARGIN

pytestmark = pytest.mark.anyio
__all__ = ["upstream"]  # the fixture, imported for this module's tests

TWO_HOURS = timedelta(hours=2)


def stored(identity: Identity) -> dict[str, str]:
    data: dict[str, str] = json.loads(identity.connector_data)
    return data


async def test_offline_sign_in_keeps_dex_shaped_tokens(upstream: Upstream) -> None:
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
    data = stored(identity)
    assert set(data) == {"accessToken", "refreshToken", "expiry"}
    assert data["accessToken"] in upstream.fake.access_tokens
    assert data["refreshToken"] in upstream.fake.refresh_tokens
    assert data["expiry"] == (upstream.clock() + TWO_HOURS).isoformat()


async def test_a_live_access_token_is_reused_and_groups_are_read_again(
    upstream: Upstream,
) -> None:
    teams(upstream.fake, upstream.jane)
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        upstream.fake.leave(upstream.jane, "qa")
        upstream.fake.join(upstream.jane, "sre", 30)
        upstream.jane.name = "Jane Q. Doe"
        upstream.clock.advance(TWO_HOURS - REFRESH_MARGIN - timedelta(seconds=1))
        fresh = await connector.refresh(OFFLINE, identity)
    assert fresh.groups == ("ops", "ops/k8s", "sre", "web")
    assert fresh.username == "Jane Q. Doe"
    assert fresh.connector_data == identity.connector_data
    assert len(upstream.fake.calls("/oauth/token")) == 1  # the code exchange only


async def test_an_expired_access_token_is_renewed_with_the_refresh_token(
    upstream: Upstream,
) -> None:
    teams(upstream.fake, upstream.jane)
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        upstream.clock.advance(TWO_HOURS - REFRESH_MARGIN)
        upstream.fake.leave(upstream.jane, "web")
        fresh = await connector.refresh(OFFLINE, identity)
        assert fresh.groups == ("ops", "ops/k8s", "qa")
        old, new = stored(identity), stored(fresh)
        call = upstream.fake.calls("/oauth/token")[-1]
        assert call == {"grant_type": "refresh_token", "refresh_token": old["refreshToken"]}
        assert new["refreshToken"] != old["refreshToken"]  # GitLab rotates it
        assert new["expiry"] == (upstream.clock() + TWO_HOURS).isoformat()
        upstream.clock.advance(TWO_HOURS)
        again = await connector.refresh(OFFLINE, fresh)
        assert stored(again)["refreshToken"] != new["refreshToken"]
    # The used refresh token is dead at GitLab: another Passgate process, which does
    # not remember what it became, is refused.
    async with opened(upstream) as elsewhere:
        with pytest.raises(ConnectorError, match="HTTP 400: invalid_grant"):
            await elsewhere.refresh(OFFLINE, identity)


async def test_a_refresh_token_is_spent_once(upstream: Upstream) -> None:
    """Racing refreshes of one session, and a retry of one that failed after GitLab
    rotated the token, reuse the renewed tokens instead of GitLab's invalid_grant."""
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        upstream.clock.advance(TWO_HOURS)
        results: list[Identity] = []
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(lambda: _append(results, connector.refresh(OFFLINE, identity)))
        assert len({stored(result)["refreshToken"] for result in results}) == 1
        assert len(upstream.fake.calls("/oauth/token")) == 2  # the code, one renewal
        upstream.clock.advance(TWO_HOURS)
        upstream.fake.fail["/api/v4/user"] = lambda _r: PlainTextResponse("", status_code=502)
        with pytest.raises(UpstreamUnavailableError):
            await connector.refresh(OFFLINE, results[0])  # GitLab rotated, then failed
        del upstream.fake.fail["/api/v4/user"]
        assert (await connector.refresh(OFFLINE, results[0])).user_id == "4242"
        assert len(upstream.fake.calls("/oauth/token")) == 3


async def _append(results: list[Identity], refresh: Awaitable[Identity]) -> None:
    results.append(await refresh)


async def test_dex_connector_data_without_expiry_is_refreshed(upstream: Upstream) -> None:
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        data = stored(identity)
        del data["expiry"]
        legacy = dataclasses.replace(identity, connector_data=json.dumps(data).encode())
        fresh = await connector.refresh(OFFLINE, legacy)
        assert stored(fresh)["refreshToken"] != data["refreshToken"]
        # Dex data with only an access token: used as it is.
        only_access = {"accessToken": stored(fresh)["accessToken"], "refreshToken": ""}
        bare = dataclasses.replace(identity, connector_data=json.dumps(only_access).encode())
        assert (await connector.refresh(OFFLINE, bare)).user_id == "4242"


@pytest.mark.parametrize("expired", [False, True], ids=["live-token", "expired-token"])
async def test_a_blocked_user_is_refused(upstream: Upstream, expired: bool) -> None:
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        upstream.jane.state = "blocked"
        if expired:
            upstream.clock.advance(TWO_HOURS)
        with pytest.raises(ConnectorError, match="403 Forbidden - Your account has been blocked"):
            await connector.refresh(OFFLINE, identity)


@pytest.mark.parametrize(
    ("expired", "answer"),
    [(False, "HTTP 401: 401 Unauthorized"), (True, "HTTP 400: invalid_grant")],
    ids=["live-token", "expired-token"],
)
async def test_a_revoked_authorization_is_refused(
    upstream: Upstream, expired: bool, answer: str
) -> None:
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        upstream.fake.revoke(upstream.jane)
        if expired:
            upstream.clock.advance(TWO_HOURS)
        with pytest.raises(ConnectorError, match=answer):
            await connector.refresh(OFFLINE, identity)


async def test_a_user_who_left_the_required_groups_is_refused(upstream: Upstream) -> None:
    teams(upstream.fake, upstream.jane)
    async with opened(upstream, groups=["web"]) as connector:
        identity = await upstream.sign_in(connector, Scopes(offline_access=True))
        assert identity.groups == ("web",)
        upstream.fake.leave(upstream.jane, "web")
        with pytest.raises(UserNotInRequiredGroupsError, match="required here \\(web\\)"):
            await connector.refresh(Scopes(offline_access=True), identity)


async def test_refresh_needs_stored_tokens_and_the_same_user(upstream: Upstream) -> None:
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        for data in (b"", b"not json", b'{"accessToken": ""}'):
            with pytest.raises(ConnectorError, match="sign in again"):
                await connector.refresh(OFFLINE, dataclasses.replace(identity, connector_data=data))
        other = dataclasses.replace(identity, user_id="1")
        with pytest.raises(ConnectorError, match="another user"):
            await connector.refresh(OFFLINE, other)


@pytest.mark.parametrize("path", ["/oauth/token", "/api/v4/user", "/oauth/userinfo"])
async def test_a_broken_gitlab_only_postpones_a_refresh(upstream: Upstream, path: str) -> None:
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, OFFLINE)
        upstream.clock.advance(TWO_HOURS)
        upstream.fake.fail[path] = lambda _r: PlainTextResponse("Bad Gateway", status_code=502)
        with pytest.raises(UpstreamUnavailableError, match="HTTP 502"):
            await connector.refresh(OFFLINE, identity)
        del upstream.fake.fail[path]
        assert (await connector.refresh(OFFLINE, identity)).user_id == "4242"
