"""Shared fixtures: the anyio backend, real PostgreSQL databases for the storage tests,
real `passgate serve` processes (`launcher`) and Debian's Chromium (`chromium_path`)."""

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from e2e.support import Launcher
from testenv import (  # noqa: F401 - the hooks that make a skip under CI a failure
    missing,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

POSTGRES_DSN_ENV = "PASSGATE_TEST_POSTGRES_DSN"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server_dsn() -> str:
    """The DSN in PASSGATE_TEST_POSTGRES_DSN (a superuser, maintenance database).

    Missing: the test skips, or fails under CI / PASSGATE_REQUIRE_POSTGRES=1, because a
    CI that silently skips PostgreSQL proves nothing about it.
    """
    dsn = os.environ.get(POSTGRES_DSN_ENV, "")
    if not dsn:
        reason = (
            f"{POSTGRES_DSN_ENV} is not set: start a server with `eval "
            f'"$(scripts/pg-test-server)"` or run pytest under scripts/with-test-services'
        )
        missing("POSTGRES", reason)
    return dsn


@pytest.fixture
def postgres_dsn(postgres_server_dsn: str) -> Iterator[str]:
    """A libpq DSN of a fresh, empty database of its own, dropped after the test."""
    name = f"passgate_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(postgres_server_dsn)
    params["dbname"] = name
    try:
        yield make_conninfo("", **params)
    finally:
        with psycopg.connect(postgres_server_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def chromium_path() -> str:
    """Debian's Chromium, for the Playwright tests (tests/pages, tests/e2e): skipped when
    absent, except under CI, where it must run."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        missing("CHROMIUM", f"{chromium} is missing: apt-get install -y chromium (make setup)")
    return str(chromium)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Real ``passgate serve`` processes (``e2e.support``) for the end-to-end tests (and
    any test that needs a running issuer); whatever still runs is SIGKILLed at the end."""
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.close()
