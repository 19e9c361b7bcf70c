"""The in-memory backend passes the conformance suite."""

import pytest

from conformance.suite import StorageConformance, StorageFactory
from passgate.storage.base import Storage
from passgate.storage.memory import MemoryStorage


@pytest.fixture
def storage_factory() -> StorageFactory:
    async def make() -> Storage:
        return MemoryStorage()

    return make


class TestMemoryConformance(StorageConformance):
    pass
