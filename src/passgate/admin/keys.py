"""Signing-key status and "rotate now" for the admin API; never any private material.

Rotating now (``KeyManager.rotate_now(keep_previous=True)``) is a scheduled rotation
brought forward: the previous key keeps verifying for as long as its tokens can be
valid, and replicas that share the storage pick the new key up at their next refresh.
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

__all__ = ["KeyInfo", "KeyService", "KeyStatus"]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str
    algorithm: str
    expiry: datetime | None  # None for the key that signs now


@dataclass(frozen=True, slots=True)
class KeyStatus:
    signing: KeyInfo | None
    next_rotation: datetime | None
    verification: tuple[KeyInfo, ...]
    #: The id of the encryption key the private key is sealed with in storage ("": clear).
    encrypted_with: str = ""


def key_status(keys: Keys, now: datetime) -> KeyStatus:
    """Public facts about a key set: ids, algorithms, expiries (expired keys left out)."""
    signing = _info(keys.signing_key_pub, None) if keys.signing_key_pub else None
    verification = tuple(
        _info(key.public_jwk, key.expiry)
        for key in sorted(keys.verification_keys, key=lambda k: k.expiry, reverse=True)
        if key.expiry > now
    )
    encrypted_with = signing_key_sealed_with(keys.signing_key)
    return KeyStatus(signing, keys.next_rotation, verification, encrypted_with)


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

    async def rotate(self, actor: Actor) -> KeyStatus:
        async with self._auditor.call("admin.keys.rotate", actor) as entry:
            before = await self._storage.get_keys()
            entry.details["kid"] = await self._keys.rotate_now(keep_previous=True)
            entry.details["previous_kid"] = _info(before.signing_key_pub or {}, None).kid
            status = key_status(await self._storage.get_keys(), self._clock())
        return status
