"""KeyManager: first key, JWKS, signing, verification across rotations, shared storage."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import JWKRegistry, KeySet, RSAKey
from joserfc.util import urlsafe_b64encode

from passgate.clock import FrozenClock, system_clock
from passgate.keys import InvalidSignatureError, KeyManager
from passgate.keys.manager import MAX_TOKEN_LENGTH
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Keys

from .test_rotation import rfc7638_thumbprint

PERIOD = timedelta(hours=6)
LIFETIME = timedelta(hours=24)
REFRESH = timedelta(seconds=30)
MAX_AGE = timedelta(seconds=60)
# The default: a new key is published this long before it signs.
DELAY = 2 * REFRESH + MAX_AGE
# How long a retired key keeps verifying: the token lifetime plus one refresh interval
# (a replica with a stale cache may sign with the old key that much longer).
RETENTION = LIFETIME + REFRESH


class CountingStorage(MemoryStorage):
    """Counts key reads and writes; can be told to fail them."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.writes = 0
        self.failing = False

    async def get_keys(self) -> Keys:
        self.reads += 1
        if self.failing:
            raise ConnectionError("storage is down")
        return await super().get_keys()

    async def update_keys(self, updater: Callable[[Keys], Keys]) -> Keys:
        self.writes += 1
        if self.failing:
            raise ConnectionError("storage is down")
        return await super().update_keys(updater)


def manager(
    storage: MemoryStorage, clock: FrozenClock, algorithm: str = "RS256", **kwargs: timedelta
) -> KeyManager:
    return KeyManager(
        storage,
        clock,
        rotation_period=kwargs.get("rotation_period", PERIOD),
        id_token_lifetime=kwargs.get("id_token_lifetime", LIFETIME),
        algorithm=algorithm,
        refresh_interval=kwargs.get("refresh_interval", REFRESH),
        propagation_delay=kwargs.get("propagation_delay"),
    )


def header_of(token: str) -> dict[str, object]:
    return pyjwt.get_unverified_header(token)


async def eventually(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``condition`` (a background task's effect) until it holds, for 5 s at most."""
    async with asyncio.timeout(5):
        while not await condition():  # noqa: ASYNC110 - polling another task's side effect
            await asyncio.sleep(0.01)


@pytest.fixture
def clock() -> FrozenClock:
    # Real time, whole seconds: PyJWT checks exp against the real clock.
    return FrozenClock(system_clock().replace(microsecond=0))


@pytest.mark.anyio
async def test_first_start_creates_a_signing_key(clock: FrozenClock) -> None:
    storage = CountingStorage()
    keys = manager(storage, clock)
    await keys.start()
    stored = await storage.get_keys()
    assert stored.signing_key is not None
    assert stored.signing_key_pub is not None
    assert stored.signing_key_pub["kid"] == rfc7638_thumbprint(stored.signing_key_pub)
    assert stored.signing_key_pub["alg"] == "RS256"
    assert stored.next_rotation == clock() + PERIOD
    assert stored.verification_keys == ()
    assert keys.algorithm == "RS256"
    # A second replica (or a restart) reuses it.
    again = manager(storage, clock)
    await again.start()
    assert await storage.get_keys() == stored
    assert await again.jwks() == await keys.jwks()


@pytest.mark.anyio
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_jwks_is_a_valid_public_key_set(clock: FrozenClock, algorithm: str) -> None:
    keys = manager(MemoryStorage(), clock, algorithm)
    await keys.start()
    jwks = await keys.jwks()
    json.dumps(jwks)  # serialisable as-is
    assert len(jwks["keys"]) == 1
    (jwk,) = jwks["keys"]
    assert jwk["use"] == "sig"
    assert jwk["alg"] == algorithm
    assert jwk["kid"] == rfc7638_thumbprint(jwk)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    # joserfc and, independently, PyJWT accept it and find public keys in it.
    imported = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    assert [key.kid for key in imported] == [jwk["kid"]]
    assert not imported.keys[0].is_private
    pyjwks = pyjwt.PyJWKSet.from_dict(jwks)
    token = await keys.sign({"sub": "someone"})
    verified = pyjwt.decode(
        token, pyjwks[str(jwk["kid"])].key, algorithms=[algorithm], options={"verify_aud": False}
    )
    assert verified == {"sub": "someone"}


@pytest.mark.anyio
async def test_sign_writes_alg_and_kid_and_verify_returns_the_claims(clock: FrozenClock) -> None:
    keys = manager(MemoryStorage(), clock)
    await keys.start()
    claims = {"iss": "https://sso.example.com", "n": 1, "unicode": "Zoë", "list": ["a"]}
    token = await keys.sign(claims)
    (kid,) = [jwk["kid"] for jwk in (await keys.jwks())["keys"]]
    assert header_of(token) == {"alg": "RS256", "kid": kid}
    assert await keys.verify(token) == claims


@pytest.mark.anyio
async def test_sign_writes_an_explicit_typ_when_asked(clock: FrozenClock) -> None:
    keys = manager(MemoryStorage(), clock)
    await keys.start()
    (kid,) = [jwk["kid"] for jwk in (await keys.jwks())["keys"]]
    token = await keys.sign({"sub": "x"}, typ="logout+jwt")
    assert header_of(token) == {"typ": "logout+jwt", "alg": "RS256", "kid": kid}
    assert await keys.verify(token) == {"sub": "x"}  # typ is an allowed header parameter


@pytest.mark.anyio
async def test_per_request_calls_do_not_touch_storage(clock: FrozenClock) -> None:
    storage = CountingStorage()
    keys = manager(storage, clock)
    await keys.start()
    reads, writes = storage.reads, storage.writes
    for _ in range(20):
        token = await keys.sign({"sub": "x"})
        await keys.verify(token)
        await keys.jwks()
    assert (storage.reads, storage.writes) == (reads, writes)


def kids(jwks: dict[str, list[dict[str, object]]]) -> list[object]:
    return [jwk["kid"] for jwk in jwks["keys"]]


@pytest.mark.anyio
async def test_a_new_key_is_published_before_it_signs(clock: FrozenClock) -> None:
    storage = CountingStorage()
    period = 3 * LIFETIME  # no second rotation while we watch the retired key expire
    keys = manager(storage, clock, rotation_period=period)
    await keys.start()
    old_token = await keys.sign({"sub": "before"})
    old_kid = header_of(old_token)["kid"]

    clock.advance(period - DELAY)
    assert await keys.refresh()  # publishes the next key
    stored = await storage.get_keys()
    assert stored.next_key is not None
    new_kid = stored.next_key.public_jwk["kid"]
    assert stored.next_key.signs_at == clock() + DELAY
    assert kids(await keys.jwks()) == [old_kid, new_kid]
    assert header_of(await keys.sign({}))["kid"] == old_kid

    # Its time comes on our clock: it signs at once, without waiting for a write.
    clock.advance(DELAY - timedelta(seconds=1))
    assert header_of(await keys.sign({}))["kid"] == old_kid
    clock.advance(timedelta(seconds=1))
    storage.failing = True
    new_token = await keys.sign({"sub": "after"})
    assert header_of(new_token)["kid"] == new_kid
    storage.failing = False

    assert await keys.refresh()  # storage records the promotion
    promoted_at = clock()
    stored = await storage.get_keys()
    assert stored.signing_key_pub is not None
    assert stored.signing_key_pub["kid"] == new_kid
    assert [(v.public_jwk["kid"], v.expiry) for v in stored.verification_keys] == [
        (old_kid, promoted_at + RETENTION)
    ]
    assert kids(await keys.jwks()) == [new_kid, old_kid]
    assert await keys.verify(old_token) == {"sub": "before"}

    clock.advance(RETENTION - timedelta(seconds=1))
    assert await keys.verify(old_token) == {"sub": "before"}
    clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidSignatureError):
        await keys.verify(old_token)
    assert kids(await keys.jwks()) == [new_kid]
    assert await keys.verify(new_token) == {"sub": "after"}


@pytest.mark.anyio
async def test_signing_when_publication_is_due_publishes_first(clock: FrozenClock) -> None:
    storage = CountingStorage()
    keys = manager(storage, clock)
    await keys.start()
    before = header_of(await keys.sign({}))["kid"]
    clock.advance(PERIOD)  # overdue: nobody published the next key in time
    assert header_of(await keys.sign({}))["kid"] == before
    pending = (await storage.get_keys()).next_key
    assert pending is not None
    assert pending.signs_at == clock() + DELAY
    writes = storage.writes
    clock.advance(DELAY)
    assert header_of(await keys.sign({}))["kid"] == pending.public_jwk["kid"]
    # The promotion is written once, then nothing until the next publication.
    for _ in range(3):
        await keys.sign({})
    assert storage.writes == writes + 1


@pytest.mark.anyio
async def test_publish_next_reports_when_the_key_signs(clock: FrozenClock) -> None:
    storage = MemoryStorage()
    keys = manager(storage, clock)
    await keys.start()
    signing = kids(await keys.jwks())
    first = await keys.publish_next()
    assert first.created
    assert first.signs_at == clock() + DELAY
    assert kids(await keys.jwks()) == [*signing, first.kid]
    clock.advance(timedelta(seconds=10))
    # Asked again: the key already published is kept, and so is its time.
    assert await keys.publish_next() == dataclasses.replace(first, created=False)
    clock.advance(DELAY)
    assert header_of(await keys.sign({}))["kid"] == first.kid


@pytest.mark.anyio
async def test_replace_now_signs_at_once_and_drops_the_compromised_key(
    clock: FrozenClock,
) -> None:
    storage = MemoryStorage()
    keys = manager(storage, clock)
    await keys.start()
    compromised = header_of(await keys.sign({}))["kid"]
    pending = await keys.publish_next()
    new_kid = await keys.replace_now(keep_retired=True)
    assert header_of(await keys.sign({}))["kid"] == new_kid
    assert kids(await keys.jwks()) == [new_kid]
    assert compromised != new_kid != pending.kid


@pytest.mark.anyio
async def test_two_managers_on_one_storage_rotate_once(clock: FrozenClock) -> None:
    storage = CountingStorage()
    first, second = manager(storage, clock), manager(storage, clock)
    await first.start()
    await second.start()
    clock.advance(PERIOD - DELAY)
    # Both read "due" and generate a key before either writes: a real race.
    results = await asyncio.gather(first.refresh(), second.refresh())
    assert sorted(results) == [False, True]
    stored = await storage.get_keys()
    assert stored.next_key is not None
    assert await first.jwks() == await second.jwks()
    assert len((await first.jwks())["keys"]) == 2
    clock.advance(DELAY)
    results = await asyncio.gather(first.refresh(), second.refresh())
    assert sorted(results) == [False, True]
    stored = await storage.get_keys()
    assert len(stored.verification_keys) == 1
    assert stored.next_rotation == clock() + PERIOD
    token = await first.sign({"sub": "x"})
    assert header_of(token)["kid"] == header_of(await second.sign({}))["kid"]
    assert await second.verify(token) == {"sub": "x"}


@pytest.mark.anyio
async def test_two_managers_on_one_sqlite_file_rotate_once(
    clock: FrozenClock, tmp_path: Path
) -> None:
    from passgate.storage.sql.sqlite import SQLiteStorage

    path = str(tmp_path / "passgate.sqlite3")
    storages = [SQLiteStorage(path), SQLiteStorage(path)]
    for storage in storages:
        await storage.open()
    try:
        first, second = (manager(storage, clock) for storage in storages)
        await first.start()
        await second.start()
        assert await first.jwks() == await second.jwks()
        clock.advance(PERIOD - DELAY)
        results = await asyncio.gather(first.refresh(), second.refresh())
        assert sorted(results) == [False, True]
        assert await first.jwks() == await second.jwks()
        clock.advance(DELAY)
        results = await asyncio.gather(first.refresh(), second.refresh())
        assert sorted(results) == [False, True]
        stored = await storages[0].get_keys()
        assert len(stored.verification_keys) == 1
        assert stored.next_key is None
        assert stored.next_rotation == clock() + PERIOD
        assert await first.jwks() == await second.jwks()
        assert await second.verify(await first.sign({"sub": "x"})) == {"sub": "x"}
    finally:
        for storage in storages:
            await storage.close()


@pytest.mark.anyio
async def test_a_key_another_replica_just_put_in_verifies(clock: FrozenClock) -> None:
    storage = MemoryStorage()
    ours, theirs = manager(storage, clock), manager(storage, clock)
    await ours.start()
    await theirs.start()
    clock.advance(timedelta(seconds=5))  # past the unknown-kid reload throttle
    await theirs.replace_now(keep_retired=True)  # the emergency path: no publication
    token = await theirs.sign({"sub": "x"})
    assert await ours.verify(token) == {"sub": "x"}


@pytest.mark.anyio
async def test_run_forever_refreshes_and_survives_errors(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    storage = CountingStorage()
    fast = timedelta(milliseconds=10)
    ours = manager(storage, clock, refresh_interval=fast)
    theirs = manager(storage, clock)
    await ours.start()
    storage.failing = True
    task = asyncio.create_task(ours.run_forever())
    try:

        async def logged() -> bool:
            return "signing key refresh failed" in caplog.text

        await eventually(logged)
        storage.failing = False
        new_kid = (await theirs.publish_next()).kid

        # jwks() reads only the cache: only the background refresh can show us the key.
        async def refreshed() -> bool:
            return new_kid in kids(await ours.jwks())

        await eventually(refreshed)
        clock.advance(DELAY)
        assert header_of(await ours.sign({}))["kid"] == new_kid
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.anyio
async def test_storage_failure_at_rotation_time_keeps_signing(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    storage = CountingStorage()
    keys = manager(storage, clock)
    await keys.start()
    old_kid = header_of(await keys.sign({}))["kid"]
    clock.advance(PERIOD)
    storage.failing = True
    with caplog.at_level(logging.ERROR):
        assert header_of(await keys.sign({}))["kid"] == old_kid
    assert "rotation failed" in caplog.text
    # No retry on every request while storage is down: once per refresh interval.
    reads = storage.reads
    await keys.sign({})
    assert storage.reads == reads
    storage.failing = False
    clock.advance(REFRESH)
    assert header_of(await keys.sign({}))["kid"] == old_kid  # published now, signs later
    clock.advance(DELAY)
    assert header_of(await keys.sign({}))["kid"] != old_kid


@pytest.mark.anyio
async def test_the_jwks_document_is_built_once_per_key_set(clock: FrozenClock) -> None:
    keys = manager(MemoryStorage(), clock, rotation_period=2 * DELAY)
    await keys.start()
    document = await keys.jwks_document()
    assert json.loads(document.body) == await keys.jwks()
    assert document.max_age == 60
    assert await keys.jwks_document() is document
    clock.advance(DELAY)
    await keys.refresh()  # the next key is published: a new document, a new ETag
    published = await keys.jwks_document()
    assert published.etag != document.etag
    assert json.loads(published.body) == await keys.jwks()
    clock.advance(DELAY)
    await keys.refresh()  # promoted: the old key verifies until its expiry
    promoted = await keys.jwks_document()
    assert promoted.valid_until == clock() + RETENTION
    assert len(json.loads(promoted.body)["keys"]) == 2
    clock.advance(RETENTION)
    assert len(json.loads((await keys.jwks_document()).body)["keys"]) < 3


@pytest.mark.anyio
async def test_start_fails_loudly_without_storage(clock: FrozenClock) -> None:
    storage = CountingStorage()
    storage.failing = True
    with pytest.raises(ConnectionError):
        await manager(storage, clock).start()


def test_settings_are_validated() -> None:
    storage, clock = MemoryStorage(), FrozenClock()
    for algorithm in ("HS256", "none", "RS512"):
        with pytest.raises(ValueError, match="unsupported signing algorithm"):
            manager(storage, clock, algorithm)
    for name in ("rotation_period", "id_token_lifetime", "refresh_interval"):
        with pytest.raises(ValueError, match=name):
            manager(storage, clock, "RS256", **{name: timedelta(0)})
    with pytest.raises(ValueError, match="propagation_delay must be at least"):
        manager(storage, clock, propagation_delay=DELAY - timedelta(seconds=1))
    assert manager(storage, clock, propagation_delay=DELAY).propagation_delay == DELAY


# -- what verify refuses ------------------------------------------------------------------


@pytest.fixture
async def started(clock: FrozenClock) -> tuple[KeyManager, MemoryStorage]:
    storage = MemoryStorage()
    keys = manager(storage, clock)
    await keys.start()
    return keys, storage


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64json(value: object) -> str:
    return urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.anyio
async def test_verify_refuses_forgeries(started: tuple[KeyManager, MemoryStorage]) -> None:
    keys, storage = started
    token = await keys.sign({"sub": "alice"})
    header, payload, signature = _segments(token)
    kid = header_of(token)["kid"]
    stored = await storage.get_keys()
    assert stored.signing_key_pub is not None
    public_pem = RSAKey.import_key(stored.signing_key_pub).as_pem()  # type: ignore[arg-type]
    forged_payload = _b64json({"sub": "mallory"})
    # RFC 8725 §2.1: the RSA public key used as an HMAC secret (joserfc itself refuses to
    # build such a key, so the MAC is computed by hand).
    confused_input = f"{_b64json({'alg': 'HS256', 'kid': kid})}.{payload}"
    confused_mac = hmac.new(public_pem, confused_input.encode(), hashlib.sha256).digest()
    attempts = [
        f"{header}.{forged_payload}.{signature}",  # payload swapped
        f"{header}.{payload}.{signature[:-4]}AAAA",  # signature altered
        f"{header}.{payload}.",  # signature removed
        f"{_b64json({'alg': 'none', 'kid': kid})}.{payload}.",  # alg none
        f"{confused_input}.{urlsafe_b64encode(confused_mac).decode()}",
        # A different, unknown key.
        await manager(MemoryStorage(), FrozenClock()).sign({"sub": "alice"}),
    ]
    for forged in attempts:
        with pytest.raises(InvalidSignatureError):
            await keys.verify(forged)


@pytest.mark.anyio
async def test_verify_refuses_unexpected_headers_and_payloads(
    started: tuple[KeyManager, MemoryStorage],
) -> None:
    keys, storage = started
    stored = await storage.get_keys()
    assert stored.signing_key is not None
    private = JWKRegistry.import_key(stored.signing_key)  # type: ignore[arg-type]
    kid = private.kid

    def signed(header: dict[str, object], payload: bytes) -> str:
        return jws.serialize_compact(header, payload, private, ["RS256"])

    # Correctly signed by our key, but not tokens Passgate writes.
    for token in (
        signed({"alg": "RS256", "kid": kid}, b"[1, 2]"),
        signed({"alg": "RS256", "kid": kid}, b"not json"),
        signed({"alg": "RS256"}, b"{}"),  # no kid
        signed({"alg": "RS256", "kid": kid, "jku": "https://evil.example/keys"}, b"{}"),
    ):
        with pytest.raises(InvalidSignatureError):
            await keys.verify(token)
    assert await keys.verify(signed({"alg": "RS256", "kid": kid, "typ": "JWT"}, b"{}")) == {}


@pytest.mark.anyio
async def test_verify_refuses_oversized_and_garbage(
    started: tuple[KeyManager, MemoryStorage],
) -> None:
    keys, _ = started
    token = await keys.sign({"pad": "x" * 100})
    for garbage in (
        "",
        ".",
        "..",
        "a.b.c",
        "é.é.é",
        token + "." + token,
        "x" * (MAX_TOKEN_LENGTH + 1),
    ):
        with pytest.raises(InvalidSignatureError):
            await keys.verify(garbage)


@pytest.mark.anyio
# The started KeyManager is shared by the examples on purpose: verify() does not change it.
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300) | st.lists(st.text(max_size=80), max_size=4).map(".".join))
async def test_verify_only_ever_raises_invalid_signature(
    started: tuple[KeyManager, MemoryStorage], text: str
) -> None:
    keys, _ = started
    with pytest.raises(InvalidSignatureError):
        await keys.verify(text)


@pytest.mark.anyio
async def test_unknown_kids_reload_storage_at_most_once_a_second(clock: FrozenClock) -> None:
    storage = CountingStorage()
    keys = manager(storage, clock)
    await keys.start()
    stranger = await manager(MemoryStorage(), clock).sign({})
    clock.advance(timedelta(seconds=1))
    reads = storage.reads
    for _ in range(5):
        with pytest.raises(InvalidSignatureError):
            await keys.verify(stranger)
    assert storage.reads == reads + 1
    # A storage outage makes an unknown kid a refused token, not a server error.
    storage.failing = True
    clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidSignatureError):
        await keys.verify(stranger)
    assert storage.reads == reads + 2
