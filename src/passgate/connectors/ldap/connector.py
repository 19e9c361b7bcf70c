"""The ``ldap`` connector: a password checked by an LDAP directory (Dex ``connector/ldap``).

Sign-in as in Dex: bind as the service account, find exactly one entry for the username,
bind as that entry with the password, then (with the ``groups`` scope) search its groups.
Refresh finds the entry again by the username signed in with: a deleted, renamed or
moved user, or one whose ID changed, loses the session; new groups and names apply.
The blocking ldap3 calls run in worker threads, a few per connector at a time.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
import structlog

from passgate.config.connectors.ldap import LDAPConfig
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    PasswordConnector,
    RefreshConnector,
    Scopes,
    UpstreamUnavailableError,
)
from passgate.connectors.ldap.directory import Session
from passgate.connectors.ldap.entry import Entry, RefreshData, identity_of
from passgate.connectors.ldap.tls import ssl_context

__all__ = ["DEFAULT_TIMEOUT", "LDAPConnector"]

log = structlog.get_logger("passgate.connectors.ldap")

#: Seconds allowed to connect, and to wait for each answer, of the LDAP server.
DEFAULT_TIMEOUT = 10.0
#: LDAP conversations one connector runs at once (each holds a worker thread).
MAX_CONCURRENT = 8

T = TypeVar("T")


class LDAPConnector(PasswordConnector, RefreshConnector):
    """Users and groups of an LDAP directory (OpenLDAP, Active Directory, ...)."""

    def __init__(
        self, config: LDAPConfig, connector_id: str = "ldap", *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._config = config
        self._timeout = timeout
        self.prompt = config.prompt
        self._limiter: anyio.CapacityLimiter | None = None
        # A rootCA or client key that cannot be read fails every sign-in with a page
        # naming it (and says so in the log now), rather than refusing to start.
        self._context: ssl.SSLContext | None = None
        self._broken = ""
        try:
            self._context = ssl_context(config)
        except ValueError as error:
            self._broken = f"the LDAP connector is misconfigured: {error}"
            log.error("ldap connector misconfigured", connector=connector_id, error=str(error))

    # -- PasswordConnector ------------------------------------------------------------
    async def login(self, scopes: Scopes, username: str, password: str) -> Identity | None:
        # An empty password would be an unauthenticated bind, which many servers answer
        # with success (RFC 4513 §5.1.2): never send one.
        if not username or not password or not (_encodable(username) and _encodable(password)):
            return None
        found = await self._run(self._check, username, password, scopes.groups)
        if found is None:
            return None
        entry, groups = found
        identity = identity_of(entry, self._config.user_search, groups)
        # Dex keeps this only with offline_access; it is small, and always having it
        # means any refresh token Passgate issues can be refreshed.
        data = RefreshData(username, entry.dn).encode(entry)
        return dataclasses.replace(identity, connector_data=data)

    def _check(
        self, session: Session, username: str, password: str, groups: bool
    ) -> tuple[Entry, tuple[str, ...]] | None:
        entry = session.find_user(username)
        if entry is None or not session.password_matches(entry.dn, password):
            return None
        if not groups:
            return entry, ()
        session.bind_service()  # Dex searches groups as the service account
        return entry, session.groups(entry)

    # -- RefreshConnector -------------------------------------------------------------
    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        data = RefreshData.decode(identity.connector_data)
        entry, groups = await self._run(self._lookup, data, scopes.groups)
        fresh = identity_of(entry, self._config.user_search, groups)
        if fresh.user_id != identity.user_id:
            raise ConnectorError(f"the directory entry of {data.username!r} has another ID now")
        return dataclasses.replace(fresh, connector_data=identity.connector_data)

    def _lookup(
        self, session: Session, data: RefreshData, groups: bool
    ) -> tuple[Entry, tuple[str, ...]]:
        entry = session.find_user(data.username)
        if entry is None:
            raise ConnectorError(f"the user {data.username!r} no longer exists in the directory")
        # Dex compares DNs exactly; DN matching is case-insensitive for the usual naming
        # attributes (RFC 4517 §4.2.15), so a change of case alone is not a move.
        if entry.dn.lower() != data.dn.lower():
            raise ConnectorError(
                f"the user {data.username!r} moved in the directory (was {data.dn!r}, "
                f"now {entry.dn!r})"
            )
        return entry, session.groups(entry) if groups else ()

    # -- plumbing ---------------------------------------------------------------------
    async def _run(self, step: Callable[..., T], *args: object) -> T:
        """``step(session, *args)`` in a worker thread, on a fresh connection."""
        if self._context is None:
            raise UpstreamUnavailableError(self._broken)
        context = self._context
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(MAX_CONCURRENT)

        def work() -> T:
            with Session(self._config, context, self._timeout) as session:
                return step(session, *args)

        # Each network wait is bounded by the timeout; this bounds the whole exchange.
        with anyio.move_on_after(self._timeout * 4) as scope:
            return await anyio.to_thread.run_sync(
                work, abandon_on_cancel=True, limiter=self._limiter
            )
        assert scope.cancelled_caught
        raise UpstreamUnavailableError("the LDAP server did not answer in time")


def _encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates, as JSON can carry)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
