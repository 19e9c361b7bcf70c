"""The configured connectors, by id, as the provider sees them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from passgate.connectors.base import Connector, PasswordConnector
from passgate.oauth2.errors import InvalidRequestError
from passgate.storage.models import Client


@dataclass(frozen=True, slots=True)
class ConnectorEntry:
    """One ``connectors[]`` item, opened. ``grant_types`` empty means every grant."""

    id: str
    type: str
    name: str
    connector: Connector
    grant_types: tuple[str, ...] = ()

    def allows_grant(self, grant_type: str) -> bool:
        return not self.grant_types or grant_type in self.grant_types


class ConnectorRegistry:
    """Lookup of connectors in configuration order."""

    def __init__(self, entries: Iterable[ConnectorEntry]) -> None:
        self._entries = {entry.id: entry for entry in entries}

    def replace(self, entries: Iterable[ConnectorEntry]) -> list[ConnectorEntry]:
        """Swap in the connectors of a reloaded config; returns the ones replaced (the
        caller closes them once the sign-ins they started are done)."""
        replaced = list(self._entries.values())
        self._entries = {entry.id: entry for entry in entries}
        return replaced

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._entries.values())

    def get(self, connector_id: str) -> ConnectorEntry | None:
        return self._entries.get(connector_id)

    def for_client(self, client: Client, grant_type: str) -> list[ConnectorEntry]:
        """Connectors this client may use for this grant (``allowedConnectors``)."""
        return [
            entry
            for entry in self._entries.values()
            if (not client.allowed_connectors or entry.id in client.allowed_connectors)
            and entry.allows_grant(grant_type)
        ]

    def password_connector(self, connector_id: str) -> tuple[ConnectorEntry, PasswordConnector]:
        entry = self._entries.get(connector_id)
        if entry is None or not isinstance(entry.connector, PasswordConnector):
            raise InvalidRequestError("no password connector is configured")
        return entry, entry.connector

    async def close(self) -> None:
        for entry in self._entries.values():
            await entry.connector.close()
