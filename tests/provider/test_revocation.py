"""The revocation cache and the session expiry policy without HTTP (FrozenClock, memory
storage): rules from another replica arrive at the next poll, skewed clocks are covered
by the overlap, expired rules are dropped, and each rule kind refuses what it should."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from passgate.clock import FrozenClock
from passgate.provider.revocation_cache import RevocationCache, TokenFacts
from passgate.provider.sessions import session_expiry
from passgate.provider.settings import RefreshPolicy
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Claims, Revocation, Session

pytestmark = pytest.mark.anyio

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def rule(kind: str, value: str, at: datetime, rule_id: str = "") -> Revocation:
    return Revocation(
        id=rule_id or f"{kind}-{value}-{at.timestamp()}",
        kind=kind,
        value=value,
        issued_before=at,
        created_at=at,
        expiry=at + timedelta(hours=1),
    )


def facts(at: datetime, **fields: object) -> TokenFacts:
    return TokenFacts(issued_at=at, **fields)  # type: ignore[arg-type]


async def test_a_rule_written_elsewhere_is_honoured_at_the_next_poll() -> None:
    clock, storage = FrozenClock(T0), MemoryStorage()
    here, there = RevocationCache(storage, clock), RevocationCache(storage, clock)
    await here.load()
    await there.load()
    revocation = rule("session", "s1", clock())
    await storage.add_revocation(revocation)
    there.add(revocation)  # the replica that wrote it applies it at once
    token = facts(T0, session_id="s1")
    assert there.is_revoked(token)
    assert not here.is_revoked(token)
    clock.advance(timedelta(milliseconds=500))
    assert await here.poll() == 1
    assert here.is_revoked(token)
    assert await here.poll() == 0  # seen rules are not counted twice


async def test_a_revoke_all_from_elsewhere_makes_this_replica_reload_its_keys() -> None:
    clock, storage = FrozenClock(T0), MemoryStorage()
    reloads: list[datetime] = []

    async def reload_keys() -> None:
        reloads.append(clock())

    here = RevocationCache(storage, clock, on_revoke_all=reload_keys)
    await here.load()
    for kind, value in (("user", "u1"), ("session", "s1")):
        await storage.add_revocation(rule(kind, value, clock()))
    clock.advance(timedelta(milliseconds=500))
    await here.poll()
    assert reloads == []  # only "all" comes with new signing keys
    everything = rule("all", "", clock())
    await storage.add_revocation(everything)
    clock.advance(timedelta(milliseconds=500))
    assert await here.poll() == 1
    assert reloads == [clock()]
    clock.advance(timedelta(milliseconds=500))
    await here.poll()
    assert len(reloads) == 1  # once per rule
    # The replica that revoked has rotated its keys itself: its own rule calls nothing.
    mine = rule("all", "", clock(), rule_id="mine")
    await storage.add_revocation(mine)
    here.add(mine)
    clock.advance(timedelta(milliseconds=500))
    await here.poll()
    assert len(reloads) == 1


async def test_the_periodic_full_reload_also_reloads_keys_for_a_new_revoke_all() -> None:
    clock, storage = FrozenClock(T0), MemoryStorage()
    reloads: list[datetime] = []

    async def reload_keys() -> None:
        reloads.append(clock())

    here = RevocationCache(
        storage, clock, resync=timedelta(milliseconds=500), on_revoke_all=reload_keys
    )
    await here.load()
    await storage.add_revocation(rule("all", "", clock()))
    clock.advance(timedelta(milliseconds=500))  # this poll is a full reload
    assert await here.poll() == 1
    assert reloads == [clock()]


async def test_a_replica_whose_clock_lags_is_covered_by_the_overlap() -> None:
    clock, storage = FrozenClock(T0), MemoryStorage()
    cache = RevocationCache(storage, clock, overlap=timedelta(seconds=30))
    await cache.load()
    clock.advance(timedelta(seconds=5))
    await cache.poll()
    # Written "10 s ago" by a replica whose clock runs behind.
    await storage.add_revocation(rule("user", "u1", clock() - timedelta(seconds=10)))
    clock.advance(timedelta(milliseconds=500))
    assert await cache.poll() == 1
    assert cache.is_revoked(facts(T0 - timedelta(seconds=6), user_id="u1"))


async def test_rules_are_dropped_after_their_expiry() -> None:
    clock, storage = FrozenClock(T0), MemoryStorage()
    cache = RevocationCache(storage, clock)
    await cache.load()
    cache.add(rule("token", "j1", clock()))
    assert len(cache) == 1
    clock.advance(timedelta(hours=1, seconds=1))
    await cache.poll()
    assert len(cache) == 0
    assert not cache.is_revoked(facts(T0, jti="j1"))


async def test_what_each_kind_refuses() -> None:
    clock = FrozenClock(T0)
    cache = RevocationCache(MemoryStorage(), clock)
    cache.add(rule("user", "u1", T0))
    cache.add(rule("client", "c1", T0))
    cache.add(rule("connector", "ldap", T0))
    before, after = T0 - timedelta(seconds=1), T0 + timedelta(seconds=1)
    assert cache.is_revoked(facts(before, user_id="u1"))
    assert not cache.is_revoked(facts(after, user_id="u1"))  # a later sign-in
    assert cache.is_revoked(facts(before, clients=("other", "c1")))  # aud names c1
    assert cache.is_revoked(facts(before, connector_id="ldap"))
    assert not cache.is_revoked(facts(before, user_id="u2", connector_id="local"))
    assert cache.is_revoked(TokenFacts(issued_at=None, user_id="u1"))  # no iat: refused
    cache.add(rule("all", "", T0))
    assert cache.is_revoked(facts(before))
    assert not cache.is_revoked(facts(after))
    cache.add(rule("bogus", "x", T0))  # an unknown kind from a newer version: ignored
    assert not cache.is_revoked(facts(after, user_id="x"))


def _session(**changes: object) -> Session:
    base = Session(
        id="s",
        user_id="u",
        connector_id="local",
        client_id="app",
        scopes=("openid", "offline_access"),
        claims=Claims(user_id="u", username="u"),
        created_at=T0,
        last_used=T0,
        expiry=T0 + timedelta(minutes=11),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_session_expiry_policy() -> None:
    hour = T0 + timedelta(hours=1)
    unlimited = RefreshPolicy()
    limited = RefreshPolicy(
        absolute_lifetime=timedelta(days=30), valid_if_not_used_for=timedelta(days=7)
    )
    # Without a refresh token: as long as the tokens minted.
    assert (
        session_expiry(_session(), now=T0, token_expiry=hour, refresh=False, policy=unlimited)
        == hour
    )
    # A refresh token without limits: until revoked.
    assert (
        session_expiry(_session(), now=T0, token_expiry=hour, refresh=True, policy=unlimited)
        is None
    )
    assert (
        session_expiry(
            _session(expiry=None), now=T0, token_expiry=hour, refresh=False, policy=unlimited
        )
        is None
    )
    # With limits: the earlier of the absolute and the idle end, moved on by each use.
    assert session_expiry(
        _session(), now=T0, token_expiry=hour, refresh=True, policy=limited
    ) == T0 + timedelta(days=7)
    late = T0 + timedelta(days=28)
    assert session_expiry(
        _session(), now=late, token_expiry=late + timedelta(hours=1), refresh=True, policy=limited
    ) == T0 + timedelta(days=30)
