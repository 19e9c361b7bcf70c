"""The refresh grant without HTTP: rotation, the reuse interval, reuse detection, races."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from passgate.clock import FrozenClock
from passgate.connectors.local import LocalConnector
from passgate.keys import KeyManager
from passgate.oauth2.errors import InvalidGrantError, InvalidScopeError
from passgate.oauth2.params import Params
from passgate.provider.connectors import ConnectorEntry, ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.issue import Grant, ResponseMinter
from passgate.provider.refresh import RefreshGrant
from passgate.provider.settings import RefreshPolicy
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Claims, Client, Password
from passgate.tokens.issuer import TokenIssuer

CLIENT = Client(id="app", secret="s", redirect_uris=("https://app/cb",))
OTHER = Client(id="other", secret="s2", redirect_uris=("https://other/cb",))
USER = Password(email="a@example.com", hash=b"$2b$04$x", username="a", user_id="u1")


class Harness:
    def __init__(self, policy: RefreshPolicy) -> None:
        self.clock = FrozenClock()
        self.storage = MemoryStorage()
        self.directory = Directory(self.storage, [CLIENT, OTHER], [USER])
        local = LocalConnector(self.directory.get_password)
        self.connectors = ConnectorRegistry([ConnectorEntry("local", "local", "Email", local)])
        self.keys = KeyManager(
            self.storage,
            self.clock,
            rotation_period=timedelta(hours=6),
            id_token_lifetime=timedelta(hours=1),
        )
        self.issuer = TokenIssuer("https://sso.test/dex", self.keys, self.clock, timedelta(hours=1))
        self.minter = ResponseMinter(self.storage, self.issuer, self.clock)
        self.grant = RefreshGrant(
            storage=self.storage,
            connectors=self.connectors,
            minter=self.minter,
            policy=policy,
            clock=self.clock,
        )

    async def first_token(self) -> str:
        grant = Grant(
            client_id=CLIENT.id,
            claims=Claims(user_id="u1", username="a", email="a@example.com", email_verified=True),
            scopes=("openid", "email", "offline_access"),
            connector_id="local",
        )
        token = await self.minter.new_refresh_token(grant, "tok1")
        assert token is not None
        return token

    async def refresh(self, token: str, client: Client = CLIENT, scope: str = "") -> str:
        pairs = [("grant_type", "refresh_token"), ("refresh_token", token)]
        if scope:
            pairs.append(("scope", scope))
        response = await self.grant.handle(client, Params(pairs))
        assert response.refresh_token is not None
        assert response.id_token is not None
        return response.refresh_token


@pytest.fixture
async def no_reuse() -> Harness:
    harness = Harness(RefreshPolicy(reuse_interval=timedelta(0)))
    await harness.keys.start()
    return harness


@pytest.mark.anyio
async def test_rotation_invalidates_the_previous_token(no_reuse: Harness) -> None:
    first = await no_reuse.first_token()
    second = await no_reuse.refresh(first)
    assert second != first
    no_reuse.clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidGrantError):
        await no_reuse.refresh(first)
    # Reuse of a rotated token is treated as theft: the whole token is revoked.
    with pytest.raises(InvalidGrantError):
        await no_reuse.refresh(second)


@pytest.mark.anyio
async def test_reuse_interval_returns_the_same_current_token() -> None:
    harness = Harness(RefreshPolicy(reuse_interval=timedelta(seconds=3)))
    await harness.keys.start()
    first = await harness.first_token()
    second = await harness.refresh(first)
    harness.clock.advance(timedelta(seconds=2))
    assert await harness.refresh(first) == second  # a retry after a lost response
    third = await harness.refresh(second)
    assert third not in (first, second)
    harness.clock.advance(timedelta(seconds=4))
    with pytest.raises(InvalidGrantError):
        await harness.refresh(second)


@pytest.mark.anyio
async def test_racing_refreshes_exactly_one_wins(no_reuse: Harness) -> None:
    """Two clients racing with one token: one gets a new token, the other invalid_grant.
    (With no reuse interval a late duplicate is indistinguishable from a stolen copy, so it
    may also revoke the family, RFC 9700 §4.14.2: only the single winner is asserted.)"""
    for round_ in range(10):
        grant = Grant(
            client_id=CLIENT.id,
            claims=Claims(user_id="u1", username="a", email="a@example.com"),
            scopes=("openid", "offline_access"),
            connector_id="local",
        )
        token = await no_reuse.minter.new_refresh_token(grant, f"race{round_}")
        assert token is not None
        results: list[str | Exception] = []

        async def attempt(value: str, sink: list[str | Exception]) -> None:
            try:
                sink.append(await no_reuse.refresh(value))
            except InvalidGrantError as error:
                sink.append(error)

        async with anyio.create_task_group() as group:
            group.start_soon(attempt, token, results)
            group.start_soon(attempt, token, results)
        winners = [r for r in results if isinstance(r, str)]
        assert len(winners) == 1, results


@pytest.mark.anyio
async def test_token_is_bound_to_its_client(no_reuse: Harness) -> None:
    first = await no_reuse.first_token()
    with pytest.raises(InvalidGrantError):
        await no_reuse.refresh(first, client=OTHER)
    assert await no_reuse.refresh(first)  # still valid for its own client


@pytest.mark.anyio
async def test_scope_can_narrow_but_not_widen(no_reuse: Harness) -> None:
    first = await no_reuse.first_token()
    with pytest.raises(InvalidScopeError):
        await no_reuse.refresh(first, scope="openid groups")
    assert await no_reuse.refresh(first, scope="openid")


@pytest.mark.anyio
async def test_lifetimes() -> None:
    harness = Harness(
        RefreshPolicy(
            reuse_interval=timedelta(0),
            valid_if_not_used_for=timedelta(hours=1),
            absolute_lifetime=timedelta(hours=3),
        )
    )
    await harness.keys.start()
    token = await harness.first_token()
    for _ in range(2):
        harness.clock.advance(timedelta(minutes=59))
        token = await harness.refresh(token)
    harness.clock.advance(timedelta(minutes=61))
    with pytest.raises(InvalidGrantError, match="unused"):
        await harness.refresh(token)
    harness2 = Harness(RefreshPolicy(absolute_lifetime=timedelta(hours=1)))
    await harness2.keys.start()
    token = await harness2.first_token()
    harness2.clock.advance(timedelta(minutes=61))
    with pytest.raises(InvalidGrantError, match="expired"):
        await harness2.refresh(token)


@pytest.mark.anyio
async def test_deleted_user_loses_the_session(no_reuse: Harness) -> None:
    no_reuse.directory = Directory(no_reuse.storage, [CLIENT], [])
    first = await no_reuse.first_token()
    no_reuse.connectors = ConnectorRegistry(
        [ConnectorEntry("local", "local", "Email", LocalConnector(no_reuse.directory.get_password))]
    )
    grant = RefreshGrant(
        storage=no_reuse.storage,
        connectors=no_reuse.connectors,
        minter=no_reuse.minter,
        policy=RefreshPolicy(),
        clock=no_reuse.clock,
    )
    with pytest.raises(InvalidGrantError, match="no longer valid"):
        await grant.handle(
            CLIENT, Params([("grant_type", "refresh_token"), ("refresh_token", first)])
        )
    with pytest.raises(InvalidGrantError):  # and the token is gone
        await no_reuse.refresh(first)
