"""Browser single sign-on sessions: a person signs in once per browser, and every later
authorization request from that browser, for any client that may share the session,
skips the connector (OIDC Core §3.1.2.3: the OP may use an existing session).

The session cookie holds ``<session id>.<secret>`` (``tokens.handles``); storage keeps the
secret's hash, so the record is found by id and the cookie checked in constant time. A
session ends at ``sessions.absoluteLifetime`` after sign-in, or ``validIfNotUsedFor``
after its last use, or when revoked (``Revoker.end_browser_session``). Signing in again
as the same person in the same browser keeps its id (tokens already out keep their
``sid``) but renews ``auth_time`` and the cookie's secret.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from passgate.clock import Clock
from passgate.connectors.base import ConnectorError, Scopes
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.directory import Directory
from passgate.provider.identity import refresh_identity
from passgate.provider.ids import new_id
from passgate.provider.sessions import GRANULARITY, Origin
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.filters import is_active
from passgate.storage.models import BrowserSession, Claims, Client
from passgate.tokens import handles

__all__ = ["BrowserSessions", "BrowserSignIn", "SessionPolicy", "shares"]


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """``sessions`` (Dex names) and how often a session's identity is asked again."""

    absolute_lifetime: timedelta = timedelta(hours=24)
    idle_timeout: timedelta = timedelta(hours=8)
    share_by_default: bool = True  # ssoSharedWithDefault: all
    #: How long the connector's word about a person holds before it is asked again.
    identity_lifetime: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class BrowserSignIn:
    """A person proved who they are in a browser; what it needs to know of them."""

    claims: Claims
    connector_id: str
    connector_data: bytes = b""
    #: The connector was asked for groups (the session then answers clients that ask).
    with_groups: bool = False
    remember_me: bool = False
    acr_values: tuple[str, ...] = ()
    origin: Origin = dataclasses.field(default_factory=Origin)


def shares(source: Client | None, target: str, default: bool) -> bool:
    """Whether a sign-in through ``source`` may be reused by client ``target`` (Dex
    ``ssoSharedWith``: a list, ``"*"`` for all; unset: ``ssoSharedWithDefault``)."""
    if source is None:  # a client that no longer exists shares nothing
        return False
    shared = source.sso_shared_with
    if shared is None:
        return default
    return "*" in shared or target in shared


class BrowserSessions:
    """Finds, starts, renews and records the use of browser sessions."""

    def __init__(self, storage: Storage, clock: Clock, policy: SessionPolicy) -> None:
        self._storage = storage
        self._clock = clock
        self.policy = policy

    async def get(self, session_id: str) -> BrowserSession | None:
        """The session, ended or not; None once deleted."""
        try:
            return await self._storage.get_browser_session(session_id)
        except NotFoundError:
            return None

    # -- the cookie ----------------------------------------------------------------------
    async def resume(self, cookie: str) -> BrowserSession | None:
        """The active session the cookie names; None for no cookie, a forged or stale one
        (its secret changed), or a session that ended."""
        parsed = handles.parse_handle(cookie) if cookie else None
        if parsed is None:
            return None
        session_id, secret = parsed
        try:
            session = await self._storage.get_browser_session(session_id)
        except NotFoundError:
            return None
        if not handles.secret_matches(secret, session.cookie_hash):
            return None
        return session if is_active(session, self._clock()) else None

    # -- signing in ------------------------------------------------------------------------
    async def sign_in(
        self, sign_in: BrowserSignIn, current: BrowserSession | None
    ) -> tuple[BrowserSession, str, BrowserSession | None]:
        """Record a sign-in; ``(session, cookie value, replaced)``. The same person in the
        browser's ``current`` session renews it; anybody else gets a new one, and the old
        one is returned as ``replaced`` for the caller to end (one browser, one person)."""
        now = self._clock()
        secret = handles.new_secret()
        same = (
            current is not None
            and current.user_id == sign_in.claims.user_id
            and current.connector_id == sign_in.connector_id
        )
        if current is not None and same:
            renewed = await self._renew(current.id, sign_in, secret, now)
            if renewed is not None:
                return renewed, handles.format_handle(renewed.id, secret), None
        origin = sign_in.origin.trimmed()
        absolute = now + self.policy.absolute_lifetime
        session = BrowserSession(
            id=new_id(),
            cookie_hash=handles.hash_secret(secret),
            user_id=sign_in.claims.user_id,
            connector_id=sign_in.connector_id,
            claims=sign_in.claims,
            auth_time=now,
            created_at=now,
            last_used=now,
            expiry=min(absolute, now + self.policy.idle_timeout),
            absolute_expiry=absolute,
            refreshed_at=now,
            connector_data=sign_in.connector_data,
            remember_me=sign_in.remember_me,
            acr_values=sign_in.acr_values,
            with_groups=sign_in.with_groups,
            remote_addr=origin.remote_addr,
            user_agent=origin.user_agent,
        )
        await self._storage.create_browser_session(session)
        return session, handles.format_handle(session.id, secret), None if same else current

    async def _renew(
        self, session_id: str, sign_in: BrowserSignIn, secret: str, now: datetime
    ) -> BrowserSession | None:
        """A fresh sign-in of the session's own person (``prompt=login``, ``max_age``): a
        new ``auth_time`` and identity, a new cookie secret, and a new lifetime."""

        def renew(old: BrowserSession) -> BrowserSession:
            absolute = now + self.policy.absolute_lifetime
            return dataclasses.replace(
                old,
                cookie_hash=handles.hash_secret(secret),
                claims=sign_in.claims,
                connector_data=sign_in.connector_data or old.connector_data,
                auth_time=now,
                last_used=now,
                refreshed_at=now,
                absolute_expiry=absolute,
                expiry=min(absolute, now + self.policy.idle_timeout),
                remember_me=sign_in.remember_me,
                acr_values=sign_in.acr_values,
                with_groups=sign_in.with_groups,
            )

        try:
            renewed = await self._storage.update_browser_session(session_id, renew)
        except NotFoundError:
            return None
        return renewed if renewed.revoked_at is None else None

    # -- using a session ---------------------------------------------------------------------
    async def shares_with(
        self, session: BrowserSession, client: Client, directory: Directory
    ) -> bool:
        """Whether ``client`` may reuse ``session``: it signed in through it before, or a
        client that did shares with it. A session no client used yet (forward-auth)
        follows the default."""
        if client.id in session.clients:
            return True
        default = self.policy.share_by_default
        if not session.clients:
            return default
        for source_id in session.clients:
            if shares(await directory.find_client(source_id), client.id, default):
                return True
        return False

    async def remember(self, session: BrowserSession, remember_me: bool) -> BrowserSession:
        """The person changed their mind about "remember me"."""
        return await self._storage.update_browser_session(
            session.id, lambda old: dataclasses.replace(old, remember_me=remember_me)
        )

    def needs_refresh(self, session: BrowserSession) -> bool:
        return self._clock() - session.refreshed_at >= self.policy.identity_lifetime

    async def refresh(self, session: BrowserSession, entry: ConnectorEntry) -> BrowserSession:
        """Ask the connector about the person again and keep its answer. Raises what the
        connector raises (``ConnectorError``: it no longer vouches for the person)."""
        async with self._storage.exclusive(f"upstream:{session.id}"):
            # One replica at a time asks (the upstream may rotate its refresh token) and
            # stores the answer before letting go: one that waited finds it stored.
            current = await self.get(session.id)
            if current is not None and current.refreshed_at > session.refreshed_at:
                return current
            asked = current or session
            scopes = Scopes(offline_access=True, groups=asked.with_groups)
            try:
                claims, data = await refresh_identity(
                    entry, scopes, asked.claims, asked.connector_data
                )
            except ConnectorError:
                # A replica that went on without the lock may have won the race and
                # rotated the upstream's token under us: its answer stands.
                current = await self.get(session.id)
                if current is not None and current.refreshed_at > asked.refreshed_at:
                    return current
                raise
            now = self._clock()

            def keep(old: BrowserSession) -> BrowserSession:
                if old.refreshed_at > asked.refreshed_at:
                    return old  # another replica asked meanwhile; its answer is as good
                return dataclasses.replace(
                    old, claims=claims, connector_data=data, refreshed_at=now
                )

            return await self._storage.update_browser_session(session.id, keep)

    async def use(
        self,
        session: BrowserSession,
        *,
        client_id: str = "",
        consent: tuple[str, ...] | None = None,
    ) -> BrowserSession:
        """The session was used (for ``client_id``, with ``consent`` given to it): record
        the client and consent, and move the idle timeout on. Written only when something
        changes or ``last_used`` is a :data:`GRANULARITY` old: reuse stays a read."""
        now = self._clock()
        joins = bool(client_id) and client_id not in session.clients
        consents = consent is not None and session.consents.get(client_id) != consent
        if not joins and not consents and now - session.last_used < GRANULARITY:
            return session

        def touch(old: BrowserSession) -> BrowserSession:
            clients = old.clients
            if client_id and client_id not in clients:
                clients = (*clients, client_id)
            approved = dict(old.consents)
            if consent is not None:
                approved[client_id] = consent
            return dataclasses.replace(
                old,
                clients=clients,
                consents=approved,
                last_used=max(now, old.last_used),
                expiry=min(old.absolute_expiry, max(now, old.last_used) + self.policy.idle_timeout),
            )

        try:
            return await self._storage.update_browser_session(session.id, touch)
        except NotFoundError:
            return session
