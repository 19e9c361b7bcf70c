"""Pure key-rotation logic, kept apart from I/O so the storage updater stays a pure function.

Follows Dex ``server/signer/rotation.go``: every ``rotation_period`` a new key signs, and the
previous signing key is kept as a verification key for as long as tokens it signed can
still be presented. Storage runs :func:`rotate` inside ``update_keys``; when several replicas
race, the first one to commit moves ``next_rotation`` forward and the others see a key set
that is no longer due, which they return unchanged.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import cast

from joserfc.jwk import ECKey, Key, RSAKey

from passgate.storage.models import Keys, VerificationKey

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


def is_due(keys: Keys, now: datetime) -> bool:
    """True when there is no signing key yet or its rotation time has come."""
    if keys.signing_key is None or keys.signing_key_pub is None or keys.next_rotation is None:
        return True
    return now >= keys.next_rotation


def rotate(
    old: Keys,
    new: NewKey,
    *,
    now: datetime,
    rotation_period: timedelta,
    retention: timedelta,
) -> Keys:
    """The storage updater: install ``new`` if ``old`` is due, else return ``old`` unchanged.

    The old signing key's public half verifies until ``now + retention``; verification
    keys whose time has passed are dropped.
    """
    if not is_due(old, now):
        return old  # another replica rotated first
    kept = [key for key in old.verification_keys if key.expiry > now]
    if old.signing_key_pub is not None:
        kept.append(VerificationKey(public_jwk=dict(old.signing_key_pub), expiry=now + retention))
    return Keys(
        signing_key=dict(new.private_jwk),
        signing_key_pub=dict(new.public_jwk),
        verification_keys=tuple(kept),
        next_rotation=now + rotation_period,
    )
