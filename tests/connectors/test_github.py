"""The ``github`` connector against the fake GitHub (github.com layout) on loopback: the
login URL, the callback, and how the user, email and groups map, exactly as in Dex."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from connectors.fake_github import FakeGitHub
from connectors.fakeserver import serve_app
from passgate.clock import FrozenClock
from passgate.config.connectors import GitHubConfig
from passgate.connectors.base import ConnectorError, Identity, Scopes, UserNotInRequiredGroupsError
from passgate.connectors.github import GitHubConnector
from server.harness import query_of

pytestmark = pytest.mark.anyio

CLIENT_ID = "Iv1.8a61f9b3a7aba766"
CLIENT_SECRET = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
REDIRECT = "https://sso.example.com/dex/callback"
NO_SCOPES = Scopes()
GROUPS = Scopes(groups=True)
OFFLINE = Scopes(offline_access=True, groups=True)


def options(**extra: Any) -> GitHubConfig:
    base = {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET, "redirectURI": REDIRECT}
    return GitHubConfig.model_validate({**base, **extra})


@pytest.fixture
def fake(clock: FrozenClock) -> FakeGitHub:
    """jane (in acme: devs, ops; in other: devs) and bob (no orgs)."""
    fake = FakeGitHub(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        callback=REDIRECT,
        now=lambda: clock().timestamp(),
    )
    fake.add_user("jane", 4242, name="Jane Doe", email="jane@example.com")
    fake.add_user("bob", 77, emails=[{"email": "bob@example.com", "primary": True,
                                      "verified": True, "visibility": "private"}])  # fmt: skip
    fake.add_member("acme", "jane", "devs", "Site Reliability")
    fake.add_member("other", "jane", "devs")
    fake.signed_in = "jane"
    return fake


@pytest.fixture
def github(fake: FakeGitHub) -> Iterator[str]:
    with serve_app(fake.app()) as base_url:
        yield base_url


Make = Callable[..., GitHubConnector]


@pytest.fixture
async def make(github: str, clock: FrozenClock) -> AsyncIterator[Make]:
    """Connectors for the fake (api_url/oauth_url overrides), with their own HTTP client."""
    made: list[GitHubConnector] = []

    def make(**config: Any) -> GitHubConnector:
        connector = GitHubConnector(
            options(**config), "gh", clock=clock, api_url=github, oauth_url=github
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        await connector.close()


async def browse(url: str, verify: Any = True) -> httpx.Response:
    """The browser's visit to GitHub's authorization page (no redirect followed)."""
    async with httpx.AsyncClient(verify=verify) as browser:
        return await browser.get(url)


async def sign_in(
    connector: GitHubConnector, scopes: Scopes = NO_SCOPES, state: str = "req.mac"
) -> Identity:
    url = await connector.login_url(scopes, REDIRECT, state)
    response = await browse(url)
    assert response.status_code == 302, response.text
    back = response.headers["location"]
    assert back.startswith(f"{REDIRECT}?"), back
    return await connector.handle_callback(scopes, REDIRECT, query_of(back))


# -- the login redirect --------------------------------------------------------------
async def test_login_url_asks_for_the_email_scope_and_keeps_state(make: Make, github: str) -> None:
    url = await make().login_url(Scopes(), REDIRECT, "abc.def")
    assert url.startswith(f"{github}/login/oauth/authorize?")
    assert query_of(url) == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "user:email",
        "state": "abc.def",
    }


async def test_read_org_is_asked_for_groups_or_configured_orgs(make: Make) -> None:
    assert query_of(await make().login_url(GROUPS, REDIRECT, "s"))["scope"] == "user:email read:org"
    for config in ({"orgs": [{"name": "acme"}]}, {"org": "acme"}):
        url = await make(**config).login_url(Scopes(), REDIRECT, "s")
        assert query_of(url)["scope"] == "user:email read:org"


async def test_a_callback_url_other_than_redirect_uri_is_refused(make: Make) -> None:
    with pytest.raises(ConnectorError, match="does not match"):
        await make().login_url(Scopes(), "https://evil.example/callback", "s")


async def test_default_and_enterprise_endpoints() -> None:
    public = GitHubConnector(options())
    url = await public.login_url(Scopes(), REDIRECT, "s")
    assert url.startswith("https://github.com/login/oauth/authorize?")
    enterprise = options(hostName="git.example.com:8443")
    assert (enterprise.api_url, enterprise.oauth_url) == (
        "https://git.example.com:8443/api/v3",
        "https://git.example.com:8443",
    )
    connector = GitHubConnector(enterprise)
    url = await connector.login_url(Scopes(), REDIRECT, "s")
    assert url.startswith("https://git.example.com:8443/login/oauth/authorize?")
    await public.close()
    await connector.close()


# -- the callback: user and email ------------------------------------------------------
async def test_identity_is_mapped_like_dex(make: Make, fake: FakeGitHub) -> None:
    identity = await sign_in(make())
    assert identity == Identity(
        user_id="4242",
        username="Jane Doe",
        preferred_username="jane",
        email="jane@example.com",
        email_verified=True,
    )
    assert identity.connector_data == b""  # no offline_access: no token kept (Dex)
    # Documented headers on every API call; the token request carries the credentials.
    (user_call,) = fake.api_requests("/user")
    assert user_call.headers["accept"] == "application/vnd.github+json"
    assert user_call.headers["x-github-api-version"] == "2022-11-28"
    assert user_call.headers["authorization"].startswith("Bearer gho_")
    (token_call,) = [r for r in fake.requests if r.url.path == "/login/oauth/access_token"]
    assert token_call.headers["accept"] == "application/json"
    assert not fake.api_requests("/user/emails")  # the public email was enough


async def test_login_is_the_username_without_a_name_and_can_be_the_id(
    make: Make, fake: FakeGitHub
) -> None:
    fake.users["jane"].name = None
    identity = await sign_in(make(useLoginAsID=True))
    assert (identity.user_id, identity.username, identity.preferred_username) == (
        "jane", "jane", "jane",
    )  # fmt: skip


async def test_private_email_is_the_verified_primary_across_pages(
    make: Make, fake: FakeGitHub
) -> None:
    fake.signed_in = "bob"
    entries = [
        {"email": f"old{i}@example.org", "primary": False, "verified": True} for i in range(140)
    ]
    entries.append({"email": "bob@primary.example", "primary": True, "verified": True})
    fake.users["bob"].emails = entries
    identity = await sign_in(make())
    assert (identity.user_id, identity.email, identity.email_verified) == (
        "77", "bob@primary.example", True,
    )  # fmt: skip
    pages = fake.api_requests("/user/emails")
    assert [r.query_params.get("page") for r in pages] == [None, "2"]
    assert pages[0].query_params["per_page"] == "100"


async def test_an_unverified_primary_email_is_not_used(make: Make, fake: FakeGitHub) -> None:
    fake.signed_in = "bob"
    fake.users["bob"].emails = [{"email": "bob@example.com", "primary": True, "verified": False}]
    with pytest.raises(ConnectorError, match="no verified primary email"):
        await sign_in(make())


async def test_preferred_email_domain_wins_even_over_the_public_email(
    make: Make, fake: FakeGitHub
) -> None:
    fake.users["jane"].emails = [
        {"email": "jane@example.com", "primary": True, "verified": True},
        {"email": "jane@unverified.corp.example", "primary": False, "verified": False},
        {"email": "jane@eu.corp.example", "primary": False, "verified": True},
    ]
    identity = await sign_in(make(preferredEmailDomain="*.corp.example"))
    assert identity.email == "jane@eu.corp.example"
    identity = await sign_in(make(preferredEmailDomain="corp.example"))
    assert identity.email == "jane@example.com"  # no match: the verified primary


# -- groups --------------------------------------------------------------------------------
async def test_orgs_give_org_team_groups_like_dex(make: Make) -> None:
    connector = make(orgs=[{"name": "acme"}, {"name": "other", "teams": ["admins", "devs"]}])
    identity = await sign_in(connector, GROUPS)
    # An org without teams: all the user's teams there; with teams: only the listed ones.
    assert identity.groups == ("acme:devs", "acme:Site Reliability", "other:devs")


async def test_team_name_field(make: Make) -> None:
    orgs = [{"name": "acme", "teams": ["site-reliability"]}]
    identity = await sign_in(make(orgs=orgs, teamNameField="slug"), GROUPS)
    assert identity.groups == ("acme:site-reliability",)
    identity = await sign_in(make(orgs=[{"name": "acme"}], teamNameField="both"), GROUPS)
    assert identity.groups == (
        "acme:devs", "acme:devs", "acme:Site Reliability", "acme:site-reliability",
    )  # fmt: skip


async def test_orgs_are_checked_even_without_the_groups_scope(make: Make) -> None:
    identity = await sign_in(make(orgs=[{"name": "acme", "teams": ["devs"]}]))
    assert identity.groups == ("acme:devs",)


async def test_a_member_of_an_org_without_listed_teams_and_no_team_may_sign_in(
    make: Make, fake: FakeGitHub
) -> None:
    fake.add_member("solo", "jane")
    identity = await sign_in(make(orgs=[{"name": "solo"}]), GROUPS)
    assert identity.groups == ()


async def test_outside_the_required_orgs_or_teams_is_refused_clearly(
    make: Make, fake: FakeGitHub
) -> None:
    fake.add_member("solo", "bob")
    with pytest.raises(UserNotInRequiredGroupsError) as caught:
        await sign_in(make(orgs=[{"name": "solo"}]), GROUPS)
    assert str(caught.value) == (
        "you are not a member of the GitHub organisation 'solo' required here"
    )
    with pytest.raises(UserNotInRequiredGroupsError) as caught:
        await sign_in(make(orgs=[{"name": "acme", "teams": ["admins", "owners"]}]))
    assert "not in any of the teams admins, owners of the GitHub organisation 'acme'" in str(
        caught.value
    )
    fake.signed_in = "bob"
    with pytest.raises(UserNotInRequiredGroupsError, match="'acme'; 'missing' \\(teams: x\\)"):
        await sign_in(make(orgs=[{"name": "acme"}, {"name": "missing", "teams": ["x"]}]))


async def test_load_all_groups_lists_every_org_and_team_across_pages(
    make: Make, fake: FakeGitHub
) -> None:
    many = [f"team-{i:03}" for i in range(120)]
    fake.add_member("big", "jane", *many)
    orgs = [f"org-{i:03}" for i in range(101)]
    for org in orgs:
        fake.add_member(org, "jane")
    identity = await sign_in(make(loadAllGroups=True), GROUPS)
    assert identity.groups == (
        "acme", "acme:devs", "acme:Site Reliability", "other", "other:devs", "big",
        *(f"big:{name}" for name in many), *orgs,
    )  # fmt: skip
    assert len(fake.api_requests("/user/teams")) == 2
    assert len(fake.api_requests("/user/orgs")) == 2


async def test_groups_need_the_scope_and_a_source(make: Make, fake: FakeGitHub) -> None:
    assert (await sign_in(make(loadAllGroups=True))).groups == ()
    assert (await sign_in(make(), GROUPS)).groups == ()  # Dex: no orgs, no loadAllGroups
    assert not fake.api_requests("/user/orgs")
    assert not fake.api_requests("/user/teams")


async def test_legacy_org_gives_bare_team_names_to_members_only(
    make: Make, fake: FakeGitHub
) -> None:
    identity = await sign_in(make(org="acme"))
    assert identity.groups == ("devs", "Site Reliability")
    fake.signed_in = "bob"
    with pytest.raises(UserNotInRequiredGroupsError, match="organisation 'acme'"):
        await sign_in(make(org="acme"))


# -- what GitHub refuses -----------------------------------------------------------------
async def test_oauth_errors_answered_with_http_200(make: Make, fake: FakeGitHub) -> None:
    connector = make()
    url = await connector.login_url(Scopes(), REDIRECT, "s")
    back = query_of((await browse(url)).headers["location"])
    await connector.handle_callback(Scopes(), REDIRECT, back)
    with pytest.raises(ConnectorError, match="refused: bad_verification_code: The code passed"):
        await connector.handle_callback(Scopes(), REDIRECT, back)  # a code is single-use
    fake.client_secret = "rotated"
    back = query_of((await browse(url)).headers["location"])
    with pytest.raises(ConnectorError, match="incorrect_client_credentials"):
        await connector.handle_callback(Scopes(), REDIRECT, back)


async def test_the_person_declining_or_no_code(make: Make, fake: FakeGitHub) -> None:
    fake.deny = True
    connector = make()
    back = query_of(
        (await browse(await connector.login_url(Scopes(), REDIRECT, "s"))).headers["location"]
    )
    assert back["state"] == "s"
    with pytest.raises(ConnectorError, match="access_denied: The user has denied"):
        await connector.handle_callback(Scopes(), REDIRECT, back)
    with pytest.raises(ConnectorError, match="callback has no code"):
        await connector.handle_callback(Scopes(), REDIRECT, {"state": "s"})
