"""The ``passgate`` command as a whole: its version, and help text on every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from passgate import __version__
from passgate.cli.main import cli

PASSGATE = Path(sys.executable).with_name("passgate")


def test_version_option_and_command_agree() -> None:
    for argv in (["--version"], ["version"]):
        done = subprocess.run(
            [str(PASSGATE), *argv], capture_output=True, text=True, check=True, timeout=60
        )
        assert (done.stdout, done.stderr) == (f"passgate {__version__}\n", ""), argv
    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"passgate {__version__}\n")
