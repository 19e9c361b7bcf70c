"""The password database connector (``enablePasswordDB`` and ``staticPasswords``).

Passwords are bcrypt hashes (Dex-compatible). Checking one costs tens of milliseconds
of CPU, so it runs in a worker thread, never on the event loop. An unknown user is
checked against a dummy hash, so response time does not reveal which emails exist. A
disabled user (the admin API, the console) is refused like a wrong password, after the
same hash check, and their refresh tokens stop working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import bcrypt

from passgate.connectors.base import (
    ConnectorError,
    Identity,
    PasswordConnector,
    RefreshConnector,
    Scopes,
)
from passgate.storage.base import NotFoundError
from passgate.storage.models import Password

PasswordLookup = Callable[[str], Awaitable[Password]]

# bcrypt("not a real password", cost 10): compared against when the user is unknown.
_DUMMY_HASH = b"$2b$10$Kkr8FXiDLRo0bzI8L6X/NOl0dYu507MQ20YWoXdQXKSVdcTYOTjbO"

MAX_PASSWORD_BYTES = 72  # bcrypt only reads the first 72 bytes; refuse longer ones


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a malformed hash in storage: never a match
        return False


def identity_of(entry: Password) -> Identity:
    return Identity(
        user_id=entry.user_id,
        username=entry.username,
        preferred_username=entry.preferred_username,
        email=entry.email,
        email_verified=entry.email_verified,
        groups=entry.groups,
    )


class LocalConnector(PasswordConnector, RefreshConnector):
    """Users kept by Passgate itself; the login field is the email address (as in Dex)."""

    needs_stored_data = False  # the user is looked up by what the claims say

    prompt = "Email Address"

    def __init__(self, lookup: PasswordLookup) -> None:
        self._lookup = lookup

    async def login(self, scopes: Scopes, username: str, password: str) -> Identity | None:
        secret = password.encode("utf-8")
        if len(secret) > MAX_PASSWORD_BYTES or not username:
            return None
        try:
            entry: Password | None = await self._lookup(username.strip())
        except NotFoundError:
            entry = None
        hashed = entry.hash if entry is not None else _DUMMY_HASH
        matches = await asyncio.to_thread(_check, secret, hashed)
        if entry is None or not matches or entry.disabled:
            return None
        return identity_of(entry)

    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        """The user must still exist; name, groups and email follow the database."""
        try:
            entry = await self._lookup(identity.email)
        except NotFoundError:
            raise ConnectorError("the user no longer exists") from None
        if entry.user_id != identity.user_id:
            raise ConnectorError("the user was replaced")
        if entry.disabled:
            raise ConnectorError("the user is disabled")
        return identity_of(entry)
