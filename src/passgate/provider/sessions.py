"""Sign-in sessions: every sign-in that issues a code (browser or device flow) or tokens
(password grant) creates one :class:`~passgate.storage.models.Session`. It owns the
refresh token of that grant, and every token minted under it carries its id as ``sid``,
so ending it ends them all.

Expiry policy (``Session.expiry``; garbage collection removes the session after it):

- when the code is issued: the code's expiry plus a minute (an unredeemed code leaves
  nothing behind for long);
- whenever tokens are minted under it (redemption, device pick-up, password grant,
  refresh): the later of its expiry and the new tokens' ``exp``; and when the grant holds
  a refresh token (``offline_access``), the end of that refresh token instead if later:
  ``created_at + absoluteLifetime`` and ``now + validIfNotUsedFor``, whichever comes
  first, or ``None`` (until revoked) when neither limit is configured.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from passgate.clock import Clock
from passgate.oauth2.errors import InvalidGrantError
from passgate.provider import audit as actions
from passgate.provider.audit import AuditLog
from passgate.provider.ids import new_id
from passgate.provider.settings import RefreshPolicy
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.filters import is_active
from passgate.storage.models import Claims, Session

__all__ = ["Origin", "SessionEndedError", "Sessions", "session_expiry"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a sign-in came from: the client address and the browser's User-Agent."""

    remote_addr: str = ""
    user_agent: str = ""

    def trimmed(self) -> Origin:
        return Origin(self.remote_addr[:64], self.user_agent[:256])


#: How finely a session's ``last_used`` and ``expiry`` follow its use (see ``Sessions.use``).
GRANULARITY = timedelta(minutes=1)


def _needs_write(session: Session, expiry: datetime | None, now: datetime) -> bool:
    """Whether minting now must update the stored session: its expiry does not cover the
    wanted one, or ``last_used`` is more than :data:`GRANULARITY` old."""
    if now - session.last_used >= GRANULARITY:
        return True
    if expiry is None:
        return session.expiry is not None  # from limited to unlimited
    return session.expiry is not None and expiry > session.expiry


class SessionEndedError(InvalidGrantError):
    """The session was revoked, has expired or is gone: nothing more is issued under it."""


def session_expiry(
    session: Session,
    *,
    now: datetime,
    token_expiry: datetime,
    refresh: bool,
    policy: RefreshPolicy,
) -> datetime | None:
    """The session's expiry after minting tokens valid until ``token_expiry`` (see the
    module docstring)."""
    if session.expiry is None:
        if not refresh:
            return None  # an earlier refresh token without limits still holds it open
        latest = token_expiry
    else:
        latest = max(session.expiry, token_expiry)
    if not refresh:
        return latest
    ends = []
    if policy.absolute_lifetime is not None:
        ends.append(session.created_at + policy.absolute_lifetime)
    if policy.valid_if_not_used_for is not None:
        ends.append(now + policy.valid_if_not_used_for)
    if not ends:
        return None
    return max(latest, min(ends))


class Sessions:
    """Creates sessions, checks and extends them when tokens are minted, and records the
    sign-in events of the audit log."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        token_lifetime: timedelta,
        policy: RefreshPolicy,
        audit: AuditLog | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._token_lifetime = token_lifetime
        self._policy = policy
        self._audit = audit

    async def start(
        self,
        *,
        claims: Claims,
        connector_id: str,
        client_id: str,
        scopes: tuple[str, ...],
        origin: Origin,
        until: datetime,
        via: str,
        browser_session_id: str = "",
    ) -> Session:
        """A new session of a successful sign-in (``via``: how, for the audit log), valid
        until ``until`` unless tokens are minted under it; made through the browser
        session ``browser_session_id`` when given (its tokens then carry that ``sid``)."""
        now = self._clock()
        origin = origin.trimmed()
        session = Session(
            id=new_id(),
            user_id=claims.user_id,
            connector_id=connector_id,
            client_id=client_id,
            scopes=scopes,
            claims=claims,
            created_at=now,
            last_used=now,
            expiry=until,
            remote_addr=origin.remote_addr,
            user_agent=origin.user_agent,
            browser_session_id=browser_session_id,
        )
        await self._storage.create_session(session)
        await self.record(
            actions.LOGIN_SUCCESS,
            claims.email or claims.user_id,
            subject=session.id,
            user_id=claims.user_id,
            client_id=client_id,
            connector_id=connector_id,
            session_id=session.id,
            remote_addr=origin.remote_addr,
            details={"via": via}
            | ({"browser_session": browser_session_id} if browser_session_id else {}),
        )
        return session

    async def use(self, session_id: str, *, refresh: bool) -> Session:
        """Tokens are about to be minted under the session: check that it is active and
        move ``last_used`` and ``expiry`` forward. Raises :class:`SessionEndedError` when
        it has ended.

        A refresh is the hot path, so the session is written only when something moves
        by more than :data:`GRANULARITY`: ``last_used`` is kept to the minute, and a new
        expiry is stored a minute later than needed, so the refreshes of the next minute
        find it already covered and only read."""
        now = self._clock()
        token_expiry = now + self._token_lifetime

        def wanted(old: Session) -> datetime | None:
            if not is_active(old, now):
                raise SessionEndedError("the sign-in session has ended")
            return session_expiry(
                old, now=now, token_expiry=token_expiry, refresh=refresh, policy=self._policy
            )

        def touch(old: Session) -> Session:
            expiry = wanted(old)
            if expiry is not None:
                expiry += GRANULARITY
            return dataclasses.replace(old, last_used=now, expiry=expiry)

        try:
            current = await self._storage.get_session(session_id)
            if not _needs_write(current, wanted(current), now):
                return current
            return await self._storage.update_session(session_id, touch)
        except NotFoundError:
            raise SessionEndedError("the sign-in session has ended") from None

    async def is_active(self, sid: str) -> bool:
        """Whether the session a token's ``sid`` names, a grant's own or a browser
        session, has neither ended nor expired."""
        return await self.active_grant(sid) is not None or await self._browser_active(sid)

    async def active_grant(self, session_id: str) -> Session | None:
        """The grant session, unless it has ended."""
        try:
            session = await self._storage.get_session(session_id)
        except NotFoundError:
            return None
        return session if is_active(session, self._clock()) else None

    async def _browser_active(self, session_id: str) -> bool:
        try:
            session = await self._storage.get_browser_session(session_id)
        except NotFoundError:
            return False
        return is_active(session, self._clock())

    async def login_failed(
        self,
        *,
        connector_id: str,
        username: str,
        client_id: str = "",
        remote_addr: str = "",
        reason: str = "invalid credentials",
    ) -> None:
        """Record a refused sign-in (never the password)."""
        await self.record(
            actions.LOGIN_FAILURE,
            username[:256] or "unknown",
            outcome="failure",
            subject=username[:256],
            client_id=client_id,
            connector_id=connector_id,
            remote_addr=remote_addr[:64],
            details={"reason": reason[:200]},
        )

    async def record(self, action: str, actor: str, **fields: Any) -> None:
        """An audit event, when an audit log is wired (tests may leave it out)."""
        if self._audit is not None:
            await self._audit.record(action, actor, **fields)
