"""A person's own account, without HTTP: where they are signed in (browser sessions and
grants), what each client learns about them, ending any of it, and changing their
password in the password database.

A person acts only on what is theirs, by user id *and* connector id of their sign-in: a
session of anybody else is answered exactly like one that does not exist
(:class:`NotYoursError`), so ids cannot be probed. "This browser" is the session the
account page's own token carries as ``sid``: nothing here ends it (signing out does),
so "end everything else" never signs the person out of the page they are using.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from passgate.clock import Clock
from passgate.connectors.base import PasswordConnector, Scopes
from passgate.provider import audit as actions
from passgate.provider.account_views import Overview, Owner, Viewer
from passgate.provider.audit import AuditLog
from passgate.provider.connectors import ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.limits import LoginLimiter, TooManyAttempts
from passgate.provider.login import check_password
from passgate.provider.passwords import (
    DEFAULT_BCRYPT_COST,
    PasswordRuleError,
    check_new_password,
    hash_password,
)
from passgate.provider.revocation import Revoker
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import BrowserSession, Password, Session
from passgate.tokens.issuer import TokenIssuer

__all__ = [
    "Account",
    "AccountError",
    "LockedOutError",
    "NotYoursError",
    "Overview",
    "Owner",
    "PasswordNotChangeableError",
    "ThisBrowserError",
    "WrongPasswordError",
]

#: ``revoked_by`` of what a person ends here, and the reasons the audit log gives.
REVOKED_BY = "account"
REASON_ENDED = "ended by the person on the account page"
REASON_OTHERS = "the person ended every other session on the account page"
REASON_PASSWORD = "the person changed their password"


class AccountError(Exception):
    """Why an account action was refused: ``message`` for the person, ``status`` for
    the page, ``code`` for the audit log."""

    status = 400
    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotYoursError(AccountError):
    """Unknown, or somebody else's: the same answer for both."""

    status = 404
    code = "not_found"


class ThisBrowserError(AccountError):
    status = 409
    code = "this_browser"


class PasswordNotChangeableError(AccountError):
    """Not a password database account, or one of the config file (``staticPasswords``)."""

    status = 403
    code = "not_changeable"


class WrongPasswordError(AccountError):
    status = 403
    code = "wrong_password"


class LockedOutError(AccountError):
    """Too many wrong passwords: the login limiter's lock, which this shares."""

    status = 429
    code = "locked_out"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Replaced(Exception):
    """The stored user under this email is another person now."""


class Account:
    """The account page's operations; every change is audited with the person as actor."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        revoker: Revoker,
        directory: Directory,
        connectors: ConnectorRegistry,
        issuer: TokenIssuer,
        limiter: LoginLimiter,
        audit: AuditLog | None = None,
        own_client: str = "",
        bcrypt_cost: int = DEFAULT_BCRYPT_COST,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._revoker = revoker
        self._directory = directory
        self._connectors = connectors
        self._limiter = limiter
        self._audit = audit
        self._cost = bcrypt_cost
        self._viewer = Viewer(storage, directory, connectors, issuer, own_client)

    async def overview(self, owner: Owner) -> Overview:
        """Everything the account page shows (active sessions only, newest first)."""
        now = self._clock()
        browsers = await self._storage.list_browser_sessions(owner.browser_filter(), now)
        grants = await self._storage.list_sessions(owner.grant_filter(), now)
        password = self.password_status(owner.connector_id, owner.email)
        return await self._viewer.overview(owner, browsers, grants, password)

    # -- ending sessions -------------------------------------------------------------
    async def end(self, owner: Owner, session_id: str) -> bool:
        """End one browser session or grant of the owner's (False: it had ended
        already). :class:`NotYoursError` for any other id, :class:`ThisBrowserError` for
        this browser's session."""
        record = await self._find(owner, session_id)
        if owner.is_this_browser(record):
            raise ThisBrowserError("This is the browser you are using: sign out to end it.")
        if isinstance(record, BrowserSession):
            return await self._revoker.end_browser_session(
                record.id, actor=owner.actor, reason=REASON_ENDED, revoked_by=REVOKED_BY
            )
        return await self._revoker.revoke_session(
            record.id, actor=owner.actor, reason=REASON_ENDED, revoked_by=REVOKED_BY
        )

    async def end_others(self, owner: Owner, reason: str = REASON_OTHERS) -> int:
        """End every browser session and grant of the owner's except this browser and
        what signed in through it (a lost laptop: its browser, its kubectl, its
        devices); how many were ended."""
        now = self._clock()
        ended = 0
        for browser in await self._storage.list_browser_sessions(owner.browser_filter(), now):
            if not owner.is_this_browser(browser):
                ended += await self._revoker.end_browser_session(
                    browser.id, actor=owner.actor, reason=reason, revoked_by=REVOKED_BY
                )
        # Grants made through the browsers just ended have ended with them.
        for grant in await self._storage.list_sessions(owner.grant_filter(), self._clock()):
            if not owner.is_this_browser(grant):
                ended += await self._revoker.revoke_session(
                    grant.id, actor=owner.actor, reason=reason, revoked_by=REVOKED_BY
                )
        return ended

    async def _find(self, owner: Owner, session_id: str) -> Session | BrowserSession:
        record: Session | BrowserSession
        try:
            record = await self._storage.get_session(session_id)
        except NotFoundError:
            try:
                record = await self._storage.get_browser_session(session_id)
            except NotFoundError:
                raise NotYoursError("You have no such session.") from None
        if not owner.owns(record):
            raise NotYoursError("You have no such session.")
        return record

    # -- the password ----------------------------------------------------------------
    def password_status(self, connector_id: str, email: str) -> str:
        """``"changeable"``, ``"static"`` (the config file's) or ``"elsewhere"`` (an
        upstream keeps the password) for a person signed in with this connector."""
        entry = self._connectors.get(connector_id)
        if entry is None or entry.type != "local" or not email:
            return "elsewhere"
        return "static" if self._directory.is_static_password(email) else "changeable"

    async def change_password(
        self, owner: Owner, *, current: str, new: str, repeated: str, address: str
    ) -> int:
        """Check the current password (counted by the login limiter like a sign-in),
        store the new one as bcrypt, then end every other session (:meth:`end_others`);
        how many were ended. Audited either way, never with a password."""
        try:
            ended = await self._change_password(owner, current, new, repeated, address)
        except AccountError as error:
            await self._record_password(owner, address, {"reason": error.code}, error=True)
            raise
        await self._record_password(owner, address, {"sessions_ended": str(ended)})
        return ended

    async def _change_password(
        self, owner: Owner, current: str, new: str, repeated: str, address: str
    ) -> int:
        status = self.password_status(owner.connector_id, owner.email)
        if status == "static":
            raise PasswordNotChangeableError(
                "Your account is defined in Passgate's configuration file (staticPasswords); "
                "an administrator changes its password there."
            )
        entry = self._connectors.get(owner.connector_id)
        if status != "changeable" or entry is None:
            raise PasswordNotChangeableError("Your password is not kept by Passgate.")
        if not isinstance(entry.connector, PasswordConnector):
            raise PasswordNotChangeableError("Your password is not kept by Passgate.")
        try:
            check_new_password(new)
        except PasswordRuleError as error:
            raise AccountError(f"The new password is refused: {error}.") from None
        if new != repeated:
            raise AccountError("The new password and its repetition differ.")
        try:
            identity = await check_password(
                entry, entry.connector, Scopes(), username=owner.email, password=current,
                limiter=self._limiter, address=address, client_id="", sessions=None,
            )  # fmt: skip
        except TooManyAttempts as locked:
            raise LockedOutError(
                "Too many wrong passwords: try again later.", locked.retry_after
            ) from None
        if identity is None:
            raise WrongPasswordError("Your current password is not right.")
        if identity.user_id != owner.user_id:
            raise NotYoursError("You have no such account.")
        if new == current:
            raise AccountError("The new password is the one you have: choose another.")
        hashed = await hash_password(new, self._cost)

        def replace(old: Password) -> Password:
            if old.user_id != owner.user_id:
                raise _Replaced
            return dataclasses.replace(old, hash=hashed)

        try:
            await self._storage.update_password(owner.email, replace)
        except (NotFoundError, _Replaced):
            raise NotYoursError("You have no such account.") from None
        return await self.end_others(owner, REASON_PASSWORD)

    async def _record_password(
        self, owner: Owner, address: str, details: dict[str, str], *, error: bool = False
    ) -> None:
        if self._audit is None:
            return
        fields: dict[str, Any] = {
            "outcome": "failure" if error else "success",
            "subject": owner.email,
            "user_id": owner.user_id,
            "connector_id": owner.connector_id,
            "session_id": owner.browser_session_id,
            "remote_addr": address[:64],
            "details": details,
        }
        await self._audit.record(actions.PASSWORD_CHANGE, owner.actor, **fields)
