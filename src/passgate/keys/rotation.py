"""Pure key-rotation logic, kept apart from I/O so the storage updater stays a pure function.

Follows Dex ``server/signer/rotation.go`` (every ``rotation_period`` a new key signs, and
the previous one verifies for as long as tokens it signed can be presented) with one
change: publish first, sign later. The next key is stored as pending ``propagation_delay``
before it is due and is in every replica's JWKS from then on; each replica starts signing
with it when its own clock reaches ``signs_at`` and it has published the key itself for
the whole delay (:func:`signs_from`), without waiting for a write. A compromised
key is the exception (:func:`replace`): it stops at once, and verifiers fail until they
fetch the JWKS again.

Storage runs these steps inside ``update_keys``; when replicas race, the first to commit
wins and the others find nothing left to do, which they return unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import cast

from joserfc.jwk import ECKey, Key, RSAKey

from passgate.storage.models import Keys, PendingKey, VerificationKey

# RFC 7518 §3.1. RS256 is what kube-apiserver accepts by default (DESIGN §4); ES256 is
# offered for clients that want smaller tokens. Everything else is refused.
SUPPORTED_ALGORITHMS = frozenset({"RS256", "ES256"})

RSA_KEY_BITS = 2048


def check_algorithm(algorithm: str) -> str:
    """Return ``algorithm`` if Passgate may sign with it, else raise ``ValueError``."""
    if algorithm not in SUPPORTED_ALGORITHMS:
        allowed = ", ".join(sorted(SUPPORTED_ALGORITHMS))
        raise ValueError(f"unsupported signing algorithm {algorithm!r} (allowed: {allowed})")
    return algorithm


@dataclasses.dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated signing key, as the JWK dicts that storage keeps."""

    kid: str
    private_jwk: dict[str, object]
    public_jwk: dict[str, object]


def generate_key(algorithm: str) -> NewKey:
    """A new key for ``algorithm``; ``kid`` is its RFC 7638 thumbprint. CPU-bound (an RSA
    key takes tens of milliseconds): run it in a worker thread."""
    check_algorithm(algorithm)
    key: Key = (
        RSAKey.generate_key(RSA_KEY_BITS) if algorithm == "RS256" else ECKey.generate_key("P-256")
    )
    kid = key.thumbprint()  # RFC 7638 §3
    params = {"kid": kid, "alg": algorithm, "use": "sig"}
    return NewKey(
        kid=kid,
        private_jwk=cast(dict[str, object], key.as_dict(private=True, **params)),
        public_jwk=cast(dict[str, object], key.as_dict(private=False, **params)),
    )


#: When this replica first loaded each pending key (by ``kid``), by its own clock.
Seen = Mapping[str, datetime]


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """When keys change.

    ``propagation_delay``: how long a new key is published before any replica signs with
    it (at least two key reload intervals plus the JWKS ``max-age``, so that every
    replica's JWKS and every well-behaved verifier's cache has it first).
    ``retention``: how long a retired key keeps verifying (the token lifetime, plus
    slack for clocks that disagree)."""

    rotation_period: timedelta
    propagation_delay: timedelta
    retention: timedelta


def kid_of(jwk: Mapping[str, object] | None) -> str:
    return str((jwk or {}).get("kid", ""))


def signs_from(pending: PendingKey, delay: timedelta, seen: Seen) -> datetime | None:
    """When this replica may sign with ``pending``: at its scheduled time, and not before
    this replica has itself published it for the whole delay (``seen``: when it first
    loaded each pending key, by its own clock). The second condition holds whatever the
    clocks say: a replica whose clock runs ahead would otherwise start before the others
    have published the key. ``None`` while this replica has not loaded it."""
    first = seen.get(kid_of(pending.public_jwk))
    return None if first is None else max(pending.signs_at, first + delay)


def next_change(keys: Keys, delay: timedelta, seen: Seen) -> datetime | None:
    """When :func:`advance` will next change ``keys``: when this replica starts signing
    with the pending key (to promote it) or, without one, the time to publish the next
    key; ``None`` when due now (no signing key yet, or a pending key to load first)."""
    if keys.signing_key is None or keys.signing_key_pub is None or keys.next_rotation is None:
        return None
    if keys.next_key is not None:
        return signs_from(keys.next_key, delay, seen)
    return keys.next_rotation - delay


def change_due(keys: Keys, now: datetime, delay: timedelta, seen: Seen) -> bool:
    """Whether :func:`advance` at ``now`` would change ``keys``. (It may need a new key
    then: callers generate one before they call it, as the updater must stay pure.)"""
    change = next_change(keys, delay, seen)
    return change is None or now >= change


def advance(old: Keys, new: NewKey, *, now: datetime, schedule: Schedule, seen: Seen) -> Keys:
    """The scheduled step, run inside ``update_keys``: install a first key, promote the
    pending key once this replica signs with it, and publish ``new`` as the pending key
    once the rotation time is within the propagation delay. Returns ``old`` itself when
    nothing is due, so that replicas racing to do the same step do it once."""
    if old.signing_key is None or old.signing_key_pub is None or old.next_rotation is None:
        return Keys(
            signing_key=dict(new.private_jwk),
            signing_key_pub=dict(new.public_jwk),
            verification_keys=_unexpired(old, now),
            next_rotation=now + schedule.rotation_period,
        )
    keys = old
    pending = keys.next_key
    if pending is not None:
        start = signs_from(pending, schedule.propagation_delay, seen)
        if start is not None and now >= start:
            keys = _retire_current(keys, now, schedule)
    publish_from = (keys.next_rotation or now) - schedule.propagation_delay
    if keys.next_key is None and now >= publish_from:
        signs_at = max(keys.next_rotation or now, now + schedule.propagation_delay)
        keys = dataclasses.replace(keys, next_key=_pending(new, signs_at))
    return keys


def publish(old: Keys, new: NewKey, *, now: datetime, schedule: Schedule, seen: Seen) -> Keys:
    """A rotation asked for now: whatever :func:`advance` has due, then ``new`` published
    at once to sign after the propagation delay. A key already pending stays (it was
    published earlier, so it signs no later than a new one could)."""
    keys = advance(old, new, now=now, schedule=schedule, seen=seen)
    if old.signing_key is None or keys.next_key is not None:
        return keys
    return dataclasses.replace(keys, next_key=_pending(new, now + schedule.propagation_delay))


def replace(
    old: Keys, new: NewKey, *, now: datetime, schedule: Schedule, keep_retired: bool
) -> Keys:
    """``new`` signs at once, and the current and pending keys are dropped from JWKS
    (compromised, or everything revoked). Keys retired before keep verifying when
    ``keep_retired``: their private halves are gone, so they cannot have leaked."""
    return Keys(
        signing_key=dict(new.private_jwk),
        signing_key_pub=dict(new.public_jwk),
        verification_keys=_unexpired(old, now) if keep_retired else (),
        next_rotation=now + schedule.rotation_period,
    )


def _retire_current(keys: Keys, now: datetime, schedule: Schedule) -> Keys:
    """The pending key becomes the signing key; the current one verifies for
    ``retention`` more; the schedule counts from when the new key started signing."""
    pending = keys.next_key
    assert pending is not None
    kept = list(_unexpired(keys, now))
    if keys.signing_key_pub is not None:
        kept.append(VerificationKey(dict(keys.signing_key_pub), now + schedule.retention))
    return Keys(
        signing_key=dict(pending.private_jwk),
        signing_key_pub=dict(pending.public_jwk),
        verification_keys=tuple(kept),
        next_rotation=pending.signs_at + schedule.rotation_period,
    )


def _unexpired(keys: Keys, now: datetime) -> tuple[VerificationKey, ...]:
    return tuple(key for key in keys.verification_keys if key.expiry > now)


def _pending(new: NewKey, signs_at: datetime) -> PendingKey:
    return PendingKey(dict(new.private_jwk), dict(new.public_jwk), signs_at)
