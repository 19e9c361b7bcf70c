"""The Dex-compatible ``sub`` encoding."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.tokens.subject import decode_subject, encode_subject

# Dex's documentation ("Using Dex", example ID token) shows sub "CgcyMzQyNzQ5EgZnaXRodWI".
# Decoded by hand: 0a 07 32 33 34 32 37 34 39 12 06 67 69 74 68 75 62, i.e. field 1
# (tag 0x0a = 1<<3|2) of length 7 "2342749", then field 2 (tag 0x12 = 2<<3|2) of length 6
# "github".
DEX_EXAMPLE = "CgcyMzQyNzQ5EgZnaXRodWI"


def test_dex_documentation_example() -> None:
    assert base64.urlsafe_b64decode(DEX_EXAMPLE + "=") == b"\n\x072342749\x12\x06github"
    assert encode_subject("2342749", "github") == DEX_EXAMPLE
    assert decode_subject(DEX_EXAMPLE) == ("2342749", "github")


def test_long_values_use_multi_byte_lengths() -> None:
    user = "u" * 300  # 300 = 0b10_0101100 → varint ac 02
    raw = base64.urlsafe_b64decode(encode_subject(user, "c") + "==")
    assert raw[:3] == b"\x0a\xac\x02"
    assert raw[3:303] == user.encode()
    assert raw[303:] == b"\x12\x01c"


def test_empty_values_are_left_out_as_proto3_does() -> None:
    assert base64.urlsafe_b64decode(encode_subject("", "local") + "==") == b"\x12\x05local"
    assert decode_subject(encode_subject("", "local")) == ("", "local")
    assert encode_subject("", "") == ""
    assert decode_subject("") == ("", "")


def test_no_padding_and_url_safe_alphabet() -> None:
    subject = encode_subject("ü>?~", "conn")
    assert "=" not in subject
    assert "+" not in subject
    assert "/" not in subject


@given(st.text(max_size=400), st.text(max_size=100))
def test_round_trip(user_id: str, connector_id: str) -> None:
    assert decode_subject(encode_subject(user_id, connector_id)) == (user_id, connector_id)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "subject",
    [
        DEX_EXAMPLE + "=",  # padding
        "CgcyMzQyNzQ5EgZnaXRodWI+",  # not base64url
        _b64(b"\x0a\x05abc"),  # truncated value
        _b64(b"\x0a"),  # missing length
        _b64(b"\x0a\xff"),  # truncated varint
        _b64(b"\x1a\x01x"),  # unknown field 3
        _b64(b"\x08\x01"),  # field 1 with the varint wire type
        _b64(b"\x0a\x01a\x0a\x01b"),  # field repeated
        _b64(b"\x0a\x02\xc3\x28"),  # invalid UTF-8
        _b64(b"\x0a" + b"\xff" * 11),  # overlong varint
        "é",
        "A" * 5000,
    ],
)
def test_malformed_subjects_raise_value_error(subject: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is "a ValueError"
        decode_subject(subject)


@given(st.text(max_size=200))
def test_decode_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        decode_subject(text)
