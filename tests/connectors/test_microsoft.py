"""The ``microsoft`` connector against the fake identity platform and Graph on loopback: the
login URL, the callback, how the user, email and groups map (exactly as in Dex), paging,
the required-groups check, and upstream failures."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import HTMLResponse, Response

from connectors.fake_microsoft import FakeMicrosoft, FakeUser
from connectors.fakeserver import serve_app
from e2e.tls import make_tls_files
from passgate.clock import FrozenClock
from passgate.config.connectors import MicrosoftConfig
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.http import UpstreamRateLimitedError
from passgate.connectors.microsoft import MicrosoftConnector
from server.harness import query_of

pytestmark = pytest.mark.anyio

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "Zx~8Q~s3cret.value-with+special/chars"
REDIRECT = "https://sso.example.com/dex/callback"
TENANT = "contoso.onmicrosoft.com"
NO_SCOPES = Scopes()
GROUPS = Scopes(groups=True)
OFFLINE = Scopes(offline_access=True, groups=True)


def options(**extra: Any) -> MicrosoftConfig:
    base = {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET, "redirectURI": REDIRECT}
    return MicrosoftConfig.model_validate({**base, **extra})


@pytest.fixture
def fake(clock: FrozenClock) -> FakeMicrosoft:
    """Jane is in developers, platform (itself in engineering) and the non-security
    "All Company" Microsoft 365 group; Bob is in no group."""
    fake = FakeMicrosoft(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT,
                         domain=TENANT, now=lambda: clock().timestamp())  # fmt: skip
    fake.add_group("engineering")
    fake.add_group("platform", parents=("engineering",))
    fake.add_group("developers")
    fake.add_group("All Company", security=False)
    jane = fake.add_user("Jane Doe", "Jane.Doe@Contoso.onmicrosoft.com")
    fake.join(jane, "developers", "platform", "All Company")
    fake.add_user("Bob", "bob@contoso.onmicrosoft.com")
    fake.signed_in = jane.id
    return fake


def user(fake: FakeMicrosoft, name: str) -> FakeUser:
    return next(u for u in fake.users.values() if u.display_name == name)


@pytest.fixture
def server(fake: FakeMicrosoft) -> Iterator[str]:
    with serve_app(fake.app()) as base_url:
        yield base_url


Make = Callable[..., MicrosoftConnector]


@pytest.fixture
async def make(server: str, clock: FrozenClock) -> AsyncIterator[Make]:
    """Connectors whose apiURL and graphURL are the fake, in the contoso tenant."""
    made: list[MicrosoftConnector] = []

    def make(**config: Any) -> MicrosoftConnector:
        settings = {"apiURL": server, "graphURL": server, "tenant": TENANT, **config}
        connector = MicrosoftConnector(options(**settings), "ms", clock=clock)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        await connector.close()


async def browse(url: str, verify: Any = True) -> httpx.Response:
    """The browser's visit to Microsoft's sign-in page (no redirect followed)."""
    async with httpx.AsyncClient(verify=verify) as browser:
        return await browser.get(url)


async def sign_in(
    connector: MicrosoftConnector, scopes: Scopes = NO_SCOPES, verify: Any = True
) -> Identity:
    url, saved = await connector.begin(scopes, REDIRECT, "req.mac")
    response = await browse(url, verify)
    assert response.status_code == 302, response.text
    back = response.headers["location"]
    assert back.startswith(f"{REDIRECT}?"), back
    return await connector.finish(scopes, REDIRECT, query_of(back), saved)


# -- the login redirect --------------------------------------------------------------------
async def test_login_url_follows_dex(make: Make, server: str) -> None:
    url = await make().login_url(Scopes(), REDIRECT, "abc.def")
    assert url.startswith(f"{server}/{TENANT}/oauth2/v2.0/authorize?")
    assert query_of(url) == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "user.read",
        "state": "abc.def",
    }


async def test_begin_adds_a_pkce_challenge_the_token_request_proves(
    make: Make, fake: FakeMicrosoft
) -> None:
    url, saved = await make().begin(Scopes(), REDIRECT, "s")
    query = query_of(url)
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert saved
    back = query_of((await browse(url)).headers["location"])
    with pytest.raises(ConnectorError, match="AADSTS501481"):
        await make().finish(Scopes(), REDIRECT, back, b"another-verifier")


@pytest.mark.parametrize(
    ("config", "scopes", "expected"),
    [
        ({}, GROUPS, "user.read directory.read.all"),
        ({}, OFFLINE, "user.read directory.read.all offline_access"),
        ({"groups": ["devops"]}, Scopes(), "user.read directory.read.all"),
        ({"tenant": "common"}, OFFLINE, "user.read offline_access"),
        ({"tenant": "organizations"}, GROUPS, "user.read"),
        ({"scopes": ["User.Read", "email"]}, GROUPS, "User.Read email directory.read.all"),
    ],
    ids=["groups", "offline", "required-groups", "common", "organizations", "custom"],
)
async def test_scopes_as_dex_builds_them(
    make: Make, config: dict[str, Any], scopes: Scopes, expected: str
) -> None:
    assert query_of(await make(**config).login_url(scopes, REDIRECT, "s"))["scope"] == expected


async def test_prompt_type_and_domain_hint(make: Make) -> None:
    url = await make(promptType="select_account", domainHint="contoso.com").login_url(
        Scopes(), REDIRECT, "s"
    )
    assert (query_of(url)["prompt"], query_of(url)["domain_hint"]) == (
        "select_account", "contoso.com",
    )  # fmt: skip


async def test_a_callback_url_other_than_redirect_uri_is_refused(make: Make) -> None:
    with pytest.raises(ConnectorError, match="does not match"):
        await make().login_url(Scopes(), "https://evil.example/callback", "s")


async def test_default_endpoints_are_the_public_cloud() -> None:
    connector = MicrosoftConnector(options())
    url = await connector.login_url(Scopes(), REDIRECT, "s")
    assert url.startswith("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?")
    await connector.close()


# -- the callback: user and email ------------------------------------------------------------
async def test_identity_is_mapped_like_dex(make: Make, fake: FakeMicrosoft) -> None:
    jane = user(fake, "Jane Doe")
    identity = await sign_in(make())
    assert identity == Identity(
        user_id=jane.id,
        username="Jane Doe",
        email="Jane.Doe@Contoso.onmicrosoft.com",  # the UPN, as Dex
        email_verified=True,
    )
    assert identity.connector_data == b""  # no offline_access: no tokens kept (Dex)
    (token_call,) = fake.calls(f"/{TENANT}/oauth2/v2.0/token")
    form = token_call.form()
    # Microsoft documents client_secret in the form body, URL-encoded.
    assert (form["client_id"], form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert "authorization" not in token_call.headers
    assert (form["grant_type"], form["redirect_uri"]) == ("authorization_code", REDIRECT)
    assert form["code_verifier"]
    (me,) = fake.calls("/v1.0/me")
    assert me.query == {"$select": "id,displayName,userPrincipalName"}
    assert me.headers["authorization"].startswith("Bearer ")
    assert not fake.calls("/v1.0/me/getMemberGroups")  # no groups scope, none required


async def test_email_to_lowercase(make: Make) -> None:
    identity = await sign_in(make(emailToLowercase=True))
    assert identity.email == "jane.doe@contoso.onmicrosoft.com"


async def test_the_person_declining_is_a_clear_error(make: Make, fake: FakeMicrosoft) -> None:
    fake.deny = True
    with pytest.raises(ConnectorError) as caught:
        await sign_in(make())
    message = str(caught.value)
    assert "access_denied: AADSTS65004: User declined to consent" in message
    assert "Trace ID" not in message


async def test_a_missing_or_replayed_code_is_refused(make: Make) -> None:
    connector = make()
    with pytest.raises(ConnectorError, match="no code"):
        await connector.handle_callback(Scopes(), REDIRECT, {"state": "s"})
    url = await connector.login_url(Scopes(), REDIRECT, "s")
    back = query_of((await browse(url)).headers["location"])
    await connector.handle_callback(Scopes(), REDIRECT, back)
    with pytest.raises(ConnectorError, match="HTTP 400: invalid_grant: AADSTS54005"):
        await connector.handle_callback(Scopes(), REDIRECT, back)


# -- groups ----------------------------------------------------------------------------------
async def test_groups_are_names_of_all_transitive_memberships(
    make: Make, fake: FakeMicrosoft
) -> None:
    identity = await sign_in(make(), GROUPS)
    assert identity.groups == ("engineering", "platform", "developers", "All Company")
    (member_groups,) = fake.calls("/v1.0/me/getMemberGroups")
    assert member_groups.json() == {"securityEnabledOnly": False}
    (by_ids,) = fake.calls("/v1.0/directoryObjects/getByIds")
    assert by_ids.json()["types"] == ["group"]
    assert sorted(by_ids.json()["ids"]) == sorted(fake.groups)


async def test_only_security_groups_and_ids(make: Make, fake: FakeMicrosoft) -> None:
    identity = await sign_in(make(onlySecurityGroups=True, groupNameFormat="id"), GROUPS)
    names = ("engineering", "platform", "developers")
    assert identity.groups == tuple(fake.group_id(name) for name in names)
    assert fake.calls("/v1.0/me/getMemberGroups")[0].json() == {"securityEnabledOnly": True}
    assert not fake.calls("/v1.0/directoryObjects/getByIds")  # ids need no lookup


async def test_groups_are_followed_across_pages(make: Make, fake: FakeMicrosoft) -> None:
    jane = user(fake, "Jane Doe")
    for i in range(1196):
        fake.add_group(f"team-{i:04}")
    fake.join(jane, *[f"team-{i:04}" for i in range(1196)])
    fake.page_size = 500
    identity = await sign_in(make(), GROUPS)
    assert len(identity.groups) == 1200
    assert "team-1195" in identity.groups
    assert len(fake.calls("/v1.0/me/getMemberGroups")) == 3  # 500 + 500 + 200
    lookups = fake.calls("/v1.0/directoryObjects/getByIds")
    # getByIds takes at most 1000 ids: two requests, the first one paged twice.
    assert [len(call.json()["ids"]) for call in lookups] == [1000, 1000, 200]
    assert "$skiptoken" in lookups[1].query


async def test_a_next_link_off_the_graph_host_is_not_followed(
    make: Make, fake: FakeMicrosoft
) -> None:
    fake.page_size = 2
    fake.next_link_base = "https://attacker.example"
    with pytest.raises(UpstreamUnavailableError, match="off the Graph host"):
        await sign_in(make(), GROUPS)
    assert len(fake.calls("/v1.0/me/getMemberGroups")) == 1


async def test_required_groups_let_members_in(make: Make) -> None:
    # Dex: the groups are read for the check even without the groups scope.
    identity = await sign_in(make(groups=["devops", "platform"]))
    assert identity.groups == ("engineering", "platform", "developers", "All Company")
    whitelisted = await sign_in(make(groups=["devops", "platform"], useGroupsAsWhitelist=True))
    assert whitelisted.groups == ("platform",)


async def test_a_user_in_none_of_the_required_groups_is_refused(
    make: Make, fake: FakeMicrosoft
) -> None:
    fake.signed_in = user(fake, "Bob").id
    with pytest.raises(UserNotInRequiredGroupsError) as caught:
        await sign_in(make(groups=["devops", "platform"]), GROUPS)
    assert str(caught.value) == (
        "you are not a member of any of the Microsoft groups required here (devops, platform)"
    )


async def test_multi_tenant_endpoints_read_no_groups(make: Make, fake: FakeMicrosoft) -> None:
    identity = await sign_in(make(tenant="common"), GROUPS)
    assert identity.groups == ()
    assert not fake.calls("/v1.0/me/getMemberGroups")


# -- upstream failures -----------------------------------------------------------------------
def _answer(response: Response) -> Callable[[Any], Response]:
    return lambda _request: response


@pytest.mark.parametrize(
    ("path", "answer", "error", "match"),
    [
        ("/v1.0/me", Response(status_code=503), UpstreamUnavailableError, "HTTP 503"),
        ("/v1.0/me", HTMLResponse("<html>login</html>"), UpstreamUnavailableError, "not answer"),
        ("/v1.0/me", Response(json.dumps({"id": 7}), media_type="application/json"),
         UpstreamUnavailableError, "no valid 'id'"),
        ("/v1.0/me/getMemberGroups", Response('{"value": {}}', media_type="application/json"),
         UpstreamUnavailableError, "no 'value' list"),
        (f"/{TENANT}/oauth2/v2.0/token", Response("{}", media_type="application/json"),
         UpstreamUnavailableError, "no access_token"),
    ],
    ids=["graph-5xx", "graph-garbage", "bad-id", "bad-collection", "no-access-token"],
)  # fmt: skip
async def test_broken_answers_are_upstream_errors(
    make: Make, fake: FakeMicrosoft, path: str, answer: Response, error: type, match: str
) -> None:
    fake.fail[path] = _answer(answer)
    with pytest.raises(error, match=match):
        await sign_in(make(), GROUPS)


@pytest.mark.parametrize("kind", ["graph", "token"])
async def test_throttling_is_rate_limiting_with_retry_after(
    make: Make, fake: FakeMicrosoft, kind: str
) -> None:
    fake.throttle[kind] = 1
    with pytest.raises(UpstreamRateLimitedError) as caught:
        await sign_in(make(), GROUPS)
    assert caught.value.retry_after == 7


async def test_graph_errors_carry_microsofts_words(make: Make) -> None:
    # Without user.read or directory.read.all, Graph refuses /me.
    with pytest.raises(ConnectorError) as caught:
        await sign_in(make(scopes=["openid"]))
    assert not isinstance(caught.value, UpstreamUnavailableError)
    assert "HTTP 403: Authorization_RequestDenied: Insufficient privileges" in str(caught.value)


async def test_a_wrong_client_secret_is_named(make: Make) -> None:
    with pytest.raises(UpstreamUnavailableError) as caught:
        await sign_in(make(clientSecret="not-the-secret"))
    assert "invalid_client: AADSTS7000215" in str(caught.value)
    assert "clientSecret" in str(caught.value)


async def test_a_national_cloud_over_https_with_its_ca(
    fake: FakeMicrosoft, clock: FrozenClock, tmp_path: Path
) -> None:
    """apiURL and graphURL of a sovereign cloud (here the fake, over TLS with a private CA
    given to the constructor: Dex's microsoft connector has no rootCA option)."""
    tls = make_tls_files(tmp_path)
    with serve_app(fake.app(), tls=tls) as base_url:
        config = options(apiURL=base_url + "/", graphURL=base_url, tenant=TENANT)
        trusting = MicrosoftConnector(config, "ms", clock=clock, root_cas=[str(tls.ca)])
        browser_trust = ssl.create_default_context(cafile=str(tls.ca))
        identity = await sign_in(trusting, GROUPS, verify=browser_trust)
        assert identity.username == "Jane Doe"
        assert "developers" in identity.groups
        await trusting.close()

        untrusting = MicrosoftConnector(config, "ms", clock=clock)
        with pytest.raises(UpstreamUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
            await sign_in(untrusting, verify=browser_trust)
        await untrusting.close()
