"""Revoking tokens and sessions: one token, one session, every session of a user, a
client or a connector, or everything.

Each revocation writes a :class:`~passgate.storage.models.Revocation` rule (every
replica's :class:`~passgate.provider.revocation_cache.RevocationCache` reads it within a
second; this process applies it at once), marks the sessions revoked (so no refresh,
code redemption or device pick-up mints anything under them again) and records an audit
event. Refresh tokens need no sweep: the refresh grant refuses a token whose session has
ended or that a rule covers, and deletes it then. A rule lives as long as a token it
covers can (the token lifetime, plus a margin for a refresh racing the revocation).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog

from passgate.clock import Clock
from passgate.keys import KeyManager
from passgate.oauth2.errors import InvalidTokenError, OAuthError, UnauthorizedClientError
from passgate.provider import audit as actions
from passgate.provider.audit import AuditLog
from passgate.provider.backchannel import BackchannelNotifier, LogoutTarget
from passgate.provider.directory import Directory
from passgate.provider.ids import new_id
from passgate.provider.revocation_cache import RevocationCache, TokenFacts
from passgate.provider.verify import token_kind
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import BrowserSessionFilter, RefreshToken, Revocation, SessionFilter
from passgate.tokens import refresh as refresh_tokens
from passgate.tokens.issuer import TokenIssuer
from passgate.tokens.subject import encode_subject

log = structlog.get_logger("passgate.revocation")

__all__ = ["RULE_MARGIN", "Revoker", "UnsupportedTokenTypeError"]

#: How much longer than the token lifetime a rule is kept.
RULE_MARGIN = timedelta(minutes=1)

# What ``revoke_token`` found: a refresh token, an access token (by value or by jti).
REFRESH, ACCESS, JTI = "refresh_token", "access_token", "jti"


class _Revocable(Protocol):
    @property
    def revoked_at(self) -> datetime | None: ...


Revocable = TypeVar("Revocable", bound=_Revocable)


class UnsupportedTokenTypeError(OAuthError):
    """RFC 7009 §2.2.1: the server does not revoke this type of token (ID tokens carry no
    ``jti``; revoke their session instead)."""

    error = "unsupported_token_type"


class Revoker:
    """The revocation service the endpoints and the admin API call."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        cache: RevocationCache,
        *,
        issuer: TokenIssuer,
        audit: AuditLog | None = None,
        keys: KeyManager | None = None,
        directory: Directory | None = None,
        notifier: BackchannelNotifier | None = None,
        credential_lifetime: timedelta | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._cache = cache
        self._issuer = issuer
        self._audit = audit
        self._keys = keys
        # Back-Channel Logout: the clients' logout URIs, and who delivers.
        self._directory = directory
        self._notifier = notifier
        # A rule outlives every credential it can refuse: ID and access tokens, and
        # anything longer-lived that is checked against the rules (forward-auth cookies).
        self._rule_lifetime = max(issuer.id_token_lifetime, credential_lifetime or timedelta())

    # -- one token ---------------------------------------------------------------------
    async def revoke_token(
        self, token_or_jti: str, *, actor: str, reason: str = "", client_id: str | None = None
    ) -> str:
        """Revoke a refresh token (ending its session), an access token, or (for the admin
        API, without ``client_id``) an access token's ``jti``. With ``client_id`` (RFC 7009
        §2.1) only that client's own tokens, else :class:`UnauthorizedClientError`. Returns
        what was revoked (``refresh_token``, ``access_token``, ``jti``) or "" when the
        token is unknown, expired or already revoked (RFC 7009 §2.2: not an error)."""
        value = token_or_jti.strip()
        parsed = refresh_tokens.parse_refresh_token(value)
        if parsed is not None:
            return await self._revoke_refresh(parsed, actor, reason, client_id)
        if value.count(".") == 2:
            return await self._revoke_jwt(value, actor, reason, client_id)
        if client_id is not None or not value or len(value) > 256:
            return ""
        await self._add_rule("token", value, actor, reason)
        await self._record(actions.TOKEN_REVOKE, actor, subject=value, details={"reason": reason})
        return JTI

    async def _revoke_refresh(
        self, parsed: tuple[str, str], actor: str, reason: str, client_id: str | None
    ) -> str:
        token_id, secret = parsed
        try:
            token = await self._storage.get_refresh_token(token_id)
        except NotFoundError:
            return ""
        current = refresh_tokens.secret_matches(secret, token.token_hash)
        if not current and not refresh_tokens.secret_matches(secret, token.obsolete_token_hash):
            return ""
        if client_id is not None and token.client_id != client_id:
            raise UnauthorizedClientError("the token was issued to another client")
        with contextlib.suppress(NotFoundError):
            await self._storage.delete_refresh_token(token.id)
        await self._record(
            actions.TOKEN_REVOKE,
            actor,
            subject=token.id,
            user_id=token.claims.user_id,
            client_id=token.client_id,
            connector_id=token.connector_id,
            session_id=token.session_id,
            details={"token_type": REFRESH, "reason": reason},
        )
        if token.session_id:
            # Revoking a refresh token ends its grant: every token of the session.
            await self.revoke_session(token.session_id, actor=actor, reason=reason or REFRESH)
        return REFRESH

    async def _revoke_jwt(self, value: str, actor: str, reason: str, client_id: str | None) -> str:
        try:
            token = await self._issuer.verify_token(value)
        except InvalidTokenError:
            return ""  # not ours, or expired: nothing left to revoke
        if client_id is not None and token.client_id != client_id:
            raise UnauthorizedClientError("the token was issued to another client")
        if token_kind(token) == "id":
            raise UnsupportedTokenTypeError("ID tokens cannot be revoked; end the session")
        await self.revoke_jti(
            token.jti,
            until=token.expiry,
            actor=actor,
            reason=reason,
            client_id=token.client_id,
            session_id=token.session_id,
        )
        return ACCESS

    async def revoke_jti(
        self,
        jti: str,
        *,
        until: datetime,
        actor: str,
        reason: str = "",
        client_id: str = "",
        session_id: str = "",
    ) -> None:
        """Refuse the access token with this ``jti`` until ``until`` (its expiry): a rule,
        so every replica's cache refuses it without a storage read."""
        await self._add_rule("token", jti, actor, reason, until=until)
        await self._record(
            actions.TOKEN_REVOKE,
            actor,
            subject=jti,
            client_id=client_id,
            session_id=session_id,
            details={"token_type": ACCESS, "reason": reason},
        )

    def refresh_revoked(self, token: RefreshToken) -> bool:
        """A rule covers this refresh token (its session, user, client or connector)."""
        return self._cache.is_revoked(TokenFacts.of_refresh_token(token))

    # -- sessions ----------------------------------------------------------------------
    async def revoke_session(
        self,
        session_id: str,
        *,
        actor: str,
        reason: str = "",
        revoked_by: str = "",
        with_browser: bool = False,
    ) -> bool:
        """End one grant session and every token minted under it; False when it is
        unknown or was already revoked. ``revoked_by`` (default ``actor``) is kept on the
        session. A ``session_id`` that names a browser session ends that instead;
        ``with_browser`` ends the browser session the grant was made through as well (the
        upstream no longer vouches for the person)."""
        try:
            session = await self._mark(self._storage.update_session, session_id, actor, revoked_by)
        except NotFoundError:
            return await self.end_browser_session(
                session_id, actor=actor, reason=reason, revoked_by=revoked_by
            )
        if session is None:
            return False
        if session.browser_session_id:
            # Other clients share the sid: refuse only this client's tokens under it.
            await self._add_rule("grant", f"{session.sid} {session.client_id}", actor, reason)
        else:
            await self._add_rule("session", session.id, actor, reason)
        await self._record(
            actions.SESSION_REVOKE,
            actor,
            subject=session.id,
            user_id=session.user_id,
            client_id=session.client_id,
            connector_id=session.connector_id,
            session_id=session.id,
            details={"reason": reason},
        )
        await self._notify([session.client_id], session.sid, session.user_id,
                           session.connector_id, actor)  # fmt: skip
        if with_browser and session.browser_session_id:
            await self.end_browser_session(
                session.browser_session_id, actor=actor, reason=reason, revoked_by=revoked_by
            )
        return True

    async def end_browser_session(
        self, session_id: str, *, actor: str, reason: str = "", revoked_by: str = ""
    ) -> bool:
        """End a browser session (a sign-out, an admin, a replaced sign-in): every grant
        made through it, every token carrying its ``sid``, and its forward-auth cookies;
        every client of it that asked for Back-Channel Logout is told. False when it is
        unknown or was already ended."""
        try:
            session = await self._mark(
                self._storage.update_browser_session, session_id, actor, revoked_by
            )
        except NotFoundError:
            return False
        # The session first, then its tokens' rule, then its grants: a code issued
        # meanwhile checks the session after its grant is stored (``login.issue_code``),
        # so none escapes. An ended session is swept again (an earlier end may have been
        # cut short), but only the call that ended it records and tells.
        await self._add_rule("session", session_id, actor, reason)
        await self._storage.revoke_sessions(
            SessionFilter(browser_session_id=session_id), self._clock(), revoked_by or actor
        )
        if session is None:
            return False
        await self._record(
            actions.SESSION_REVOKE,
            actor,
            subject=session.id,
            user_id=session.user_id,
            connector_id=session.connector_id,
            session_id=session.id,
            details={"scope": "browser", "reason": reason},
        )
        await self._notify(session.clients, session.id, session.user_id, session.connector_id,
                           actor)  # fmt: skip
        return True

    async def _mark(
        self,
        update: Callable[[str, Callable[[Revocable], Revocable]], Awaitable[Revocable]],
        record_id: str,
        actor: str,
        revoked_by: str,
    ) -> Revocable | None:
        """Mark a (browser) session revoked: the record when this call ended it, None
        when it had ended already (``NotFoundError`` when there is no such record)."""
        now = self._clock()
        ended: list[Revocable] = []

        def end(old: Revocable) -> Revocable:
            ended[:] = []
            if old.revoked_at is not None:
                return old
            # Both record types are frozen dataclasses with revoked_at and revoked_by.
            new = dataclasses.replace(  # type: ignore[type-var]
                old, revoked_at=now, revoked_by=revoked_by or actor
            )
            ended.append(new)
            return new

        await update(record_id, end)
        return ended[0] if ended else None

    async def revoke_user(self, user_id: str, *, actor: str, reason: str = "") -> list[str]:
        """Every session and token of a user id (of any connector); the sessions ended."""
        return await self._bulk("user", user_id, SessionFilter(user_id=user_id), actor, reason)

    async def revoke_client(self, client_id: str, *, actor: str, reason: str = "") -> list[str]:
        """Every session and token issued to (or for) a client."""
        which = SessionFilter(client_id=client_id)
        return await self._bulk("client", client_id, which, actor, reason)

    async def revoke_connector(
        self, connector_id: str, *, actor: str, reason: str = ""
    ) -> list[str]:
        """Every session and token of people signed in through a connector."""
        which = SessionFilter(connector_id=connector_id)
        return await self._bulk("connector", connector_id, which, actor, reason)

    async def revoke_everything(
        self, *, actor: str, reason: str = "", rotate_keys: bool = True
    ) -> list[str]:
        """Force every person to sign in again: every session and token, and (unless told
        not to) new signing keys, so that even a verifier that ignores revocation (a
        kube-apiserver with ``--oidc-*`` flags, once it re-reads the JWKS) refuses them."""
        # Keys first: other replicas re-read the keys when they see the "all" rule (see
        # RevocationCache), so the new key must be stored by then. A failed rotation must
        # not stop the revocation itself.
        kid = ""
        if rotate_keys and self._keys is not None:
            try:
                kid = await self._keys.replace_now(keep_retired=False)
            except Exception:
                log.exception("key rotation failed while revoking everything; revoking anyway")
        ended = await self._bulk("all", "", SessionFilter(), actor, reason)
        if kid:
            await self._record("keys.rotate", actor, subject=kid, details={"reason": reason})
        return ended

    async def _bulk(
        self, kind: str, value: str, which: SessionFilter, actor: str, reason: str
    ) -> list[str]:
        if kind != "all" and not value:
            raise ValueError(f"revoking by {kind} needs a {kind} id")
        await self._add_rule(kind, value, actor, reason)
        now = self._clock()
        ended = await self._storage.revoke_sessions(which, now, actor)
        browsers: list[str] = []
        if kind != "client":
            # The person must sign in again, so their browsers' sessions end too; a
            # client's grants end without ending anybody's browser session.
            every = BrowserSessionFilter(user_id=which.user_id, connector_id=which.connector_id)
            browsers = await self._storage.revoke_browser_sessions(every, now, actor)
        await self._record(
            actions.SESSION_REVOKE,
            actor,
            subject=f"{kind}:{value}" if value else kind,
            user_id=value if kind == "user" else "",
            client_id=value if kind == "client" else "",
            connector_id=value if kind == "connector" else "",
            details={"scope": kind, "sessions": str(len(ended)),
                     "browser_sessions": str(len(browsers)), "reason": reason},
        )  # fmt: skip
        for browser_id in browsers:
            with contextlib.suppress(NotFoundError):
                session = await self._storage.get_browser_session(browser_id)
                await self._notify(session.clients, session.id, session.user_id,
                                   session.connector_id, actor)  # fmt: skip
        return ended

    async def _notify(
        self, client_ids: Sequence[str], sid: str, user_id: str, connector_id: str, actor: str
    ) -> None:
        """Back-Channel Logout 1.0: tell each client that registered a logout URI that
        the session ``sid`` ended (delivered in the background)."""
        if self._notifier is None or self._directory is None:
            return
        targets = []
        for client_id in dict.fromkeys(client_ids):
            client = await self._directory.find_client(client_id)
            if client is not None and client.backchannel_logout_uri:
                targets.append(LogoutTarget(client.id, client.backchannel_logout_uri))
        if targets:
            self._notifier.notify(
                targets, sid=sid, subject=encode_subject(user_id, connector_id),
                user_id=user_id, connector_id=connector_id, actor=actor,
            )  # fmt: skip

    # -- rules -------------------------------------------------------------------------
    async def _add_rule(
        self, kind: str, value: str, actor: str, reason: str, *, until: datetime | None = None
    ) -> Revocation:
        now = self._clock()
        rule = Revocation(
            id=new_id(),
            kind=kind,
            value=value,
            issued_before=now,
            created_at=now,
            expiry=until or now + self._rule_lifetime + RULE_MARGIN,
            actor=actor[:256],
            reason=reason[:500],
        )
        await self._storage.add_revocation(rule)
        self._cache.add(rule)
        return rule

    async def _record(self, action: str, actor: str, **fields: Any) -> None:
        if self._audit is not None:
            details = {key: value for key, value in fields.pop("details", {}).items() if value}
            await self._audit.record(action, actor, details=details, **fields)
