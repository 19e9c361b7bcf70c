"""The admin API's services in one place: what the composition root builds and the web
layer (``passgate.server.admin``) calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from passgate.admin.audit import Actor, Auditor, AuditQuery, Entry
from passgate.admin.auth import AdminAuthenticator, AdminTokenHash, NotAnAdminError, TokenClaims
from passgate.admin.clients import ClientService
from passgate.admin.errors import AdminError
from passgate.admin.keys import KeyService
from passgate.admin.revocations import RevocationService
from passgate.admin.sessions import SessionService
from passgate.admin.users import DEFAULT_BCRYPT_COST, UserService
from passgate.clock import Clock
from passgate.keys import KeyManager
from passgate.provider.audit import AuditLog
from passgate.provider.client_secrets import ClientSecrets
from passgate.provider.directory import Directory
from passgate.provider.revocation import Revoker
from passgate.storage.base import Storage

__all__ = ["AdminAPI", "build_admin"]


@dataclass(frozen=True, slots=True)
class AdminAPI:
    authenticator: AdminAuthenticator
    auditor: Auditor
    clients: ClientService
    users: UserService
    sessions: SessionService
    revocations: RevocationService
    keys: KeyService
    audit: AuditQuery

    async def authenticate(
        self, authorization: str | None, remote_addr: str, method: str, path: str
    ) -> Actor:
        """The admin behind ``authorization``; a refusal (401 or 403) is audited as
        ``admin.auth.failure`` naming who was refused and where, then raised. The API
        and the console both come through here."""
        try:
            return await self.authenticator.authenticate(authorization, remote_addr)
        except AdminError as error:
            who = error.who if isinstance(error, NotAnAdminError) else "anonymous"
            entry = Entry(details={"method": method, "path": path})
            refused = Actor(who, remote_addr)
            await self.auditor.record("admin.auth.failure", refused, entry, error=error.error)
            raise


def build_admin(
    *,
    storage: Storage,
    clock: Clock,
    keys: KeyManager,
    audit: AuditLog,
    revoker: Revoker,
    directory: Directory,
    client_secrets: ClientSecrets,
    tokens: Sequence[AdminTokenHash],
    groups: Sequence[str] = (),
    verify: TokenClaims | None = None,
    bcrypt_cost: int = DEFAULT_BCRYPT_COST,
) -> AdminAPI:
    auditor = Auditor(audit)
    return AdminAPI(
        authenticator=AdminAuthenticator(tokens, groups, verify),
        auditor=auditor,
        clients=ClientService(directory, auditor, client_secrets),
        users=UserService(directory, auditor, revoker, bcrypt_cost=bcrypt_cost),
        sessions=SessionService(storage, clock, auditor, revoker),
        revocations=RevocationService(storage, revoker, auditor),
        keys=KeyService(storage, keys, clock, auditor),
        audit=AuditQuery(storage, auditor),
    )
