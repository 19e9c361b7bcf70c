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


KEY_A, KEY_B, KEY_C = "a" * 32, "b" * 44, "c" * 40


def with_signer(**options: Any) -> dict[str, Any]:
    return document(signer={"type": "local", "config": options})


def test_no_encryption_key_by_default() -> None:
    assert load(document()).encryption_keys() == ("", ())
    assert load(with_signer(keysRotationPeriod="1h")).encryption_keys() == ("", ())


def test_encryption_keys_inline_from_variables_and_by_env_name() -> None:
    environ = {"NEW": KEY_A, "OLD": KEY_B, "OLDER": KEY_C}
    config = load(
        with_signer(
            encryptionKeyEnv="NEW",
            previousEncryptionKeys=["$OLD"],
            previousEncryptionKeysEnv=["OLDER"],
        ),
        environ,
    )
    assert config.encryption_keys() == (KEY_A, (KEY_B, KEY_C))
    # The validated options hold the values, and validate again without the environment.
    assert config.signer is not None
    assert config.signer.local().encryption_key == KEY_A
    # Never in a repr.
    assert KEY_A not in repr(config)
    assert KEY_B not in repr(config.signer)
    inline = load(with_signer(encryptionKey="${NEW}"), environ)
    assert inline.encryption_keys() == (KEY_A, ())


def test_only_previous_keys_decrypt_back_to_the_clear() -> None:
    assert load(with_signer(previousEncryptionKeys=[KEY_B])).encryption_keys() == ("", (KEY_B,))


@pytest.mark.parametrize(
    ("options", "environ", "where", "message"),
    [
        ({"encryptionKey": "short"}, {}, "signer.config.encryptionKey", "at least 32 random"),
        (
            {"encryptionKey": "$UNSET"},
            {},
            "signer.config.encryptionKey",
            "must not be empty (remove it to not encrypt) ($UNSET is not set",
        ),
        (
            {"encryptionKey": KEY_A, "encryptionKeyEnv": "K"},
            {"K": KEY_A},
            "signer.config.encryptionKeyEnv",
            "set either encryptionKey or encryptionKeyEnv, not both",
        ),
        (
            {"encryptionKeyEnv": "K"},
            {},
            "signer.config.encryptionKeyEnv",
            "environment variable 'K' is not set or empty",
        ),
        (
            {"encryptionKey": KEY_A, "previousEncryptionKeys": [KEY_B, KEY_A]},
            {},
            "signer.config.previousEncryptionKeys[1]",
            "repeats an encryption key given before",
        ),
        (
            {"previousEncryptionKeys": [KEY_B, "x" * 31]},
            {},
            "signer.config.previousEncryptionKeys[1]",
            "at least 32 random",
        ),
        (
            {"previousEncryptionKeysEnv": ["GONE"]},
            {},
            "signer.config.previousEncryptionKeysEnv[0]",
            "environment variable 'GONE' is not set or empty",
        ),
    ],
)
def test_bad_encryption_keys(
    options: dict[str, Any], environ: dict[str, str], where: str, message: str
) -> None:
    found = problems(with_signer(**options), environ)
    assert message in found[where], found
    assert not any(KEY_A in text or KEY_B in text for text in found.values())


def test_key_propagation_defaults() -> None:
    signer = load(document()).local_signer()
    assert signer.keys_reload_interval == timedelta(seconds=30)
    assert signer.jwks_max_age == timedelta(seconds=60)
    assert signer.minimum_propagation_delay() == timedelta(minutes=2)
    # The minimum, but never under 5 minutes.
    assert signer.effective_propagation_delay() == timedelta(minutes=5)
    slow = load(with_signer(keysReloadInterval="5m", jwksMaxAge="1m")).local_signer()
    assert slow.effective_propagation_delay() == timedelta(minutes=11)


def test_a_propagation_delay_below_the_minimum_is_refused() -> None:
    found = problems(with_signer(keysReloadInterval="10s", jwksMaxAge="5s", propagationDelay="24s"))
    assert found == {
        "signer.config.propagationDelay": "must be at least twice keysReloadInterval plus "
        "jwksMaxAge (25s): a replica would sign with a key another replica does not publish yet"
    }
    exact = load(with_signer(keysReloadInterval="10s", jwksMaxAge="5s", propagationDelay="25s"))
    assert exact.local_signer().effective_propagation_delay() == timedelta(seconds=25)
    assert problems(with_signer(keysReloadInterval="0s", jwksMaxAge="-1s")) == {
        "signer.config.keysReloadInterval": "must be greater than zero",
        "signer.config.jwksMaxAge": "must not be negative",
    }


def test_a_rotation_period_shorter_than_the_delay_is_a_warning() -> None:
    config = load(with_expiry(signingKeys="2m"))
    assert config.warnings == [
        "expiry.signingKeys: is shorter than the propagation delay (5m0s): a new key is "
        "published that long before it signs, so keys rotate that often at most"
    ]

    def key_warnings(**options: Any) -> list[str]:
        doc = document(enablePasswordDB=True, signer={"type": "local", "config": options})
        return [warning.split(":")[0] for warning in load(doc).warnings]

    assert key_warnings(keysRotationPeriod="1m", propagationDelay="3m") == [
        "signer.config.keysRotationPeriod"
    ]
    assert (
        key_warnings(
            keysRotationPeriod="1m",
            keysReloadInterval="10s",
            jwksMaxAge="0s",
            propagationDelay="20s",
        )
        == []
    )
