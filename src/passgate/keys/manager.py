"""The signing keys every replica shares, cached in memory so signing never waits on storage.

Storage holds the key set (see :mod:`passgate.keys.rotation`); each process keeps a parsed
copy (:mod:`passgate.keys.key_set`) and re-reads it every ``refresh_interval`` (another
replica may have rotated), when the set is due a change, and when a token names a key it
does not know yet. A new key is published ``propagation_delay`` before anyone signs with
it, so that every replica's JWKS has it first. With an encryption key configured the
private keys are stored sealed (:mod:`passgate.keys.at_rest`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from joserfc import jws, jwt
from joserfc.errors import JoseError

from passgate.clock import Clock
from passgate.keys import rotation
from passgate.keys.at_rest import reseal_signing_key, seal_private_jwk
from passgate.keys.encryption import KeyRing
from passgate.keys.key_set import JwksDocument, LoadedKeys, Verifier, load
from passgate.keys.rotation import SUPPORTED_ALGORITHMS, NewKey, Schedule, check_algorithm
from passgate.storage.base import Storage
from passgate.storage.models import Keys

log = logging.getLogger(__name__)

# Our tokens are a few kilobytes at most; refuse anything far larger before parsing it.
MAX_TOKEN_LENGTH = 16 * 1024
# Only the header parameters Passgate writes; ``crit``/``b64``/``jku``/``x5u`` and the
# like have no business in a token we issued (RFC 7515 §4.1).
_ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
# A token naming an unknown ``kid`` re-reads storage at most this often.
_UNKNOWN_KID_RELOAD = timedelta(seconds=1)

DEFAULT_REFRESH_INTERVAL = timedelta(seconds=30)
DEFAULT_JWKS_MAX_AGE = timedelta(seconds=60)

# Stands in for a key not generated because the step seemed not to need one; a step that
# would store it is skipped (and tried again at the next refresh).
_NO_KEY = NewKey(kid="", private_jwk={}, public_jwk={})


def minimum_propagation_delay(refresh_interval: timedelta, jwks_max_age: timedelta) -> timedelta:
    """How long a new key must be published before it signs: every replica re-reads the
    keys within one refresh interval (two, to allow for one failed read), and a verifier
    that honours ``Cache-Control`` has fetched the JWKS again within ``max-age``."""
    return 2 * refresh_interval + jwks_max_age


class InvalidSignatureError(ValueError):
    """The token is malformed, names an unknown or retired key or a disallowed algorithm,
    or its signature does not verify."""


@dataclasses.dataclass(frozen=True, slots=True)
class PendingRotation:
    """What a rotation asked for did: ``kid`` signs from ``signs_at``."""

    kid: str
    signs_at: datetime
    #: False when a key was already pending and that one was kept.
    created: bool


class KeyManager:
    """Signs with the current key, publishes and verifies with every still-valid one, and
    rotates through ``storage.update_keys`` so that replicas sharing storage rotate once."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        rotation_period: timedelta,
        id_token_lifetime: timedelta,
        algorithm: str = "RS256",
        refresh_interval: timedelta = DEFAULT_REFRESH_INTERVAL,
        jwks_max_age: timedelta = DEFAULT_JWKS_MAX_AGE,
        propagation_delay: timedelta | None = None,
        ring: KeyRing | None = None,
    ) -> None:
        self._algorithm = check_algorithm(algorithm)
        for name, value in (
            ("rotation_period", rotation_period),
            ("id_token_lifetime", id_token_lifetime),
            ("refresh_interval", refresh_interval),
        ):
            if value <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if jwks_max_age < timedelta(0):
            raise ValueError("jwks_max_age must not be negative")
        minimum = minimum_propagation_delay(refresh_interval, jwks_max_age)
        delay = minimum if propagation_delay is None else propagation_delay
        if delay < minimum:
            raise ValueError(
                "propagation_delay must be at least twice the refresh interval plus the "
                f"JWKS max-age ({minimum.total_seconds():g}s)"
            )
        self._storage = storage
        self._clock = clock
        self._ring = ring if ring is not None else KeyRing()
        self._refresh_interval = refresh_interval
        self._jwks_max_age = jwks_max_age
        # Tokens (ID and access, which share the ID token lifetime here) signed with a
        # retired key stay valid for id_token_lifetime after it retires; a replica whose
        # cache is stale or whose clock is behind may sign with it up to one refresh
        # interval longer.
        self._schedule = Schedule(
            rotation_period=rotation_period,
            propagation_delay=delay,
            retention=id_token_lifetime + refresh_interval,
        )
        self._cache: LoadedKeys | None = None
        # When this replica first loaded the pending key: it signs with it only once it
        # has published it itself for the whole delay (rotation.signs_from).
        self._seen: dict[str, datetime] = {}
        self._document: tuple[LoadedKeys, JwksDocument] | None = None
        self._loaded_at: datetime | None = None
        self._retry_after: datetime | None = None
        self._lock = asyncio.Lock()

    @property
    def algorithm(self) -> str:
        """The ``alg`` tokens are signed with now: the signing key's, once loaded.

        A changed configuration takes effect at the next scheduled rotation, so that
        replicas deployed with different settings do not take turns rotating."""
        if self._cache is None:
            return self._algorithm
        return self._cache.signer(self._clock()).algorithm

    @property
    def propagation_delay(self) -> timedelta:
        return self._schedule.propagation_delay

    @property
    def refresh_interval(self) -> timedelta:
        return self._refresh_interval

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Create the first signing key if storage has none, store keys in the form the
        encryption settings ask for, and load the cache. Raises
        :class:`~passgate.keys.encryption.EncryptionKeyError` when a stored key cannot
        be opened with the configured encryption keys."""
        async with self._lock:
            await self._advance_locked()
            resealed = await reseal_signing_key(self._storage, self._ring)
            if resealed is not None:
                self._install(resealed, self._clock())

    async def refresh(self) -> bool:
        """Re-read the stored keys and make the change they are due, if any (first key,
        the pending key's promotion, publishing the next). True if this call changed
        storage (False when nothing was due or another replica got there first)."""
        async with self._lock:
            return await self._advance_locked()

    async def run_forever(self) -> None:
        """Background task: :meth:`refresh` every refresh interval. Errors are logged and
        retried at the next tick; cancel the task to stop it."""
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("signing key refresh failed; retrying in %s", self._refresh_interval)
            await asyncio.sleep(self._refresh_interval.total_seconds())

    async def _advance_locked(self) -> bool:
        now = self._clock()
        stored = await self._storage.get_keys()
        if stored.signing_key is not None:
            self._install(stored, now)  # first, so that a new pending key counts as seen
        delay, schedule, seen = self._schedule.propagation_delay, self._schedule, self._seen
        if not rotation.change_due(stored, now, delay, seen):
            return False
        new = _NO_KEY
        if _uses_new_key(rotation.advance(stored, _NO_KEY, now=now, schedule=schedule, seen=seen)):
            new = await self._generate()

        def step(old: Keys) -> Keys:
            result = rotation.advance(old, new, now=now, schedule=schedule, seen=seen)
            return old if _uses_new_key(result) else result

        _, changed = await self._update(step, now)
        return changed

    async def _update(self, step: Callable[[Keys], Keys], now: datetime) -> tuple[Keys, bool]:
        """Run ``step`` inside ``update_keys``, install and log the result: the stored
        set and whether this call changed it (not another replica before it)."""
        read: list[Keys] = []  # what the updater's last run read: its result is ours if new

        def updater(old: Keys) -> Keys:
            read[:] = [old]
            return step(old)

        result = await self._storage.update_keys(updater)
        self._install(result, now)
        changed = bool(read) and result != read[0]
        if changed:
            _log_change(read[0], result)
        return result, changed

    async def publish_next(self) -> PendingRotation:
        """A rotation asked for now (``POST /admin/v1/keys/rotate``): a new key published
        at once that signs after the propagation delay; a key already pending is kept."""
        new = await self._generate()
        now = self._clock()
        schedule = self._schedule
        seen = self._seen
        async with self._lock:
            result, _ = await self._update(
                lambda old: rotation.publish(old, new, now=now, schedule=schedule, seen=seen), now
            )
        pending = result.next_key
        if pending is None:  # storage had no key at all: the new one signs already
            return PendingRotation(new.kid, now, created=True)
        kid = rotation.kid_of(pending.public_jwk)
        return PendingRotation(kid, pending.signs_at, created=kid == new.kid)

    async def replace_now(self, *, keep_retired: bool) -> str:
        """Sign with a new key from now on, and drop the current and pending keys from
        JWKS at once (a compromised key); the new ``kid``. Verifiers fail on this
        replica's new tokens until they fetch the JWKS again, and other replicas sign
        with the dropped key until they re-read the keys (one refresh interval).

        Without ``keep_retired`` every earlier key stops verifying too (revoking
        everything). Other replicas re-read the keys when their revocation cache sees the
        revoke-all rule (``RevocationCache``), otherwise at their next refresh."""
        new = await self._generate()
        now = self._clock()
        schedule = self._schedule
        async with self._lock:
            result = await self._storage.update_keys(
                lambda old: rotation.replace(
                    old, new, now=now, schedule=schedule, keep_retired=keep_retired
                )
            )
            self._install(result, now)
        log.warning("replaced the signing key at once; new kid %s", new.kid)
        return new.kid

    async def _generate(self) -> NewKey:
        """A new key, sealed as storage keeps it. Outside ``update_keys``: the updater
        must be pure and may run twice. CPU-bound, so in a worker thread."""
        new = await asyncio.to_thread(rotation.generate_key, self._algorithm)
        return dataclasses.replace(
            new, private_jwk=seal_private_jwk(self._ring, new.private_jwk, new.kid)
        )

    def _install(self, keys: Keys, now: datetime) -> None:
        pending = keys.next_key
        if pending is not None:
            kid = rotation.kid_of(pending.public_jwk)
            self._seen = {kid: self._seen.get(kid, now)}
        if self._cache is None or self._cache.source != keys:
            self._cache = load(keys, self._ring, self._schedule.propagation_delay, self._seen)
        self._loaded_at = now
        self._retry_after = None

    async def _current(self) -> LoadedKeys:
        """The cache, after the change the stored set is due (if any) has been made."""
        cache = self._cache
        now = self._clock()
        if cache is not None and now < cache.change_at:
            return cache
        if cache is not None and self._retry_after is not None and now < self._retry_after:
            return cache  # storage failed a moment ago; run_forever keeps trying
        async with self._lock:
            cache = self._cache
            if cache is not None and self._clock() < cache.change_at:
                return cache  # someone else reloaded while we waited
            try:
                await self._advance_locked()
            except Exception:
                if self._cache is None:
                    raise
                log.exception("signing key rotation failed; signing with the keys loaded")
                self._retry_after = now + self._refresh_interval
            assert self._cache is not None
            return self._cache

    async def _verifier(self, kid: str) -> Verifier | None:
        cache = await self._current()
        now = self._clock()
        if kid not in cache.verifiers and (
            self._loaded_at is None or now - self._loaded_at >= _UNKNOWN_KID_RELOAD
        ):
            # Another replica may have rotated since our last refresh.
            self._loaded_at = now  # throttles reloads even when they fail
            async with self._lock:
                try:
                    await self._advance_locked()
                except Exception:
                    log.exception("could not reload signing keys for an unknown kid")
            assert self._cache is not None
            cache = self._cache
        return cache.verifier(kid, now)

    # -- per request -----------------------------------------------------------------
    async def sign(self, claims: Mapping[str, object], *, typ: str | None = None) -> str:
        """A JWS compact serialization of ``claims`` with header ``alg`` and ``kid``, plus
        ``typ`` when given: explicit typing (RFC 8725 §3.11) keeps a token of one kind,
        such as a back-channel logout token, from passing for another."""
        signer = (await self._current()).signer(self._clock())
        header = {"alg": signer.algorithm, "kid": signer.kid}
        return jwt.encode(
            header, dict(claims), signer.key, algorithms=[signer.algorithm], default_type=typ
        )

    async def jwks(self) -> dict[str, list[dict[str, object]]]:
        """RFC 7517 §5 JWK Set: the signing key, the pending key and every unexpired
        verification key."""
        return (await self._current()).jwks(self._clock())

    async def jwks_document(self) -> JwksDocument:
        """:meth:`jwks` serialized, with its ``ETag`` and ``max-age``; built once per key
        set (and again when a verification key in it expires)."""
        cache = await self._current()
        now = self._clock()
        built = self._document
        if built is not None and built[0] is cache:
            document = built[1]
            if document.valid_until is None or now < document.valid_until:
                return document
        document = cache.jwks_document(now, self._jwks_max_age)
        self._document = (cache, document)
        return document

    async def verify(self, token: str) -> dict[str, object]:
        """The claims of a token we signed with a still-valid key. Checks only the
        signature: ``exp``, ``iss`` and ``aud`` are the caller's to validate."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidSignatureError("token too large")
        try:
            obj = jws.extract_compact(token.encode("ascii"))
        except (JoseError, ValueError, TypeError):
            raise InvalidSignatureError("malformed token") from None
        header: object = obj.headers()
        if not isinstance(header, dict) or not _ALLOWED_HEADER.issuperset(header):
            raise InvalidSignatureError("unexpected token header")
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in SUPPORTED_ALGORITHMS or not isinstance(kid, str):
            raise InvalidSignatureError("unsupported algorithm or missing key id")
        verifier = await self._verifier(kid)
        # RFC 8725 §3.1: the algorithm must be the one the key was made for.
        if verifier is None or verifier.algorithm != alg:
            raise InvalidSignatureError("unknown or retired signing key")
        try:
            valid = jws.validate_compact(obj, verifier.key, algorithms=[verifier.algorithm])
        except (JoseError, ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidSignatureError("bad signature")
        try:
            claims = json.loads(obj.payload)
        except ValueError:
            raise InvalidSignatureError("the payload is not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidSignatureError("the payload is not a JSON object")
        return claims


def _uses_new_key(keys: Keys) -> bool:
    """Whether a step's result stores the placeholder key."""
    pending = keys.next_key
    return keys.signing_key_pub == {} or (pending is not None and pending.public_jwk == {})


def _log_change(before: Keys, after: Keys) -> None:
    signing = rotation.kid_of(after.signing_key_pub)
    if signing != rotation.kid_of(before.signing_key_pub):
        log.info("the signing key is now %s", signing)
    pending = after.next_key
    if pending is not None and pending != before.next_key:
        log.info(
            "published the next signing key %s; it signs from %s",
            rotation.kid_of(pending.public_jwk),
            pending.signs_at,
        )
