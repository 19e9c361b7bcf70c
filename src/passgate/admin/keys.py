"""Signing-key status and rotation for the admin API; never any private material.

A rotation (``KeyManager.publish_next``) is a scheduled one brought forward: the new key
is in every replica's JWKS at once and signs after the propagation delay, and the
previous key keeps verifying for as long as its tokens can be valid. The emergency form
(``now``, for a compromised key) signs with a new key at once and drops the current one
from JWKS; verifiers refuse the new tokens until they fetch the JWKS again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from passgate.admin.audit import Actor, Auditor
from passgate.clock import Clock
from passgate.keys import KeyManager
from passgate.keys.at_rest import signing_key_sealed_with
from passgate.storage.base import Storage
from passgate.storage.models import Keys

__all__ = ["KeyInfo", "KeyService", "KeyStatus", "PendingKeyInfo"]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str
    algorithm: str
    expiry: datetime | None  # None for the key that signs now


@dataclass(frozen=True, slots=True)
class PendingKeyInfo:
    """The next key: published now, signing from ``signs_at`` (once that has passed it
    signs already, and storage records it as the signing key at the next refresh)."""

    kid: str
    algorithm: str
    signs_at: datetime


@dataclass(frozen=True, slots=True)
class KeyStatus:
    signing: KeyInfo | None
    next_rotation: datetime | None
    verification: tuple[KeyInfo, ...]
    #: The id of the encryption key the private key is sealed with in storage ("": clear).
    encrypted_with: str = ""
    pending: PendingKeyInfo | None = None


def key_status(keys: Keys, now: datetime) -> KeyStatus:
    """Public facts about a key set: ids, algorithms, expiries (expired keys left out)."""
    signing = _info(keys.signing_key_pub, None) if keys.signing_key_pub else None
    verification = tuple(
        _info(key.public_jwk, key.expiry)
        for key in sorted(keys.verification_keys, key=lambda k: k.expiry, reverse=True)
        if key.expiry > now
    )
    encrypted_with = signing_key_sealed_with(keys.signing_key)
    pending = None
    if keys.next_key is not None:
        info = _info(keys.next_key.public_jwk, None)
        pending = PendingKeyInfo(info.kid, info.algorithm, keys.next_key.signs_at)
    return KeyStatus(signing, keys.next_rotation, verification, encrypted_with, pending)


def _info(jwk: dict[str, object], expiry: datetime | None) -> KeyInfo:
    return KeyInfo(str(jwk.get("kid", "")), str(jwk.get("alg", "")), expiry)


class KeyService:
    def __init__(self, storage: Storage, keys: KeyManager, clock: Clock, auditor: Auditor) -> None:
        self._storage = storage
        self._keys = keys
        self._clock = clock
        self._auditor = auditor

    async def status(self, actor: Actor) -> KeyStatus:
        async with self._auditor.call("admin.keys.get", actor):
            keys = await self._storage.get_keys()
        return key_status(keys, self._clock())

    async def rotate(self, actor: Actor, *, now: bool = False) -> KeyStatus:
        """Publish the next key (it signs after the propagation delay), or with ``now``
        replace the signing key at once (a compromised key)."""
        async with self._auditor.call("admin.keys.rotate", actor) as entry:
            before = await self._storage.get_keys()
            entry.details["previous_kid"] = _info(before.signing_key_pub or {}, None).kid
            if now:
                entry.details["kid"] = await self._keys.replace_now(keep_retired=True)
                entry.details["at_once"] = "yes"
            else:
                pending = await self._keys.publish_next()
                entry.details["kid"] = pending.kid
                entry.details["signs_at"] = pending.signs_at.isoformat()
            status = key_status(await self._storage.get_keys(), self._clock())
        return status
