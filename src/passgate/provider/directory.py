"""Clients and passwords from the config file, in front of those in storage.

Like Dex's ``storage.WithStaticClients``: entries from the config file win and are
read-only; the rest come from storage (created through the admin API).
"""

from __future__ import annotations

from collections.abc import Iterable

from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import Client, Password


class Directory:
    def __init__(
        self, storage: Storage, clients: Iterable[Client], passwords: Iterable[Password]
    ) -> None:
        self.storage = storage
        self._clients = {client.id: client for client in clients}
        self._passwords = {password.email.lower(): password for password in passwords}

    def replace_static(self, clients: Iterable[Client], passwords: Iterable[Password]) -> None:
        """The config file's entries after a reload (one swap: no request sees half)."""
        self._clients = {client.id: client for client in clients}
        self._passwords = {password.email.lower(): password for password in passwords}

    async def get_client(self, client_id: str) -> Client:
        static = self._clients.get(client_id)
        if static is not None:
            return static
        return await self.storage.get_client(client_id)

    async def find_client(self, client_id: str) -> Client | None:
        try:
            return await self.get_client(client_id)
        except NotFoundError:
            return None

    async def get_password(self, email: str) -> Password:
        static = self._passwords.get(email.lower())
        if static is not None:
            return static
        return await self.storage.get_password(email)

    def is_static_client(self, client_id: str) -> bool:
        return client_id in self._clients

    def is_static_password(self, email: str) -> bool:
        return email.lower() in self._passwords

    def static_clients(self) -> list[Client]:
        """The config file's clients (read-only: the admin API lists them as static)."""
        return list(self._clients.values())

    def static_passwords(self) -> list[Password]:
        return list(self._passwords.values())
