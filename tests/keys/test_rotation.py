"""The pure rotation step that storage runs inside update_keys."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from joserfc.util import urlsafe_b64encode

from passgate.keys.rotation import check_algorithm, generate_key, is_due, rotate
from passgate.storage.models import Keys, VerificationKey

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = timedelta(hours=6)
RETENTION = timedelta(hours=24)


def rfc7638_thumbprint(jwk: dict[str, object]) -> str:
    """RFC 7638 §3, computed here without joserfc: required members, sorted, no spaces."""
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode()


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_generated_key_is_identified_by_its_thumbprint(algorithm: str) -> None:
    new = generate_key(algorithm)
    assert new.kid == rfc7638_thumbprint(new.public_jwk)
    assert new.public_jwk["kid"] == new.private_jwk["kid"] == new.kid
    assert new.public_jwk["alg"] == algorithm
    assert new.public_jwk["use"] == "sig"
    assert "d" in new.private_jwk
    assert not {"d", "p", "q"} & set(new.public_jwk)


def test_rsa_keys_are_2048_bits() -> None:
    n = generate_key("RS256").public_jwk["n"]
    assert isinstance(n, str)
    assert len(n) == 342  # 256 bytes in unpadded base64url


@pytest.mark.parametrize("algorithm", ["HS256", "none", "RS512", "PS256", "EdDSA", "rs256"])
def test_algorithms_outside_the_allow_list_are_refused(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        check_algorithm(algorithm)
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        generate_key(algorithm)


def test_first_rotation_installs_a_key() -> None:
    assert is_due(Keys(), NOW)
    new = generate_key("RS256")
    keys = rotate(Keys(), new, now=NOW, rotation_period=PERIOD, retention=RETENTION)
    assert keys.signing_key == new.private_jwk
    assert keys.signing_key_pub == new.public_jwk
    assert keys.verification_keys == ()
    assert keys.next_rotation == NOW + PERIOD
    assert not is_due(keys, NOW + PERIOD - timedelta(seconds=1))
    assert is_due(keys, NOW + PERIOD)


def test_rotation_retires_the_old_key_and_drops_expired_ones() -> None:
    first, second, third = (generate_key("ES256") for _ in range(3))
    keys = rotate(Keys(), first, now=NOW, rotation_period=PERIOD, retention=RETENTION)
    later = NOW + PERIOD
    keys = rotate(keys, second, now=later, rotation_period=PERIOD, retention=RETENTION)
    assert keys.verification_keys == (
        VerificationKey(public_jwk=first.public_jwk, expiry=later + RETENTION),
    )
    # A rotation after the first key's retention ran out drops it.
    latest = later + RETENTION
    keys = rotate(keys, third, now=latest, rotation_period=PERIOD, retention=RETENTION)
    assert [v.public_jwk["kid"] for v in keys.verification_keys] == [second.kid]
    assert keys.signing_key_pub == third.public_jwk


def test_a_key_set_that_is_not_due_is_returned_unchanged() -> None:
    keys = rotate(
        Keys(), generate_key("ES256"), now=NOW, rotation_period=PERIOD, retention=RETENTION
    )
    other = generate_key("ES256")
    assert rotate(keys, other, now=NOW, rotation_period=PERIOD, retention=RETENTION) is keys
