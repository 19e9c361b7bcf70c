"""Fixtures every connector test module uses: a frozen clock (upstream token lifetimes,
rate-limit resets) and TLS files for a fake upstream served over https with a private CA.
A module may still define its own (a module-scoped ``tls`` for a module-wide server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.tls import TLSFiles, make_tls_files
from passgate.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def tls(tmp_path: Path) -> TLSFiles:
    return make_tls_files(tmp_path / "tls")
