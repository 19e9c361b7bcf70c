"""Assertion IDs already used, remembered until the assertion could no longer be
accepted (SAML Profiles §4.1.4.5: a bearer assertion must not be used twice).

In-process: with several Passgate replicas each remembers its own. The InResponseTo
check already ties an assertion to one single-use sign-in request, so this is the
second of two locks, not the only one.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

#: How long an assertion without an expiry of its own is remembered.
DEFAULT_MEMORY = timedelta(hours=24)
MAX_ENTRIES = 100_000


class ReplayCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        self._max = max_entries
        self._next_sweep: datetime | None = None

    def first_use(self, assertion_id: str, until: datetime | None, now: datetime) -> bool:
        """Record ``assertion_id``; False if it was already used and is still valid."""
        self._forget_expired(now)
        known = self._seen.get(assertion_id)
        if known is not None and known > now:
            return False
        self._seen[assertion_id] = until if until is not None else now + DEFAULT_MEMORY
        self._seen.move_to_end(assertion_id)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True

    def _forget_expired(self, now: datetime) -> None:
        # A sweep is O(n): at most once a minute.
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + timedelta(minutes=1)
        expired = [key for key, until in self._seen.items() if until <= now]
        for key in expired:
            del self._seen[key]
