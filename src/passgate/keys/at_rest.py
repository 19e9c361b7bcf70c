"""How the signing key and the shared server secrets are kept in storage: sealed with the
configured encryption key (:mod:`passgate.keys.encryption`) when there is one, in the
clear otherwise, and moved from one form to the other at start-up.

Every change is a compare-and-swap of exactly the stored value that was read, so
replicas starting together each try it and one wins; the others find it done.

- The signing key (``Keys.signing_key``) is a private JWK, or ``{"sealed": "pgenc1...."}``
  holding that JWK's JSON sealed for ``signing-key:<kid>``.
- A server secret (``ServerSecret.value``) is its raw bytes (exactly ``size`` of them),
  or the ASCII of the sealed text for ``server-secret:<name>`` (never ``size`` bytes
  long), so the two forms cannot be confused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import secrets
from collections.abc import Mapping

from passgate.clock import Clock
from passgate.keys.encryption import EncryptionKeyError, KeyRing, sealed_with
from passgate.keys.rotation import kid_of
from passgate.storage.base import AlreadyExistsError, NotFoundError, Storage
from passgate.storage.models import Keys, ServerSecret

__all__ = [
    "SEALED",
    "load_server_secret",
    "open_private_jwk",
    "reseal_signing_key",
    "seal_private_jwk",
    "signing_key_sealed_with",
]

log = logging.getLogger(__name__)

#: The one member of a sealed signing key's stored JSON object.
SEALED = "sealed"
_SIGNING_KEY = "the signing key"


def _signing_purpose(kid: str) -> str:
    return f"signing-key:{kid}"


def _sealed_text(stored: Mapping[str, object]) -> str:
    """The sealed text of a stored signing key ("" when it is in the clear)."""
    if SEALED not in stored:
        return ""
    value = stored[SEALED]
    if not isinstance(value, str) or len(stored) != 1:
        raise EncryptionKeyError(f"{_SIGNING_KEY} in storage is not a readable encrypted value")
    return value


def signing_key_sealed_with(stored: Mapping[str, object] | None) -> str:
    """The id of the encryption key the stored signing key is sealed with ("": clear)."""
    if stored is None:
        return ""
    try:
        return sealed_with(_sealed_text(stored))
    except EncryptionKeyError:
        return ""


def seal_private_jwk(ring: KeyRing, jwk: Mapping[str, object], kid: str) -> dict[str, object]:
    """What storage keeps of a private JWK: sealed when ``ring`` seals, else the JWK."""
    if not ring.seals:
        return dict(jwk)
    data = json.dumps(dict(jwk), sort_keys=True).encode()
    return {SEALED: ring.seal(data, _signing_purpose(kid))}


def open_private_jwk(ring: KeyRing, stored: Mapping[str, object], kid: str) -> dict[str, object]:
    """The private JWK of a stored signing key, opened when it is sealed."""
    text = _sealed_text(stored)
    if not text:
        return dict(stored)
    data = ring.open(text, _signing_purpose(kid), _SIGNING_KEY)
    try:
        jwk = json.loads(data)
    except ValueError:
        jwk = None
    if not isinstance(jwk, dict) or jwk.get("kid") != kid:
        raise EncryptionKeyError(f"{_SIGNING_KEY} in storage decrypts to something else")
    return jwk


def _resealed(
    ring: KeyRing, stored: Mapping[str, object] | None, public: Mapping[str, object] | None
) -> dict[str, object] | None:
    """``stored`` in the form ``ring`` asks for, or ``None`` when it is in that form."""
    if stored is None or public is None or not ring.needs_reseal(_sealed_text(stored)):
        return None
    kid = kid_of(public)
    return seal_private_jwk(ring, open_private_jwk(ring, stored, kid), kid)


async def reseal_signing_key(storage: Storage, ring: KeyRing) -> Keys | None:
    """Bring the stored signing key and the pending one into the form ``ring`` asks for
    (sealed with its current key, or in the clear without one); the stored key set when
    this call changed it, else ``None``. Raises :class:`EncryptionKeyError` when a key
    cannot be opened."""
    keys = await storage.get_keys()
    pending = keys.next_key
    signing = _resealed(ring, keys.signing_key, keys.signing_key_pub)
    pending_key = (
        None if pending is None else _resealed(ring, pending.private_jwk, pending.public_jwk)
    )
    if signing is None and pending_key is None:
        return None
    wanted = dataclasses.replace(
        keys,
        signing_key=keys.signing_key if signing is None else signing,
        next_key=(
            pending
            if pending is None or pending_key is None
            else dataclasses.replace(pending, private_jwk=pending_key)
        ),
    )

    def updater(old: Keys) -> Keys:
        # Another replica re-sealed (or rotated) first: leave its result.
        return wanted if old == keys else old

    result = await storage.update_keys(updater)
    if result != wanted:
        return None
    kid = kid_of(keys.signing_key_pub)
    if ring.seals:
        log.info("encrypted the signing keys (%s) with encryption key %s", kid, ring.current_id)
    else:
        log.warning("stored the signing keys (%s) in the clear (no encryptionKey is set)", kid)
    return result


def _open_secret(ring: KeyRing, value: bytes, name: str, size: int) -> bytes:
    if len(value) == size:
        return value  # in the clear
    what = f"the server secret {name!r}"
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise EncryptionKeyError(f"{what} in storage is not a readable encrypted value") from None
    raw = ring.open(text, f"server-secret:{name}", what)
    if len(raw) != size:
        raise EncryptionKeyError(f"{what} in storage decrypts to something else")
    return raw


def _store_secret(ring: KeyRing, raw: bytes, name: str) -> bytes:
    return ring.seal(raw, f"server-secret:{name}").encode("ascii") if ring.seals else raw


def _secret_needs_reseal(ring: KeyRing, value: bytes, size: int) -> bool:
    return ring.needs_reseal("" if len(value) == size else value.decode("ascii"))


async def load_server_secret(
    storage: Storage, name: str, ring: KeyRing, clock: Clock, *, size: int = 32
) -> bytes:
    """The random ``size``-byte key every replica shares under ``name``: read and opened,
    or made (the first replica to ask wins a race); stored in the form ``ring`` asks for."""
    try:
        stored = await storage.get_secret(name)
    except NotFoundError:
        made = _store_secret(ring, secrets.token_bytes(size), name)
        with contextlib.suppress(AlreadyExistsError):
            await storage.create_secret(ServerSecret(name, made, clock()))
        stored = await storage.get_secret(name)
    raw = _open_secret(ring, stored.value, name, size)
    if _secret_needs_reseal(ring, stored.value, size):
        new = _store_secret(ring, raw, name)

        def updater(old: ServerSecret) -> ServerSecret:
            return dataclasses.replace(old, value=new) if old.value == stored.value else old

        if (await storage.update_secret(name, updater)).value == new:
            state = f"encrypted with key {ring.current_id}" if ring.seals else "in the clear"
            log.info("stored the server secret %r %s", name, state)
    return raw
