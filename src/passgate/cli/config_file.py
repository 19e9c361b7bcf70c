"""The config file of ``serve``, ``check-config``, ``apiserver-config`` and ``kubeconfig
--config``: one reading, so a missing or broken file gives the same message and the same
exit status whichever command was given it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from passgate.cli.errors import CommandError

if TYPE_CHECKING:
    from passgate.config import Config

__all__ = ["load", "require_readable"]


def _unreadable(path: str, error: OSError) -> CommandError:
    return CommandError(f"cannot read the config file {path}: {error.strerror or error}")


def require_readable(path: str) -> None:
    """Refuse a file that cannot be opened (missing, a directory, no permission) before a
    command that reports problems its own way (``check-config``) reads it."""
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise _unreadable(path, error) from None


def load(path: str) -> Config:
    """The validated config at ``path``, or :class:`CommandError` saying why not."""
    from passgate.config import ConfigError, load_config  # pydantic: only when needed

    try:
        return load_config(path)
    except OSError as error:
        raise _unreadable(path, error) from None
    except ConfigError as error:
        raise CommandError(f"invalid configuration {path}:\n{error}") from None
