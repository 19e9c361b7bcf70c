"""``expiry`` and ``signer``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from passgate.config import SIGNING_ALGORITHMS
from passgate.keys import SUPPORTED_ALGORITHMS

from .helpers import document, load, problems


def with_expiry(**section: Any) -> dict[str, Any]:
    return document(enablePasswordDB=True, expiry=section)


def test_durations_in_go_syntax() -> None:
    config = load(
        with_expiry(
            signingKeys="12h",
            idTokens="10m",
            authRequests="1h30m",
            deviceRequests="300s",
            refreshTokens={
                "reuseInterval": "0s",
                "validIfNotUsedFor": "2160h",
                "absoluteLifetime": "3960h",
                "disableRotation": True,
            },
        )
    )
    expiry = config.expiry
    assert expiry.signing_keys == timedelta(hours=12)
    assert expiry.id_tokens == timedelta(minutes=10)
    assert expiry.auth_requests == timedelta(hours=1, minutes=30)
    assert expiry.device_requests == timedelta(minutes=5)
    assert expiry.refresh_tokens.reuse_interval == timedelta(0)
    assert expiry.refresh_tokens.valid_if_not_used_for == timedelta(days=90)
    assert expiry.refresh_tokens.absolute_lifetime == timedelta(days=165)
    assert expiry.refresh_tokens.disable_rotation is True
    assert config.key_rotation_period() == timedelta(hours=12)


def test_empty_strings_mean_the_default_like_dex() -> None:
    config = load(with_expiry(idTokens="", refreshTokens={"validIfNotUsedFor": ""}))
    assert config.expiry.id_tokens == timedelta(hours=24)
    assert config.expiry.refresh_tokens.valid_if_not_used_for is None


def test_bad_durations() -> None:
    found = problems(
        with_expiry(
            signingKeys="-1h",
            idTokens="0s",
            authRequests=3600,
            deviceRequests="5 minutes",
            refreshTokens={"reuseInterval": "-1s", "absoluteLifetime": "0"},
        )
    )
    assert found == {
        "expiry.signingKeys": "must be greater than zero",
        "expiry.idTokens": "must be greater than zero",
        "expiry.authRequests": "must be a duration string such as '300ms', '10m' or '24h'",
        "expiry.deviceRequests": "invalid duration '5 minutes': unknown unit ' minutes' "
        "(expected e.g. '300ms', '10m', '24h')",
        "expiry.refreshTokens.reuseInterval": "must not be negative",
        "expiry.refreshTokens.absoluteLifetime": "must be greater than zero",
    }


def test_signer_supersedes_expiry_signing_keys() -> None:
    doc = with_expiry(signingKeys="12h") | {
        "signer": {"type": "local", "config": {"keysRotationPeriod": "1h"}}
    }
    config = load(doc)
    assert config.key_rotation_period() == timedelta(hours=1)
    assert config.signing_algorithm() == "RS256"
    assert config.warnings == [
        "expiry.signingKeys: is ignored: signer.config.keysRotationPeriod is set and takes "
        "precedence"
    ]


def test_signer_without_period_falls_back_to_expiry() -> None:
    config = load(with_expiry(signingKeys="2h") | {"signer": {"type": "local"}})
    assert config.key_rotation_period() == timedelta(hours=2)
    assert config.signer is not None
    assert config.signer.local().keys_rotation_period is None


def test_es256_is_allowed_with_a_kubernetes_warning() -> None:
    config = load(document(enablePasswordDB=True, signer={"config": {"algorithm": "ES256"}}))
    assert config.signing_algorithm() == "ES256"
    assert config.warnings == [
        "signer.config.algorithm: kube-apiserver accepts only RS256 unless configured for ES256"
    ]


@pytest.mark.parametrize("algorithm", ["none", "None", "HS256", "hs512"])
def test_unsafe_algorithms_are_refused(algorithm: str) -> None:
    assert problems(document(signer={"config": {"algorithm": algorithm}})) == {
        "signer.config.algorithm": f"{algorithm!r} is not allowed for ID tokens "
        "(allowed: RS256, ES256)"
    }


def test_unsupported_algorithms_are_refused() -> None:
    assert problems(document(signer={"config": {"algorithm": "PS384"}})) == {
        "signer.config.algorithm": "unsupported signing algorithm 'PS384' (allowed: RS256, ES256)"
    }


def test_signer_types() -> None:
    assert problems(document(signer={"type": "vault", "config": {"addr": "x"}})) == {
        "signer.type": "signer type 'vault' is recognised but not supported yet by this "
        "Passgate version (supported: local)"
    }
    assert problems(document(signer={"type": "kms"})) == {
        "signer.type": "unknown signer type 'kms' (supported: local)"
    }
    assert problems(document(signer={"config": {"rotation": "1h"}})) == {
        "signer.config.rotation": "unknown key"
    }


def test_signing_algorithms_match_the_key_manager() -> None:
    assert set(SIGNING_ALGORITHMS) == set(SUPPORTED_ALGORITHMS)
