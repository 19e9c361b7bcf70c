"""OpenID Connect Back-Channel Logout 1.0, the OP side: tell every relying party that took
part in a session that it ended, by POSTing each a logout token signed for it alone.

Delivery runs in background tasks, so that a logout never waits on a slow or dead RP. The
specification leaves retries to the OP; Passgate retries what may pass later (transport
errors, timeouts, 5xx, 429) with exponential backoff and signs a fresh token for every
attempt, so no retry carries an expired token or a ``jti`` the RP may already have seen.
Each delivery ends in one audit event; the token itself is never logged or audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import structlog

from passgate.clock import Clock
from passgate.keys import KeyManager
from passgate.provider.audit import AuditLog

__all__ = [
    "BACKCHANNEL_LOGOUT",
    "LOGOUT_EVENT",
    "LOGOUT_TOKEN_TYPE",
    "BackchannelNotifier",
    "LogoutTarget",
]

log = structlog.get_logger("passgate.backchannel")

#: The audit action of one delivery's outcome.
BACKCHANNEL_LOGOUT = "logout.backchannel"
#: BCL 1.0 §2.4: the member of the ``events`` claim that makes a JWT a logout token.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: BCL 1.0 §2.4: explicit typing (the ``typ`` header), so no other JWT passes for one.
LOGOUT_TOKEN_TYPE = "logout+jwt"
#: The longest wait between two attempts, whatever the backoff or Retry-After says.
MAX_DELAY = 30.0
#: How long a cancelled delivery may still take to write its audit event.
_REPORT_TIMEOUT = 1.0
# Failures that may pass on a later attempt.
_RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError,
              httpx.ProxyError, TimeoutError)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LogoutTarget:
    """One relying party to notify."""

    client_id: str
    uri: str  # the client's registered backchannelLogoutURI


@dataclass(frozen=True, slots=True)
class _Logout:  # what one notify call is about
    sid: str
    subject: str
    user_id: str
    connector_id: str
    actor: str


@dataclass(slots=True)
class _Progress:  # how far one delivery got, so that a crash still reports it
    attempts: int = 0
    status: str = ""
    delivered: bool = False


def _safe_uri(uri: str) -> str:
    """Scheme, host and path only: a query or userinfo may carry a secret of the RP's."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _retry_after(value: str | None) -> float | None:
    """A numeric ``Retry-After`` (RFC 9110 §10.2.3) in seconds; an HTTP-date is ignored."""
    value = (value or "").strip()
    return float(value) if value.isascii() and value.isdigit() else None


class BackchannelNotifier:
    """Delivers logout tokens to relying parties in tracked background tasks, at most
    ``max_concurrent`` requests at a time, and audits each delivery's outcome."""

    def __init__(
        self,
        *,
        issuer: str,
        keys: KeyManager,
        clock: Clock,
        audit: AuditLog,
        http: httpx.AsyncClient | None = None,
        attempts: int = 6,
        first_delay: float = 0.5,
        timeout: float = 5.0,
        token_lifetime: timedelta = timedelta(minutes=2),
        max_concurrent: int = 16,
    ) -> None:
        if attempts < 1 or max_concurrent < 1:
            raise ValueError("attempts and max_concurrent must be at least 1")
        if first_delay < 0:
            raise ValueError("first_delay must not be negative")
        # Each attempt sends a fresh token and ends within ``timeout``: no RP ever gets
        # an expired one (BCL 1.0 §2.6 step 2 would refuse it).
        if not 0 < timeout < token_lifetime.total_seconds():
            raise ValueError("timeout must be positive and shorter than token_lifetime")
        self._issuer = issuer
        self._keys = keys
        self._clock = clock
        self._audit = audit
        self._owns_http = http is None
        # BCL 1.0 §2.5: a plain POST; a redirect is not followed (it is the RP's answer).
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False
        )
        self._attempts = attempts
        self._first_delay = first_delay
        self._timeout = timeout
        self._lifetime = token_lifetime
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def notify(
        self,
        targets: Sequence[LogoutTarget],
        *,
        sid: str,
        subject: str,
        user_id: str = "",
        connector_id: str = "",
        actor: str = "",
    ) -> None:
        """Schedule delivery to every target in the background and return at once.
        Call it from the event loop; after :meth:`close` it drops the targets (logged)."""
        if not sid and not subject:  # BCL 1.0 §2.4: a sub or a sid, or both
            raise ValueError("a logout token needs a sid or a subject")
        if self._closed:
            for target in targets:
                log.warning("backchannel logout dropped: shutting down",
                            client_id=target.client_id, uri=_safe_uri(target.uri))  # fmt: skip
            return
        logout = _Logout(sid, subject, user_id, connector_id, actor or "system")
        loop = asyncio.get_running_loop()
        for target in targets:
            task = loop.create_task(self._deliver(target, logout))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every scheduled delivery has finished (tests, orderly shutdown)."""
        while self._tasks:
            # asyncio.wait, unlike gather, leaves the deliveries running if we are cancelled.
            await asyncio.wait(set(self._tasks))

    async def close(self, *, grace: float = 2.0) -> None:
        """Let pending deliveries run for ``grace`` seconds, cancel the rest (each still
        audits its failure), and close the HTTP client if this notifier made it."""
        self._closed = True
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._owns_http:
            await self._http.aclose()

    # -- one delivery ----------------------------------------------------------------
    async def _deliver(self, target: LogoutTarget, logout: _Logout) -> None:
        """Try, then audit the outcome; nothing escapes but cancellation."""
        progress = _Progress()
        try:
            await self._attempt_all(target, logout, progress)
        except asyncio.CancelledError:
            progress.status = "cancelled"
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_REPORT_TIMEOUT):
                    await self._report(target, logout, progress)
            raise
        except Exception as exc:
            # No traceback: a renderer showing locals would print the token.
            progress.status = type(exc).__name__
            log.error("backchannel logout crashed", client_id=target.client_id,
                      uri=_safe_uri(target.uri), error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        try:
            await self._report(target, logout, progress)
        except Exception as exc:
            log.error("backchannel logout not audited", error=type(exc).__name__)

    async def _attempt_all(
        self, target: LogoutTarget, logout: _Logout, progress: _Progress
    ) -> None:
        for attempt in range(1, self._attempts + 1):
            progress.attempts = attempt
            retry_after: float | None = None
            try:
                async with self._slots:
                    status, retry_after = await self._post(target, logout)
            except _RETRYABLE as exc:
                progress.status = "timeout" if type(exc) is TimeoutError else type(exc).__name__
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                progress.status = type(exc).__name__  # a URI httpx cannot use: final
                return
            else:
                progress.status = str(status)
                if 200 <= status < 300:  # BCL 1.0 §2.8: 200, or 204 from some frameworks
                    progress.delivered = True
                    return
                if status < 500 and status != 429:
                    return  # BCL 1.0 §2.8: a 400 means the RP refused the token; final
            if attempt < self._attempts:
                await asyncio.sleep(self._delay(attempt, retry_after))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff, at least what Retry-After asked, at most :data:`MAX_DELAY`."""
        delay = self._first_delay * 2.0 ** (attempt - 1)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, MAX_DELAY)

    async def _post(self, target: LogoutTarget, logout: _Logout) -> tuple[int, float | None]:
        """One attempt: sign a fresh token, POST it (BCL 1.0 §2.5); status and Retry-After."""
        token = await self._logout_token(target.client_id, logout)
        # The whole attempt is bounded too: httpx's timeouts are per phase and a
        # trickling RP could otherwise hold a slot for ever. The body is never read.
        async with (
            asyncio.timeout(self._timeout),
            self._http.stream(
                "POST",
                target.uri,
                data={"logout_token": token},
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
            ) as response,
        ):
            return response.status_code, _retry_after(response.headers.get("retry-after"))

    async def _logout_token(self, client_id: str, logout: _Logout) -> str:
        """BCL 1.0 §2.4: one token per RP (``aud`` is its client id), never a ``nonce``."""
        iat = int(self._clock().timestamp())
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": client_id,
            "iat": iat,
            "exp": iat + int(self._lifetime.total_seconds()),  # §4: short-lived
            "jti": secrets.token_urlsafe(16),
            "events": {LOGOUT_EVENT: {}},
        }
        if logout.subject:
            claims["sub"] = logout.subject
        if logout.sid:
            claims["sid"] = logout.sid
        return await self._keys.sign(claims, typ=LOGOUT_TOKEN_TYPE)

    async def _report(self, target: LogoutTarget, logout: _Logout, progress: _Progress) -> None:
        uri = _safe_uri(target.uri)
        outcome = "success" if progress.delivered else "failure"
        if not progress.delivered:
            log.warning("backchannel logout failed", client_id=target.client_id, uri=uri,
                        status=progress.status, attempts=progress.attempts)  # fmt: skip
        await self._audit.record(
            BACKCHANNEL_LOGOUT,
            logout.actor,
            outcome=outcome,
            subject=logout.sid,
            user_id=logout.user_id,
            client_id=target.client_id,
            connector_id=logout.connector_id,
            session_id=logout.sid,
            details={"uri": uri, "status": progress.status, "attempts": str(progress.attempts)},
        )
