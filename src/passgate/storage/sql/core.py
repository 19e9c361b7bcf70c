"""The Storage methods, written once for every SQL flavour (Dex's ``storage/sql``): the
OAuth flow's records here, sessions and the audit log in ``session_store``, the generic
record operations and the two primitives a backend supplies in ``records_base``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from passgate.storage.base import REVOKED_SESSION_KEPT, NotFoundError, StorageError
from passgate.storage.models import (
    AuthCode,
    AuthRequest,
    Client,
    DeviceRequest,
    DeviceToken,
    GCResult,
    Keys,
    LoginAttempts,
    OfflineSession,
    Password,
    RefreshToken,
    ServerSecret,
)
from passgate.storage.sql import audit_records as audit
from passgate.storage.sql import flow_records as flow
from passgate.storage.sql import records
from passgate.storage.sql.session import Session
from passgate.storage.sql.session_store import SessionStore

_REVOKE = (
    "INSERT INTO revoked_tokens (id, expiry) VALUES (:id, :expiry) "
    "ON CONFLICT (id) DO UPDATE SET expiry = CASE "
    "WHEN excluded.expiry > revoked_tokens.expiry THEN excluded.expiry "
    "ELSE revoked_tokens.expiry END"
)
_IS_REVOKED = "SELECT 1 AS revoked FROM revoked_tokens WHERE id = :id"
_GC = {
    "auth_requests": "DELETE FROM auth_requests WHERE expiry < :now",
    "auth_codes": "DELETE FROM auth_codes WHERE expiry < :now",
    "device_requests": "DELETE FROM device_requests WHERE expiry < :now",
    "device_tokens": "DELETE FROM device_tokens WHERE expiry < :now",
    "revoked_tokens": "DELETE FROM revoked_tokens WHERE expiry < :now",
    "login_attempts": (
        "DELETE FROM login_attempts WHERE expiry < :now "
        "AND (locked_until IS NULL OR locked_until < :now)"
    ),
    **audit.GC,
}
# A racing first insert of a login-attempts key makes the loser retry; bound it anyway.
_UPSERT_ATTEMPTS = 20


class SQLStorage(SessionStore):
    """Storage over any SQL flavour; subclasses own connections and transactions."""

    # -- clients -------------------------------------------------------------------------
    async def create_client(self, client: Client) -> None:
        await self._create(records.CLIENTS, client)

    async def get_client(self, client_id: str) -> Client:
        return await self._get(records.CLIENTS, client_id)

    async def list_clients(self) -> list[Client]:
        return await self._list(records.CLIENTS)

    async def update_client(self, client_id: str, updater: Callable[[Client], Client]) -> Client:
        return await self._update(records.CLIENTS, updater, client_id)

    async def delete_client(self, client_id: str) -> None:
        await self._delete(records.CLIENTS, client_id)

    # -- authorization requests and codes ------------------------------------------------
    async def create_auth_request(self, req: AuthRequest) -> None:
        await self._create(flow.AUTH_REQUESTS, req)

    async def get_auth_request(self, req_id: str) -> AuthRequest:
        return await self._get(flow.AUTH_REQUESTS, req_id)

    async def update_auth_request(
        self, req_id: str, updater: Callable[[AuthRequest], AuthRequest]
    ) -> AuthRequest:
        return await self._update(flow.AUTH_REQUESTS, updater, req_id)

    async def delete_auth_request(self, req_id: str) -> None:
        await self._delete(flow.AUTH_REQUESTS, req_id)

    async def create_auth_code(self, code: AuthCode) -> None:
        await self._create(flow.AUTH_CODES, code)

    async def get_auth_code(self, code_id: str) -> AuthCode:
        return await self._get(flow.AUTH_CODES, code_id)

    async def update_auth_code(
        self, code_id: str, updater: Callable[[AuthCode], AuthCode]
    ) -> AuthCode:
        return await self._update(flow.AUTH_CODES, updater, code_id)

    async def delete_auth_code(self, code_id: str) -> None:
        await self._delete(flow.AUTH_CODES, code_id)

    # -- refresh tokens and offline sessions ---------------------------------------------
    async def create_refresh_token(self, token: RefreshToken) -> None:
        await self._create(flow.REFRESH_TOKENS, token)

    async def get_refresh_token(self, token_id: str) -> RefreshToken:
        return await self._get(flow.REFRESH_TOKENS, token_id)

    async def list_refresh_tokens(self) -> list[RefreshToken]:
        return await self._list(flow.REFRESH_TOKENS)

    async def update_refresh_token(
        self, token_id: str, updater: Callable[[RefreshToken], RefreshToken]
    ) -> RefreshToken:
        return await self._update(flow.REFRESH_TOKENS, updater, token_id)

    async def delete_refresh_token(self, token_id: str) -> None:
        await self._delete(flow.REFRESH_TOKENS, token_id)

    async def create_offline_session(self, session: OfflineSession) -> None:
        await self._create(flow.OFFLINE_SESSIONS, session)

    async def get_offline_session(self, user_id: str, connector_id: str) -> OfflineSession:
        return await self._get(flow.OFFLINE_SESSIONS, user_id, connector_id)

    async def update_offline_session(
        self,
        user_id: str,
        connector_id: str,
        updater: Callable[[OfflineSession], OfflineSession],
    ) -> OfflineSession:
        return await self._update(flow.OFFLINE_SESSIONS, updater, user_id, connector_id)

    async def delete_offline_session(self, user_id: str, connector_id: str) -> None:
        await self._delete(flow.OFFLINE_SESSIONS, user_id, connector_id)

    # -- passwords (emails are stored lower-cased) ---------------------------------------
    async def create_password(self, password: Password) -> None:
        await self._create(records.PASSWORDS, password)

    async def get_password(self, email: str) -> Password:
        return await self._get(records.PASSWORDS, email.lower())

    async def list_passwords(self) -> list[Password]:
        return await self._list(records.PASSWORDS)

    async def update_password(
        self, email: str, updater: Callable[[Password], Password]
    ) -> Password:
        key = email.lower()
        return await self._update(
            records.PASSWORDS, lambda old: dataclasses.replace(updater(old), email=key), key
        )

    async def delete_password(self, email: str) -> None:
        await self._delete(records.PASSWORDS, email.lower())

    # -- signing keys (one row, created by the first migration) --------------------------
    async def get_keys(self) -> Keys:
        return await self._get(records.SIGNING_KEYS, records.KEYS_ROW_ID)

    async def update_keys(self, updater: Callable[[Keys], Keys]) -> Keys:
        return await self._update(records.SIGNING_KEYS, updater, records.KEYS_ROW_ID)

    # -- device flow ---------------------------------------------------------------------
    async def create_device_request(self, req: DeviceRequest) -> None:
        await self._create(flow.DEVICE_REQUESTS, req)

    async def get_device_request(self, user_code: str) -> DeviceRequest:
        return await self._get(flow.DEVICE_REQUESTS, user_code)

    async def create_device_token(self, token: DeviceToken) -> None:
        await self._create(flow.DEVICE_TOKENS, token)

    async def get_device_token(self, device_code: str) -> DeviceToken:
        return await self._get(flow.DEVICE_TOKENS, device_code)

    async def update_device_token(
        self, device_code: str, updater: Callable[[DeviceToken], DeviceToken]
    ) -> DeviceToken:
        return await self._update(flow.DEVICE_TOKENS, updater, device_code)

    # -- revoked access tokens -----------------------------------------------------------
    async def revoke_token(self, token_id: str, expiry: datetime) -> None:
        params = {"id": token_id, "expiry": self._flavour.time(expiry)}

        async def body(session: Session) -> int:
            return await session.execute(_REVOKE, params)

        await self._transact(body)

    async def is_token_revoked(self, token_id: str) -> bool:
        return bool(await self._query(_IS_REVOKED, {"id": token_id}))

    # -- shared server secrets -----------------------------------------------------------
    async def create_secret(self, secret: ServerSecret) -> None:
        await self._create(records.SECRETS, secret)

    async def get_secret(self, name: str) -> ServerSecret:
        return await self._get(records.SECRETS, name)

    async def update_secret(
        self, name: str, updater: Callable[[ServerSecret], ServerSecret]
    ) -> ServerSecret:
        return await self._update(
            records.SECRETS, lambda old: dataclasses.replace(updater(old), name=name), name
        )

    # -- failed login attempts -----------------------------------------------------------
    async def get_login_attempts(self, key: str) -> LoginAttempts | None:
        try:
            return await self._get(records.LOGIN_ATTEMPTS, key)
        except NotFoundError:
            return None

    async def update_login_attempts(
        self, key: str, updater: Callable[[LoginAttempts | None], LoginAttempts | None]
    ) -> LoginAttempts | None:
        table = records.LOGIN_ATTEMPTS
        key_params = table.key_params(key)
        select = table.select + self._flavour.for_update

        async def body(session: Session) -> tuple[bool, LoginAttempts | None]:
            rows = await session.fetch(select, key_params)
            old = table.decode(self._flavour, rows[0]) if rows else None
            new = updater(old)
            if new is None:
                if old is not None:
                    await session.execute(table.delete, key_params)
                return True, None
            new = dataclasses.replace(new, key=key)
            params = table.encode(self._flavour, new)
            if old is not None:
                await session.execute(table.update, params)
                return True, new
            # No row to lock: another writer may insert the same key first; then retry.
            return await session.execute(table.insert, params) == 1, new

        for _ in range(_UPSERT_ATTEMPTS):
            done, result = await self._transact(body)
            if done:
                return result
        raise StorageError(f"login attempts for {key!r}: too much contention")

    # -- maintenance ---------------------------------------------------------------------
    async def garbage_collect(self, now: datetime) -> GCResult:
        params = {
            "now": self._flavour.time(now),
            "revoked_before": self._flavour.time(now - REVOKED_SESSION_KEPT),
        }

        async def body(session: Session) -> GCResult:
            if self._flavour.try_xact_lock:
                # One replica at a time: another one holding the lock collects right now.
                lock = {"lock_name": "passgate.gc"}
                [row] = await session.fetch(self._flavour.try_xact_lock, lock)
                if not row["locked"]:
                    return GCResult()
            counts = {name: await session.execute(sql, params) for name, sql in _GC.items()}
            return GCResult(**counts)

        return await self._transact(body)
