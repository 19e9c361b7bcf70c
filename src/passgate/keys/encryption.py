"""Encryption at rest of what would let a database dump alone mint tokens or forge cookies:
the signing key's private half and the shared server secrets (the client-secret pepper,
the forward-auth cookie key).

``signer.config.encryptionKey`` seals; ``previousEncryptionKeys`` only open, so that the
key can be rotated: values sealed with an old key are opened with it and sealed again
with the new one at start-up. A value is sealed with AES-256-GCM (NIST SP 800-38D, a
random 96-bit nonce per value) under a key derived from the configured one by HKDF-SHA256
(RFC 5869), and stored as text::

    pgenc1.<key id>.<nonce>.<ciphertext and tag>        (base64url, no padding)

The key id names the configured key that sealed the value (8 characters, also derived by
HKDF: it tells keys apart without saying anything about them), so a rotation knows what
to re-seal and a wrong key is named in one line. The associated data binds the value to
its format version, its key id and its purpose (``signing-key:<kid>``,
``server-secret:<name>``): one sealed value cannot be moved into another's place.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["MIN_KEY_LENGTH", "PREFIX", "EncryptionKeyError", "KeyRing", "is_sealed", "sealed_with"]

PREFIX = "pgenc1"
#: The configured key is a secret string, not a password: HKDF does not stretch it, so it
#: must carry its own entropy (``openssl rand -base64 32`` gives 44 characters).
MIN_KEY_LENGTH = 32
_NONCE_BYTES = 12  # SP 800-38D §8.2.2: 96-bit random nonces
_KEY_INFO = b"passgate encryption at rest v1: AES-256-GCM key"
_ID_INFO = b"passgate encryption at rest v1: key id"
_KEY_SETTING = "signer.config.encryptionKey"


class EncryptionKeyError(Exception):
    """A sealed value cannot be opened with the configured keys (wrong, missing or rotated
    away), or is damaged. The message is one line, for a person, and holds no key."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii() or "=" in text:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(key: str, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
        key.encode("utf-8")
    )


def is_sealed(value: str) -> bool:
    """Whether ``value`` is in the sealed format (else it is stored in the clear)."""
    return value.startswith(PREFIX + ".")


def sealed_with(value: str) -> str:
    """The key id a sealed value names ("" when it is not sealed)."""
    parts = value.split(".")
    return parts[1] if is_sealed(value) and len(parts) == 4 else ""


class _Key:
    __slots__ = ("aead", "id")

    def __init__(self, key: str) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"an encryption key is at least {MIN_KEY_LENGTH} characters")
        self.id = _b64(_derive(key, _ID_INFO, 6))
        self.aead = AESGCM(_derive(key, _KEY_INFO, 32))


class KeyRing:
    """The configured encryption keys: ``current`` seals (none: values are stored in the
    clear), ``current`` and ``previous`` open."""

    def __init__(self, current: str = "", previous: Sequence[str] = ()) -> None:
        self._current = _Key(current) if current else None
        self._keys = {key.id: key for key in (_Key(k) for k in previous)}
        if self._current is not None:
            self._keys[self._current.id] = self._current

    @property
    def current_id(self) -> str:
        """The id of the key that seals ("" when values are stored in the clear)."""
        return self._current.id if self._current is not None else ""

    @property
    def seals(self) -> bool:
        return self._current is not None

    def seal(self, data: bytes, purpose: str) -> str:
        """``data`` sealed with the current key for ``purpose``."""
        if self._current is None:
            raise ValueError("no encryption key is configured")
        key = self._current
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, data, self._aad(key.id, purpose))
        return ".".join((PREFIX, key.id, _b64(nonce), _b64(sealed)))

    def open(self, value: str, purpose: str, what: str) -> bytes:
        """The data ``value`` sealed for ``purpose``; ``what`` names it in errors ("the
        signing key")."""
        parts = value.split(".")
        if not is_sealed(value) or len(parts) != 4:
            raise EncryptionKeyError(f"{what} in storage is not a readable encrypted value")
        _, key_id, nonce_text, sealed_text = parts
        key = self._keys.get(key_id)
        if key is None:
            raise EncryptionKeyError(self._unknown(what, key_id))
        try:
            nonce, sealed = _unb64(nonce_text), _unb64(sealed_text)
            if len(nonce) != _NONCE_BYTES:
                raise ValueError("bad nonce")
            return key.aead.decrypt(nonce, sealed, self._aad(key_id, purpose))
        except (InvalidTag, ValueError, binascii.Error):
            raise EncryptionKeyError(
                f"{what} in storage does not decrypt with key {key_id} (altered or misplaced?)"
            ) from None

    def needs_reseal(self, value: str) -> bool:
        """Whether a stored value is not in the form the configuration asks for: in the
        clear while a key is set, sealed with another key than the current one, or sealed
        while no key is set (then it goes back to the clear)."""
        if not is_sealed(value):
            return self._current is not None
        return sealed_with(value) != self.current_id

    def _unknown(self, what: str, key_id: str) -> str:
        if not self._keys:
            return f"{what} in storage is encrypted (key {key_id}) but {_KEY_SETTING} is not set"
        current = f" (key {self.current_id})" if self._current is not None else " (not set)"
        return (
            f"{what} in storage is encrypted with key {key_id}, which is neither "
            f"{_KEY_SETTING}{current} nor one of previousEncryptionKeys"
        )

    @staticmethod
    def _aad(key_id: str, purpose: str) -> bytes:
        return f"{PREFIX}\x1f{key_id}\x1f{purpose}".encode()
