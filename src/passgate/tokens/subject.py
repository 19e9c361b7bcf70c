"""Dex-compatible ``sub``: stable per user *and* connector, so two upstreams cannot collide.

Dex encodes the protobuf message ``IDTokenSubject { string user_id = 1; string conn_id = 2; }``
and base64url-encodes it without padding. Keeping the same bytes means tokens, RBAC bindings
and audit trails keyed on ``sub`` survive a move from Dex to Passgate. The message is tiny,
so it is encoded here by hand rather than pulling in a protobuf runtime.

Example (Dex documentation): ``CgcyMzQyNzQ5EgZnaXRodWI`` decodes to the bytes
``0a 07 "2342749" 12 06 "github"``: field 1 (tag ``0x0a`` = 1<<3 | wire type 2), length 7,
the user id; field 2 (tag ``0x12`` = 2<<3 | 2), length 6, the connector id.
"""

from __future__ import annotations

import binascii

from joserfc.util import urlsafe_b64decode, urlsafe_b64encode

_USER_ID_TAG = 0x0A  # field 1, wire type 2 (length-delimited)
_CONN_ID_TAG = 0x12  # field 2, wire type 2
_MAX_SUBJECT_LENGTH = 4096


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint: 7 bits per byte, least significant group first."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated or overlong varint")


def _field(tag: int, text: str) -> bytes:
    # proto3 leaves a field with its default value (the empty string) off the wire.
    if not text:
        return b""
    raw = text.encode("utf-8")
    return bytes([tag]) + _varint(len(raw)) + raw


def encode_subject(user_id: str, connector_id: str) -> str:
    """The ``sub`` claim for ``user_id`` as vouched for by connector ``connector_id``."""
    message = _field(_USER_ID_TAG, user_id) + _field(_CONN_ID_TAG, connector_id)
    return urlsafe_b64encode(message).decode("ascii")


def decode_subject(subject: str) -> tuple[str, str]:
    """``(user_id, connector_id)`` from a ``sub`` made by :func:`encode_subject` (or by Dex).
    Raises ``ValueError`` for anything else."""
    if len(subject) > _MAX_SUBJECT_LENGTH:
        raise ValueError("subject too long")
    try:
        data = urlsafe_b64decode(subject.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("subject is not base64url") from None
    fields = {_USER_ID_TAG: "", _CONN_ID_TAG: ""}
    seen: set[int] = set()
    pos = 0
    while pos < len(data):
        tag = data[pos]
        if tag not in fields or tag in seen:
            raise ValueError("unexpected field in subject")
        seen.add(tag)
        length, pos = _read_varint(data, pos + 1)
        end = pos + length
        if end > len(data):
            raise ValueError("truncated subject")
        fields[tag] = data[pos:end].decode("utf-8")  # UnicodeDecodeError is a ValueError
        pos = end
    return fields[_USER_ID_TAG], fields[_CONN_ID_TAG]
