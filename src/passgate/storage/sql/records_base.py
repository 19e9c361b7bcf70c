"""The generic record operations every SQL flavour shares, over two primitives a backend
supplies: :meth:`SQLRecords._query` (one read-only statement) and
:meth:`SQLRecords._transact` (a function in a transaction that the backend may retry;
updates read the row with ``FOR UPDATE`` where the flavour has it, so racing updaters are
serialized and the second one sees the first one's result)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from passgate.storage.base import AlreadyExistsError, NotFoundError, Storage
from passgate.storage.sql.flavour import Flavour
from passgate.storage.sql.session import Session
from passgate.storage.sql.table import Row, Table

R = TypeVar("R")
T = TypeVar("T")


class SQLRecords(Storage, abc.ABC):
    """Create, get, list, update and delete of any :class:`Table`'s records."""

    def __init__(self, flavour: Flavour) -> None:
        self._flavour = flavour

    @abc.abstractmethod
    async def _query(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        """Run one read-only statement outside any explicit transaction."""

    @abc.abstractmethod
    async def _transact(self, body: Callable[[Session], Awaitable[T]]) -> T:
        """Run ``body`` in one write transaction; commit if it returns, roll back if it
        raises. May run ``body`` again after a serialization failure."""

    # -- generic record operations -------------------------------------------------------
    async def _create(self, table: Table[R], record: R) -> None:
        params = table.encode(self._flavour, record)

        async def body(session: Session) -> int:
            return await session.execute(table.insert, params)

        if await self._transact(body) == 0:
            raise AlreadyExistsError(f"{table.name}: {self._key_text(table, params)}")

    async def _get(self, table: Table[R], *key: object) -> R:
        rows = await self._query(table.select, table.key_params(*key))
        if not rows:
            raise NotFoundError(f"{table.name}: {'/'.join(map(str, key))}")
        return table.decode(self._flavour, rows[0])

    async def _list(self, table: Table[R]) -> list[R]:
        return [table.decode(self._flavour, row) for row in await self._query(table.select_all, {})]

    async def _update(self, table: Table[R], updater: Callable[[R], R], *key: object) -> R:
        key_params = table.key_params(*key)
        select = table.select + self._flavour.for_update

        async def body(session: Session) -> R:
            rows = await session.fetch(select, key_params)
            if not rows:
                raise NotFoundError(f"{table.name}: {'/'.join(map(str, key))}")
            new = updater(table.decode(self._flavour, rows[0]))
            # The key is what was asked for: an updater cannot move a record.
            await session.execute(table.update, table.encode(self._flavour, new) | key_params)
            return new

        return await self._transact(body)

    async def _delete(self, table: Table[Any], *key: object) -> None:
        params = table.key_params(*key)

        async def body(session: Session) -> int:
            return await session.execute(table.delete, params)

        if await self._transact(body) == 0:
            raise NotFoundError(f"{table.name}: {'/'.join(map(str, key))}")

    @staticmethod
    def _key_text(table: Table[Any], params: Mapping[str, object]) -> str:
        return "/".join(str(params[k]) for k in table.key)

    async def _marked(self, query: str, params: Mapping[str, object]) -> list[str]:
        """Run an ``UPDATE ... RETURNING id`` that revokes rows; the ids it marked."""

        async def body(session: Session) -> list[str]:
            return [str(row["id"]) for row in await session.fetch(query, params)]

        return await self._transact(body)
