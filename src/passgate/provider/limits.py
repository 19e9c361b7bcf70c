"""Limits on failed password attempts, kept in storage so every replica counts them."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from passgate.clock import Clock
from passgate.provider.settings import LoginLimits
from passgate.storage.base import Storage
from passgate.storage.models import LoginAttempts


class TooManyAttempts(Exception):
    """Locked out until ``until``."""

    def __init__(self, until: datetime, now: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until
        # RFC 9110 §10.2.3 / RFC 6585 §4: whole seconds until the lock lifts.
        self.retry_after = max(1, int((until - now).total_seconds()) + 1)


class LoginLimiter:
    def __init__(self, storage: Storage, clock: Clock, limits: LoginLimits) -> None:
        self._storage = storage
        self._clock = clock
        self._limits = limits

    @staticmethod
    def keys(connector_id: str, username: str, address: str) -> tuple[str, str]:
        return f"user:{connector_id}:{username.strip().lower()}", f"addr:{address}"

    async def check(self, user_key: str, address_key: str) -> None:
        """Raise :class:`TooManyAttempts` while either key is locked."""
        now = self._clock()
        for key in (user_key, address_key):
            record = await self._storage.get_login_attempts(key)
            if record is not None and record.locked_until is not None and record.locked_until > now:
                raise TooManyAttempts(record.locked_until, now)

    async def failed(self, user_key: str, address_key: str) -> None:
        await self._bump(user_key, self._limits.per_user)
        await self._bump(address_key, self._limits.per_address)

    async def succeeded(self, user_key: str) -> None:
        # Only a user with failures on record needs a write; most logins have none.
        if await self._storage.get_login_attempts(user_key) is not None:
            await self._storage.update_login_attempts(user_key, lambda _old: None)

    async def _bump(self, key: str, allowed: int) -> None:
        now = self._clock()
        limits = self._limits

        def bump(old: LoginAttempts | None) -> LoginAttempts:
            if old is None or old.expiry <= now:
                old = LoginAttempts(key=key, failures=0, expiry=now + limits.window)
            failures = old.failures + 1
            locked = now + limits.lockout if failures >= allowed else old.locked_until
            return dataclasses.replace(
                old, failures=failures, locked_until=locked, expiry=max(old.expiry, now)
            )

        await self._storage.update_login_attempts(key, bump)
