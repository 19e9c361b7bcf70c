"""What the test environment must provide, and what a missing piece means.

Locally a missing tool or server (PostgreSQL, Chromium, slapd, nginx, Caddy, node, podman,
...) skips the tests that need it, saying how to install it (`make setup` installs them
all). Under CI (``CI`` set, to anything but ``0`` or ``false``) every one is required: its
absence fails those tests, and any test skipped for another reason fails the run too
(``tests/conftest.py``), because a CI run that skips proves nothing about what it skipped.
``PASSGATE_REQUIRE_<WHAT>=1`` requires one of them outside CI.
"""

import os
from typing import NoReturn

import pytest

#: The names of ``PASSGATE_REQUIRE_<WHAT>``, one per kind of thing the tests need.
REQUIREMENTS = ("POSTGRES", "UPSTREAM", "LDAP", "CHROMIUM", "PROXIES", "DEPLOY", "KUBECTL")


def ci() -> bool:
    """Running under CI: ``CI`` set (GitHub, GitLab and .ci/run set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def required(what: str) -> bool:
    """``what`` (one of :data:`REQUIREMENTS`) must be there: under CI, or when asked."""
    assert what in REQUIREMENTS, what
    return ci() or os.environ.get(f"PASSGATE_REQUIRE_{what}") == "1"


def missing(what: str, reason: str) -> NoReturn:
    """The test cannot run without ``what``: skip it with ``reason`` (which says how to
    install it), or fail it where ``what`` is required."""
    if required(what):
        pytest.fail(
            f"{reason} (required under CI, or with PASSGATE_REQUIRE_{what}=1)", pytrace=False
        )
    pytest.skip(reason)


# -- under CI a skip is a failure --------------------------------------------------------------
# Hook implementations, imported by tests/conftest.py: whatever made a test skip (a tool
# checked without missing(), an importorskip), CI reports it and fails the run.
_SKIPPED_UNDER_CI: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if ci() and report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _SKIPPED_UNDER_CI.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_UNDER_CI and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SKIPPED_UNDER_CI:
        terminalreporter.section("skipped under CI, which fails the run", red=True)
        for line in _SKIPPED_UNDER_CI:
            terminalreporter.write_line(line)
