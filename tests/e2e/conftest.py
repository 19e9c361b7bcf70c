"""Fixtures for the end-to-end tests: ``launcher`` makes real ``passgate serve`` processes
(see ``e2e.support``) and SIGKILLs whatever is still running when the test ends."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.support import Launcher


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.close()
