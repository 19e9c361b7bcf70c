"""The refresh-token grant (RFC 6749 §6) with rotation, reuse detection and lifetimes.

Tokens are ``<id>.<secret>``; storage keeps the hash of the current secret and of the one
before it. Each rotation derives the next secret as HMAC(rotation_key, secret), so when a
client retries with the previous secret inside ``reuseInterval`` (a response lost on the
network, Dex's semantics) the server recomputes the *same* current token instead of
minting a second one, though only hashes are stored. Outside that interval a used secret
means the token leaked (RFC 9700 §4.14.2): the whole token is revoked, and with it the
sign-in session that owns it, so the access and ID tokens already out stop working too.
A token whose session has ended, or that a revocation rule covers (tokens older than
sessions), is refused and deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from datetime import datetime, timedelta

import structlog

from passgate.clock import Clock
from passgate.connectors.base import ConnectorError, RefreshConnector, UpstreamUnavailableError
from passgate.oauth2.errors import InvalidGrantError, InvalidScopeError, TemporarilyUnavailableError
from passgate.oauth2.params import Params
from passgate.oauth2.scopes import split
from passgate.provider.connectors import ConnectorRegistry
from passgate.provider.identity import refresh_identity
from passgate.provider.issue import Grant, ResponseMinter, TokenResponse
from passgate.provider.login import scopes_for
from passgate.provider.revocation import Revoker
from passgate.provider.sessions import SessionEndedError
from passgate.provider.settings import REFRESH_TOKEN, RefreshPolicy
from passgate.storage.base import NotFoundError, Storage, StorageUnavailableError
from passgate.storage.models import Claims, Client, RefreshToken
from passgate.tokens import refresh as refresh_tokens

log = structlog.get_logger("passgate.refresh")

#: Retry-After (seconds) sent when the upstream cannot be asked right now.
UPSTREAM_RETRY_AFTER = 30


def upstream_unavailable(connector_id: str, error: Exception) -> TemporarilyUnavailableError:
    """The 503 for an upstream that said nothing about the person (down, slow, rate
    limited: ``UpstreamUnavailableError``) or gave an answer the connector could not use
    (any other exception, a connector bug: its traceback goes to the log). The person's
    session stays; the client tries again after Retry-After."""
    if isinstance(error, UpstreamUnavailableError):
        log.warning("connector unavailable", connector=connector_id, error=str(error))
        retry_after = getattr(error, "retry_after", None) or UPSTREAM_RETRY_AFTER
        message = "the upstream identity provider cannot be reached; try again later"
    else:
        log.error("connector failed unexpectedly", connector=connector_id, exc_info=error)
        retry_after = UPSTREAM_RETRY_AFTER
        message = "the upstream identity provider gave an unusable answer; try again later"
    return TemporarilyUnavailableError(message, headers={"Retry-After": str(retry_after)})


def _same(hash_a: str, hash_b: str) -> bool:
    return bool(hash_a) and secrets.compare_digest(hash_a.encode(), hash_b.encode())


def lifetime_problem(token: RefreshToken, policy: RefreshPolicy, now: datetime) -> str:
    """Why ``token`` has run out of time under ``policy`` ("" while it has not)."""
    if policy.absolute_lifetime is not None and now - token.created_at > policy.absolute_lifetime:
        return "the refresh token has expired"
    idle = policy.valid_if_not_used_for
    if idle is not None and now - token.last_used > idle:
        return "the refresh token expired after being unused"
    return ""


class _Rejected(Exception):
    """Raised inside the atomic update: the presented secret is not (or no longer) valid."""


class RefreshGrant:
    def __init__(
        self,
        *,
        storage: Storage,
        connectors: ConnectorRegistry,
        minter: ResponseMinter,
        policy: RefreshPolicy,
        clock: Clock,
        revoker: Revoker | None = None,
    ) -> None:
        self._storage = storage
        self._connectors = connectors
        self._minter = minter
        self._policy = policy
        self._clock = clock
        self._revoker = revoker

    async def handle(self, client: Client, form: Params) -> TokenResponse:
        parsed = refresh_tokens.parse_refresh_token(form.require("refresh_token"))
        if parsed is None:
            raise InvalidGrantError("malformed refresh token")
        token_id, secret = parsed
        try:
            token = await self._storage.get_refresh_token(token_id)
        except NotFoundError:
            raise InvalidGrantError("invalid or revoked refresh token") from None
        # RFC 6749 §6: the refresh token is bound to the client it was issued to.
        if token.client_id != client.id:
            raise InvalidGrantError("the refresh token was issued to another client")
        if self._revoker is not None and self._revoker.refresh_revoked(token):
            await self._revoke(token.id)
            raise InvalidGrantError("the refresh token has been revoked")
        self._check_lifetimes(token)
        scopes = self._narrowed_scopes(token, form.optional("scope"))
        if not self._asks_upstream(token):
            return await self._rotate(client, token, secret, scopes)
        # The upstream may rotate its own refresh token (GitLab, Microsoft, GitHub apps):
        # one replica at a time asks it about this grant, and a request that waited reads
        # what the first one stored instead of spending the upstream token again.
        async with self._storage.exclusive(f"refresh:{token.id}"):
            try:
                token = await self._storage.get_refresh_token(token_id)
            except NotFoundError:
                raise InvalidGrantError("invalid or revoked refresh token") from None
            return await self._rotate(client, token, secret, scopes)

    def _asks_upstream(self, token: RefreshToken) -> bool:
        """The connector refreshes with an upstream token of its own (OAuth connectors);
        LDAP, SAML and the local database keep none to spend."""
        entry = self._connectors.get(token.connector_id)
        connector = entry.connector if entry is not None else None
        return (
            isinstance(connector, RefreshConnector)
            and connector.needs_stored_data
            and bool(token.connector_data)
        )

    async def _rotate(
        self, client: Client, token: RefreshToken, secret: str, scopes: tuple[str, ...]
    ) -> TokenResponse:
        presented = refresh_tokens.hash_secret(secret)
        current = self._current(token, presented)
        if not current and not self._reusable(token, presented):
            await self._revoke(token.id)
            await self._end_session(token, "refresh token reused", "reuse")
            raise InvalidGrantError("the refresh token was already used; it has been revoked")
        if current:
            claims, connector_data = await self._refreshed_identity(token, scopes)
        else:
            # A retry within reuseInterval gets the tokens the first request got: the
            # upstream was asked then, and asking again would spend its token twice.
            claims, connector_data = token.claims, token.connector_data
        if current and self._policy.disable_rotation:
            new_secret = secret
        else:
            # Rotation, or a permitted retry with the previous secret: either way the
            # current secret is the HMAC of the presented one.
            new_secret = refresh_tokens.next_secret(token.rotation_key, secret)
        new_hash = refresh_tokens.hash_secret(new_secret)
        now = self._clock()

        def rotate(old: RefreshToken) -> RefreshToken:
            if self._current(old, presented):
                fresh = dataclasses.replace(
                    old, last_used=now, claims=claims, connector_data=connector_data
                )
                if self._policy.disable_rotation:
                    return fresh
                return dataclasses.replace(
                    fresh, token_hash=new_hash, obsolete_token_hash=old.token_hash
                )
            if self._reusable(old, presented) and _same(new_hash, old.token_hash):
                return old
            raise _Rejected

        try:
            updated = await self._storage.update_refresh_token(token.id, rotate)
        except (_Rejected, NotFoundError):
            raise InvalidGrantError("invalid or revoked refresh token") from None
        grant = Grant(
            client_id=client.id,
            claims=updated.claims,
            scopes=scopes,
            connector_id=updated.connector_id,
            auth_time=updated.auth_time,
            connector_data=updated.connector_data,
            session_id=updated.session_id,
        )
        value = refresh_tokens.format_refresh_token(updated.id, new_secret)
        try:
            return await self._minter.mint(grant, refresh_token=value, grant_type=REFRESH_TOKEN)
        except SessionEndedError:
            await self._revoke(token.id)
            raise

    def _current(self, token: RefreshToken, presented_hash: str) -> bool:
        return _same(presented_hash, token.token_hash)

    def _reusable(self, token: RefreshToken, presented_hash: str) -> bool:
        # A zero interval disables reuse altogether, even within the same instant.
        if not token.obsolete_token_hash or self._policy.reuse_interval <= timedelta(0):
            return False
        if not _same(presented_hash, token.obsolete_token_hash):
            return False
        return self._clock() - token.last_used <= self._policy.reuse_interval

    def _check_lifetimes(self, token: RefreshToken) -> None:
        problem = lifetime_problem(token, self._policy, self._clock())
        if problem:
            raise InvalidGrantError(problem)

    @staticmethod
    def _narrowed_scopes(token: RefreshToken, requested: str) -> tuple[str, ...]:
        """RFC 6749 §6: a scope, if given, must not exceed what was originally granted."""
        if not requested:
            return token.scopes
        scopes = split(requested)
        extra = [scope for scope in scopes if scope not in token.scopes]
        if extra:
            raise InvalidScopeError("scope exceeds the original grant: " + " ".join(extra)[:200])
        return scopes

    async def _refreshed_identity(
        self, token: RefreshToken, scopes: tuple[str, ...]
    ) -> tuple[Claims, bytes]:
        """Ask the connector again, so upstream changes apply (Dex ``RefreshConnector``)."""
        entry = self._connectors.get(token.connector_id)
        if entry is None:
            raise InvalidGrantError("the connector of this refresh token no longer exists")
        try:
            return await refresh_identity(
                entry, scopes_for(scopes), token.claims, token.connector_data
            )
        except UpstreamUnavailableError as error:
            raise upstream_unavailable(entry.id, error) from None
        except ConnectorError as error:
            log.info("connector refused refresh", connector=entry.id, error=str(error))
            await self._revoke(token.id)
            await self._end_session(token, f"upstream refused refresh: {error}", "upstream")
            raise InvalidGrantError(f"the upstream identity is no longer valid: {error}") from None
        except StorageUnavailableError:
            raise
        except Exception as error:
            raise upstream_unavailable(entry.id, error) from None

    async def _revoke(self, token_id: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self._storage.delete_refresh_token(token_id)

    async def _end_session(self, token: RefreshToken, reason: str, revoked_by: str) -> None:
        """End the token's grant; when the upstream refused the person, their browser
        session too (a person disabled upstream loses every site)."""
        if token.session_id and self._revoker is not None:
            await self._revoker.revoke_session(
                token.session_id, actor="system", reason=reason, revoked_by=revoked_by,
                with_browser=revoked_by == "upstream",
            )  # fmt: skip
