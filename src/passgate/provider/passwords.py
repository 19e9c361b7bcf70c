"""The rules for a new password of the password database, and hashing it: one place for
the admin API (an admin sets a password) and the account page (a person changes theirs).

Hashes are bcrypt at Dex's minimum cost or more, so Dex reads them unchanged; hashing
costs tens of milliseconds of CPU, so it runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import anyio
import bcrypt

from passgate.config.clients import DEX_MIN_BCRYPT_COST
from passgate.connectors.local import MAX_PASSWORD_BYTES

__all__ = [
    "DEFAULT_BCRYPT_COST",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_LENGTH",
    "PasswordRuleError",
    "check_new_password",
    "hash_password",
]

MIN_PASSWORD_LENGTH = 8
DEFAULT_BCRYPT_COST = DEX_MIN_BCRYPT_COST  # Dex refuses cheaper hashes at login


class PasswordRuleError(ValueError):
    """The new password breaks a rule; the message tells the person which."""


def check_new_password(password: str) -> bytes:
    """The password's bytes, or :class:`PasswordRuleError`: at least
    :data:`MIN_PASSWORD_LENGTH` characters, at most :data:`MAX_PASSWORD_BYTES` bytes (bcrypt
    reads no further, so a longer one would be silently cut), no NUL character."""
    raw = password.encode("utf-8")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRuleError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(raw) > MAX_PASSWORD_BYTES or "\x00" in password:
        raise PasswordRuleError(
            f"a password is at most {MAX_PASSWORD_BYTES} bytes and holds no NUL character"
        )
    return raw


async def hash_password(password: str, cost: int = DEFAULT_BCRYPT_COST) -> bytes:
    """The bcrypt hash of a password that passes :func:`check_new_password`."""
    raw = check_new_password(password)
    salt = bcrypt.gensalt(rounds=cost)
    return await anyio.to_thread.run_sync(bcrypt.hashpw, raw, salt)
