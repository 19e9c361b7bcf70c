"""Concurrent updates: racing compare-and-swap refreshes never both win, and concurrent
increments are never lost — within one storage object and across two of them sharing
one store (two server replicas)."""

from __future__ import annotations

import dataclasses

import anyio

from conformance import samples
from conformance.base import Conformance, StorageFactory
from passgate.storage.base import Storage
from passgate.storage.models import Keys, LoginAttempts, RefreshToken, VerificationKey

RACES = 20
INCREMENTS = 20


class Conflict(Exception):
    """The refresh token was rotated by someone else first."""

    def __init__(self, seen: str) -> None:
        super().__init__(seen)
        self.seen = seen


async def _race_once(first: Storage, second: Storage, token_id: str) -> None:
    """Two clients present the same refresh token at once: the updater rotates only if
    the hash is still the one they presented (Dex's refresh compare-and-swap)."""
    await first.create_refresh_token(samples.refresh_token(token_id, "h0"))
    wins: dict[str, RefreshToken] = {}
    conflicts: dict[str, str] = {}

    async def refresh(storage: Storage, name: str) -> None:
        def rotate(old: RefreshToken) -> RefreshToken:
            if old.token_hash != "h0":
                raise Conflict(old.token_hash)
            return dataclasses.replace(old, token_hash=f"h1-{name}", obsolete_token_hash="h0")

        try:
            wins[name] = await storage.update_refresh_token(token_id, rotate)
        except Conflict as exc:
            conflicts[name] = exc.seen

    async with anyio.create_task_group() as tg:
        tg.start_soon(refresh, first, "a")
        tg.start_soon(refresh, second, "b")

    assert len(wins) == 1, f"{token_id}: winners {sorted(wins)}"
    assert len(conflicts) == 1, f"{token_id}: conflicts {conflicts}"
    (winner,) = wins
    # The loser saw the winner's rotation, and the store holds exactly that.
    assert set(conflicts.values()) == {f"h1-{winner}"}
    for storage in (first, second):
        stored = await storage.get_refresh_token(token_id)
        assert stored.token_hash == f"h1-{winner}"
        assert stored.obsolete_token_hash == "h0"


async def _race_refresh(first: Storage, second: Storage, rounds: int = RACES) -> None:
    for race in range(rounds):
        await _race_once(first, second, f"rt-race-{race}")


async def _increment_keys(storages: list[Storage], n: int = INCREMENTS) -> None:
    def add(i: int) -> object:
        def updater(old: Keys) -> Keys:
            key = VerificationKey({"kid": f"k{i}"}, samples.NOW)
            return dataclasses.replace(old, verification_keys=(*old.verification_keys, key))

        return updater

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(storages[i % len(storages)].update_keys, add(i))

    for storage in storages:
        kids = [k.public_jwk["kid"] for k in (await storage.get_keys()).verification_keys]
        assert sorted(kids) == sorted(f"k{i}" for i in range(n))


async def _count_failures(storages: list[Storage], n: int = INCREMENTS) -> None:
    """Concurrent first failures for one key: the upsert must not lose any of them."""

    def bump(old: LoginAttempts | None) -> LoginAttempts:
        failures = 1 if old is None else old.failures + 1
        return LoginAttempts("local/jane", failures, samples.NOW)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(storages[i % len(storages)].update_login_attempts, "local/jane", bump)

    final = await storages[0].update_login_attempts("local/jane", lambda old: old)
    assert final is not None
    assert final.failures == n


async def _cancel_midway(storage: Storage, rounds: int = 30) -> None:
    """Callers cancelled at arbitrary points (a client hanging up) leave the storage
    consistent and usable: an update is applied whole or not at all."""
    started = returned = 0

    def append(old: Keys) -> Keys:
        key = VerificationKey({"kid": f"k{len(old.verification_keys)}"}, samples.NOW)
        return dataclasses.replace(old, verification_keys=(*old.verification_keys, key))

    async def update() -> None:
        nonlocal returned
        await storage.update_keys(append)
        returned += 1

    for delay in range(rounds):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                started += 1
                tg.start_soon(update)
            await anyio.sleep(delay / 1_000)
            tg.cancel_scope.cancel()

    # Still usable, and every applied update is whole (kids are 0..n-1 without gaps).
    await storage.update_keys(append)
    kids = [k.public_jwk["kid"] for k in (await storage.get_keys()).verification_keys]
    assert kids == [f"k{i}" for i in range(len(kids))]
    assert returned + 1 <= len(kids) <= started + 1


class ConcurrencyConformance(Conformance):
    async def test_cancelled_callers_leave_storage_usable(self, storage: Storage) -> None:
        await _cancel_midway(storage)

    async def test_racing_refreshes_have_one_winner(self, storage: Storage) -> None:
        await _race_refresh(storage, storage)

    async def test_concurrent_key_updates_are_not_lost(self, storage: Storage) -> None:
        await _increment_keys([storage])

    async def test_concurrent_login_failures_are_not_lost(self, storage: Storage) -> None:
        await _count_failures([storage])


class ReplicaConformance(Conformance):
    """For backends whose store outlives one storage object (a file, a server): two
    objects on one store behave like two replicas of the server."""

    async def test_replicas_see_each_others_writes(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        other = await storage_factory()
        await storage.create_client(samples.client())
        assert await other.get_client("client-1") == samples.client()
        await other.delete_client("client-1")
        assert await storage.list_clients() == []

    async def test_racing_refreshes_across_replicas(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        await _race_refresh(storage, await storage_factory())

    async def test_key_updates_across_replicas(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        await _increment_keys([storage, await storage_factory()])

    async def test_login_failures_across_replicas(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        await _count_failures([storage, await storage_factory()])

    async def test_replicas_opening_at_once_both_succeed(
        self, storage_factory: StorageFactory
    ) -> None:
        opened: list[Storage] = []

        async def open_one() -> None:
            opened.append(await storage_factory())

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(open_one)
        assert len(opened) == 3
        assert await opened[0].get_keys() == Keys()
        await opened[1].create_client(samples.client())
        assert await opened[2].get_client("client-1") == samples.client()

    async def test_reopening_keeps_data(self, storage_factory: StorageFactory) -> None:
        first = await storage_factory()
        await first.create_password(samples.password())
        await first.close()
        second = await storage_factory()
        assert await second.get_password("jane@example.com") == samples.password("jane@example.com")
