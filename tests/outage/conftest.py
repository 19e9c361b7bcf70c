"""A PostgreSQL cluster of the test's own, to restart, stop and cut off."""

from __future__ import annotations

import glob
import shutil
from collections.abc import Iterator

import pytest

from outage.pgcluster import Cluster
from testenv import missing


def _have_server_binaries() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"))


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not _have_server_binaries():
        missing("POSTGRES", "PostgreSQL server binaries are missing: apt-get install postgresql")
    started = Cluster.start()
    try:
        yield started
    finally:
        started.stop()
