"""Single sign-on at the authorization endpoint: whether the browser's session signs the
person in without a page (OIDC Core §3.1.2.3), the ``prompt``, ``max_age`` and
``id_token_hint`` rules (§3.1.2.1) with the ``prompt=none`` errors (§3.1.2.6), consent
remembered per client, and what a fresh sign-in does to the browser's session.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import structlog

from passgate.clock import Clock
from passgate.connectors.base import ConnectorError, UpstreamUnavailableError
from passgate.oauth2.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    InvalidRequestError,
    InvalidTokenError,
    LoginRequiredError,
)
from passgate.oauth2.scopes import GROUPS
from passgate.provider.browser import BrowserSessions, BrowserSignIn
from passgate.provider.connectors import ConnectorEntry, ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.revocation import Revoker
from passgate.provider.settings import AUTHORIZATION_CODE, ProviderSettings
from passgate.provider.verify import token_kind
from passgate.storage.base import Storage, StorageUnavailableError
from passgate.storage.filters import is_active
from passgate.storage.models import AuthRequest, BrowserSession, Client
from passgate.tokens.issuer import TokenIssuer, VerifiedToken
from passgate.tokens.subject import encode_subject

__all__ = ["Recheck", "Reuse", "SessionEndedError", "SingleSignOn"]

log = structlog.get_logger("passgate.sso")


class SessionEndedError(InvalidRequestError):
    """The browser session ended while a sign-in through it was under way."""


@dataclass(frozen=True, slots=True)
class Reuse:
    """What /auth does with the browser's session."""

    #: The session that signs the person in without a page (None: sign in anew).
    session: BrowserSession | None = None
    #: ``prompt=select_account``: ask whether to continue as this session's person.
    choose_account: BrowserSession | None = None


@dataclass(frozen=True, slots=True)
class Recheck:
    """What asking the connector again about a session's person came to."""

    #: The session as it stands now; None when it ended (the connector refused).
    session: BrowserSession | None
    #: False when the upstream could not answer (the identity is kept as it was).
    answered: bool = True


class SingleSignOn:
    def __init__(
        self,
        *,
        browser: BrowserSessions,
        directory: Directory,
        connectors: ConnectorRegistry,
        settings: ProviderSettings,
        issuer: TokenIssuer,
        revoker: Revoker,
        storage: Storage,
        clock: Clock,
    ) -> None:
        self.browser = browser
        self._storage = storage
        self._directory = directory
        self._connectors = connectors
        self._settings = settings
        self._issuer = issuer
        self._revoker = revoker
        self._clock = clock

    # -- /auth -----------------------------------------------------------------------------
    async def decide(
        self,
        request: AuthRequest,
        client: Client,
        usable: tuple[ConnectorEntry, ...],
        prompt: frozenset[str],
        id_token_hint: str,
        session: BrowserSession | None,
    ) -> Reuse:
        """Raises the §3.1.2.6 errors for ``prompt=none``; the caller redirects them."""
        hint = await self._hint(id_token_hint)
        reusable = await self._reuse(request, client, usable, prompt, hint, session)
        if "none" in prompt:
            if reusable is None:
                if session is not None and session.connector_id not in _ids(usable):
                    # Signed in, but through a connector this client may not use.
                    raise InteractionRequiredError("this client needs another way to sign in")
                raise LoginRequiredError("prompt=none but the user must sign in")
            if self.needs_approval(request, reusable):
                raise ConsentRequiredError("prompt=none but the user must approve this client")
            return Reuse(reusable)
        if "select_account" in prompt and "login" not in prompt and session is not None:
            # prompt=login already asks who is there: no chooser before it.
            return Reuse(choose_account=session)
        return Reuse(reusable)

    async def continue_as(
        self, request: AuthRequest, client: Client, session: BrowserSession | None
    ) -> AuthRequest | None:
        """``prompt=select_account``: the person chose to continue as the session's
        person. The request, stored as signed in by it, or None when it cannot be reused
        (a fresh sign-in is needed)."""
        reusable = await self._reuse(
            request, client, self.usable(client), frozenset(), None, session
        )
        if reusable is None:
            return None
        signed = self.signed_in(request, reusable)
        return await self._storage.update_auth_request(request.id, lambda _old: signed)

    def usable(self, client: Client) -> tuple[ConnectorEntry, ...]:
        """The connectors ``client`` may send people to for a code."""
        return tuple(self._connectors.for_client(client, AUTHORIZATION_CODE))

    async def _reuse(
        self,
        request: AuthRequest,
        client: Client,
        usable: tuple[ConnectorEntry, ...],
        prompt: frozenset[str],
        hint: VerifiedToken | None,
        session: BrowserSession | None,
    ) -> BrowserSession | None:
        """The session, when it may sign this request in (identity asked again if due)."""
        if session is None or not await self._reusable(
            request, client, usable, prompt, hint, session
        ):
            return None
        return await self._fresh(session)

    async def _hint(self, value: str) -> VerifiedToken | None:
        """OIDC Core §3.1.2.1 ``id_token_hint``: an ID token we issued (expired is fine)."""
        if not value:
            return None
        try:
            token = await self._issuer.verify_token(value, allow_expired=True)
        except InvalidTokenError:
            raise InvalidRequestError("id_token_hint is not an ID token issued here") from None
        if token_kind(token) != "id":
            raise InvalidRequestError("id_token_hint is not an ID token issued here")
        return token

    async def _reusable(
        self,
        request: AuthRequest,
        client: Client,
        usable: tuple[ConnectorEntry, ...],
        prompt: frozenset[str],
        hint: VerifiedToken | None,
        session: BrowserSession,
    ) -> bool:
        if "login" in prompt or session.connector_id not in _ids(usable):
            return False
        if GROUPS in request.scopes and not session.with_groups:
            return False  # its connector was not asked for groups: ask it now
        if request.max_age is not None:
            # OIDC Core §3.1.2.1: older than max_age seconds means a fresh sign-in
            # (max_age=0 always does).
            age = (self._clock() - session.auth_time).total_seconds()
            if request.max_age == 0 or age > request.max_age:
                return False
        if hint is not None and hint.subject != encode_subject(
            session.user_id, session.connector_id
        ):
            return False  # the client expects somebody else
        return await self.browser.shares_with(session, client, self._directory)

    async def _fresh(self, session: BrowserSession) -> BrowserSession | None:
        """The session, with the connector asked again about its person when its word
        is older than the identity lifetime; None when the session ended."""
        if self._connectors.get(session.connector_id) is None:
            return None
        if not self.browser.needs_refresh(session):
            return session
        return (await self.recheck(session)).session

    async def recheck(self, session: BrowserSession) -> Recheck:
        """Ask the session's connector about its person again. A refusal ends the
        session (and every grant made through it); an upstream that cannot answer now
        leaves the identity as it is, to be asked again later."""
        entry = self._connectors.get(session.connector_id)
        if entry is None:
            return Recheck(None)
        try:
            return Recheck(await self.browser.refresh(session, entry))
        except UpstreamUnavailableError as error:
            log.warning("connector unavailable; session kept", connector=entry.id, error=str(error))
            return Recheck(session, answered=False)
        except ConnectorError as error:
            log.info("connector refused the session's person", connector=entry.id, error=str(error))
            await self._revoker.end_browser_session(
                session.id, actor="system", reason=f"upstream refused: {error}",
                revoked_by="upstream",
            )  # fmt: skip
            return Recheck(None)
        except StorageUnavailableError:
            raise
        except Exception:
            log.exception("connector failed unexpectedly; session kept", connector=entry.id)
            return Recheck(session, answered=False)

    def needs_approval(self, request: AuthRequest, session: BrowserSession | None) -> bool:
        """Consent is asked unless skipped by config or given before to this client in
        this browser session for every scope asked now (``prompt=consent`` always asks)."""
        if request.client_id in self._settings.first_party_clients:
            return False
        if request.force_approval_prompt:
            return True
        if self._settings.skip_approval_screen:
            return False
        consented = session.consents.get(request.client_id) if session is not None else None
        return consented is None or not set(request.scopes) <= set(consented)

    @staticmethod
    def signed_in(request: AuthRequest, session: BrowserSession) -> AuthRequest:
        """The request as the session signs it in: no page, and ``auth_time`` is when the
        person last proved who they are (OIDC Core §2), not now."""
        return dataclasses.replace(
            request,
            logged_in=True,
            claims=session.claims,
            connector_id=session.connector_id,
            connector_data=session.connector_data,
            auth_time=session.auth_time,
            browser_session_id=session.id,
            sso=True,
        )

    # -- a fresh sign-in ---------------------------------------------------------------------
    async def signed_in_anew(
        self, sign_in: BrowserSignIn, current: BrowserSession | None
    ) -> tuple[BrowserSession, str]:
        """Start or renew the browser's session for a person who just signed in; the
        session and its cookie value. Another person's session in this browser ends."""
        session, cookie, replaced = await self.browser.sign_in(sign_in, current)
        if replaced is not None:
            await self._revoker.end_browser_session(
                replaced.id, actor="system", reason="another sign-in in the same browser",
                revoked_by="replaced",
            )  # fmt: skip
        return session, cookie

    # -- a code issued through a session -----------------------------------------------------
    async def join(self, request: AuthRequest, grant_id: str, *, consented: bool) -> None:
        """Record that the request's client signed in through the browser session (and
        its consent). Called after the grant session is stored: when the browser session
        ended meanwhile, the grant ends too and the sign-in fails, so no grant escapes
        the end of its browser session (``Revoker.end_browser_session`` sweeps after)."""
        try:
            session = await self.active(request)
        except SessionEndedError:
            await self._revoker.revoke_session(
                grant_id, actor="system", reason="browser session ended", revoked_by="logout"
            )
            raise
        consent = request.scopes if consented else None
        await self.browser.use(session, client_id=request.client_id, consent=consent)

    async def active(self, request: AuthRequest) -> BrowserSession:
        """The browser session the request signed in through; raises when it has ended
        since (a sign-out between sign-in and approval)."""
        session = await self.browser.get(request.browser_session_id)
        if session is None or not is_active(session, self._clock()):
            raise SessionEndedError("the sign-in session has ended; please sign in again")
        return session


def _ids(entries: tuple[ConnectorEntry, ...]) -> set[str]:
    return {entry.id for entry in entries}
