"""Revocations through the admin API: one session, one token, every token of a user,
client or connector, or everything. The :class:`~passgate.provider.revocation.Revoker`
does the work (rules, sessions, its own audit events); this layer checks the input,
tells "unknown" from "done", and audits the admin call itself."""

from __future__ import annotations

from dataclasses import dataclass

from passgate.admin.audit import Actor, Auditor
from passgate.admin.errors import BadRequestError, NotFoundError
from passgate.oauth2.errors import OAuthError
from passgate.provider.revocation import Revoker
from passgate.storage import base as storage_errors
from passgate.storage.base import Storage
from passgate.storage.models import REVOCATION_KINDS, Revocation

__all__ = ["RevocationResult", "RevocationService"]


@dataclass(frozen=True, slots=True)
class RevocationResult:
    kind: str
    revoked: bool  # False: nothing was left to revoke (already revoked, expired, unknown)
    sessions_revoked: int = 0
    token_type: str = ""  # for kind "token": refresh_token, access_token or jti


class RevocationService:
    def __init__(self, storage: Storage, revoker: Revoker, auditor: Auditor) -> None:
        self._storage = storage
        self._revoker = revoker
        self._auditor = auditor

    async def list_rules(self, actor: Actor) -> list[Revocation]:
        """The rules in force, newest first."""
        async with self._auditor.call("admin.revocation.list", actor):
            rules = await self._storage.list_revocations()
        return sorted(rules, key=lambda rule: rule.created_at, reverse=True)

    async def revoke(self, kind: str, value: str, reason: str, actor: Actor) -> RevocationResult:
        # A token is a secret: the event names only the kind, never the value.
        subject = "" if kind == "token" else value
        async with self._auditor.call("admin.revocation.create", actor, subject=subject) as entry:
            entry.details["kind"] = kind
            if reason:
                entry.details["reason"] = reason
            result = await self._revoke(kind, value.strip(), reason, actor.name)
            entry.details["sessions"] = str(result.sessions_revoked)
            if kind == "user":
                entry.user_id = value
            elif kind == "client":
                entry.client_id = value
            elif kind == "connector":
                entry.connector_id = value
            elif kind == "session":
                entry.session_id = value
        return result

    async def _revoke(self, kind: str, value: str, reason: str, actor: str) -> RevocationResult:
        if kind not in REVOCATION_KINDS:
            raise BadRequestError(f"kind must be one of {', '.join(REVOCATION_KINDS)}")
        if kind == "all":
            if value:
                raise BadRequestError("kind all takes no value")
            ended = await self._revoker.revoke_everything(actor=actor, reason=reason)
            return RevocationResult(kind, True, len(ended))
        if not value:
            raise BadRequestError(f"kind {kind} needs a value")
        if kind == "session":  # a grant's session, or a browser session
            if not await self._session_exists(value):
                raise NotFoundError(f"no session {value!r}")
            done = await self._revoker.revoke_session(value, actor=actor, reason=reason)
            return RevocationResult(kind, done, int(done))
        if kind == "token":
            try:
                found = await self._revoker.revoke_token(value, actor=actor, reason=reason)
            except OAuthError as error:  # an ID token: revoke its session instead
                raise BadRequestError(error.description or error.error) from None
            return RevocationResult(kind, bool(found), token_type=found)
        bulk = {
            "user": self._revoker.revoke_user,
            "client": self._revoker.revoke_client,
            "connector": self._revoker.revoke_connector,
        }[kind]
        ended = await bulk(value, actor=actor, reason=reason)
        return RevocationResult(kind, True, len(ended))

    async def _session_exists(self, session_id: str) -> bool:
        for get in (self._storage.get_session, self._storage.get_browser_session):
            try:
                await get(session_id)
            except storage_errors.NotFoundError:
                continue
            return True
        return False
