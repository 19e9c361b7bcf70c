"""Client secrets at rest: the two hash schemes, long and odd secrets, the memory of a
verified secret (and what ends it), rows from before hashing, and the pepper."""

from __future__ import annotations

from datetime import timedelta

import anyio
import bcrypt
import pytest

from passgate.clock import FrozenClock
from passgate.keys.encryption import KeyRing, sealed_with
from passgate.oauth2.client_auth import BASIC, POST
from passgate.oauth2.errors import InvalidClientError
from passgate.provider import client_secrets
from passgate.provider.client_secrets import (
    GENERATED,
    HAND_SET,
    PEPPER_NAME,
    ClientSecrets,
    load_client_secrets,
)
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Client

pytestmark = pytest.mark.anyio

PEPPER = bytes(range(32))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hasher(clock: FrozenClock) -> ClientSecrets:
    return ClientSecrets(PEPPER, clock, bcrypt_cost=4)


async def accepts(hasher: ClientSecrets, client: Client, secret: str) -> bool:
    try:
        await hasher.check(client, secret, POST)
    except InvalidClientError:
        return False
    return True


class CountingBcrypt:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = bcrypt.checkpw

        def checkpw(password: bytes, hashed: bytes) -> bool:
            self.calls += 1
            return real(password, hashed)

        monkeypatch.setattr(client_secrets.bcrypt, "checkpw", checkpw)


async def test_a_generated_secret_is_a_peppered_hmac(hasher: ClientSecrets) -> None:
    stored = hasher.hash_generated("generated-secret")
    scheme, _, digest = stored.partition("$")
    assert (scheme, len(digest)) == (GENERATED, 64)
    assert hasher.hash_generated("generated-secret") == stored  # no salt: the pepper
    assert ClientSecrets(b"\x01" * 32, FrozenClock()).hash_generated("generated-secret") != stored
    client = Client(id="app", secret_hash=stored)
    assert await accepts(hasher, client, "generated-secret")
    assert not await accepts(hasher, client, "generated-secreT")
    assert not await accepts(hasher, client, "")
    # Another deployment's pepper does not verify it.
    assert not await accepts(ClientSecrets(b"\x01" * 32, FrozenClock()), client, "generated-secret")


async def test_a_secret_set_by_hand_is_bcrypt_over_the_hmac(hasher: ClientSecrets) -> None:
    stored = await hasher.hash_set("hunter2")
    scheme, _, mcf = stored.partition("$")
    assert scheme == HAND_SET
    assert mcf.startswith("$2b$04$")
    assert stored != await hasher.hash_set("hunter2")  # salted
    client = Client(id="app", secret_hash=stored)
    assert await accepts(hasher, client, "hunter2")
    assert not await accepts(hasher, client, "hunter3")


@pytest.mark.parametrize(
    "secret",
    ["x" * 72 + "tail", "é" * 40 + "-end", "a\x00b", "x" * 512],
)
async def test_long_and_odd_secrets_count_in_full(hasher: ClientSecrets, secret: str) -> None:
    """bcrypt reads 72 bytes and stops at NUL: the HMAC before it sees every byte."""
    client = Client(id="app", secret_hash=await hasher.hash_set(secret))
    assert await accepts(hasher, client, secret)
    assert not await accepts(hasher, client, secret[:-1] + "!")
    first_72_bytes = secret.encode()[:72].decode(errors="ignore")
    if first_72_bytes != secret:
        assert not await accepts(hasher, client, first_72_bytes)
    if "\x00" in secret:
        assert not await accepts(hasher, client, secret.split("\x00")[0])


async def test_a_verified_secret_is_remembered_until_it_changes_or_ages(
    hasher: ClientSecrets, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingBcrypt(monkeypatch)
    client = Client(id="app", secret_hash=await hasher.hash_set("hand-set"))
    for _ in range(5):
        assert await accepts(hasher, client, "hand-set")
    assert counting.calls == 1
    # Wrong secrets are never remembered: each costs a bcrypt check and fails.
    for _ in range(3):
        assert not await accepts(hasher, client, "guess")
    assert counting.calls == 4
    assert await accepts(hasher, client, "hand-set")
    assert counting.calls == 4
    # A new secret (rotation on any replica) is checked afresh: the old one fails.
    rotated = Client(id="app", secret_hash=await hasher.hash_set("new-secret"))
    assert not await accepts(hasher, rotated, "hand-set")
    assert await accepts(hasher, rotated, "new-secret")
    assert counting.calls == 6
    # After ``remember`` it is checked again.
    clock.advance(timedelta(minutes=10))
    assert await accepts(hasher, rotated, "new-secret")
    assert counting.calls == 7
    # Another client with the same hash text is its own entry.
    twin = Client(id="twin", secret_hash=rotated.secret_hash)
    assert await accepts(hasher, twin, "new-secret")
    assert counting.calls == 8


async def test_static_and_unhashed_clients_compare_in_the_clear(hasher: ClientSecrets) -> None:
    static = Client(id="static", secret="from-config")
    assert await accepts(hasher, static, "from-config")
    with pytest.raises(InvalidClientError) as caught:
        await hasher.check(static, "wrong", BASIC)
    assert caught.value.status_code == 401  # the Basic challenge (RFC 6749 §5.2)
    assert not await accepts(hasher, Client(id="none"), "")


async def test_unknown_schemes_and_damaged_hashes_fail_closed(hasher: ClientSecrets) -> None:
    for stored in ("md5$abc", "plain", f"{HAND_SET}$not-bcrypt", f"{GENERATED}$zz"):
        assert not await accepts(hasher, Client(id="app", secret_hash=stored), "plain")


async def test_rows_from_before_hashing_are_hashed_once(hasher: ClientSecrets) -> None:
    storage = MemoryStorage()
    await storage.create_client(Client(id="old", secret="kept-as-given"))
    await storage.create_client(Client(id="public", public=True))
    done = Client(id="done", secret_hash=hasher.hash_generated("x"))
    await storage.create_client(done)
    assert await hasher.upgrade_stored(storage) == 1
    old = await storage.get_client("old")
    assert old.secret == ""
    assert old.secret_hash.startswith(HAND_SET + "$")
    assert await accepts(hasher, old, "kept-as-given")
    assert await storage.get_client("done") == done
    assert await storage.get_client("public") == Client(id="public", public=True)
    assert await hasher.upgrade_stored(storage) == 0  # idempotent


async def test_replicas_upgrading_at_once_leave_one_hash(clock: FrozenClock) -> None:
    storage = MemoryStorage()
    for index in range(5):
        await storage.create_client(Client(id=f"c{index}", secret=f"secret-{index}"))
    counts: list[int] = []

    async def replica() -> None:
        counts.append(await ClientSecrets(PEPPER, clock, bcrypt_cost=4).upgrade_stored(storage))

    async with anyio.create_task_group() as tg:
        tg.start_soon(replica)
        tg.start_soon(replica)
    assert sum(counts) == 5
    hasher = ClientSecrets(PEPPER, clock, bcrypt_cost=4)
    for index in range(5):
        client = await storage.get_client(f"c{index}")
        assert client.secret == ""
        assert await accepts(hasher, client, f"secret-{index}")


async def test_the_pepper_is_shared_and_sealed_with_the_encryption_key(
    clock: FrozenClock,
) -> None:
    storage = MemoryStorage()
    ring = KeyRing("e" * 40)
    first = await load_client_secrets(storage, ring, clock)
    second = await load_client_secrets(storage, ring, clock)
    assert first.hash_generated("s") == second.hash_generated("s")
    stored = (await storage.get_secret(PEPPER_NAME)).value
    assert sealed_with(stored.decode()) == ring.current_id
    # Rotating the encryption key re-seals the pepper: hashes stay valid.
    rotated = await load_client_secrets(storage, KeyRing("f" * 40, ["e" * 40]), clock)
    assert rotated.hash_generated("s") == first.hash_generated("s")


def test_a_short_pepper_is_refused(clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ClientSecrets(b"short", clock)
