"""Periodic garbage collection of expired storage records.

Each replica runs its own collector; deletes are idempotent, so replicas collecting at
the same time only find less to delete. The time comes from the injected clock, so
tests decide what has expired.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Protocol

import anyio
import structlog

from passgate.clock import Clock
from passgate.storage.base import Storage
from passgate.storage.models import GCResult


class GCLog(Protocol):
    """Where the collector reports: ``log(logging.INFO, "event", key=value, ...)``."""

    def __call__(self, level: int, event: str, /, **fields: object) -> None: ...


def structlog_log(level: int, event: str, /, **fields: object) -> None:
    """The default :class:`GCLog`: the structured application log."""
    structlog.get_logger("passgate.storage.gc").log(level, event, **fields)


class GarbageCollector:
    """Calls ``storage.garbage_collect(clock())`` every ``interval``."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        interval: timedelta,
        log: GCLog = structlog_log,
        *,
        audit_retention: timedelta | None = None,
    ) -> None:
        if interval <= timedelta(0):
            raise ValueError(f"garbage collection interval must be positive, got {interval}")
        self._storage = storage
        self._clock = clock
        self._interval = interval
        self._log = log
        self._audit_retention = audit_retention

    @property
    def interval(self) -> timedelta:
        return self._interval

    async def run_once(self) -> GCResult:
        """Delete what has expired now, and audit events older than the retention (when
        one is set), and return the counts; failures propagate."""
        now = self._clock()
        result = await self._storage.garbage_collect(now)
        if self._audit_retention is not None:
            deleted = await self._storage.delete_audit_events(now - self._audit_retention)
            result = dataclasses.replace(result, audit_events=deleted)
        return result

    async def run_forever(self) -> None:
        """Collect now and then every ``interval`` until cancelled. A failed run is logged
        and the next one happens on schedule: a database blip must not end collection."""
        while True:
            try:
                result = await self.run_once()
            except Exception as exc:
                self._log(
                    logging.ERROR,
                    "garbage collection failed",
                    error=f"{type(exc).__name__}: {exc}",
                    exc_info=exc,
                )
            else:
                if not result.is_empty():
                    self._log(logging.INFO, "garbage collection", **dataclasses.asdict(result))
            await anyio.sleep(self._interval.total_seconds())
