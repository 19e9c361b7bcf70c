"""Refresh token strings, hashes and the deterministic secret chain."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.tokens.refresh import (
    format_refresh_token,
    hash_secret,
    new_refresh_secret,
    next_secret,
    parse_refresh_token,
    secret_matches,
)

URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_new_secrets_are_256_bit_url_safe_and_unique() -> None:
    secrets = {new_refresh_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert len(secret) == 43
        assert set(secret) <= URLSAFE


def test_format_and_parse_round_trip() -> None:
    secret = new_refresh_secret()
    value = format_refresh_token("Q3kP_-x9", secret)
    assert value == f"Q3kP_-x9.{secret}"
    assert parse_refresh_token(value) == ("Q3kP_-x9", secret)


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "id.",
        ".secretsecretsecretsecretsecret",
        "id.short",
        "a.b.c" + "x" * 40,
        "id." + "x" * 42 + " ",
        "id." + "x" * 42 + "\n",
        " id." + "x" * 43,
        "i d." + "x" * 43,
        "id." + "x" * 42 + "=",
        "id." + "x" * 42 + "é",
        "id." + "x" * 500,
        "i" * 65 + "." + "x" * 43,
        "\x00." + "x" * 43,
    ],
)
def test_parse_rejects_garbage(value: str) -> None:
    assert parse_refresh_token(value) is None


@given(st.text(max_size=400))
def test_parse_never_raises(value: str) -> None:
    parsed = parse_refresh_token(value)
    if parsed is not None:
        token_id, secret = parsed
        assert format_refresh_token(token_id, secret) == value


@given(st.text(alphabet=sorted(URLSAFE), min_size=1, max_size=64))
def test_parse_accepts_every_well_formed_token(token_id: str) -> None:
    secret = new_refresh_secret()
    assert parse_refresh_token(format_refresh_token(token_id, secret)) == (token_id, secret)


def test_hash_secret_is_sha256_hex() -> None:
    # FIPS 180-2 Appendix B.1 ("abc").
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_secret_matches() -> None:
    secret = new_refresh_secret()
    stored = hash_secret(secret)
    assert secret_matches(secret, stored)
    assert not secret_matches(new_refresh_secret(), stored)
    assert not secret_matches(secret, "")
    assert not secret_matches(secret, stored.upper())
    assert not secret_matches(secret, "é" * 64)


def test_next_secret_is_hmac_sha256_url_safe() -> None:
    key, secret = b"k" * 32, new_refresh_secret()
    mac = hmac.new(key, secret.encode(), hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert next_secret(key, secret) == expected
    assert next_secret(key, secret) == next_secret(key, secret)
    assert next_secret(b"j" * 32, secret) != expected
    # The derived secret is itself a valid secret: rotation can chain.
    assert parse_refresh_token(format_refresh_token("id", next_secret(key, secret))) is not None


def test_the_previous_secret_recomputes_the_current_one_from_hashes_alone() -> None:
    """The reuse-interval design: storage keeps only hashes, yet a retry with the previous
    secret can be answered with the same current token."""
    key = b"r" * 32
    previous = new_refresh_secret()
    current = next_secret(key, previous)
    stored_hash, obsolete_hash = hash_secret(current), hash_secret(previous)
    # A retry presents `previous`: it matches the obsolete hash, and its successor matches
    # the current hash, so the server hands back `current` again.
    assert secret_matches(previous, obsolete_hash)
    assert secret_matches(next_secret(key, previous), stored_hash)
