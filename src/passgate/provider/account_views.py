"""What the account page shows a person (the read side of :mod:`.account`): their browser
sessions, their grants, and their identity as each client receives it, made by the same
code that mints ID tokens so the page cannot tell a different story than the tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from passgate.oauth2.scopes import OFFLINE_ACCESS
from passgate.provider.connectors import ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.issue import audience
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import (
    BrowserSession,
    BrowserSessionFilter,
    Claims,
    OfflineSession,
    Session,
    SessionFilter,
)
from passgate.tokens.issuer import TokenIssuer, VerifiedToken
from passgate.tokens.subject import decode_subject

__all__ = ["BrowserView", "ClientIdentity", "GrantView", "Overview", "Owner", "Viewer"]

#: Claims that differ in every token (when it was minted, when it ends): left out.
_PER_TOKEN = frozenset({"exp", "iat"})


@dataclass(frozen=True, slots=True)
class Owner:
    """The signed-in person whose account it is, and the browser session in use."""

    user_id: str
    connector_id: str
    email: str = ""
    #: The ``sid`` of the account page's own token: "this browser".
    browser_session_id: str = ""

    @classmethod
    def of_token(cls, token: VerifiedToken) -> Owner:
        """From the account page's verified ID token (``sub`` says user and connector)."""
        user_id, connector_id = decode_subject(token.subject)  # ValueError: not ours
        email = token.claims.get("email")
        return cls(user_id, connector_id, email if isinstance(email, str) else "", token.session_id)

    @property
    def actor(self) -> str:
        """Who the audit log says acted."""
        return self.email or self.user_id

    def owns(self, record: Session | BrowserSession) -> bool:
        return record.user_id == self.user_id and record.connector_id == self.connector_id

    def is_this_browser(self, record: Session | BrowserSession) -> bool:
        """This browser's session, or a grant made through it."""
        sid = record.sid if isinstance(record, Session) else record.id
        return bool(self.browser_session_id) and sid == self.browser_session_id

    def grant_filter(self) -> SessionFilter:
        return SessionFilter(user_id=self.user_id, connector_id=self.connector_id)

    def browser_filter(self) -> BrowserSessionFilter:
        return BrowserSessionFilter(user_id=self.user_id, connector_id=self.connector_id)


@dataclass(frozen=True, slots=True)
class BrowserView:
    session: BrowserSession
    connector: str  # the connector's name
    clients: tuple[str, ...]  # the names of the clients that signed in through it
    current: bool  # this browser


@dataclass(frozen=True, slots=True)
class GrantView:
    session: Session
    client: str
    connector: str
    refresh: bool  # holds a refresh token (``offline_access``)
    this_browser: bool  # made through this browser's session


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """What one client's ID tokens say about the person (``exp`` and ``iat`` aside)."""

    client_id: str
    client: str
    scopes: tuple[str, ...]
    claims: dict[str, object]


@dataclass(frozen=True, slots=True)
class Overview:
    browsers: tuple[BrowserView, ...]
    grants: tuple[GrantView, ...]
    identities: tuple[ClientIdentity, ...]
    #: ``"changeable"``, ``"static"`` (the config file's) or ``"elsewhere"`` (upstream).
    password: str


class Viewer:
    """Builds the :class:`Overview`; ``own_client`` (the account page's own client) is
    left out of the grants: its sign-ins are the browser sessions themselves."""

    def __init__(
        self,
        storage: Storage,
        directory: Directory,
        connectors: ConnectorRegistry,
        issuer: TokenIssuer,
        own_client: str,
    ) -> None:
        self._storage = storage
        self._directory = directory
        self._connectors = connectors
        self._issuer = issuer
        self._own_client = own_client

    async def overview(
        self,
        owner: Owner,
        browsers: Sequence[BrowserSession],
        grants: Sequence[Session],
        password: str,
    ) -> Overview:
        names: dict[str, str] = {}
        shown = [grant for grant in grants if grant.client_id != self._own_client]
        browser_views = []
        for session in browsers:
            clients = [c for c in session.clients if c != self._own_client]
            browser_views.append(
                BrowserView(
                    session,
                    self._connector(session.connector_id),
                    tuple([await self._client(names, client) for client in clients]),
                    owner.is_this_browser(session),
                )
            )
        grant_views = [
            GrantView(
                grant,
                await self._client(names, grant.client_id),
                self._connector(grant.connector_id),
                OFFLINE_ACCESS in grant.scopes,
                owner.is_this_browser(grant),
            )
            for grant in shown
        ]
        identities = await self._identities(owner, shown, names)
        return Overview(tuple(browser_views), tuple(grant_views), tuple(identities), password)

    async def _identities(
        self, owner: Owner, grants: Sequence[Session], names: dict[str, str]
    ) -> list[ClientIdentity]:
        """Per client, from its newest grant: the claims its next ID token carries (a
        refresh grant's as its refresh token last updated them)."""
        offline = await self._offline(owner)
        found: dict[str, ClientIdentity] = {}
        for grant in grants:  # newest first
            if grant.client_id in found:
                continue
            claims, scopes = await self._latest(grant, offline)
            payload = self._issuer.claims_of_token(
                claims=claims,
                client_id=grant.client_id,
                audience=audience(grant.client_id, scopes),
                scopes=scopes,
                connector_id=grant.connector_id,
                session_id=grant.sid,
            )
            shown = {key: value for key, value in payload.items() if key not in _PER_TOKEN}
            name = await self._client(names, grant.client_id)
            found[grant.client_id] = ClientIdentity(grant.client_id, name, scopes, shown)
        return list(found.values())

    async def _offline(self, owner: Owner) -> OfflineSession | None:
        try:
            return await self._storage.get_offline_session(owner.user_id, owner.connector_id)
        except NotFoundError:
            return None

    async def _latest(
        self, grant: Session, offline: OfflineSession | None
    ) -> tuple[Claims, tuple[str, ...]]:
        """The claims and scopes of the grant's refresh token (a refresh asks the
        connector again and may change them), else what the grant was made with."""
        ref = offline.refresh.get(grant.client_id) if offline is not None else None
        if ref is None or OFFLINE_ACCESS not in grant.scopes:
            return grant.claims, grant.scopes
        try:
            token = await self._storage.get_refresh_token(ref.id)
        except NotFoundError:
            return grant.claims, grant.scopes
        if token.session_id != grant.id:
            return grant.claims, grant.scopes
        return token.claims, token.scopes

    async def _client(self, names: dict[str, str], client_id: str) -> str:
        if client_id not in names:
            client = await self._directory.find_client(client_id)
            names[client_id] = (client.name if client is not None else "") or client_id
        return names[client_id]

    def _connector(self, connector_id: str) -> str:
        entry = self._connectors.get(connector_id)
        return entry.name if entry is not None and entry.name else connector_id
