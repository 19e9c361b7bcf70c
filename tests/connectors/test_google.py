"""The ``google`` connector's OpenID Connect side against a fake Google on loopback: the
login URL Dex builds, the Google claims mapping, hosted domains, refresh, and upstream
failures. Groups and the service account: ``test_google_groups.py``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from starlette.responses import HTMLResponse, JSONResponse, Response

from connectors.fake_google import CLIENT_ID, CLIENT_SECRET, FakeGoogle
from passgate.clock import FrozenClock
from passgate.config.connectors import GoogleConfig
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.google import GoogleConnector
from passgate.connectors.http import UpstreamRateLimitedError
from server.harness import query_of

pytestmark = pytest.mark.anyio

REDIRECT = "https://sso.example.com/dex/callback"
ALL = Scopes(offline_access=True, groups=True)
ONLINE = Scopes()
Make = Callable[..., GoogleConnector]


def fake_google(clock: FrozenClock) -> FakeGoogle:
    """Jane at example.com (a Workspace), its admin, and a few groups."""
    google = FakeGoogle(clock)
    google.redirect_uris.add(REDIRECT)
    google.add_user("jane@example.com", "Jane Doe")
    google.add_user("admin@example.com", "Ada Admin", admin=True)
    google.add_group("devs@example.com", "jane@example.com")
    google.add_group("ops@example.com", "jane@example.com")
    return google


def connector(
    google: FakeGoogle,
    clock: FrozenClock,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> GoogleConnector:
    """A connector talking to the fake (``options``: the Dex config keys)."""
    base = {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET, "redirectURI": REDIRECT}
    return GoogleConnector(
        GoogleConfig.model_validate({**base, **options}),
        clock=clock,
        issuer=google.base_url,
        directory_url=google.base_url,
        environ=environ or {},
    )


@pytest.fixture
def google(clock: FrozenClock) -> Iterator[FakeGoogle]:
    fake = fake_google(clock)
    with fake.serve():
        yield fake


@pytest.fixture
async def make(google: FakeGoogle, clock: FrozenClock) -> AsyncIterator[Make]:
    made: list[GoogleConnector] = []

    def factory(**options: Any) -> GoogleConnector:
        made.append(connector(google, clock, **options))
        return made[-1]

    yield factory
    for each in made:
        await each.close()


async def go_to_google(url: str) -> httpx.Response:
    """The browser at Google's authorization page (the account is already signed in)."""
    async with httpx.AsyncClient() as browser:
        return await browser.get(url)


async def sign_in(conn: GoogleConnector, scopes: Scopes = ALL, state: str = "st.1") -> Identity:
    answer = await go_to_google(await conn.login_url(scopes, REDIRECT, state))
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{REDIRECT}?")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["state"] == state
    return await conn.handle_callback(scopes, REDIRECT, query)


# -- the login URL -------------------------------------------------------------------------
async def test_login_url_is_the_one_dex_builds(google: FakeGoogle, make: Make) -> None:
    url = await make().login_url(ONLINE, REDIRECT, "opaque.state")
    assert url.startswith(f"{google.base_url}/o/oauth2/v2/auth?")
    query = query_of(url)
    assert query.pop("nonce")
    assert query == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid profile email",
        "state": "opaque.state",
    }


async def test_offline_access_is_access_type_not_a_scope(make: Make) -> None:
    """Google refuses the offline_access scope (its page says invalid_scope): Dex asks
    with access_type=offline and prompt=consent, or promptType."""
    query = query_of(await make().login_url(ALL, REDIRECT, "s"))
    assert query["scope"] == "openid profile email"
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    query = query_of(await make(promptType="select_account").login_url(ALL, REDIRECT, "s"))
    assert query["prompt"] == "select_account"
    assert "prompt" not in query_of(await make(promptType="").login_url(ALL, REDIRECT, "s"))


async def test_google_refuses_the_offline_access_scope(google: FakeGoogle) -> None:
    """The fake is faithful here: this is why the connector must not send it."""
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email offline_access",
    }
    url = f"{google.base_url}/o/oauth2/v2/auth?{urlencode(query)}"
    answer = await go_to_google(url)
    assert answer.status_code == 400
    assert "invalid_scope" in answer.text


async def test_hosted_domains_are_sent_as_the_hd_hint(make: Make) -> None:
    one = query_of(await make(hostedDomains=["example.com"]).login_url(ONLINE, REDIRECT, "s"))
    assert one["hd"] == "example.com"
    two = make(hostedDomains=["example.com", "example.org"])
    assert query_of(await two.login_url(ONLINE, REDIRECT, "s"))["hd"] == "*"


async def test_configured_scopes_replace_profile_and_email(make: Make) -> None:
    query = query_of(await make(scopes=["email"]).login_url(ONLINE, REDIRECT, "s"))
    assert query["scope"] == "openid email"


async def test_a_callback_url_other_than_redirect_uri_is_refused(make: Make) -> None:
    with pytest.raises(ConnectorError, match="redirectURI"):
        await make().login_url(ONLINE, "https://elsewhere.example/callback", "s")


# -- the callback ----------------------------------------------------------------------------
async def test_sign_in_maps_google_claims_as_dex(google: FakeGoogle, make: Make) -> None:
    identity = await sign_in(make())
    jane = google.accounts["jane@example.com"]
    assert identity.user_id == jane.sub
    assert identity.username == "Jane Doe"
    assert identity.preferred_username == ""
    assert identity.email == "jane@example.com"
    assert identity.email_verified is True
    assert identity.groups == ()  # no service account: Google sends no groups
    stored = json.loads(identity.connector_data)
    assert stored["refreshToken"].startswith("1//")
    assert google.count("/admin/directory/v1/groups") == 0


async def test_without_profile_there_is_no_username(make: Make) -> None:
    identity = await sign_in(make(scopes=["email"]))
    assert (identity.username, identity.email) == ("", "jane@example.com")


async def test_online_sign_in_keeps_no_refresh_token(make: Make) -> None:
    identity = await sign_in(make(), ONLINE)
    assert identity.connector_data == b""


async def test_prompt_consent_gets_a_refresh_token_every_time(
    google: FakeGoogle, make: Make
) -> None:
    """Google gives a refresh token on the first consent only, unless prompt=consent:
    the reason Dex's promptType defaults to consent."""
    assert json.loads((await sign_in(make())).connector_data)["refreshToken"]
    assert json.loads((await sign_in(make())).connector_data)["refreshToken"]
    assert (await sign_in(make(promptType=""))).connector_data == b""


async def test_hosted_domain_must_match(google: FakeGoogle, make: Make) -> None:
    assert (await sign_in(make(hostedDomains=["example.com"]))).email == "jane@example.com"
    with pytest.raises(UserNotInRequiredGroupsError, match=r"hosted domain 'example\.com'"):
        await sign_in(make(hostedDomains=["example.org"]))
    google.add_user("joe@gmail.com", "Joe")  # a consumer account: no hd claim at all
    google.signed_in = "joe@gmail.com"
    with pytest.raises(UserNotInRequiredGroupsError, match="hosted domain ''"):
        await sign_in(make(hostedDomains=["example.com"]))


async def test_an_unverified_email_is_refused(google: FakeGoogle, make: Make) -> None:
    google.accounts["jane@example.com"].email_verified = False
    with pytest.raises(ConnectorError, match="did not verify the email"):
        await sign_in(make())


async def test_the_issuer_without_scheme_is_google_too(google: FakeGoogle, make: Make) -> None:
    """Google's tokens may say iss "accounts.google.com" (no scheme): accepted, nothing else."""
    google.iss = google.base_url.split("://")[1]
    assert (await sign_in(make())).email == "jane@example.com"
    google.iss = "https://evil.example"
    with pytest.raises(ConnectorError, match="id_token is not valid"):
        await sign_in(make())


async def test_an_error_from_google_is_reported(make: Make) -> None:
    conn = make()
    with pytest.raises(ConnectorError, match="access_denied: The user said no"):
        await conn.handle_callback(
            ALL,
            REDIRECT,
            {"state": "s", "error": "access_denied", "error_description": "The user said no"},
        )
    with pytest.raises(ConnectorError, match="no code"):
        await conn.handle_callback(ALL, REDIRECT, {"state": "s"})


async def test_a_code_is_used_once(make: Make) -> None:
    conn = make()
    answer = await go_to_google(await conn.login_url(ALL, REDIRECT, "s"))
    query = query_of(answer.headers["location"])
    await conn.handle_callback(ALL, REDIRECT, query)
    with pytest.raises(ConnectorError, match="HTTP 400: invalid_grant"):
        await conn.handle_callback(ALL, REDIRECT, query)


async def test_a_code_for_another_state_fails_the_nonce(make: Make) -> None:
    conn = make()
    answer = await go_to_google(await conn.login_url(ALL, REDIRECT, "mine"))
    query = {**query_of(answer.headers["location"]), "state": "someone-else"}
    with pytest.raises(ConnectorError, match="nonce"):
        await conn.handle_callback(ALL, REDIRECT, query)


# -- refresh ---------------------------------------------------------------------------------
async def test_refresh_asks_google_again(google: FakeGoogle, make: Make) -> None:
    conn = make()
    identity = await sign_in(conn)
    google.accounts["jane@example.com"].name = "Jane Q. Doe"
    fresh = await conn.refresh(ALL, identity)
    assert (fresh.user_id, fresh.username) == (identity.user_id, "Jane Q. Doe")
    assert fresh.connector_data == identity.connector_data  # Google keeps its token
    google.accounts["jane@example.com"].disabled = True
    with pytest.raises(ConnectorError, match="Token has been expired or revoked") as caught:
        await conn.refresh(ALL, fresh)
    assert not isinstance(caught.value, UpstreamUnavailableError)  # -> invalid_grant


async def test_refresh_takes_the_raw_token_dex_stored(google: FakeGoogle, make: Make) -> None:
    """Dex keeps Google's refresh token as the bare connector data: sessions moved from
    Dex still refresh."""
    conn = make()
    identity = await sign_in(conn)
    raw = json.loads(identity.connector_data)["refreshToken"].encode()
    fresh = await conn.refresh(ALL, Identity(identity.user_id, "", connector_data=raw))
    assert fresh.user_id == google.accounts["jane@example.com"].sub
    assert json.loads(fresh.connector_data) == {"refreshToken": raw.decode()}


async def test_refresh_for_another_subject_is_refused(google: FakeGoogle, make: Make) -> None:
    conn = make()
    identity = await sign_in(conn)
    google.accounts["jane@example.com"].sub = "1999"
    with pytest.raises(ConnectorError, match="another user"):
        await conn.refresh(ALL, identity)


# -- a broken Google -------------------------------------------------------------------------
def answer(response: Response) -> Callable[[Any], Response]:
    return lambda _request: response


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (Response("upstream connect error", 503), UpstreamUnavailableError, "HTTP 503"),
        (HTMLResponse("<html>Sorry...</html>"), UpstreamUnavailableError, "did not answer"),
        (
            JSONResponse({"error": "rate_limit_exceeded"}, 429, headers={"Retry-After": "9"}),
            UpstreamRateLimitedError,
            "rate limiting us; retry in 9 s",
        ),
    ],
    ids=["5xx", "garbage", "rate-limited"],
)
async def test_a_broken_token_endpoint(
    google: FakeGoogle, make: Make, response: Response, error: type[Exception], message: str
) -> None:
    conn = make()
    identity = await sign_in(conn)
    google.fail["/token"] = answer(response)
    with pytest.raises(error, match=message):
        await conn.refresh(ALL, identity)
    with pytest.raises(error, match=message):
        await sign_in(conn)


async def test_google_unreachable(clock: FrozenClock) -> None:
    google = fake_google(clock)
    with google.serve():
        pass  # stopped: nothing listens there any more
    conn = connector(google, clock)
    with pytest.raises(UpstreamUnavailableError, match="discovery failed"):
        await conn.login_url(ONLINE, REDIRECT, "s")
    await conn.close()
