"""A table's columns and the SQL derived from them, written once for every flavour.

Identifiers come only from constants in ``records.py``/``flow_records.py`` and are checked
against a strict pattern here, so building statements from them cannot inject SQL; values
always travel as ``:name`` parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from passgate.storage.sql.flavour import Flavour

R = TypeVar("R")


class Row(Protocol):
    """A result row read by column name (``sqlite3.Row``, psycopg's ``dict_row``)."""

    def __getitem__(self, key: str, /) -> Any: ...


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Table(Generic[R]):
    """How one record type maps to one table.

    ``encode`` returns a value for every column (keys included); ``decode`` reads a row
    selected with :attr:`select`.
    """

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    encode: Callable[[Flavour, R], dict[str, object]]
    decode: Callable[[Flavour, Row], R]
    insert: str = field(init=False)
    select: str = field(init=False)
    select_all: str = field(init=False)
    update: str = field(init=False)
    delete: str = field(init=False)

    def __post_init__(self) -> None:
        names = (self.name, *self.key, *self.columns)
        if bad := [n for n in names if not _IDENTIFIER.fullmatch(n)]:
            raise ValueError(f"invalid SQL identifiers: {bad}")
        cols = ", ".join(names[1:])
        where = " AND ".join(f"{k} = :{k}" for k in self.key)
        values = ", ".join(f":{c}" for c in names[1:])
        assignments = ", ".join(f"{c} = :{c}" for c in self.columns)
        order = ", ".join(self.key)
        statements = {
            # A row count of 0 means the key exists already.
            "insert": f"INSERT INTO {self.name} ({cols}) VALUES ({values}) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            "select": f"SELECT {cols} FROM {self.name} WHERE {where}",  # noqa: S608 - see above
            "select_all": f"SELECT {cols} FROM {self.name} ORDER BY {order}",  # noqa: S608
            "update": f"UPDATE {self.name} SET {assignments} WHERE {where}",  # noqa: S608
            "delete": f"DELETE FROM {self.name} WHERE {where}",  # noqa: S608
        }
        for attribute, statement in statements.items():
            object.__setattr__(self, attribute, statement)

    def key_params(self, *values: object) -> dict[str, object]:
        if len(values) != len(self.key):
            raise TypeError(f"{self.name} has a key of {len(self.key)} columns")
        return dict(zip(self.key, values, strict=True))
