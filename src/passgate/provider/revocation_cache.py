"""The revocation rules every replica keeps in memory, so a token check (TokenReview,
introspection, UserInfo) never waits on storage.

At start the cache loads every rule; then it polls ``list_revocations(since=...)`` every
``poll_interval`` (0.5 s by default), so a rule another replica wrote is honoured within a
second; rules this process writes apply at once (:meth:`RevocationCache.add`). Each poll
asks for the rules created since the previous poll *started*, minus ``overlap``, so a
replica whose clock runs behind ours by less than that (or a slow commit) is not missed;
a full reload every ``resync`` is the backstop. Rules are dropped once past their expiry.

What a rule refuses (``Revocation.kind``): ``session`` every token carrying that ``sid``;
``token`` the token with that ``jti``; ``grant`` (``"<sid> <client id>"``) the tokens of
one client under a browser session that other clients share, ``user``, ``client``,
``connector`` and ``all`` the tokens of that user id (from ``sub``), client (``azp`` or
``aud``), connector (from ``sub``), or every token, issued at or before
``issued_before``. ``iat`` has whole
seconds, so a token issued in the same second as such a rule is refused too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog

from passgate.clock import Clock
from passgate.storage.base import Storage
from passgate.storage.models import RefreshToken, Revocation
from passgate.tokens.issuer import VerifiedToken
from passgate.tokens.subject import decode_subject

__all__ = ["RevocationCache", "TokenFacts"]

log = structlog.get_logger("passgate.revocation")

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What the rules look at in a token (or a refresh token)."""

    issued_at: datetime | None
    session_id: str = ""
    jti: str = ""
    user_id: str = ""
    connector_id: str = ""
    clients: tuple[str, ...] = ()
    client_id: str = ""  # the client it was issued to (``azp``), for ``grant`` rules

    @classmethod
    def of_token(cls, token: VerifiedToken) -> TokenFacts:
        """The facts of a verified ID or access token."""
        try:
            user_id, connector_id = decode_subject(token.subject)
        except ValueError:
            user_id, connector_id = token.subject, ""
        clients = tuple(dict.fromkeys((token.client_id, *token.audience)))
        return cls(
            issued_at=token.issued_at,
            session_id=token.session_id,
            jti=token.jti,
            user_id=user_id,
            connector_id=connector_id,
            clients=tuple(client for client in clients if client),
            client_id=token.client_id,
        )

    @classmethod
    def of_refresh_token(cls, token: RefreshToken) -> TokenFacts:
        """A refresh token counts as issued when its grant was created."""
        return cls(
            issued_at=token.created_at,
            session_id=token.session_id,
            user_id=token.claims.user_id,
            connector_id=token.connector_id,
            clients=(token.client_id,),
            client_id=token.client_id,
        )


class RevocationCache:
    """Answers :meth:`is_revoked` from memory; see the module docstring."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        poll_interval: timedelta = timedelta(milliseconds=500),
        overlap: timedelta = timedelta(seconds=30),
        resync: timedelta = timedelta(minutes=5),
        on_revoke_all: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        if poll_interval <= timedelta(0) or overlap < timedelta(0) or resync <= timedelta(0):
            raise ValueError("poll_interval and resync must be positive, overlap not negative")
        self._storage = storage
        self._clock = clock
        self._poll_interval = poll_interval
        self._overlap = overlap
        self._resync = resync
        # Another replica revoked everything and rotated the signing keys: re-read them
        # now rather than at the key manager's next refresh, so that this replica stops
        # signing with a key no verifier has any more.
        self._on_revoke_all = on_revoke_all
        self._rules: dict[str, Revocation] = {}
        self._polled_from: datetime | None = None  # when the previous poll started
        self._loaded_at: datetime | None = None  # when the last full load started
        self._index = _Index()
        self._next_expiry: datetime | None = None  # the first rule to expire

    @property
    def poll_interval(self) -> timedelta:
        return self._poll_interval

    def __len__(self) -> int:
        return len(self._rules)

    # -- keeping up to date ----------------------------------------------------------
    async def load(self) -> list[Revocation]:
        """Read every rule (start-up, and every ``resync``); the ones not known before."""
        started = self._clock()
        rules = await self._storage.list_revocations()
        new = [rule for rule in rules if rule.id not in self._rules]
        self._rules = {rule.id: rule for rule in rules}
        self._polled_from = self._loaded_at = started
        self._rebuild(started)
        return new

    async def poll(self) -> int:
        """Read the rules created since the last poll; how many were new."""
        started = self._clock()
        if (
            self._polled_from is None
            or self._loaded_at is None
            or started - self._loaded_at >= self._resync
        ):
            new = await self.load()
        else:
            rules = await self._storage.list_revocations(since=self._polled_from - self._overlap)
            self._polled_from = started
            new = [rule for rule in rules if rule.id not in self._rules]
            for rule in new:
                self._remember(rule)
            if self._next_expiry is not None and self._next_expiry <= started:
                self._rebuild(started)
        if self._on_revoke_all is not None and any(rule.kind == "all" for rule in new):
            try:
                await self._on_revoke_all()
            except Exception as exc:
                log.warning("reloading after a revoke-all failed", error=f"{type(exc).__name__}")
        return len(new)

    async def run_forever(self) -> None:
        """Background task: poll every ``poll_interval``; failures are logged and the
        rules already known keep applying."""
        while True:
            await asyncio.sleep(self._poll_interval.total_seconds())
            try:
                await self.poll()
            except Exception as exc:
                log.warning("revocation poll failed", error=f"{type(exc).__name__}: {exc}")

    def add(self, rule: Revocation) -> None:
        """A rule this process just stored: it applies now, not at the next poll."""
        if rule.id not in self._rules:
            self._remember(rule)

    def _remember(self, rule: Revocation) -> None:
        self._rules[rule.id] = rule
        self._index.add(rule)
        if self._next_expiry is None or rule.expiry < self._next_expiry:
            self._next_expiry = rule.expiry

    def _rebuild(self, now: datetime) -> None:
        """Drop the expired rules (only when one is due: not a scan every poll)."""
        self._rules = {key: rule for key, rule in self._rules.items() if rule.expiry > now}
        index = _Index()
        for rule in self._rules.values():
            index.add(rule)
        self._index = index
        self._next_expiry = min((rule.expiry for rule in self._rules.values()), default=None)

    # -- answering -------------------------------------------------------------------
    def is_revoked(self, facts: TokenFacts) -> bool:
        """True when a rule refuses the token (a token without ``iat`` is refused by
        any rule of its user, client, connector, or by ``all``)."""
        index = self._index
        if facts.session_id and facts.session_id in index.sessions:
            return True
        if facts.jti and facts.jti in index.tokens:
            return True
        grant = index.grants.get((facts.session_id, facts.client_id)) if index.grants else None
        cutoffs = [
            grant,
            index.users.get(facts.user_id) if facts.user_id else None,
            index.connectors.get(facts.connector_id) if facts.connector_id else None,
            index.everything,
            *(index.clients.get(client) for client in facts.clients),
        ]
        return any(
            cutoff is not None and (facts.issued_at is None or facts.issued_at <= cutoff)
            for cutoff in cutoffs
        )


class _Index:
    """The rules by what they match; for the cut-off kinds the latest cut-off wins."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.tokens: set[str] = set()
        self.grants: dict[tuple[str, str], datetime] = {}
        self.users: dict[str, datetime] = {}
        self.clients: dict[str, datetime] = {}
        self.connectors: dict[str, datetime] = {}
        self.everything: datetime | None = None

    def add(self, rule: Revocation) -> None:
        if rule.kind == "session":
            self.sessions.add(rule.value)
        elif rule.kind == "token":
            self.tokens.add(rule.value)
        elif rule.kind == "all":
            if self.everything is None or rule.issued_before > self.everything:
                self.everything = rule.issued_before
        elif rule.kind == "grant":
            sid, _, client_id = rule.value.partition(" ")
            _keep_later(self.grants, (sid, client_id), rule.issued_before)
        else:
            table = {"user": self.users, "client": self.clients, "connector": self.connectors}
            target = table.get(rule.kind)
            if target is None:
                log.warning("ignoring a revocation rule of unknown kind", kind=rule.kind[:32])
                return
            _keep_later(target, rule.value, rule.issued_before)


def _keep_later(table: dict[K, datetime], key: K, cutoff: datetime) -> None:
    old = table.get(key)
    if old is None or cutoff > old:
        table[key] = cutoff
