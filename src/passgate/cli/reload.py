"""SIGHUP: read the config file again and apply what can change under load.

The TLS certificate (renewed by cert-manager or certbot) is loaded into the running
listener, as Dex does; ``staticClients``, ``staticPasswords`` and ``connectors`` (with
``enablePasswordDB``) are swapped in at once, and the connectors they replace are closed
a minute later, when the sign-ins started with them are done. Every other section needs a
restart, and the log says which changed. A file that does not validate is refused and
the running configuration kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import anyio
import structlog
import uvicorn

from passgate.cli.compose import Runtime
from passgate.cli.listeners import reload_certificate
from passgate.cli.static_config import open_connectors, static_clients, static_passwords
from passgate.config import Config, ConfigError, load_config

__all__ = ["Reloader"]

log = structlog.get_logger("passgate.reload")

#: The top-level sections a reload applies; the rest take effect at the next start.
APPLIED = ("static_clients", "static_passwords", "connectors", "enable_password_db")
#: How long replaced connectors stay open for the sign-ins already under way.
RETIRE_AFTER_S = 60.0


class Reloader:
    def __init__(
        self,
        path: str,
        config: Config,
        runtime: Runtime,
        tls_servers: Sequence[uvicorn.Server] = (),
    ) -> None:
        self._path = path
        self._config = config
        self._runtime = runtime
        self._tls_servers = tuple(tls_servers)
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def config(self) -> Config:
        """The configuration now in effect."""
        return self._config

    async def reload(self) -> bool:
        """Apply the file as it is now; False when it was refused (nothing changed)."""
        async with self._lock:
            try:
                new = await anyio.to_thread.run_sync(load_config, self._path)
            except ConfigError as error:
                log.error("config reload refused: the file is not valid; keeping the running "
                          "configuration", path=self._path, problems=str(error))  # fmt: skip
                return False
            except OSError as error:
                log.error("config reload refused: cannot read the file", path=self._path,
                          error=error.strerror)  # fmt: skip
                return False
            old, self._config = self._config, new
            self._certificates(new)
            self._clients(old, new)
            self._connectors(old, new)
            restart = [key for key in _sections(new) if _section(old, key) != _section(new, key)]
            if restart:
                log.warning("config changed where a restart is needed", sections=restart)
            log.info("config reloaded", path=self._path)
            return True

    def _certificates(self, new: Config) -> None:
        for server in self._tls_servers:
            try:
                reload_certificate(server.config, new)
            except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
                log.error("TLS certificate not reloaded; the old one stays",
                          cert=new.web.tls_cert, error=str(error))  # fmt: skip
            else:
                log.info("TLS certificate reloaded", cert=new.web.tls_cert)

    def _clients(self, old: Config, new: Config) -> None:
        directory = self._runtime.services.directory
        before = {client.id: client for client in directory.static_clients()}
        clients, passwords = static_clients(new), static_passwords(new)
        directory.replace_static(clients, passwords)
        after = {client.id: client for client in clients}
        added = sorted(after.keys() - before.keys())
        removed = sorted(before.keys() - after.keys())
        changed = sorted(k for k in after.keys() & before.keys() if after[k] != before[k])
        if added or removed or changed:
            log.info("static clients reloaded", added=added, removed=removed, changed=changed)
        if _section(old, "static_passwords") != _section(new, "static_passwords"):
            log.info("static passwords reloaded", count=len(passwords))

    def _connectors(self, old: Config, new: Config) -> None:
        keys = ("connectors", "enable_password_db")
        if all(_section(old, key) == _section(new, key) for key in keys):
            return
        services = self._runtime.services
        try:
            entries = list(open_connectors(new, services.directory))
        except Exception as error:  # a connector that cannot start: keep the old set
            log.error("connectors not reloaded; the running ones stay", error=str(error))
            return
        replaced = services.connectors.replace(entries)
        log.info("connectors reloaded", connectors=[entry.id for entry in entries])
        task = asyncio.ensure_future(self._retire(replaced))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, entries: Sequence[Any]) -> None:
        await asyncio.sleep(RETIRE_AFTER_S)
        for entry in entries:
            try:
                await entry.connector.close()
            except Exception:
                log.exception("closing a replaced connector failed", connector=entry.id)


def _sections(config: Config) -> list[str]:
    return [name for name in type(config).model_fields if name not in APPLIED]


def _section(config: Config, name: str) -> object:
    """A section as plain data, to compare two versions of the file."""
    value = getattr(config, name)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return _plain(value)


def _plain(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value
