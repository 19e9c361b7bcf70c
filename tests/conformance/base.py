"""The fixtures every conformance class shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest

from passgate.storage.base import Storage

# Opens one more storage on the backend's store of the current test (the same SQLite file
# or PostgreSQL database): a second call models a second server replica.
StorageFactory = Callable[[], Awaitable[Storage]]


class Conformance:
    """Base of the suite's classes. A backend's test module subclasses the suite and
    provides a ``storage_factory`` fixture (see ``tests/storage/test_memory.py``)."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.anyio]

    @pytest.fixture
    async def storage(self, storage_factory: StorageFactory) -> Storage:
        return await storage_factory()


class Boom(Exception):
    """Raised by updaters in the tests to abort an update."""
