"""Every command that takes a config file says the same about one it cannot use: the same
line on stderr and the same exit status, whichever command was given it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from passgate.cli.main import cli

#: Each command that reads a passgate config, with CONFIG where the path goes.
CONFIG_COMMANDS = [
    ["serve", "CONFIG"],
    ["check-config", "CONFIG"],
    ["apiserver-config", "CONFIG", "--cluster", "prod"],
    ["apiserver-config", "CONFIG", "--cluster", "prod", "--format", "webhook"],
    ["kubeconfig", "--config", "CONFIG", "--all", "--output", "-"],
]


def run(argv: list[str], path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(path) if arg == "CONFIG" else arg for arg in argv])
    return result.exit_code, result.stdout, result.stderr


def test_the_list_covers_every_command_with_a_config_file() -> None:
    """A new command that reads a config file joins CONFIG_COMMANDS."""
    named = {argv[0] for argv in CONFIG_COMMANDS}
    takes_config = {
        name
        for name, command in cli.commands.items()
        if any(param.name == "config_file" for param in command.params)
    }
    assert takes_config == named


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing.yaml", "No such file or directory"),
        (lambda tmp: tmp, "Is a directory"),
    ],
    ids=["missing", "directory"],
)
def test_an_unreadable_file_gives_one_message_and_exit_1(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    path = make(tmp_path)
    expected = (1, "", f"passgate: cannot read the config file {path}: {reason}\n")
    for argv in CONFIG_COMMANDS:
        assert run(argv, path) == expected, argv


def test_an_invalid_file_gives_one_message_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("issuer: not-a-url\nstorage: {type: memory}\nweb: {http: 127.0.0.1:1}\n")
    outcomes = {argv[0]: run(argv, path) for argv in CONFIG_COMMANDS}
    # check-config is the one whose job is the report: every problem, then exit 1.
    status, out, err = outcomes.pop("check-config")
    assert (status, out) == (1, "")
    assert err.startswith(f"{path}: 1 problem\n  issuer: must be an absolute http(s) URL")
    assert {outcome[:2] for outcome in outcomes.values()} == {(1, "")}
    [message] = {outcome[2] for outcome in outcomes.values()}
    assert message.startswith(f"passgate: invalid configuration {path}:\n")
    assert "issuer: must be an absolute http(s) URL" in message
