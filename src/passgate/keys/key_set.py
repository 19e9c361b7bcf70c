"""One replica's parsed copy of the stored key set: which key signs at a given moment,
which keys verify, and the JWKS document, serialized once per key set.

Built by :class:`passgate.keys.KeyManager` whenever the stored set changes; everything
here is pure and never touches storage.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import cast

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from passgate.etags import strong_etag
from passgate.keys import rotation
from passgate.keys.at_rest import open_private_jwk
from passgate.keys.encryption import KeyRing
from passgate.keys.rotation import check_algorithm
from passgate.storage.models import Keys

__all__ = ["JwksDocument", "LoadedKeys", "Signer", "Verifier", "load"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Signer:
    key: Key
    kid: str
    algorithm: str


@dataclasses.dataclass(frozen=True, slots=True)
class Verifier:
    key: Key
    algorithm: str
    public_jwk: dict[str, object]
    expiry: datetime | None  # None for the current and the pending key


@dataclasses.dataclass(frozen=True, slots=True)
class JwksDocument:
    """The JWK Set as sent: its bytes, a strong ``ETag`` and how long it may be cached.
    ``valid_until``: when a verification key in it expires (the document changes then)."""

    body: bytes
    etag: str
    max_age: int
    valid_until: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class LoadedKeys:
    source: Keys
    current: Signer
    pending: Signer | None
    pending_from: datetime | None
    verifiers: dict[str, Verifier]
    #: When the stored set is next due a change (see :func:`rotation.next_change`).
    change_at: datetime

    def signer(self, now: datetime) -> Signer:
        """The current key, or the pending one from ``pending_from`` (when this replica
        may sign with it: :func:`rotation.signs_from`)."""
        if self.pending is not None and self.pending_from is not None and now >= self.pending_from:
            return self.pending
        return self.current

    def verifier(self, kid: str, now: datetime) -> Verifier | None:
        verifier = self.verifiers.get(kid)
        if verifier is None or (verifier.expiry is not None and verifier.expiry <= now):
            return None
        return verifier

    def jwks(self, now: datetime) -> dict[str, list[dict[str, object]]]:
        """RFC 7517 §5 JWK Set: the signing key first, then the pending key (published
        before it signs), then every unexpired verification key."""
        return {
            "keys": [
                dict(v.public_jwk)
                for v in self.verifiers.values()
                if v.expiry is None or v.expiry > now
            ]
        }

    def jwks_document(self, now: datetime, max_age: timedelta) -> JwksDocument:
        body = json.dumps(self.jwks(now), separators=(",", ":")).encode()
        expiries = [
            v.expiry for v in self.verifiers.values() if v.expiry is not None and v.expiry > now
        ]
        seconds = int(max_age.total_seconds())
        valid_until = min(expiries) if expiries else None
        return JwksDocument(body, strong_etag(body), seconds, valid_until)


def _import(jwk: Mapping[str, object]) -> tuple[Key, str, str]:
    """A stored JWK as a joserfc key plus its ``kid`` and ``alg``."""
    kid, alg = jwk.get("kid"), jwk.get("alg")
    if not isinstance(kid, str) or not kid or not isinstance(alg, str):
        raise ValueError("stored key lacks kid or alg")
    check_algorithm(alg)
    key = JWKRegistry.import_key(cast("dict[str, str | list[str]]", dict(jwk)))
    return key, kid, alg


def _signer(
    private: Mapping[str, object], public: Mapping[str, object], ring: KeyRing
) -> tuple[Signer, Verifier]:
    public_key, kid, alg = _import(public)
    key, private_kid, _ = _import(open_private_jwk(ring, private, kid))
    if private_kid != kid:
        raise ValueError("a stored key's private and public halves differ")
    return Signer(key, kid, alg), Verifier(public_key, alg, dict(public), None)


def load(keys: Keys, ring: KeyRing, delay: timedelta, seen: rotation.Seen) -> LoadedKeys:
    """Parse a stored key set (opening sealed private keys with ``ring``); ``seen`` says
    when this replica first loaded its pending key (see :func:`rotation.signs_from`)."""
    change_at = rotation.next_change(keys, delay, seen)
    if keys.signing_key is None or keys.signing_key_pub is None or change_at is None:
        raise ValueError("the stored key set has no signing key, or a pending key not seen")
    current, current_verifier = _signer(keys.signing_key, keys.signing_key_pub, ring)
    verifiers = {current.kid: current_verifier}
    pending: Signer | None = None
    pending_from: datetime | None = None
    if keys.next_key is not None:
        pending, pending_verifier = _signer(
            keys.next_key.private_jwk, keys.next_key.public_jwk, ring
        )
        verifiers.setdefault(pending.kid, pending_verifier)
        pending_from = change_at
    for stored in sorted(keys.verification_keys, key=lambda v: v.expiry, reverse=True):
        try:
            key, kid, alg = _import(stored.public_jwk)
        except (JoseError, ValueError, TypeError):
            log.warning("ignoring an unreadable verification key in storage")
            continue
        verifiers.setdefault(kid, Verifier(key, alg, dict(stored.public_jwk), stored.expiry))
    return LoadedKeys(
        source=keys,
        current=current,
        pending=pending,
        pending_from=pending_from,
        verifiers=verifiers,
        change_at=change_at,
    )
