"""The ``passgate`` command as a whole: its version, and help text on every command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from passgate import __version__
from passgate.cli.main import cli

PASSGATE = Path(sys.executable).with_name("passgate")
Found = tuple[tuple[str, ...], click.Command]


def test_version_option_and_command_agree() -> None:
    for argv in (["--version"], ["version"]):
        done = subprocess.run(
            [str(PASSGATE), *argv], capture_output=True, text=True, check=True, timeout=60
        )
        assert (done.stdout, done.stderr) == (f"passgate {__version__}\n", ""), argv
    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"passgate {__version__}\n")


def walk(command: click.Command, path: tuple[str, ...] = ("passgate",)) -> Iterator[Found]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def test_every_command_and_option_has_help_text() -> None:
    """`passgate ... --help` explains each command and each option, down the whole tree."""
    commands = list(walk(cli))
    assert len(commands) > 30  # the tree really was walked: admin's subcommands too
    missing = []
    for path, command in commands:
        if not (command.help or command.short_help or "").strip():
            missing.append(" ".join(path))
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[-1]}")
    assert missing == []


def test_help_runs_for_every_command() -> None:
    runner = CliRunner()
    for path, command in walk(cli):
        result = runner.invoke(cli, [*path[1:], "--help"])
        assert result.exit_code == 0, (path, result.output)
        summary = (command.help or "").split("\n")[0].split(".")[0][:40]
        assert summary.split()[0] in result.stdout, path
