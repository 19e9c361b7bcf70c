"""The few operations the shared SQL code needs from a connection inside a transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from passgate.storage.sql.table import Row


class Session(Protocol):
    """One connection in one transaction; queries use ``:name`` placeholders."""

    async def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        """Run a SELECT and return its rows as mappings of column name to value."""
        ...

    async def execute(self, query: str, params: Mapping[str, Any]) -> int:
        """Run a statement and return the number of rows it changed."""
        ...

    async def script(self, script: str) -> None:
        """Run several ``;``-separated statements that take no parameters (migrations)."""
        ...
