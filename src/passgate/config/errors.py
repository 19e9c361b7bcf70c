"""What a config file got wrong, every problem at once, each with the key path to fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue"]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem. ``path`` is dotted, in the file's own key spelling
    (``staticClients[1].redirectURIs[0]``); empty for the document itself."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if not self.path:
            if self.line is None:
                return self.message
            where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
            return f"{where}: {self.message}"
        suffix = f" (line {self.line})" if self.line is not None else ""
        return f"{self.path}: {self.message}{suffix}"


class ConfigError(ValueError):
    """The configuration cannot be used. ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[ConfigIssue]) -> None:
        self.errors: list[ConfigIssue] = list(errors)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.errors)
