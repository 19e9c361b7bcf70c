"""The ``github`` connector: refresh (groups change, user removed, left the org, revoked
token, expiring GitHub App tokens), upstream failures, and GitHub Enterprise over TLS."""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from connectors.fake_github import FakeGitHub
from connectors.fakeserver import serve_app
from connectors.test_github import (
    CLIENT_ID,
    CLIENT_SECRET,
    GROUPS,
    OFFLINE,
    REDIRECT,
    Make,
    browse,
    fake,
    github,
    make,
    options,
    query_of,
    sign_in,
)
from e2e.tls import TLSFiles
from passgate.clock import FrozenClock
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.github import GitHubConnector
from passgate.connectors.http import UpstreamRateLimitedError

pytestmark = pytest.mark.anyio
__all__ = ["fake", "github", "make"]  # fixtures used here

ORGS = [{"name": "acme", "teams": ["devs", "ops"]}]


# -- refresh ---------------------------------------------------------------------------------
async def test_refresh_rereads_the_user_and_groups(make: Make, fake: FakeGitHub) -> None:
    connector = make(orgs=ORGS)
    first = await sign_in(connector, OFFLINE)
    assert first.groups == ("acme:devs",)
    assert set(json.loads(first.connector_data)) == {"accessToken"}
    fake.add_member("acme", "jane", "ops")
    fake.users["jane"].name = "Jane Q. Doe"
    fresh = await connector.refresh(OFFLINE, first)
    assert fresh == Identity(
        user_id="4242",
        username="Jane Q. Doe",
        preferred_username="jane",
        email="jane@example.com",
        email_verified=True,
        groups=("acme:devs", "acme:ops"),
        connector_data=first.connector_data,
    )


async def test_refresh_after_leaving_the_required_org_is_refused(
    make: Make, fake: FakeGitHub
) -> None:
    connector = make(orgs=ORGS)
    identity = await sign_in(connector, OFFLINE)
    fake.remove_member("acme", "jane")
    with pytest.raises(UserNotInRequiredGroupsError, match="'acme'"):
        await connector.refresh(OFFLINE, identity)


@pytest.mark.parametrize("how", ["revoked", "deleted"])
async def test_refresh_of_a_revoked_token_or_deleted_user_is_refused(
    make: Make, fake: FakeGitHub, how: str
) -> None:
    connector = make()
    identity = await sign_in(connector, OFFLINE)
    if how == "revoked":
        fake.revoke("jane")
    else:
        del fake.users["jane"]
    with pytest.raises(ConnectorError, match="HTTP 401: Bad credentials") as caught:
        await connector.refresh(OFFLINE, identity)
    assert not isinstance(caught.value, UpstreamUnavailableError)


async def test_refresh_without_required_groups_keeps_the_old_ones(make: Make) -> None:
    connector = make()
    identity = await sign_in(connector, OFFLINE)
    stale = dataclasses.replace(identity, groups=("kept",))
    assert (await connector.refresh(Scopes(offline_access=True), stale)).groups == ("kept",)


@pytest.mark.parametrize("data", [b"", b"not json", b'{"accessToken": 7}', b"[]"])
async def test_refresh_without_usable_stored_token_is_refused(make: Make, data: bytes) -> None:
    identity = Identity(user_id="4242", username="jane", connector_data=data)
    with pytest.raises(ConnectorError) as caught:
        await make().refresh(OFFLINE, identity)
    assert not isinstance(caught.value, UpstreamUnavailableError)


async def test_expiring_github_app_tokens_are_renewed(
    make: Make, fake: FakeGitHub, clock: FrozenClock
) -> None:
    fake.expiring_tokens = True
    connector = make()
    identity = await sign_in(connector, OFFLINE)
    stored = json.loads(identity.connector_data)
    assert stored["accessToken"].startswith("ghu_")
    assert stored["refreshToken"].startswith("ghr_")
    assert stored["expiry"] == (clock() + timedelta(seconds=28800)).isoformat()
    same = await connector.refresh(OFFLINE, identity)  # not expired: no token request
    assert same.connector_data == identity.connector_data
    clock.advance(timedelta(hours=9))
    renewed = await connector.refresh(OFFLINE, identity)
    assert json.loads(renewed.connector_data)["refreshToken"] != stored["refreshToken"]
    # GitHub refresh tokens are single-use: the old one is now refused (HTTP 200 error).
    with pytest.raises(ConnectorError, match="bad_refresh_token"):
        await connector.refresh(OFFLINE, identity)


# -- upstream failures ---------------------------------------------------------------------
def _answer(status: int, body: bytes, **headers: str) -> Callable[[Request], Response]:
    def answer(_request: Request) -> Response:
        return Response(body, status_code=status, headers=headers)

    return answer


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, b"<html>Bad Gateway</html>", "HTTP 502"),
        (200, b"<html>unicorn</html>", "did not answer"),
        (200, b'{"id": "4242", "login": "jane"}', "no numeric id and login"),
    ],
)
async def test_a_broken_upstream_is_unavailable_not_a_refusal(
    make: Make, fake: FakeGitHub, status: int, body: bytes, message: str
) -> None:
    fake.fail["/user"] = _answer(status, body)
    with pytest.raises(UpstreamUnavailableError, match=message):
        await sign_in(make())


@pytest.mark.parametrize(
    ("kind", "status", "retry"), [("primary", 403, 1800), ("secondary", 403, 60), ("429", 429, 60)]
)
async def test_rate_limits_are_reported_with_when_to_retry(
    make: Make, fake: FakeGitHub, kind: str, status: int, retry: int
) -> None:
    connector = make(orgs=ORGS)
    identity = await sign_in(connector, OFFLINE)
    fake.rate_limit = kind
    with pytest.raises(UpstreamRateLimitedError) as caught:
        await connector.refresh(OFFLINE, identity)
    assert caught.value.retry_after == retry
    assert f"HTTP {status}" in str(caught.value)


async def test_membership_check_failing_is_unavailable(make: Make, fake: FakeGitHub) -> None:
    fake.fail["/orgs/acme/members/jane"] = lambda _r: JSONResponse(
        {"message": "Server Error"}, status_code=500
    )
    with pytest.raises(UpstreamUnavailableError, match="HTTP 500: Server Error"):
        await sign_in(make(orgs=ORGS))


async def test_a_next_page_on_another_host_is_not_followed(make: Make, fake: FakeGitHub) -> None:
    link = '<https://evil.example/user/teams?page=2>; rel="next"'
    fake.fail["/user/teams"] = lambda _r: PlainTextResponse(
        "[]", media_type="application/json", headers={"Link": link}
    )
    with pytest.raises(UpstreamUnavailableError, match="next page elsewhere"):
        await sign_in(make(loadAllGroups=True), GROUPS)


async def test_an_unreachable_github_is_unavailable(clock: FrozenClock) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    connector = GitHubConnector(options(), clock=clock, api_url=closed, oauth_url=closed)
    with pytest.raises(UpstreamUnavailableError, match="GitHub token endpoint failed"):
        await connector.handle_callback(Scopes(), REDIRECT, {"code": "c", "state": "s"})
    await connector.close()


# -- GitHub Enterprise -------------------------------------------------------------------
@pytest.fixture
def enterprise(clock: FrozenClock, tls: TLSFiles) -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        callback=REDIRECT,
        enterprise=True,
        now=lambda: clock().timestamp(),
    )
    # GitHub Enterprise cannot verify addresses: "verified" is false there.
    fake.add_user("jane", 7, emails=[{"email": "jane@corp.example", "primary": True,
                                      "verified": False, "visibility": None}])  # fmt: skip
    fake.add_member("acme", "jane", "devs")
    fake.signed_in = "jane"
    with serve_app(fake.app(), tls=tls) as base_url:
        yield fake, base_url.removeprefix("https://")


async def test_enterprise_host_over_tls_with_its_root_ca(
    enterprise: tuple[FakeGitHub, str], tls: TLSFiles, clock: FrozenClock
) -> None:
    fake, host = enterprise
    connector = GitHubConnector(
        options(hostName=host, rootCA=str(tls.ca), orgs=ORGS), "ghe", clock=clock
    )
    url = await connector.login_url(OFFLINE, REDIRECT, "s")
    assert url.startswith(f"https://{host}/login/oauth/authorize?")
    response = await browse(url, verify=ssl.create_default_context(cafile=tls.ca))
    identity = await connector.handle_callback(
        OFFLINE, REDIRECT, query_of(response.headers["location"])
    )
    assert (identity.user_id, identity.email, identity.groups) == (
        "7", "jane@corp.example", ("acme:devs",),
    )  # fmt: skip
    assert fake.api_requests("/user")
    assert fake.api_requests("/orgs/acme/members/jane")
    assert all(
        r.url.path.startswith("/api/v3/") for r in fake.requests if "oauth" not in r.url.path
    )
    fake.remove_member("acme", "jane")
    with pytest.raises(UserNotInRequiredGroupsError):
        await connector.refresh(OFFLINE, identity)
    await connector.close()


async def test_enterprise_host_not_trusted_without_its_root_ca(
    enterprise: tuple[FakeGitHub, str], tls: TLSFiles, clock: FrozenClock
) -> None:
    _fake, host = enterprise
    connector = GitHubConnector(options(hostName=host), "ghe", clock=clock)
    url = await connector.login_url(Scopes(), REDIRECT, "s")
    back = query_of(
        (await browse(url, verify=ssl.create_default_context(cafile=tls.ca))).headers["location"]
    )
    with pytest.raises(UpstreamUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
        await connector.handle_callback(Scopes(), REDIRECT, back)
    await connector.close()
