"""The ``gitlab`` connector inside Passgate, built from a config file exactly as ``passgate
serve`` builds it: /auth → the fake self-managed GitLab (https, private CA in
``rootCAData``, under /gitlab) → /callback → code → tokens → refresh."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.responses import PlainTextResponse

from connectors.fake_gitlab import CLIENT_ID, CLIENT_SECRET, FakeGitLab
from connectors.fakeserver import serve_app
from connectors.flow import (
    CALLBACK,
    back_from,
    callback,
    code_to_tokens,
    passgate_with,
    to_upstream,
)
from e2e.tls import TLSFiles, make_tls_files
from server.harness import (
    PREFIX,
    REDIRECT_URI,
    Harness,
    assert_error_page,
    assert_oauth_error,
    query_of,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("gitlab-flow-tls"))


class Flow:
    def __init__(self, harness: Harness, fake: FakeGitLab, base_url: str, tls: TLSFiles):
        self.harness, self.fake, self.base_url, self.tls = harness, fake, base_url, tls

    async def sign_in(self) -> dict[str, str]:
        """Chooser → GitLab → /callback: the query Passgate redirects the client with."""
        response = await self.through_gitlab()
        if response.status_code != 303:
            return {"status": str(response.status_code), "page": response.text}
        assert response.headers["location"].startswith(REDIRECT_URI)
        return query_of(response.headers["location"])

    async def through_gitlab(self) -> httpx.Response:
        """The browser at GitLab (trusting the private CA, as the person's does)."""
        location = await to_upstream(self.harness, "gl", state="cs")
        assert location.startswith(f"{self.base_url}/oauth/authorize?")
        assert query_of(location)["scope"] == "read_user openid"
        return await callback(self.harness, await back_from(location, self.tls))

    async def tokens(self) -> dict[str, str]:
        tokens: dict[str, str] = await code_to_tokens(
            self.harness, await self.through_gitlab(), state="cs"
        )
        return tokens

    async def groups(self, tokens: dict[str, str]) -> list[str]:
        info = (await self.harness.userinfo(tokens["access_token"])).json()
        assert info["email"] == "jane@example.com"
        assert info["preferred_username"] == "jane"
        groups: list[str] = info["groups"]
        return groups


@asynccontextmanager
async def passgate(tls: TLSFiles, *, expires_in: int, extra: str = "") -> AsyncIterator[Flow]:
    fake = FakeGitLab(prefix="/gitlab", redirect_uri=CALLBACK, expires_in=expires_in)
    jane = fake.add_user(4242, "jane", "Jane Doe", "jane@example.com")
    fake.signed_in = jane.id
    fake.join(jane, "ops", 50)
    fake.join(jane, "web", 30)
    ca_data = base64.b64encode(tls.ca.read_bytes()).decode()
    with serve_app(fake.app, tls=tls) as url:
        connector = (
            "connectors:\n- type: gitlab\n  id: gl\n  name: GitLab\n  config:\n"
            f"    baseURL: {url}/gitlab\n    clientID: {CLIENT_ID}\n"
            f"    clientSecret: {CLIENT_SECRET}\n    redirectURI: {CALLBACK}\n"
            f"    rootCAData: {ca_data}\n    getGroupsPermission: true\n{extra}"
        )
        async with passgate_with(connector) as harness:
            yield Flow(harness, fake, f"{url}/gitlab", tls)


@pytest.mark.parametrize(
    "expires_in", [7200, 30], ids=["live-gitlab-token", "gitlab-token-renewed-each-time"]
)
async def test_sign_in_through_gitlab_then_refresh(tls: TLSFiles, expires_in: int) -> None:
    async with passgate(tls, expires_in=expires_in) as flow:
        tokens = await flow.tokens()
        assert await flow.groups(tokens) == ["ops", "web", "ops:owner", "web:developer"]

        # Groups changed at GitLab: the refresh asks GitLab again and carries them.
        jane = flow.fake.users[4242]
        flow.fake.leave(jane, "web")
        flow.fake.join(jane, "sre", 40)
        refreshed = await flow.harness.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert await flow.groups(refreshed.json()) == ["ops", "sre", "ops:owner", "sre:maintainer"]
        renewals = [
            c for c in flow.fake.calls("/oauth/token") if c["grant_type"] != "authorization_code"
        ]
        assert len(renewals) == (1 if expires_in < 60 else 0)

        # The account is blocked at GitLab: Passgate answers invalid_grant.
        jane.state = "blocked"
        refused = await flow.harness.refresh(refreshed.json()["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)


async def test_a_revoked_authorization_ends_the_session(tls: TLSFiles) -> None:
    async with passgate(tls, expires_in=7200) as flow:
        tokens = await flow.tokens()
        flow.fake.revoke(flow.fake.users[4242])
        refused = await flow.harness.refresh(tokens["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)


async def test_a_user_outside_the_required_groups_gets_a_403_page(tls: TLSFiles) -> None:
    async with passgate(tls, expires_in=7200, extra="    groups: [finance, payroll]\n") as flow:
        outcome = await flow.sign_in()
        assert outcome["status"] == "403"
        assert (
            "not a member of any GitLab group required here (finance, payroll)" in (outcome["page"])
        )


async def test_a_broken_gitlab_keeps_the_session(tls: TLSFiles) -> None:
    """A 502 from GitLab during a refresh is 503 temporarily_unavailable with Retry-After;
    the session survives, even though GitLab had already rotated its refresh token."""
    async with passgate(tls, expires_in=30) as flow:
        tokens = await flow.tokens()
        flow.fake.fail["/api/v4/user"] = lambda _r: PlainTextResponse("", status_code=502)
        broken = await flow.harness.refresh(tokens["refresh_token"])
        assert_oauth_error(broken, "temporarily_unavailable", status=503)
        assert broken.headers["retry-after"] == "30"
        del flow.fake.fail["/api/v4/user"]
        again = await flow.harness.refresh(tokens["refresh_token"])
        assert again.status_code == 200, again.text


async def test_an_error_page_when_the_person_denies_access(tls: TLSFiles) -> None:
    async with passgate(tls, expires_in=7200) as flow:
        flow.fake.deny = True
        outcome = await flow.sign_in()
        assert outcome["status"] == "502"
        assert "access_denied" in outcome["page"]
        response = await flow.harness.client.get(f"{PREFIX}/callback", params={"state": "x"})
        assert_error_page(response, response.status_code)
