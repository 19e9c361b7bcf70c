"""The ``gitlab`` connector against the fake GitLab on loopback (real sockets, real HTTP
client): login URL, callback, user and groups mapping, every option, pagination, TLS to a
self-managed instance under a path prefix, and upstream failures."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse

from connectors.fake_gitlab import CLIENT_ID, CLIENT_SECRET, FakeGitLab, FakeUser, rate_limited
from connectors.fakeserver import serve_app
from e2e.tls import TLSFiles, make_tls_files
from passgate.clock import FrozenClock
from passgate.config.connectors import GitLabConfig
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.gitlab import GitLabConnector
from passgate.connectors.http import UpstreamRateLimitedError
from passgate.oauth2.pkce import s256_challenge
from server.harness import query_of, without_query

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:5556/dex/callback"
GROUPS = Scopes(groups=True)
OFFLINE = Scopes(offline_access=True, groups=True)


class Upstream:
    """The fake GitLab running on loopback, its base URL and the shared clock."""

    def __init__(self, fake: FakeGitLab, url: str, clock: FrozenClock, ca: Path | None) -> None:
        self.fake, self.url, self.clock, self.ca = fake, url, clock, ca
        self.jane = fake.add_user(4242, "jane", "Jane Doe", "jane@example.com")
        fake.signed_in = self.jane.id

    def connector(self, **options: Any) -> GitLabConnector:
        config = GitLabConfig.model_validate(
            {"baseURL": self.url, "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET,
             "redirectURI": REDIRECT, **options}
        )  # fmt: skip
        return GitLabConnector(config, "gitlab", clock=self.clock)

    async def browse(self, url: str) -> dict[str, str]:
        """The browser at GitLab's authorize page: where GitLab sends it back."""
        verify = ssl.create_default_context(cafile=str(self.ca)) if self.ca else True
        async with httpx.AsyncClient(verify=verify) as browser:
            response = await browser.get(url)
        assert response.status_code == 302, response.text
        assert without_query(response.headers["location"]) == REDIRECT
        return query_of(response.headers["location"])

    async def sign_in(
        self, connector: GitLabConnector, scopes: Scopes = GROUPS, state: str = "st-1"
    ) -> Identity:
        back = await self.browse(await connector.login_url(scopes, REDIRECT, state))
        assert back["state"] == state
        return await connector.handle_callback(scopes, REDIRECT, back)


@asynccontextmanager
async def opened(upstream: Upstream, **options: Any) -> AsyncIterator[GitLabConnector]:
    connector = upstream.connector(**options)
    try:
        yield connector
    finally:
        await connector.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """gitlab.com-like: the API at the root of the host."""
    clock = FrozenClock()
    fake = FakeGitLab(redirect_uri=REDIRECT, clock=clock)
    with serve_app(fake.app) as url:
        yield Upstream(fake, url, clock, None)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("gitlab-tls"))


@pytest.fixture
def self_managed(tls: TLSFiles) -> Iterator[Upstream]:
    """A self-managed GitLab on https with a private CA, under the relative URL /gitlab."""
    clock = FrozenClock()
    fake = FakeGitLab(prefix="/gitlab", redirect_uri=REDIRECT, clock=clock)
    with serve_app(fake.app, tls=tls) as url:
        yield Upstream(fake, f"{url}/gitlab", clock, tls.ca)


def ca_data(tls: TLSFiles) -> str:
    return base64.b64encode(tls.ca.read_bytes()).decode()


def teams(fake: FakeGitLab, user: FakeUser) -> None:
    """jane: owner of ops (so of ops/k8s too), developer of web, reporter of qa."""
    fake.add_group("ops/k8s")
    fake.join(user, "ops", 50)
    fake.join(user, "web", 30)
    fake.join(user, "qa", 20)


# -- the login redirect -------------------------------------------------------------------
async def test_login_url_follows_dex(upstream: Upstream) -> None:
    async with opened(upstream) as connector:
        url = await connector.login_url(Scopes(), REDIRECT, "state with spaces")
        assert without_query(url) == f"{upstream.url}/oauth/authorize"
        assert query_of(url) == {
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "read_user", "state": "state with spaces",
        }  # fmt: skip
        # Groups are read from the OpenID userinfo: "openid" only when they are needed.
        assert query_of(await connector.login_url(GROUPS, REDIRECT, "s"))["scope"] == (
            "read_user openid"
        )
        with pytest.raises(ConnectorError, match="does not match"):
            await connector.login_url(Scopes(), "https://elsewhere.example/callback", "s")
    async with opened(upstream, groups=["ops"], inheritedGroups=True) as connector:
        assert query_of(await connector.login_url(Scopes(), REDIRECT, "s"))["scope"] == (
            "read_user openid read_api"
        )
    async with opened(upstream, baseURL=upstream.url + "/") as connector:
        url = await connector.login_url(Scopes(), REDIRECT, "s")
        assert without_query(url) == f"{upstream.url}/oauth/authorize"


# -- the callback -------------------------------------------------------------------------
async def test_callback_maps_the_user_as_dex_does(upstream: Upstream) -> None:
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector, Scopes())
    assert identity == Identity(
        user_id="4242", username="Jane Doe", preferred_username="jane",
        email="jane@example.com", email_verified=True, groups=(), connector_data=b"",
    )  # fmt: skip
    token_call = upstream.fake.calls("/oauth/token")[0]
    assert token_call["grant_type"] == "authorization_code"
    assert token_call["redirect_uri"] == REDIRECT
    assert "client_secret" not in token_call  # HTTP Basic (RFC 6749 §2.3.1)
    assert upstream.fake.calls("/oauth/userinfo") == []  # no groups asked for, none read


async def test_pkce_binds_the_code_to_the_sign_in(upstream: Upstream) -> None:
    async with opened(upstream) as connector:
        url, saved = await connector.begin(Scopes(), REDIRECT, "s")
        assert query_of(url)["code_challenge_method"] == "S256"
        assert query_of(url)["code_challenge"] == s256_challenge(saved.decode())
        back = await upstream.browse(url)
        with pytest.raises(ConnectorError, match="HTTP 400: invalid_grant"):
            await connector.finish(Scopes(), REDIRECT, back, b"another-verifier" * 3)
        url, saved = await connector.begin(Scopes(), REDIRECT, "s")
        back = await upstream.browse(url)
        identity = await connector.finish(Scopes(), REDIRECT, back, saved)
    assert identity.user_id == "4242"
    assert upstream.fake.calls("/oauth/token")[-1]["code_verifier"] == saved.decode()


async def test_use_login_as_id_and_a_user_without_a_name(upstream: Upstream) -> None:
    upstream.jane.name = ""
    async with opened(upstream, useLoginAsID=True) as connector:
        identity = await upstream.sign_in(connector, Scopes())
    assert (identity.user_id, identity.username) == ("jane", "jane@example.com")  # Dex: email


async def test_groups_come_from_userinfo(upstream: Upstream) -> None:
    teams(upstream.fake, upstream.jane)
    async with opened(upstream) as connector:
        identity = await upstream.sign_in(connector)
    assert identity.groups == ("ops", "ops/k8s", "qa", "web")


async def test_get_groups_permission_adds_dex_role_entries(upstream: Upstream) -> None:
    teams(upstream.fake, upstream.jane)
    async with opened(upstream, getGroupsPermission=True) as connector:
        identity = await upstream.sign_in(connector)
    # An owner of ops is owner of its subgroups; reporters get no role entry (Dex).
    assert identity.groups == (
        "ops", "ops/k8s", "qa", "web", "ops:owner", "ops/k8s:owner", "web:developer",
    )  # fmt: skip


async def test_required_groups_filter_the_claim_and_refuse_outsiders(upstream: Upstream) -> None:
    teams(upstream.fake, upstream.jane)
    options = {"groups": ["web", "ops:owner", "finance"], "getGroupsPermission": True}
    async with opened(upstream, **options) as connector:
        # Checked even when the client did not ask for groups (Dex groupsRequired).
        identity = await upstream.sign_in(connector, Scopes())
        assert identity.groups == ("web", "ops:owner")
        upstream.fake.leave(upstream.jane, "web")
        upstream.fake.leave(upstream.jane, "ops")
        with pytest.raises(UserNotInRequiredGroupsError) as refused:
            await upstream.sign_in(connector)
    assert str(refused.value) == (
        "The GitLab user 'jane' is not a member of any GitLab group required here "
        "(web, ops:owner, finance)."
    )


# -- inheritedGroups: the groups API, page by page ------------------------------------------
@pytest.mark.parametrize("x_next_page", [True, False], ids=["X-Next-Page", "Link-only"])
async def test_inherited_groups_follow_pagination(upstream: Upstream, x_next_page: bool) -> None:
    fake = upstream.fake
    fake.max_per_page, fake.x_next_page = 2, x_next_page
    teams(fake, upstream.jane)
    fake.share("platform", with_group="ops", access_level=20)  # ops members are invited
    async with opened(upstream, inheritedGroups=True) as connector:
        identity = await upstream.sign_in(connector)
    assert identity.groups == ("ops", "ops/k8s", "platform", "qa", "web")
    pages = [(p["page"], p["per_page"]) for p in fake.calls("/api/v4/groups")]
    # X-Next-Page: the next page of our own URL; Link: GitLab's URL (its page size).
    later = "100" if x_next_page else "2"
    assert pages == [("1", "100"), ("2", later), ("3", later)]
    assert all(p["all_available"] == "false" for p in fake.calls("/api/v4/groups"))


async def test_inherited_groups_with_permissions(upstream: Upstream) -> None:
    fake = upstream.fake
    teams(fake, upstream.jane)
    fake.share("platform", with_group="ops", access_level=20)
    async with opened(upstream, inheritedGroups=True, getGroupsPermission=True) as connector:
        identity = await upstream.sign_in(connector)
    # Role claims cover ops, ops/k8s and web; the Members API answers qa and platform.
    assert identity.groups == (
        "ops", "ops/k8s", "platform", "qa", "web",
        "ops:owner", "ops/k8s:owner", "platform:reporter", "qa:reporter", "web:developer",
    )  # fmt: skip
    looked_up = [path for _m, path, _p, _h in fake.requests if "/members/all/" in path]
    assert looked_up == [
        f"/api/v4/groups/{fake.group_ids[g]}/members/all/4242" for g in ("platform", "qa")
    ]


async def test_a_member_lookup_gitlab_refuses_is_skipped(upstream: Upstream) -> None:
    fake = upstream.fake
    fake.join(upstream.jane, "qa", 20)
    path = f"/api/v4/groups/{fake.group_ids['qa']}/members/all/4242"
    fake.fail[path] = lambda _r: JSONResponse({"message": "403 Forbidden"}, 403)
    async with opened(upstream, inheritedGroups=True, getGroupsPermission=True) as connector:
        assert (await upstream.sign_in(connector)).groups == ("qa",)


async def test_a_next_page_on_another_host_is_not_followed(upstream: Upstream) -> None:
    def evil(_request: Request) -> JSONResponse:
        link = '<https://evil.example/api/v4/groups?page=2>; rel="next"'
        return JSONResponse([{"id": 1, "full_path": "ops"}], headers={"Link": link})

    upstream.fake.fail["/api/v4/groups"] = evil
    async with opened(upstream, inheritedGroups=True) as connector:
        with pytest.raises(ConnectorError, match="next page outside"):
            await upstream.sign_in(connector)


# -- a self-managed GitLab: https with a private CA, under a path prefix ------------------
async def test_self_managed_gitlab_under_a_path_with_root_ca_data(
    self_managed: Upstream, tls: TLSFiles
) -> None:
    fake = self_managed.fake
    fake.max_per_page = 1
    teams(fake, self_managed.jane)
    options = {"rootCAData": ca_data(tls), "inheritedGroups": True}
    async with opened(self_managed, **options) as connector:
        url = await connector.login_url(GROUPS, REDIRECT, "s")
        assert url.startswith(f"{self_managed.url}/oauth/authorize?")
        identity = await self_managed.sign_in(connector)
    assert identity.groups == ("ops", "ops/k8s", "qa", "web")
    assert len(fake.calls("/api/v4/groups")) == 4


async def test_a_private_ca_is_not_trusted_without_root_ca_data(self_managed: Upstream) -> None:
    async with opened(self_managed) as connector:
        with pytest.raises(UpstreamUnavailableError, match="GitLab token endpoint failed"):
            await self_managed.sign_in(connector)


# -- refusals and failures ------------------------------------------------------------------
async def test_gitlab_refusals_are_connector_errors(upstream: Upstream) -> None:
    async with opened(upstream) as connector:
        upstream.fake.deny = True
        with pytest.raises(ConnectorError, match="GitLab refused the sign-in: access_denied: "):
            await upstream.sign_in(connector)
        upstream.fake.deny = False
        with pytest.raises(ConnectorError, match="no code"):
            await connector.handle_callback(Scopes(), REDIRECT, {"state": "s"})
        back = await upstream.browse(await connector.login_url(Scopes(), REDIRECT, "s"))
        await connector.handle_callback(Scopes(), REDIRECT, back)
        with pytest.raises(ConnectorError, match="HTTP 400: invalid_grant: The provided"):
            await connector.handle_callback(Scopes(), REDIRECT, back)  # a replayed code
    async with opened(upstream, clientSecret="wrong") as connector:
        with pytest.raises(ConnectorError, match="HTTP 401: invalid_client"):
            await upstream.sign_in(connector)


async def test_a_blocked_account_cannot_sign_in(upstream: Upstream) -> None:
    upstream.jane.state = "blocked"
    async with opened(upstream) as connector:
        with pytest.raises(ConnectorError, match="HTTP 403: 403 Forbidden - Your account has been"):
            await upstream.sign_in(connector)
    # An answer that says "blocked" in the user's state is refused too.
    upstream.jane.state = "active"
    upstream.fake.fail["/api/v4/user"] = lambda _r: JSONResponse(
        {"id": 4242, "username": "jane", "state": "blocked"}
    )
    async with opened(upstream) as connector:
        with pytest.raises(ConnectorError, match="GitLab account 'jane' is blocked"):
            await upstream.sign_in(connector)


def _garbage(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("<html>502 Whoops, GitLab is taking too much time</html>")


def _server_error(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("Internal Server Error", status_code=500)


@pytest.mark.parametrize("path", ["/oauth/token", "/api/v4/user", "/oauth/userinfo"])
@pytest.mark.parametrize("failure", [_garbage, _server_error], ids=["garbage", "5xx"])
async def test_a_broken_gitlab_is_unavailable(upstream: Upstream, path: str, failure: Any) -> None:
    upstream.fake.fail[path] = failure
    async with opened(upstream) as connector:
        with pytest.raises(UpstreamUnavailableError) as caught:
            await upstream.sign_in(connector)
    assert "GitLab" in str(caught.value)
    assert not isinstance(caught.value, UpstreamRateLimitedError)


@pytest.mark.parametrize("path", ["/oauth/token", "/api/v4/user", "/api/v4/groups"])
async def test_rate_limits_say_when_to_retry(upstream: Upstream, path: str) -> None:
    upstream.fake.fail[path] = rate_limited(retry_after=42)
    async with opened(upstream, inheritedGroups=True) as connector:
        with pytest.raises(UpstreamRateLimitedError, match="rate limiting us; retry in 42 s"):
            await upstream.sign_in(connector)


async def test_unexpected_answers_are_unavailable(upstream: Upstream) -> None:
    fake = upstream.fake
    fake.fail["/api/v4/user"] = lambda _r: JSONResponse({"id": "4242", "username": "jane"})
    async with opened(upstream) as connector:
        with pytest.raises(UpstreamUnavailableError, match="no numeric id"):
            await upstream.sign_in(connector, Scopes())
        del fake.fail["/api/v4/user"]
        fake.fail["/oauth/userinfo"] = lambda _r: JSONResponse({"groups": "ops"})
        with pytest.raises(UpstreamUnavailableError, match="not a list of names"):
            await upstream.sign_in(connector)
        fake.fail["/oauth/token"] = lambda _r: JSONResponse({"token_type": "Bearer"})
        with pytest.raises(UpstreamUnavailableError, match="no access_token"):
            await upstream.sign_in(connector)


async def test_an_unreachable_gitlab_is_unavailable(upstream: Upstream) -> None:
    upstream.url = "http://127.0.0.1:9"  # the discard port: nothing listens
    async with opened(upstream) as connector:
        with pytest.raises(UpstreamUnavailableError, match="GitLab token endpoint failed"):
            await connector.handle_callback(Scopes(), REDIRECT, {"code": "c", "state": "s"})
