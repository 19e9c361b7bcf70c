"""The ``microsoft`` connector's refresh: the kept tokens (in Dex's format), groups and
profile changes, and a person disabled, deleted, signed out everywhere or out of the
required groups upstream; Passgate's own misconfiguration and outages keep sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from starlette.responses import Response

from connectors.fake_microsoft import FakeMicrosoft
from connectors.test_microsoft import (
    CLIENT_ID,
    CLIENT_SECRET,
    OFFLINE,
    TENANT,
    Make,
    fake,
    make,
    server,
    sign_in,
    user,
)
from passgate.clock import FrozenClock
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.http import UpstreamRateLimitedError

pytestmark = pytest.mark.anyio
__all__ = ["fake", "make", "server"]  # fixtures used here

TOKEN_PATH = f"/{TENANT}/oauth2/v2.0/token"


def kept(identity: Identity) -> dict[str, str]:
    data = json.loads(identity.connector_data)
    assert isinstance(data, dict)
    return data


async def test_offline_sign_in_keeps_the_tokens_as_dex_does(
    make: Make, fake: FakeMicrosoft
) -> None:
    identity = await sign_in(make(), OFFLINE)
    data = kept(identity)
    assert set(data) == {"accessToken", "refreshToken", "expiry"}
    assert data["accessToken"] in fake.access_tokens
    assert data["refreshToken"] in fake.refresh_tokens
    assert data["expiry"] == "2026-01-01T00:59:59.000000Z"  # now + expires_in 3599


async def test_refresh_reads_the_user_and_groups_again(make: Make, fake: FakeMicrosoft) -> None:
    connector = make(emailToLowercase=True)
    identity = await sign_in(connector, OFFLINE)
    jane = user(fake, "Jane Doe")
    jane.display_name = "Jane Roe"
    jane.user_principal_name = "Jane.Roe@Contoso.onmicrosoft.com"
    fake.leave(jane, "platform")
    fake.add_group("sre")
    fake.join(jane, "sre")

    fresh = await connector.refresh(OFFLINE, identity)
    assert (fresh.user_id, fresh.username, fresh.email) == (
        jane.id, "Jane Roe", "jane.roe@contoso.onmicrosoft.com",
    )  # fmt: skip
    assert fresh.groups == ("developers", "All Company", "sre")
    # Microsoft rotates the refresh token; the new tokens are kept for the next refresh.
    assert kept(fresh)["refreshToken"] != kept(identity)["refreshToken"]
    assert kept(fresh)["accessToken"] != kept(identity)["accessToken"]
    refresh_call = fake.calls(TOKEN_PATH)[-1].form()
    assert refresh_call == {
        "grant_type": "refresh_token",
        "refresh_token": kept(identity)["refreshToken"],
        "scope": "user.read directory.read.all offline_access",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


async def test_a_refresh_token_written_by_dex_keeps_working(
    make: Make, fake: FakeMicrosoft, clock: FrozenClock
) -> None:
    signed_in = await sign_in(make(), OFFLINE)
    dex_data = {
        "accessToken": kept(signed_in)["accessToken"],
        "refreshToken": kept(signed_in)["refreshToken"],
        "expiry": "2026-01-01T01:59:59.123456789+01:00",  # Go's time.Time, nanoseconds
    }
    moved = Identity(user_id=signed_in.user_id, username="Jane Doe",
                     connector_data=json.dumps(dex_data).encode())  # fmt: skip
    fresh = await make().refresh(OFFLINE, moved)
    assert fresh.username == "Jane Doe"
    assert "developers" in fresh.groups


@pytest.mark.parametrize(
    ("change", "aadsts"),
    [
        ("disable", "AADSTS50057: The user account is disabled."),
        ("delete", "AADSTS50034"),
        ("revoke", "AADSTS50173"),
    ],
)
async def test_a_person_gone_upstream_is_refused(
    make: Make, fake: FakeMicrosoft, change: str, aadsts: str
) -> None:
    """What an admin does in Entra reaches Passgate at the next refresh, even while the
    last access token would still be accepted by Graph."""
    connector = make()
    identity = await sign_in(connector, OFFLINE)
    jane = user(fake, "Jane Doe")
    if change == "disable":
        jane.account_enabled = False
    elif change == "delete":
        del fake.users[jane.id]
    else:
        fake.revoke_sign_in_sessions(jane)
    with pytest.raises(ConnectorError) as caught:
        await connector.refresh(OFFLINE, identity)
    assert not isinstance(caught.value, UpstreamUnavailableError)
    assert f"HTTP 400: invalid_grant: {aadsts}" in str(caught.value)
    assert "Trace ID" not in str(caught.value)


async def test_leaving_the_required_groups_ends_the_session(
    make: Make, fake: FakeMicrosoft
) -> None:
    connector = make(groups=["platform"])
    identity = await sign_in(connector, Scopes(offline_access=True))
    fake.leave(user(fake, "Jane Doe"), "platform")
    with pytest.raises(UserNotInRequiredGroupsError):
        await connector.refresh(Scopes(offline_access=True), identity)


async def test_a_refresh_for_another_user_is_refused(make: Make, fake: FakeMicrosoft) -> None:
    connector = make()
    identity = await sign_in(connector, OFFLINE)
    fake.refresh_tokens[kept(identity)["refreshToken"]].user_id = user(fake, "Bob").id
    with pytest.raises(ConnectorError, match="another user"):
        await connector.refresh(OFFLINE, identity)


async def test_without_kept_tokens_there_is_nothing_to_refresh_with(make: Make) -> None:
    connector = make()
    identity = await sign_in(connector)  # no offline_access
    for data in (b"", b"not json", b"[]"):
        with pytest.raises(ConnectorError, match="Microsoft tokens"):
            await connector.refresh(OFFLINE, Identity("id", "name", connector_data=data))
    assert identity.connector_data == b""


async def test_an_access_token_alone_serves_until_it_expires(
    make: Make, clock: FrozenClock
) -> None:
    """Dex: without a refresh token, the kept access token is used while it is valid (its
    expiry in Go's format: nanoseconds, any offset; golang.org/x/oauth2 stops 10 s early)."""
    connector = make()
    signed_in = await sign_in(connector, OFFLINE)
    data = {**kept(signed_in), "refreshToken": "", "expiry": "2026-01-01T01:59:59.5+01:00"}
    identity = Identity(signed_in.user_id, "Jane Doe", connector_data=json.dumps(data).encode())
    assert (await connector.refresh(OFFLINE, identity)).username == "Jane Doe"
    clock.advance(timedelta(seconds=3589))  # 00:59:49, before 00:59:59.5 - 10 s
    assert (await connector.refresh(OFFLINE, identity)).username == "Jane Doe"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(ConnectorError, match="expired"):
        await connector.refresh(OFFLINE, identity)


async def test_an_expired_client_secret_keeps_sessions(make: Make, fake: FakeMicrosoft) -> None:
    """Passgate's own registration is broken, not the person's account: the refresh is
    "try again later", so fixing clientSecret does not sign everyone out."""
    connector = make()
    identity = await sign_in(connector, OFFLINE)
    fake.secret_expired = True
    with pytest.raises(UpstreamUnavailableError, match="AADSTS7000222"):
        await connector.refresh(OFFLINE, identity)


@pytest.mark.parametrize("status", [500, 503])
async def test_an_unavailable_token_endpoint_keeps_sessions(
    make: Make, fake: FakeMicrosoft, status: int
) -> None:
    connector = make()
    identity = await sign_in(connector, OFFLINE)
    fake.fail[TOKEN_PATH] = lambda _request: Response(status_code=status)
    with pytest.raises(UpstreamUnavailableError, match=f"HTTP {status}"):
        await connector.refresh(OFFLINE, identity)
    del fake.fail[TOKEN_PATH]
    fake.throttle["token"] = 1
    with pytest.raises(UpstreamRateLimitedError):
        await connector.refresh(OFFLINE, identity)
    assert (await connector.refresh(OFFLINE, identity)).user_id == identity.user_id
