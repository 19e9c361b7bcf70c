"""The forward-auth cookie and the sign-in state, MAC'd with a key every replica shares.

The cookie is ``<sid>.<iat>.<exp>.<mac>``: the browser session it belongs to (whose
server-side record holds the identity: the cookie carries none), when it was issued (so
revocation rules with a cut-off apply to it) and when it ends. A forged or edited cookie
fails the MAC before anything is looked up, so a flood of garbage cookies costs no storage
read. The state sent through the sign-in is ``<nonce>.<return URL, base64url>.<mac>``.

The key is a shared server secret in storage, encrypted with ``signer.config.encryptionKey``
when one is set (``keys/at_rest``): a database dump alone then cannot forge a cookie for
a session it lists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from passgate.clock import Clock
from passgate.keys.at_rest import load_server_secret
from passgate.keys.encryption import KeyRing
from passgate.storage.base import Storage

__all__ = ["KEY_NAME", "Sealed", "Sealer", "load_key"]

#: The storage name of the shared key.
KEY_NAME = "forward-auth-cookie"
_MAX_COOKIE = 512
_MAX_STATE = 4096


async def load_key(storage: Storage, clock: Clock, ring: KeyRing) -> bytes:
    """The shared key: read it, or make it (the first replica to ask wins a race)."""
    return await load_server_secret(storage, KEY_NAME, ring, clock)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A forward-auth cookie that passed its MAC (its expiry is the caller's to check)."""

    sid: str
    issued_at: datetime
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the forward-auth key must be at least 32 bytes")
        self._key = key

    def _mac(self, purpose: str, *parts: str) -> str:
        message = "\x1f".join((purpose, *parts)).encode("utf-8")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def _matches(self, presented: str, purpose: str, *parts: str) -> bool:
        return secrets.compare_digest(
            self._mac(purpose, *parts).encode("ascii"), presented.encode("utf-8", "replace")
        )

    def tag(self, purpose: str, *parts: str) -> str:
        """A MAC of ``parts`` for ``purpose``: a form token nobody else can make."""
        return self._mac(purpose, *parts)

    def tag_matches(self, presented: str, purpose: str, *parts: str) -> bool:
        return self._matches(presented, purpose, *parts)

    # -- the cookie --------------------------------------------------------------------
    def seal(self, sid: str, issued_at: datetime, expires_at: datetime) -> str:
        iat, exp = str(int(issued_at.timestamp())), str(int(expires_at.timestamp()))
        return f"{sid}.{iat}.{exp}.{self._mac('cookie', sid, iat, exp)}"

    def open(self, value: str) -> Sealed | None:
        """The cookie's content, or None for anything that is not a cookie we made."""
        if len(value) > _MAX_COOKIE or value.count(".") != 3:
            return None
        sid, iat, exp, mac = value.split(".")
        if not (sid and iat.isdigit() and exp.isdigit() and iat.isascii() and exp.isascii()):
            return None
        if not self._matches(mac, "cookie", sid, iat, exp):
            return None
        try:
            issued = datetime.fromtimestamp(int(iat), UTC)
            expires = datetime.fromtimestamp(int(exp), UTC)
        except (OverflowError, ValueError, OSError):
            return None
        return Sealed(sid, issued, expires)

    # -- the sign-in state ---------------------------------------------------------------
    def seal_state(self, nonce: str, return_to: str) -> str:
        encoded = _b64(return_to.encode("utf-8"))
        return f"{nonce}.{encoded}.{self._mac('state', nonce, encoded)}"

    def open_state(self, value: str) -> tuple[str, str] | None:
        """``(nonce, return URL)`` of a state we made, else None."""
        if len(value) > _MAX_STATE or value.count(".") != 2:
            return None
        nonce, encoded, mac = value.split(".")
        if not nonce or not self._matches(mac, "state", nonce, encoded):
            return None
        try:
            return nonce, _unb64(encoded).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
