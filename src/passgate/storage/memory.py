"""In-memory storage for tests and ``storage: {type: memory}``: nothing survives a restart.

Every method runs without awaiting inside its critical section, so on one event loop
each update is atomic without a lock.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from passgate.storage.base import (
    REVOKED_SESSION_KEPT,
    AlreadyExistsError,
    NotFoundError,
    Storage,
)
from passgate.storage.filters import audit_matches, browser_session_matches, session_matches
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

K = TypeVar("K")
V = TypeVar("V")


def _create(table: dict[K, V], key: K, value: V) -> None:
    if key in table:
        raise AlreadyExistsError(str(key))
    table[key] = value


def _get(table: dict[K, V], key: K) -> V:
    try:
        return table[key]
    except KeyError:
        raise NotFoundError(str(key)) from None


def _update(table: dict[K, V], key: K, updater: Callable[[V], V]) -> V:
    new = updater(_get(table, key))
    table[key] = new
    return new


def _delete(table: dict[K, V], key: K) -> None:
    if table.pop(key, None) is None:
        raise NotFoundError(str(key))


def _expire(table: dict[K, V], expired: Callable[[V], bool]) -> int:
    doomed = [key for key, value in table.items() if expired(value)]
    for key in doomed:
        del table[key]
    return len(doomed)


def _copy_session(session: OfflineSession) -> OfflineSession:
    return dataclasses.replace(session, refresh=dict(session.refresh))


def _copy_browser(session: BrowserSession) -> BrowserSession:
    return dataclasses.replace(session, consents=dict(session.consents))


class _Revocable(Protocol):
    @property
    def revoked_at(self) -> datetime | None: ...


Revocable = TypeVar("Revocable", bound=_Revocable)


def _mark_revoked(
    table: dict[str, Revocable],
    matches: Callable[[Revocable], bool],
    revoked_at: datetime,
    revoked_by: str,
) -> list[str]:
    """``revoke_sessions`` and ``revoke_browser_sessions``: mark the matching records that
    are not revoked yet; their keys."""
    marked = []
    for key, record in table.items():
        if record.revoked_at is None and matches(record):
            table[key] = dataclasses.replace(  # type: ignore[type-var]
                record, revoked_at=revoked_at, revoked_by=revoked_by
            )
            marked.append(key)
    return marked


def _gone(expiry: datetime | None, revoked_at: datetime | None, now: datetime) -> bool:
    """Garbage collection of a (browser) session: expired, or revoked long enough ago."""
    return (expiry is not None and expiry < now) or (
        revoked_at is not None and revoked_at < now - REVOKED_SESSION_KEPT
    )


def _copy_event(event: AuditEvent) -> AuditEvent:
    # The caller gets its own details map: changing it must not change the log.
    return dataclasses.replace(event, details=dict(event.details))


class MemoryStorage(Storage):
    """Dictionaries, one per record type."""

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._auth_requests: dict[str, AuthRequest] = {}
        self._auth_codes: dict[str, AuthCode] = {}
        self._refresh_tokens: dict[str, RefreshToken] = {}
        self._offline_sessions: dict[tuple[str, str], OfflineSession] = {}
        self._passwords: dict[str, Password] = {}
        self._keys = Keys()
        self._device_requests: dict[str, DeviceRequest] = {}
        self._device_tokens: dict[str, DeviceToken] = {}
        self._revoked: dict[str, datetime] = {}
        self._login_attempts: dict[str, LoginAttempts] = {}
        self._sessions: dict[str, Session] = {}
        self._browser_sessions: dict[str, BrowserSession] = {}
        self._secrets: dict[str, ServerSecret] = {}
        self._revocations: dict[str, Revocation] = {}
        self._audit: list[AuditEvent] = []
        self._audit_ids: set[str] = set()
        self._audit_seq = 0

    async def close(self) -> None:
        return None

    async def create_client(self, client: Client) -> None:
        _create(self._clients, client.id, client)

    async def get_client(self, client_id: str) -> Client:
        return _get(self._clients, client_id)

    async def list_clients(self) -> list[Client]:
        return list(self._clients.values())

    async def update_client(self, client_id: str, updater: Callable[[Client], Client]) -> Client:
        return _update(self._clients, client_id, updater)

    async def delete_client(self, client_id: str) -> None:
        _delete(self._clients, client_id)

    async def create_auth_request(self, req: AuthRequest) -> None:
        _create(self._auth_requests, req.id, req)

    async def get_auth_request(self, req_id: str) -> AuthRequest:
        return _get(self._auth_requests, req_id)

    async def update_auth_request(
        self, req_id: str, updater: Callable[[AuthRequest], AuthRequest]
    ) -> AuthRequest:
        return _update(self._auth_requests, req_id, updater)

    async def delete_auth_request(self, req_id: str) -> None:
        _delete(self._auth_requests, req_id)

    async def create_auth_code(self, code: AuthCode) -> None:
        _create(self._auth_codes, code.id, code)

    async def get_auth_code(self, code_id: str) -> AuthCode:
        return _get(self._auth_codes, code_id)

    async def update_auth_code(
        self, code_id: str, updater: Callable[[AuthCode], AuthCode]
    ) -> AuthCode:
        return _update(self._auth_codes, code_id, updater)

    async def delete_auth_code(self, code_id: str) -> None:
        _delete(self._auth_codes, code_id)

    async def create_refresh_token(self, token: RefreshToken) -> None:
        _create(self._refresh_tokens, token.id, token)

    async def get_refresh_token(self, token_id: str) -> RefreshToken:
        return _get(self._refresh_tokens, token_id)

    async def list_refresh_tokens(self) -> list[RefreshToken]:
        return list(self._refresh_tokens.values())

    async def update_refresh_token(
        self, token_id: str, updater: Callable[[RefreshToken], RefreshToken]
    ) -> RefreshToken:
        return _update(self._refresh_tokens, token_id, updater)

    async def delete_refresh_token(self, token_id: str) -> None:
        _delete(self._refresh_tokens, token_id)

    async def create_offline_session(self, session: OfflineSession) -> None:
        _create(
            self._offline_sessions,
            (session.user_id, session.connector_id),
            _copy_session(session),
        )

    async def get_offline_session(self, user_id: str, connector_id: str) -> OfflineSession:
        return _copy_session(_get(self._offline_sessions, (user_id, connector_id)))

    async def update_offline_session(
        self,
        user_id: str,
        connector_id: str,
        updater: Callable[[OfflineSession], OfflineSession],
    ) -> OfflineSession:
        new = _update(
            self._offline_sessions,
            (user_id, connector_id),
            lambda old: _copy_session(updater(_copy_session(old))),
        )
        return _copy_session(new)

    async def delete_offline_session(self, user_id: str, connector_id: str) -> None:
        _delete(self._offline_sessions, (user_id, connector_id))

    async def create_password(self, password: Password) -> None:
        email = password.email.lower()
        _create(self._passwords, email, dataclasses.replace(password, email=email))

    async def get_password(self, email: str) -> Password:
        return _get(self._passwords, email.lower())

    async def list_passwords(self) -> list[Password]:
        return list(self._passwords.values())

    async def update_password(
        self, email: str, updater: Callable[[Password], Password]
    ) -> Password:
        key = email.lower()
        return _update(
            self._passwords, key, lambda old: dataclasses.replace(updater(old), email=key)
        )

    async def delete_password(self, email: str) -> None:
        _delete(self._passwords, email.lower())

    async def get_keys(self) -> Keys:
        return self._keys

    async def update_keys(self, updater: Callable[[Keys], Keys]) -> Keys:
        self._keys = updater(self._keys)
        return self._keys

    async def create_device_request(self, req: DeviceRequest) -> None:
        _create(self._device_requests, req.user_code, req)

    async def get_device_request(self, user_code: str) -> DeviceRequest:
        return _get(self._device_requests, user_code)

    async def create_device_token(self, token: DeviceToken) -> None:
        _create(self._device_tokens, token.device_code, token)

    async def get_device_token(self, device_code: str) -> DeviceToken:
        return _get(self._device_tokens, device_code)

    async def update_device_token(
        self, device_code: str, updater: Callable[[DeviceToken], DeviceToken]
    ) -> DeviceToken:
        return _update(self._device_tokens, device_code, updater)

    async def revoke_token(self, token_id: str, expiry: datetime) -> None:
        self._revoked[token_id] = max(expiry, self._revoked.get(token_id, expiry))

    async def is_token_revoked(self, token_id: str) -> bool:
        return token_id in self._revoked

    async def create_session(self, session: Session) -> None:
        _create(self._sessions, session.id, session)

    async def get_session(self, session_id: str) -> Session:
        return _get(self._sessions, session_id)

    async def list_sessions(self, which: SessionFilter, now: datetime) -> list[Session]:
        found = [s for s in self._sessions.values() if session_matches(s, which, now)]
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    async def update_session(
        self, session_id: str, updater: Callable[[Session], Session]
    ) -> Session:
        return _update(self._sessions, session_id, updater)

    async def revoke_sessions(
        self, which: SessionFilter, revoked_at: datetime, revoked_by: str
    ) -> list[str]:
        which = dataclasses.replace(which, include_revoked=True)
        return _mark_revoked(
            self._sessions, lambda s: session_matches(s, which, revoked_at), revoked_at, revoked_by
        )

    async def create_browser_session(self, session: BrowserSession) -> None:
        _create(self._browser_sessions, session.id, _copy_browser(session))

    async def get_browser_session(self, session_id: str) -> BrowserSession:
        return _copy_browser(_get(self._browser_sessions, session_id))

    async def list_browser_sessions(
        self, which: BrowserSessionFilter, now: datetime
    ) -> list[BrowserSession]:
        found = [
            _copy_browser(s)
            for s in self._browser_sessions.values()
            if browser_session_matches(s, which, now)
        ]
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    async def update_browser_session(
        self, session_id: str, updater: Callable[[BrowserSession], BrowserSession]
    ) -> BrowserSession:
        new = _update(
            self._browser_sessions,
            session_id,
            lambda old: _copy_browser(updater(_copy_browser(old))),
        )
        return _copy_browser(new)

    async def revoke_browser_sessions(
        self, which: BrowserSessionFilter, revoked_at: datetime, revoked_by: str
    ) -> list[str]:
        which = dataclasses.replace(which, include_revoked=True)
        return _mark_revoked(
            self._browser_sessions,
            lambda s: browser_session_matches(s, which, revoked_at),
            revoked_at,
            revoked_by,
        )

    async def add_revocation(self, revocation: Revocation) -> None:
        _create(self._revocations, revocation.id, revocation)

    async def list_revocations(self, since: datetime | None = None) -> list[Revocation]:
        found = [r for r in self._revocations.values() if since is None or r.created_at >= since]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def append_audit_events(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        # Ids are unique, as the SQL backends' UNIQUE constraint makes them; all or none.
        ids = [event.id for event in events]
        if len(set(ids)) != len(ids) or not self._audit_ids.isdisjoint(ids):
            raise AlreadyExistsError(f"audit events {ids}")
        appended = []
        for event in events:
            self._audit_seq += 1
            stored = dataclasses.replace(event, seq=self._audit_seq, details=dict(event.details))
            self._audit.append(stored)
            self._audit_ids.add(stored.id)
            appended.append(_copy_event(stored))
        return appended

    async def list_audit_events(self, which: AuditFilter) -> list[AuditEvent]:
        found = (e for e in reversed(self._audit) if audit_matches(e, which))
        return [_copy_event(e) for e in itertools.islice(found, max(which.limit, 0))]

    async def delete_audit_events(self, before: datetime) -> int:
        kept = [event for event in self._audit if event.time >= before]
        deleted = len(self._audit) - len(kept)
        self._audit = kept
        self._audit_ids = {event.id for event in kept}
        return deleted

    async def create_secret(self, secret: ServerSecret) -> None:
        _create(self._secrets, secret.name, secret)

    async def get_secret(self, name: str) -> ServerSecret:
        return _get(self._secrets, name)

    async def update_secret(
        self, name: str, updater: Callable[[ServerSecret], ServerSecret]
    ) -> ServerSecret:
        return _update(
            self._secrets, name, lambda old: dataclasses.replace(updater(old), name=name)
        )

    async def get_login_attempts(self, key: str) -> LoginAttempts | None:
        return self._login_attempts.get(key)

    async def update_login_attempts(
        self, key: str, updater: Callable[[LoginAttempts | None], LoginAttempts | None]
    ) -> LoginAttempts | None:
        new = updater(self._login_attempts.get(key))
        if new is None:
            self._login_attempts.pop(key, None)
        else:
            self._login_attempts[key] = new
        return new

    async def garbage_collect(self, now: datetime) -> GCResult:
        return GCResult(
            auth_requests=_expire(self._auth_requests, lambda r: r.expiry < now),
            auth_codes=_expire(self._auth_codes, lambda c: c.expiry < now),
            device_requests=_expire(self._device_requests, lambda r: r.expiry < now),
            device_tokens=_expire(self._device_tokens, lambda t: t.expiry < now),
            revoked_tokens=_expire(self._revoked, lambda expiry: expiry < now),
            login_attempts=_expire(
                self._login_attempts,
                lambda a: a.expiry < now and (a.locked_until is None or a.locked_until < now),
            ),
            sessions=_expire(self._sessions, lambda s: _gone(s.expiry, s.revoked_at, now)),
            revocations=_expire(self._revocations, lambda r: r.expiry < now),
            browser_sessions=_expire(
                self._browser_sessions, lambda s: _gone(s.expiry, s.revoked_at, now)
            ),
        )
