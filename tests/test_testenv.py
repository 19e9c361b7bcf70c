"""The CI rule of testenv: a missing tool skips locally and fails under CI (CI=1 implies
every PASSGATE_REQUIRE_*), and under CI any skip at all fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import testenv

TESTS = Path(__file__).resolve().parent
CONFTEST = """\
from testenv import pytest_runtest_logreport, pytest_sessionfinish, pytest_terminal_summary
"""
TESTS_FILE = """\
import pytest
from testenv import missing

def test_needs_chromium():
    missing("CHROMIUM", "/usr/bin/chromium is missing: apt-get install -y chromium")

def test_runs():
    pass
"""
PLAIN_SKIP = """\
import pytest

def test_skips():
    pytest.skip("no reason that missing() knows")

def test_runs():
    pass
"""


def run(tmp_path: Path, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_it.py").write_text(text)
    clean = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PASSGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(TESTS), **env},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "on"),
    [("", False), ("0", False), ("false", False), ("No", False), ("1", True), ("true", True)],
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv("CI", value)
    for what in testenv.REQUIREMENTS:
        monkeypatch.delenv(f"PASSGATE_REQUIRE_{what}", raising=False)
    assert testenv.ci() is on
    assert all(testenv.required(what) is on for what in testenv.REQUIREMENTS)


def test_one_requirement_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PASSGATE_REQUIRE_CHROMIUM", raising=False)
    monkeypatch.setenv("PASSGATE_REQUIRE_LDAP", "1")
    assert testenv.required("LDAP")
    assert not testenv.required("CHROMIUM")


def test_a_missing_tool_skips_locally(tmp_path: Path) -> None:
    done = run(tmp_path, TESTS_FILE)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout


@pytest.mark.parametrize("env", [{"CI": "true"}, {"PASSGATE_REQUIRE_CHROMIUM": "1"}])
def test_a_missing_tool_fails_where_required(tmp_path: Path, env: dict[str, str]) -> None:
    done = run(tmp_path, TESTS_FILE, **env)
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 passed" in done.stdout
    assert "/usr/bin/chromium is missing" in done.stdout
    assert "PASSGATE_REQUIRE_CHROMIUM=1" in done.stdout


def test_any_skip_fails_the_run_under_ci(tmp_path: Path) -> None:
    assert run(tmp_path, PLAIN_SKIP).returncode == 0
    done = run(tmp_path, PLAIN_SKIP, CI="1")
    assert done.returncode == 1, done.stdout
    assert "skipped under CI, which fails the run" in done.stdout
    assert "test_it.py::test_skips" in done.stdout
    assert "no reason that missing() knows" in done.stdout
