"""The one storage interface every backend implements (memory, SQLite, PostgreSQL).

Modelled on Dex's ``storage.Storage``: create / get / list / delete, plus
``update_x(key, updater)`` where ``updater(old) -> new`` runs inside one atomic
compare-and-swap. The updater may run more than once (a backend retries on a
serialization failure), so it must be a pure function of its argument; it may
raise to abort the update, and the exception propagates unchanged.

Every method that returns after a write has made that write durable.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from passgate.storage.locks import EXCLUSIVE_TIMEOUT, ProcessLocks
from passgate.storage.models import (
    AuditEvent,
    AuditFilter,
    AuthCode,
    AuthRequest,
    BrowserSession,
    BrowserSessionFilter,
    Client,
    DeviceRequest,
    DeviceToken,
    GCResult,
    Keys,
    LoginAttempts,
    OfflineSession,
    Password,
    RefreshToken,
    Revocation,
    ServerSecret,
    Session,
    SessionFilter,
)

#: How long garbage collection keeps a revoked session (see ``garbage_collect``).
REVOKED_SESSION_KEPT = timedelta(days=1)


class StorageError(Exception):
    """Base class of storage failures."""


class NotFoundError(StorageError):
    """The record does not exist (or has been deleted)."""


class AlreadyExistsError(StorageError):
    """A record with that key exists already."""


class StorageUnavailableError(StorageError):
    """The database cannot answer now (down, restarting, unreachable, locked beyond the
    busy timeout). Nothing of the failed call was committed: a caller may try again
    later, and the web layer answers 503 with ``Retry-After``."""


class Storage(abc.ABC):
    """Async storage. Implementations: ``memory``, ``sqlite``, ``postgres``."""

    _exclusive_locks: ProcessLocks | None = None

    def exclusive(
        self, name: str, *, timeout: float = EXCLUSIVE_TIMEOUT
    ) -> AbstractAsyncContextManager[bool]:
        """Hold the lock ``name`` against every replica on this storage (``storage.locks``);
        yields whether it was had within ``timeout``. Here: this process only (memory);
        the SQL backends lock across processes."""
        if self._exclusive_locks is None:
            self._exclusive_locks = ProcessLocks()
        return self._exclusive_locks.hold(name, timeout)

    # -- lifecycle -----------------------------------------------------------------
    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and apply pending migrations. Called once before use."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- clients ---------------------------------------------------------------------
    @abc.abstractmethod
    async def create_client(self, client: Client) -> None: ...

    @abc.abstractmethod
    async def get_client(self, client_id: str) -> Client: ...

    @abc.abstractmethod
    async def list_clients(self) -> list[Client]: ...

    @abc.abstractmethod
    async def update_client(
        self, client_id: str, updater: Callable[[Client], Client]
    ) -> Client: ...

    @abc.abstractmethod
    async def delete_client(self, client_id: str) -> None: ...

    # -- authorization requests ------------------------------------------------------
    @abc.abstractmethod
    async def create_auth_request(self, req: AuthRequest) -> None: ...

    @abc.abstractmethod
    async def get_auth_request(self, req_id: str) -> AuthRequest: ...

    @abc.abstractmethod
    async def update_auth_request(
        self, req_id: str, updater: Callable[[AuthRequest], AuthRequest]
    ) -> AuthRequest: ...

    @abc.abstractmethod
    async def delete_auth_request(self, req_id: str) -> None: ...

    # -- authorization codes ---------------------------------------------------------
    @abc.abstractmethod
    async def create_auth_code(self, code: AuthCode) -> None: ...

    @abc.abstractmethod
    async def get_auth_code(self, code_id: str) -> AuthCode: ...

    @abc.abstractmethod
    async def update_auth_code(
        self, code_id: str, updater: Callable[[AuthCode], AuthCode]
    ) -> AuthCode: ...

    @abc.abstractmethod
    async def delete_auth_code(self, code_id: str) -> None: ...

    # -- refresh tokens --------------------------------------------------------------
    @abc.abstractmethod
    async def create_refresh_token(self, token: RefreshToken) -> None: ...

    @abc.abstractmethod
    async def get_refresh_token(self, token_id: str) -> RefreshToken: ...

    @abc.abstractmethod
    async def list_refresh_tokens(self) -> list[RefreshToken]: ...

    @abc.abstractmethod
    async def update_refresh_token(
        self, token_id: str, updater: Callable[[RefreshToken], RefreshToken]
    ) -> RefreshToken: ...

    @abc.abstractmethod
    async def delete_refresh_token(self, token_id: str) -> None: ...

    # -- offline sessions ------------------------------------------------------------
    @abc.abstractmethod
    async def create_offline_session(self, session: OfflineSession) -> None: ...

    @abc.abstractmethod
    async def get_offline_session(self, user_id: str, connector_id: str) -> OfflineSession: ...

    @abc.abstractmethod
    async def update_offline_session(
        self,
        user_id: str,
        connector_id: str,
        updater: Callable[[OfflineSession], OfflineSession],
    ) -> OfflineSession: ...

    @abc.abstractmethod
    async def delete_offline_session(self, user_id: str, connector_id: str) -> None: ...

    # -- password database -----------------------------------------------------------
    @abc.abstractmethod
    async def create_password(self, password: Password) -> None:
        """Emails are keys and compared case-insensitively (stored lower-cased)."""

    @abc.abstractmethod
    async def get_password(self, email: str) -> Password: ...

    @abc.abstractmethod
    async def list_passwords(self) -> list[Password]: ...

    @abc.abstractmethod
    async def update_password(
        self, email: str, updater: Callable[[Password], Password]
    ) -> Password: ...

    @abc.abstractmethod
    async def delete_password(self, email: str) -> None: ...

    # -- signing keys ----------------------------------------------------------------
    @abc.abstractmethod
    async def get_keys(self) -> Keys:
        """The key set; an empty ``Keys()`` before the first rotation."""

    @abc.abstractmethod
    async def update_keys(self, updater: Callable[[Keys], Keys]) -> Keys:
        """Atomically replace the key set; concurrent callers are serialized."""

    # -- device flow (RFC 8628) ------------------------------------------------------
    @abc.abstractmethod
    async def create_device_request(self, req: DeviceRequest) -> None: ...

    @abc.abstractmethod
    async def get_device_request(self, user_code: str) -> DeviceRequest: ...

    @abc.abstractmethod
    async def create_device_token(self, token: DeviceToken) -> None: ...

    @abc.abstractmethod
    async def get_device_token(self, device_code: str) -> DeviceToken: ...

    @abc.abstractmethod
    async def update_device_token(
        self, device_code: str, updater: Callable[[DeviceToken], DeviceToken]
    ) -> DeviceToken: ...

    # -- revoked access tokens -------------------------------------------------------
    @abc.abstractmethod
    async def revoke_token(self, token_id: str, expiry: datetime) -> None:
        """Remember that access token ``token_id`` (a JWT ``jti``) is revoked; idempotent."""

    @abc.abstractmethod
    async def is_token_revoked(self, token_id: str) -> bool: ...

    # -- sessions ----------------------------------------------------------------------
    @abc.abstractmethod
    async def create_session(self, session: Session) -> None: ...

    @abc.abstractmethod
    async def get_session(self, session_id: str) -> Session:
        """The session, revoked or not (``NotFoundError`` once deleted)."""

    @abc.abstractmethod
    async def list_sessions(self, which: SessionFilter, now: datetime) -> list[Session]:
        """Matching sessions, newest first; without ``include_revoked`` only those neither
        revoked nor expired at ``now``."""

    @abc.abstractmethod
    async def update_session(
        self, session_id: str, updater: Callable[[Session], Session]
    ) -> Session: ...

    @abc.abstractmethod
    async def revoke_sessions(
        self, which: SessionFilter, revoked_at: datetime, revoked_by: str
    ) -> list[str]:
        """Mark every matching session that is not revoked yet as revoked, atomically;
        the ids of those it marked. An empty filter means every session."""

    # -- browser sessions --------------------------------------------------------------
    @abc.abstractmethod
    async def create_browser_session(self, session: BrowserSession) -> None: ...

    @abc.abstractmethod
    async def get_browser_session(self, session_id: str) -> BrowserSession:
        """The browser session, revoked or not (``NotFoundError`` once deleted)."""

    @abc.abstractmethod
    async def list_browser_sessions(
        self, which: BrowserSessionFilter, now: datetime
    ) -> list[BrowserSession]:
        """Matching browser sessions, newest first; without ``include_revoked`` only those
        neither revoked nor expired at ``now``."""

    @abc.abstractmethod
    async def update_browser_session(
        self, session_id: str, updater: Callable[[BrowserSession], BrowserSession]
    ) -> BrowserSession: ...

    @abc.abstractmethod
    async def revoke_browser_sessions(
        self, which: BrowserSessionFilter, revoked_at: datetime, revoked_by: str
    ) -> list[str]:
        """Mark every matching browser session that is not revoked yet as revoked,
        atomically; the ids of those it marked. An empty filter means every one."""

    # -- revocations -------------------------------------------------------------------
    @abc.abstractmethod
    async def add_revocation(self, revocation: Revocation) -> None:
        """Store a rule (``AlreadyExistsError`` for a used id)."""

    @abc.abstractmethod
    async def list_revocations(self, since: datetime | None = None) -> list[Revocation]:
        """Rules created at or after ``since`` (all when ``None``), oldest first."""

    # -- audit log ---------------------------------------------------------------------
    async def append_audit_event(self, event: AuditEvent) -> AuditEvent:
        """Append (never update); returns the event with its ``seq`` set."""
        [stored] = await self.append_audit_events([event])
        return stored

    @abc.abstractmethod
    async def append_audit_events(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Append several events in one transaction (all or none; ``AlreadyExistsError``
        for a used id), in order; returns them with their ``seq`` set. One commit for many
        events is what lets the audit log keep up with the token endpoint."""

    @abc.abstractmethod
    async def list_audit_events(self, which: AuditFilter) -> list[AuditEvent]:
        """Matching events, newest first (highest ``seq``), at most ``which.limit``."""

    @abc.abstractmethod
    async def delete_audit_events(self, before: datetime) -> int:
        """Retention: delete events older than ``before``; how many were deleted."""

    # -- shared server secrets -------------------------------------------------------
    @abc.abstractmethod
    async def create_secret(self, secret: ServerSecret) -> None:
        """Store a new secret (``AlreadyExistsError`` when the name is taken: a replica
        made it first, and everybody uses that one)."""

    @abc.abstractmethod
    async def get_secret(self, name: str) -> ServerSecret: ...

    @abc.abstractmethod
    async def update_secret(
        self, name: str, updater: Callable[[ServerSecret], ServerSecret]
    ) -> ServerSecret:
        """Compare-and-swap of a secret's stored form (re-encryption); the name stays."""

    # -- failed login attempts -------------------------------------------------------
    @abc.abstractmethod
    async def get_login_attempts(self, key: str) -> LoginAttempts | None:
        """The record for ``key``, or ``None``: a plain read, no lock taken."""

    @abc.abstractmethod
    async def update_login_attempts(
        self, key: str, updater: Callable[[LoginAttempts | None], LoginAttempts | None]
    ) -> LoginAttempts | None:
        """Upsert: ``updater`` gets ``None`` when no record exists and may return ``None``
        to delete it."""

    # -- maintenance -----------------------------------------------------------------
    @abc.abstractmethod
    async def garbage_collect(self, now: datetime) -> GCResult:
        """Delete auth requests, auth codes, device requests/tokens, revoked-token entries,
        login-attempt records, sessions, browser sessions and revocation rules whose expiry
        (or lock and window) is before ``now``, and (browser) sessions revoked more than
        :data:`REVOKED_SESSION_KEPT` before ``now`` whatever their expiry (a revoked
        session only has to refuse its refresh tokens, and a missing one refuses them too;
        the day lets admins see what was revoked; the audit log keeps the history).
        Audit events are kept: ``delete_audit_events`` applies the retention."""
