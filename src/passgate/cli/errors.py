"""How a ``passgate`` command gives up: one ``passgate: ...`` line on stderr and exit 1,
the same whichever command it is, so scripts and people read every failure alike."""

from __future__ import annotations

from typing import IO, Any

import click

__all__ = ["EXIT_FAILURE", "CommandError"]

EXIT_FAILURE = 1


class CommandError(click.ClickException):
    """Raised inside a command: click prints it as ``passgate: MESSAGE`` and exits 1."""

    exit_code = EXIT_FAILURE

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"passgate: {self.format_message()}", file=file, err=file is None)
