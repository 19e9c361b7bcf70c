"""Secrets at rest: a client's secret hash round-trips and replaces a plain secret by
compare-and-swap, a shared server secret is re-encrypted in place, and replicas doing
either at once (every replica upgrades at start-up) agree on one result."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import anyio
import pytest

from conformance import samples
from conformance.base import Boom, Conformance, StorageFactory
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import Client, ServerSecret

HASHED = "hmac-sha256$" + "ab" * 32
ROUNDS = 10


def _boom(_: ServerSecret) -> ServerSecret:
    raise Boom("abort")


def _upgrade(seen: str, hashed: str) -> Callable[[Client], Client]:
    """The start-up upgrade's updater: hash only what is still the secret it read."""

    def updater(old: Client) -> Client:
        if old.secret_hash or old.secret != seen:
            return old
        return dataclasses.replace(old, secret="", secret_hash=hashed)

    return updater


def _reseal(seen: bytes, sealed: bytes) -> Callable[[ServerSecret], ServerSecret]:
    def updater(old: ServerSecret) -> ServerSecret:
        return dataclasses.replace(old, value=sealed) if old.value == seen else old

    return updater


class ClientSecretConformance(Conformance):
    async def test_a_client_keeps_a_secret_hash(self, storage: Storage) -> None:
        client = dataclasses.replace(samples.client(), secret="", secret_hash=HASHED)
        await storage.create_client(client)
        assert await storage.get_client("client-1") == client
        assert await storage.list_clients() == [client]
        assert client.has_secret

    async def test_a_plain_secret_is_swapped_for_its_hash(self, storage: Storage) -> None:
        await storage.create_client(samples.client())  # as stored before hashing
        upgraded = await storage.update_client("client-1", _upgrade("s3cret", HASHED))
        assert (upgraded.secret, upgraded.secret_hash) == ("", HASHED)
        assert await storage.get_client("client-1") == upgraded
        # Run again (another replica, a second start): nothing changes.
        again = await storage.update_client("client-1", _upgrade("s3cret", "other$x"))
        assert again == upgraded

    async def test_a_secret_is_re_encrypted_in_place(self, storage: Storage) -> None:
        made = ServerSecret("pepper", b"\x00plain" * 6, samples.NOW)
        await storage.create_secret(made)
        changed = await storage.update_secret("pepper", _reseal(made.value, b"sealed"))
        assert changed == dataclasses.replace(made, value=b"sealed")
        assert await storage.get_secret("pepper") == changed
        with pytest.raises(Boom):
            await storage.update_secret("pepper", _boom)
        assert await storage.get_secret("pepper") == changed
        with pytest.raises(NotFoundError):
            await storage.update_secret("missing", _reseal(b"", b""))
        # The updater cannot rename it.
        await storage.update_secret("pepper", lambda s: dataclasses.replace(s, name="other"))
        assert (await storage.get_secret("pepper")).value == b"sealed"
        with pytest.raises(NotFoundError):
            await storage.get_secret("other")


class SharedSecretConformance(Conformance):
    async def test_replicas_upgrading_at_once_agree(self, storage_factory: StorageFactory) -> None:
        first, second = await storage_factory(), await storage_factory()
        for race in range(ROUNDS):
            client_id = f"race-{race}"
            await first.create_client(dataclasses.replace(samples.client(client_id), secret="s"))
            secret = ServerSecret(client_id, b"plain", samples.NOW)
            await first.create_secret(secret)
            async with anyio.create_task_group() as tg:
                for storage, name in ((first, "a"), (second, "b")):
                    upgrade = _upgrade("s", f"hmac-sha256${name}")
                    tg.start_soon(storage.update_client, client_id, upgrade)
                    tg.start_soon(
                        storage.update_secret, client_id, _reseal(b"plain", name.encode())
                    )
            stored = await first.get_client(client_id)
            assert stored.secret == ""
            assert stored.secret_hash in ("hmac-sha256$a", "hmac-sha256$b")
            assert await second.get_client(client_id) == stored
            value = (await second.get_secret(client_id)).value
            assert value in (b"a", b"b")
            assert (await first.get_secret(client_id)).value == value
