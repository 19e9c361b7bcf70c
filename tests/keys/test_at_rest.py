"""What storage keeps of the signing key and the server secrets with and without an
encryption key, and how start-up moves them between the forms (key set, rotated, removed),
against every backend's storage where replicas meet."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import anyio
import pytest

from passgate.clock import FrozenClock
from passgate.keys import InvalidSignatureError, KeyManager
from passgate.keys.at_rest import (
    load_server_secret,
    open_private_jwk,
    seal_private_jwk,
    signing_key_sealed_with,
)
from passgate.keys.encryption import EncryptionKeyError, KeyRing, sealed_with
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import ServerSecret

from .test_manager import LIFETIME, PERIOD

pytestmark = pytest.mark.anyio

OLD, NEW = "old-key-" + "o" * 32, "new-key-" + "n" * 32
CLOCK = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))


def manager(storage: MemoryStorage, ring: KeyRing, clock: FrozenClock = CLOCK) -> KeyManager:
    return KeyManager(storage, clock, rotation_period=PERIOD, id_token_lifetime=LIFETIME, ring=ring)


def private_numbers(jwk: dict[str, object]) -> list[str]:
    return [str(jwk[name]) for name in ("d", "p", "q", "dp", "dq", "qi") if name in jwk]


def test_a_private_jwk_is_sealed_for_its_own_kid() -> None:
    ring = KeyRing(NEW)
    jwk: dict[str, object] = {"kty": "RSA", "kid": "k1", "d": "secret-exponent"}
    stored = seal_private_jwk(ring, jwk, "k1")
    assert list(stored) == ["sealed"]
    assert "secret-exponent" not in json.dumps(stored)
    assert signing_key_sealed_with(stored) == ring.current_id
    assert open_private_jwk(ring, stored, "k1") == jwk
    with pytest.raises(EncryptionKeyError):
        open_private_jwk(ring, stored, "k2")  # another key's place
    assert seal_private_jwk(KeyRing(), jwk, "k1") == jwk
    assert signing_key_sealed_with(jwk) == ""
    assert signing_key_sealed_with(None) == ""
    with pytest.raises(EncryptionKeyError, match="not a readable encrypted value"):
        open_private_jwk(ring, {"sealed": 5}, "k1")


async def test_with_a_key_a_database_dump_holds_no_private_key() -> None:
    storage = MemoryStorage()
    keys = manager(storage, KeyRing(NEW))
    await keys.start()
    stored = await storage.get_keys()
    assert stored.signing_key is not None
    assert list(stored.signing_key) == ["sealed"]
    token = await keys.sign({"sub": "me"})
    # The private key exists only sealed: its numbers are nowhere in storage.
    private = open_private_jwk(KeyRing(NEW), stored.signing_key, str(header_kid(token)))
    assert private_numbers(private)
    dump = json.dumps(stored.signing_key) + json.dumps(stored.signing_key_pub)
    assert not any(number in dump for number in private_numbers(private))
    # Another replica with the key signs with it; its tokens verify here.
    other = manager(storage, KeyRing(NEW))
    await other.start()
    assert await keys.verify(await other.sign({"sub": "you"})) == {"sub": "you"}


def header_kid(token: str) -> object:
    import jwt

    return jwt.get_unverified_header(token)["kid"]


async def test_rotation_seals_new_keys_too() -> None:
    storage = MemoryStorage()
    keys = manager(storage, KeyRing(NEW))
    await keys.start()
    old_token = await keys.sign({"sub": "before"})
    await keys.publish_next()
    pending = (await storage.get_keys()).next_key
    assert pending is not None
    assert signing_key_sealed_with(pending.private_jwk) == KeyRing(NEW).current_id
    await keys.replace_now(keep_retired=True)
    stored = await storage.get_keys()
    assert signing_key_sealed_with(stored.signing_key) == KeyRing(NEW).current_id
    with pytest.raises(InvalidSignatureError):  # the compromised key is gone
        await keys.verify(old_token)


async def test_a_pending_key_is_resealed_with_the_signing_key() -> None:
    storage, clock = MemoryStorage(), FrozenClock(CLOCK())
    plain = manager(storage, KeyRing(), clock)
    await plain.start()
    published = await plain.publish_next()
    sealed = manager(storage, KeyRing(NEW), clock)
    await sealed.start()
    stored = await storage.get_keys()
    assert stored.next_key is not None
    assert signing_key_sealed_with(stored.signing_key) == KeyRing(NEW).current_id
    assert signing_key_sealed_with(stored.next_key.private_jwk) == KeyRing(NEW).current_id
    clock.advance(published.signs_at - clock())
    assert header_kid(await sealed.sign({})) == published.kid


async def test_a_key_in_the_clear_is_sealed_at_start_and_its_tokens_still_verify() -> None:
    storage = MemoryStorage()
    plain = manager(storage, KeyRing())
    await plain.start()
    token = await plain.sign({"sub": "me"})
    clear = await storage.get_keys()
    assert clear.signing_key is not None
    assert "d" in clear.signing_key

    sealed = manager(storage, KeyRing(NEW))
    await sealed.start()
    stored = await storage.get_keys()
    assert signing_key_sealed_with(stored.signing_key) == KeyRing(NEW).current_id
    assert stored.signing_key_pub == clear.signing_key_pub  # the same key, now sealed
    assert await sealed.verify(token) == {"sub": "me"}
    assert header_kid(await sealed.sign({})) == header_kid(token)


async def test_rotating_the_encryption_key_and_removing_it() -> None:
    storage = MemoryStorage()
    await manager(storage, KeyRing(OLD)).start()
    public = (await storage.get_keys()).signing_key_pub
    # Step 2 of the procedure: new key current, old one previous.
    await manager(storage, KeyRing(NEW, [OLD])).start()
    assert (
        signing_key_sealed_with((await storage.get_keys()).signing_key) == KeyRing(NEW).current_id
    )
    # Step 3: the old key is gone and nothing needs it.
    keys = manager(storage, KeyRing(NEW))
    await keys.start()
    # Back to the clear: the key only in previousEncryptionKeys.
    await manager(storage, KeyRing("", [NEW])).start()
    stored = await storage.get_keys()
    assert stored.signing_key is not None
    assert "d" in stored.signing_key
    assert stored.signing_key_pub == public


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        (KeyRing(OLD), "is encrypted with key"),
        (KeyRing(), "but signer.config.encryptionKey is not set"),
    ],
)
async def test_a_wrong_or_missing_key_fails_the_start(ring: KeyRing, message: str) -> None:
    storage = MemoryStorage()
    await manager(storage, KeyRing(NEW)).start()
    before = await storage.get_keys()
    with pytest.raises(EncryptionKeyError, match=message):
        await manager(storage, ring).start()
    assert await storage.get_keys() == before  # nothing rewritten


async def test_a_server_secret_is_made_sealed_and_read_back() -> None:
    storage = MemoryStorage()
    ring = KeyRing(NEW)
    raw = await load_server_secret(storage, "pepper", ring, CLOCK)
    assert len(raw) == 32
    stored = (await storage.get_secret("pepper")).value
    assert raw not in stored
    assert sealed_with(stored.decode()) == ring.current_id
    assert await load_server_secret(storage, "pepper", ring, CLOCK) == raw
    assert (await storage.get_secret("pepper")).value == stored  # not rewritten
    # Without the key it does not open; a second secret is its own.
    with pytest.raises(EncryptionKeyError, match="the server secret 'pepper'"):
        await load_server_secret(storage, "pepper", KeyRing(OLD), CLOCK)
    assert await load_server_secret(storage, "other", ring, CLOCK) != raw


async def test_a_server_secret_follows_the_key_through_its_life() -> None:
    storage = MemoryStorage()
    legacy = bytes(range(32))  # as versions before encryption made it
    await storage.create_secret(ServerSecret("forward-auth-cookie", legacy, CLOCK()))
    for ring, form in (
        (KeyRing(), ""),
        (KeyRing(OLD), KeyRing(OLD).current_id),
        (KeyRing(NEW, [OLD]), KeyRing(NEW).current_id),
        (KeyRing("", [NEW]), ""),
    ):
        assert await load_server_secret(storage, "forward-auth-cookie", ring, CLOCK) == legacy
        value = (await storage.get_secret("forward-auth-cookie")).value
        assert (value == legacy) if not form else sealed_with(value.decode()) == form


async def test_damaged_server_secrets_fail_clearly() -> None:
    storage = MemoryStorage()
    await storage.create_secret(ServerSecret("bad", b"\xff" * 40, CLOCK()))
    with pytest.raises(EncryptionKeyError, match="not a readable encrypted value"):
        await load_server_secret(storage, "bad", KeyRing(NEW), CLOCK)
    sixteen = KeyRing(NEW).seal(b"x" * 16, "server-secret:short").encode()
    await storage.create_secret(ServerSecret("short", sixteen, CLOCK()))
    with pytest.raises(EncryptionKeyError, match="decrypts to something else"):
        await load_server_secret(storage, "short", KeyRing(NEW), CLOCK)


async def test_replicas_starting_together_agree_on_one_secret() -> None:
    storage = MemoryStorage()
    found: list[bytes] = []

    async def load() -> None:
        found.append(await load_server_secret(storage, "pepper", KeyRing(NEW), CLOCK))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(load)
    assert len(set(found)) == 1
