"""The signing keys every replica shares, cached in memory so signing never waits on storage.

Storage holds the key set (see :mod:`passgate.keys.rotation`); each process keeps a parsed
copy and re-reads it every ``refresh_interval`` (another replica may have rotated), when the
cached rotation time has passed, and when a token names a key it does not know yet. With an
encryption key configured the private key is stored sealed (:mod:`passgate.keys.at_rest`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import cast

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from passgate.clock import Clock
from passgate.keys import rotation
from passgate.keys.at_rest import open_private_jwk, reseal_signing_key, seal_private_jwk
from passgate.keys.encryption import KeyRing
from passgate.keys.rotation import (
    SUPPORTED_ALGORITHMS,
    NewKey,
    check_algorithm,
    generate_key,
    is_due,
)
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


class InvalidSignatureError(ValueError):
    """The token is malformed, names an unknown or retired key or a disallowed algorithm,
    or its signature does not verify."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Verifier:
    key: Key
    algorithm: str
    public_jwk: dict[str, object]
    expiry: datetime | None  # None for the current signing key


@dataclasses.dataclass(frozen=True, slots=True)
class _Cache:
    source: Keys
    signing_key: Key
    kid: str
    algorithm: str
    next_rotation: datetime
    verifiers: dict[str, _Verifier]


def _import(jwk: Mapping[str, object]) -> tuple[Key, str, str]:
    """A stored JWK as a joserfc key plus its ``kid`` and ``alg``."""
    kid, alg = jwk.get("kid"), jwk.get("alg")
    if not isinstance(kid, str) or not kid or not isinstance(alg, str):
        raise ValueError("stored key lacks kid or alg")
    check_algorithm(alg)
    key = JWKRegistry.import_key(cast("dict[str, str | list[str]]", dict(jwk)))
    return key, kid, alg


def _build_cache(keys: Keys, ring: KeyRing) -> _Cache:
    if keys.signing_key is None or keys.signing_key_pub is None or keys.next_rotation is None:
        raise ValueError("the stored key set has no signing key")
    public_key, public_kid, _ = _import(keys.signing_key_pub)
    signing_key, kid, alg = _import(open_private_jwk(ring, keys.signing_key, public_kid))
    verifiers = {kid: _Verifier(public_key, alg, dict(keys.signing_key_pub), None)}
    for stored in sorted(keys.verification_keys, key=lambda v: v.expiry, reverse=True):
        try:
            key, vkid, valg = _import(stored.public_jwk)
        except (JoseError, ValueError, TypeError):
            log.warning("ignoring an unreadable verification key in storage")
            continue
        verifiers.setdefault(vkid, _Verifier(key, valg, dict(stored.public_jwk), stored.expiry))
    return _Cache(keys, signing_key, kid, alg, keys.next_rotation, verifiers)


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
        refresh_interval: timedelta = timedelta(seconds=30),
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
        self._storage = storage
        self._clock = clock
        self._ring = ring if ring is not None else KeyRing()
        self._rotation_period = rotation_period
        self._refresh_interval = refresh_interval
        # Tokens (ID and access, which share the ID token lifetime here) signed with the
        # old key stay valid for id_token_lifetime after the rotation; a replica whose
        # cache is stale may sign with the old key for up to one refresh interval after
        # another replica rotated, so its tokens outlive the rotation by that much more.
        self._retention = id_token_lifetime + refresh_interval
        self._cache: _Cache | None = None
        self._loaded_at: datetime | None = None
        self._retry_after: datetime | None = None
        self._lock = asyncio.Lock()

    @property
    def algorithm(self) -> str:
        """The ``alg`` tokens are signed with now: the current key's, once loaded.

        A changed configuration takes effect at the next scheduled rotation, so that
        replicas deployed with different settings do not take turns rotating."""
        return self._cache.algorithm if self._cache is not None else self._algorithm

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Create the first signing key if storage has none, store it in the form the
        encryption settings ask for, and load the cache. Raises
        :class:`~passgate.keys.encryption.EncryptionKeyError` when the stored key cannot
        be opened with the configured encryption keys."""
        async with self._lock:
            await self._rotate_if_due_locked()
            resealed = await reseal_signing_key(self._storage, self._ring)
            if resealed is not None:
                self._install(resealed, self._clock())

    async def rotate_if_due(self) -> bool:
        """Rotate when the stored key set is due; always refresh the cache. True if this
        call installed a new signing key (False when another replica got there first)."""
        async with self._lock:
            return await self._rotate_if_due_locked()

    async def run_forever(self) -> None:
        """Background task: rotate when due and refresh the cache every refresh interval.
        Errors are logged and retried at the next tick; cancel the task to stop it."""
        while True:
            try:
                await self.rotate_if_due()
            except Exception:
                log.exception("signing key refresh failed; retrying in %s", self._refresh_interval)
            await asyncio.sleep(self._refresh_interval.total_seconds())

    async def _rotate_if_due_locked(self) -> bool:
        now = self._clock()
        stored = await self._storage.get_keys()
        if not is_due(stored, now):
            self._install(stored, now)
            return False
        result, new = await self._store_new_key(lambda old, _now: old)
        current = result.signing_key_pub or {}
        rotated = current.get("kid") == new.kid
        if rotated:
            log.info("rotated the signing key; new kid %s", new.kid)
        return rotated

    async def rotate_now(self, *, keep_previous: bool = False) -> str:
        """Sign with a new key from now on, whatever the schedule; the new ``kid``.

        Without ``keep_previous`` every earlier key stops verifying at once (revoking
        everything: a token signed before cannot be checked any more, here or by a
        kube-apiserver that fetches the JWKS again). Other replicas re-read the keys when
        their revocation cache sees the revoke-all rule (``RevocationCache``), otherwise
        at their next refresh."""

        def due(old: Keys, now: datetime) -> Keys:
            return dataclasses.replace(old, next_rotation=now) if keep_previous else Keys()

        async with self._lock:
            _, new = await self._store_new_key(due)
            log.info("rotated the signing key on demand; new kid %s", new.kid)
            return new.kid

    async def _store_new_key(
        self, prepare: Callable[[Keys, datetime], Keys]
    ) -> tuple[Keys, NewKey]:
        """Generate a key (outside ``update_keys``: the updater must be pure and may run
        twice), rotate it in over ``prepare(stored, now)`` and install the result."""
        new = await asyncio.to_thread(generate_key, self._algorithm)
        new = dataclasses.replace(
            new, private_jwk=seal_private_jwk(self._ring, new.private_jwk, new.kid)
        )
        now = self._clock()

        def updater(old: Keys) -> Keys:
            return rotation.rotate(
                prepare(old, now),
                new,
                now=now,
                rotation_period=self._rotation_period,
                retention=self._retention,
            )

        result = await self._storage.update_keys(updater)
        self._install(result, now)
        return result, new

    def _install(self, keys: Keys, now: datetime) -> None:
        if self._cache is None or self._cache.source != keys:
            self._cache = _build_cache(keys, self._ring)
        self._loaded_at = now
        self._retry_after = None

    async def _current(self) -> _Cache:
        """The cache, reloaded (and rotated) first if its rotation time has passed."""
        cache = self._cache
        now = self._clock()
        if cache is not None and now < cache.next_rotation:
            return cache
        if cache is not None and self._retry_after is not None and now < self._retry_after:
            return cache  # storage failed a moment ago; run_forever keeps trying
        async with self._lock:
            cache = self._cache
            if cache is not None and self._clock() < cache.next_rotation:
                return cache  # someone else reloaded while we waited
            try:
                await self._rotate_if_due_locked()
            except Exception:
                if self._cache is None:
                    raise
                log.exception("signing key rotation failed; signing with the previous key")
                self._retry_after = now + self._refresh_interval
            assert self._cache is not None
            return self._cache

    async def _verifier(self, kid: str) -> _Verifier | None:
        cache = await self._current()
        verifier = cache.verifiers.get(kid)
        now = self._clock()
        if verifier is None and (
            self._loaded_at is None or now - self._loaded_at >= _UNKNOWN_KID_RELOAD
        ):
            # Another replica may have rotated since our last refresh.
            self._loaded_at = now  # throttles reloads even when they fail
            async with self._lock:
                try:
                    await self._rotate_if_due_locked()
                except Exception:
                    log.exception("could not reload signing keys for an unknown kid")
            assert self._cache is not None
            verifier = self._cache.verifiers.get(kid)
        if verifier is None or (verifier.expiry is not None and verifier.expiry <= now):
            return None
        return verifier

    # -- per request -----------------------------------------------------------------
    async def sign(self, claims: Mapping[str, object], *, typ: str | None = None) -> str:
        """A JWS compact serialization of ``claims`` with header ``alg`` and ``kid``, plus
        ``typ`` when given: explicit typing (RFC 8725 §3.11) keeps a token of one kind,
        such as a back-channel logout token, from passing for another."""
        cache = await self._current()
        header = {"alg": cache.algorithm, "kid": cache.kid}
        return jwt.encode(
            header, dict(claims), cache.signing_key, algorithms=[cache.algorithm], default_type=typ
        )

    async def jwks(self) -> dict[str, list[dict[str, object]]]:
        """RFC 7517 §5 JWK Set: the signing key and every unexpired verification key."""
        cache = await self._current()
        now = self._clock()
        return {
            "keys": [
                dict(v.public_jwk)
                for v in cache.verifiers.values()
                if v.expiry is None or v.expiry > now
            ]
        }

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
