"""OAuth clients through the admin API: those in storage are created, changed and
deleted here; those of the config file (``staticClients``) are listed, marked static,
and refused any change (they live in git, not in the database).

Storage keeps only a hash of a client's secret (``provider/client_secrets``): a secret
the server generates (256 random bits) as a peppered HMAC-SHA256, one set by hand as
bcrypt over that HMAC. A generated secret is returned once, in the answer to the call
that made it (create, a confidential client without one, or ``rotate_secret``); nothing
returns a secret afterwards, and none enters the audit log.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from passgate.admin.audit import Actor, Auditor
from passgate.admin.errors import BadRequestError, ConflictError, NotFoundError
from passgate.provider.client_secrets import ClientSecrets
from passgate.provider.directory import Directory
from passgate.provider.ids import new_id, new_secret
from passgate.storage import base as storage_errors
from passgate.storage.models import Client

__all__ = ["CLIENT_ID_PATTERN", "ClientChanges", "ClientService", "ClientView"]

#: Client ids appear in URL paths and tokens (``aud``, ``azp``): URL-safe characters only.
CLIENT_ID_PATTERN = r"^[A-Za-z0-9._~@:+-]{1,128}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class ClientChanges:
    """Fields to set; ``None`` leaves a field as it is (on create: its default). A
    confidential client left without a secret gets a generated one. ``secret`` is one set
    by hand, in the clear: only its hash is stored."""

    secret: str | None = None
    public: bool | None = None
    name: str | None = None
    logo_url: str | None = None
    redirect_uris: tuple[str, ...] | None = None
    post_logout_redirect_uris: tuple[str, ...] | None = None
    trusted_peers: tuple[str, ...] | None = None
    allowed_connectors: tuple[str, ...] | None = None
    backchannel_logout_uri: str | None = None
    sso_shared_with: tuple[str, ...] | None = None  # None here: unchanged (not the default)

    def apply(self, client: Client) -> Client:
        """``client`` with the fields set here, the secret aside (it is hashed first)."""
        values = {
            item.name: getattr(self, item.name)
            for item in dataclasses.fields(self)
            if getattr(self, item.name) is not None and item.name != "secret"
        }
        return dataclasses.replace(client, **values)


@dataclass(frozen=True, slots=True)
class ClientView:
    """A client as the API shows it; ``new_secret`` is set only when this call made one."""

    client: Client
    static: bool
    new_secret: str = ""


def check_client_id(client_id: str) -> str:
    if not _CLIENT_ID.fullmatch(client_id):
        raise BadRequestError(
            "a client id is 1-128 characters of letters, digits and . _ ~ @ : + -"
        )
    return client_id


@dataclass(frozen=True, slots=True)
class _NewSecret:
    """What a call may store: the hand-set secret's hash, and a generated fallback (made
    before the storage updater, which must be pure and may run twice)."""

    set_hash: str | None
    generated: str
    generated_hash: str

    def apply(self, client: Client) -> tuple[Client, str]:
        """``client`` with its new secret hash; the generated secret when it got that."""
        if self.set_hash is not None:
            return dataclasses.replace(client, secret="", secret_hash=self.set_hash), ""
        if client.public or client.has_secret:
            return client, ""
        stored = dataclasses.replace(client, secret="", secret_hash=self.generated_hash)
        return stored, self.generated


class ClientService:
    def __init__(self, directory: Directory, auditor: Auditor, secrets: ClientSecrets) -> None:
        self._directory = directory
        self._storage = directory.storage
        self._auditor = auditor
        self._secrets = secrets

    async def _new_secret(self, changes: ClientChanges) -> _NewSecret:
        generated = new_secret()
        set_hash = None
        if changes.secret is not None:
            set_hash = await self._secrets.hash_set(changes.secret)
        return _NewSecret(set_hash, generated, self._secrets.hash_generated(generated))

    async def list_clients(self, actor: Actor) -> list[ClientView]:
        async with self._auditor.call("admin.client.list", actor):
            stored = await self._storage.list_clients()
        static = self._directory.static_clients()
        views = [ClientView(client, True) for client in static]
        views += [
            ClientView(c, False) for c in stored if not self._directory.is_static_client(c.id)
        ]
        return sorted(views, key=lambda view: view.client.id)

    async def get(self, client_id: str, actor: Actor) -> ClientView:
        async with self._auditor.call("admin.client.get", actor, client_id=client_id):
            view = await self._find(client_id)
        return view

    async def create(
        self, client_id: str | None, changes: ClientChanges, actor: Actor
    ) -> ClientView:
        client_id = client_id or new_id()
        async with self._auditor.call("admin.client.create", actor, client_id=client_id):
            check_client_id(client_id)
            self._refuse_static(client_id)
            fresh = await self._new_secret(changes)
            client, secret = fresh.apply(changes.apply(Client(id=client_id)))
            try:
                await self._storage.create_client(client)
            except storage_errors.AlreadyExistsError:
                raise ConflictError(f"client {client_id!r} exists already") from None
        return ClientView(client, False, secret)

    async def update(self, client_id: str, changes: ClientChanges, actor: Actor) -> ClientView:
        async with self._auditor.call("admin.client.update", actor, client_id=client_id) as entry:
            self._refuse_static(client_id)
            secret, fresh = "", await self._new_secret(changes)

            def updater(old: Client) -> Client:  # may run more than once: no new randomness
                nonlocal secret
                new, secret = fresh.apply(changes.apply(old))
                return new

            try:
                client = await self._storage.update_client(client_id, updater)
            except storage_errors.NotFoundError:
                raise _no_client(client_id) from None
            entry.details["fields"] = ",".join(_changed(changes))
            if changes.secret is not None or secret:
                entry.details["secret"] = "changed"
        return ClientView(client, False, secret)

    async def rotate_secret(self, client_id: str, actor: Actor) -> ClientView:
        """A new generated secret for a confidential client, returned once; the old one
        stops working at once, on every replica (they read the client per request)."""
        action = "admin.client.rotate_secret"
        async with self._auditor.call(action, actor, client_id=client_id) as entry:
            self._refuse_static(client_id)
            generated = new_secret()
            stored_hash = self._secrets.hash_generated(generated)

            def updater(old: Client) -> Client:
                if old.public:
                    raise ConflictError(f"client {client_id!r} is public: it has no secret")
                return dataclasses.replace(old, secret="", secret_hash=stored_hash)

            try:
                client = await self._storage.update_client(client_id, updater)
            except storage_errors.NotFoundError:
                raise _no_client(client_id) from None
            entry.details["secret"] = "rotated"
        return ClientView(client, False, generated)

    async def delete(self, client_id: str, actor: Actor) -> None:
        async with self._auditor.call("admin.client.delete", actor, client_id=client_id):
            self._refuse_static(client_id)
            try:
                await self._storage.delete_client(client_id)
            except storage_errors.NotFoundError:
                raise _no_client(client_id) from None

    async def _find(self, client_id: str) -> ClientView:
        try:
            client = await self._directory.get_client(client_id)
        except storage_errors.NotFoundError:
            raise _no_client(client_id) from None
        return ClientView(client, self._directory.is_static_client(client_id))

    def _refuse_static(self, client_id: str) -> None:
        if self._directory.is_static_client(client_id):
            raise ConflictError(
                f"client {client_id!r} is defined in the config file (staticClients) and is "
                "read-only here; change it in the config file"
            )


def _changed(changes: ClientChanges) -> Sequence[str]:
    return [f.name for f in dataclasses.fields(changes) if getattr(changes, f.name) is not None]


def _no_client(client_id: str) -> NotFoundError:
    return NotFoundError(f"no client {client_id!r}")
