"""The encryption-at-rest format: AES-256-GCM under HKDF-derived keys, key ids, purposes,
previous keys for rotation, and one-line errors that never hold a key."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.keys.encryption import EncryptionKeyError, KeyRing, is_sealed, sealed_with

OLD, NEW = "o" * 32, "correct horse battery staple, 40 chars!"


def test_a_sealed_value_names_its_key_and_hides_the_data() -> None:
    ring = KeyRing(NEW)
    sealed = ring.seal(b"private key", "signing-key:k1")
    prefix, key_id, nonce, body = sealed.split(".")
    assert (prefix, key_id) == ("pgenc1", ring.current_id)
    assert len(key_id) == 8
    assert len(base64.urlsafe_b64decode(nonce + "=" * 3)[:12]) == 12
    assert b"private key" not in base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert NEW not in sealed
    assert is_sealed(sealed)
    assert sealed_with(sealed) == ring.current_id
    assert ring.open(sealed, "signing-key:k1", "the key") == b"private key"
    # A fresh nonce each time.
    assert ring.seal(b"private key", "signing-key:k1") != sealed


def test_key_ids_tell_keys_apart_and_are_stable() -> None:
    assert KeyRing(NEW).current_id == KeyRing(NEW).current_id
    assert KeyRing(NEW).current_id != KeyRing(OLD).current_id
    assert KeyRing().current_id == ""
    assert not KeyRing().seals


@given(data=st.binary(max_size=512), purpose=st.text(max_size=40))
def test_round_trip(data: bytes, purpose: str) -> None:
    ring = KeyRing(NEW)
    assert ring.open(ring.seal(data, purpose), purpose, "x") == data


def test_a_value_opens_only_for_its_own_purpose() -> None:
    ring = KeyRing(NEW)
    sealed = ring.seal(b"pepper", "server-secret:a")
    with pytest.raises(EncryptionKeyError, match=r"^the thing in storage does not decrypt"):
        ring.open(sealed, "server-secret:b", "the thing")


def test_altered_values_do_not_open() -> None:
    ring = KeyRing(NEW)
    prefix, key_id, nonce, body = ring.seal(b"secret data", "p").split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for value in (
        ".".join((prefix, key_id, nonce, flipped)),
        ".".join((prefix, key_id, nonce[:-1], body)),
        ".".join((prefix, key_id, "!!!!", body)),
        ".".join((prefix, key_id, nonce, body, "extra")),
        "pgenc1.",
        "not sealed at all",
    ):
        with pytest.raises(EncryptionKeyError) as caught:
            ring.open(value, "p", "the signing key")
        assert "\n" not in str(caught.value)


def test_previous_keys_open_and_the_current_one_seals() -> None:
    old = KeyRing(OLD).seal(b"data", "p")
    rotated = KeyRing(NEW, [OLD])
    assert rotated.open(old, "p", "x") == b"data"
    assert rotated.needs_reseal(old)
    resealed = rotated.seal(b"data", "p")
    assert sealed_with(resealed) == KeyRing(NEW).current_id
    assert not rotated.needs_reseal(resealed)
    # Back to the clear: only previous keys.
    clear = KeyRing("", [NEW])
    assert clear.open(resealed, "p", "x") == b"data"
    assert clear.needs_reseal(resealed)
    assert not clear.needs_reseal("")
    with pytest.raises(ValueError, match="no encryption key"):
        clear.seal(b"data", "p")


def test_what_needs_sealing_again() -> None:
    assert KeyRing(NEW).needs_reseal("")  # in the clear while a key is set
    assert not KeyRing().needs_reseal("")


def test_a_wrong_key_is_named_in_one_line() -> None:
    sealed = KeyRing(OLD).seal(b"data", "p")
    old_id, new_id = KeyRing(OLD).current_id, KeyRing(NEW).current_id
    with pytest.raises(EncryptionKeyError) as caught:
        KeyRing(NEW).open(sealed, "p", "the signing key")
    assert str(caught.value) == (
        f"the signing key in storage is encrypted with key {old_id}, which is neither "
        f"signer.config.encryptionKey (key {new_id}) nor one of previousEncryptionKeys"
    )
    with pytest.raises(EncryptionKeyError) as caught:
        KeyRing().open(sealed, "p", "the signing key")
    assert str(caught.value) == (
        f"the signing key in storage is encrypted (key {old_id}) but "
        "signer.config.encryptionKey is not set"
    )
    for error in (caught.value,):
        assert OLD not in str(error)
        assert NEW not in str(error)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        KeyRing("x" * 31)
    with pytest.raises(ValueError, match="at least 32"):
        KeyRing(NEW, ["short"])
