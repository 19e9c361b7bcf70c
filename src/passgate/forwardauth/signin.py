"""``/oauth2/start`` → Passgate's own ``/auth`` → ``/oauth2/callback``: forward-auth signs
a person in as the built-in client ``passgate-forward-auth`` through the real
authorization-code flow (PKCE S256, so single sign-on, prompt handling and every
connector work as for any client), then sets the cookie that covers the protected sites.

The callback lives on the site's own host (the proxy forwards ``/oauth2/`` to Passgate,
as for oauth2-proxy), so its answer may set a cookie for the site's domain. The state is
MAC'd (the return URL cannot be changed on the way), and a short-lived cookie on that
host holds its nonce and the PKCE verifier: a callback in another browser, or a replayed
one, fails.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from passgate.clock import Clock
from passgate.forwardauth.gate import SIGN_IN_SCOPES, Gate
from passgate.forwardauth.policy import CALLBACK_PATH, domain_matches
from passgate.forwardauth.proxied import AmbiguousSiteError, ProxyHeaders, Site
from passgate.forwardauth.seal import Sealer
from passgate.oauth2.errors import OAuthError
from passgate.provider.browser import BrowserSessions
from passgate.provider.issue import RedeemedCode
from passgate.provider.revocation import Revoker
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.filters import is_active
from passgate.storage.models import BrowserSession, Client

__all__ = ["Confirm", "Cookie", "SignIn", "SignInError", "Step"]

#: How long a started sign-in may take.
SIGN_IN_WINDOW = timedelta(minutes=15)

Redeem = Callable[[Client, str, str, str], Awaitable[RedeemedCode]]


class SignInError(Exception):
    """Why a sign-in cannot go on, for the person: ``status`` 400 or 403."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Cookie:
    """A cookie to set (``max_age`` None: until the browser closes; 0: delete it)."""

    name: str
    value: str
    max_age: int | None
    domain: str = ""  # "" for the answering host only
    path: str = "/"


@dataclass(frozen=True, slots=True)
class Confirm:
    """Ask before signing out; ``token`` goes back with the person's confirmation."""

    token: str


@dataclass(frozen=True, slots=True)
class Step:
    """Where the browser goes next, with the cookies to set on the way."""

    location: str
    cookies: tuple[Cookie, ...] = ()


class SignIn:
    def __init__(
        self,
        gate: Gate,
        sealer: Sealer,
        *,
        client: Client,
        redeem: Redeem,
        storage: Storage,
        browser: BrowserSessions,
        revoker: Revoker,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._policy = gate.policy
        self._sealer = sealer
        self._client = client
        self._redeem = redeem
        self._storage = storage
        self._browser = browser
        self._revoker = revoker
        self._clock = clock

    # -- /oauth2/start ---------------------------------------------------------------------
    def start(self, headers: ProxyHeaders, rd: str) -> Step:
        """Send the person to sign in, and back to ``rd`` afterwards (oauth2-proxy's order:
        ``rd``, ``X-Auth-Request-Redirect``, the proxied URL, ``/``)."""
        site = self._site(headers)
        target = rd or headers.auth_request_redirect or site.url
        back = self._policy.safe_redirect(target)
        if back is None:
            raise SignInError(_not_allowed(target))
        callback = self._callback(headers, site)
        nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = urlencode({
            "client_id": self._client.id,
            "redirect_uri": callback,
            "response_type": "code",
            "scope": " ".join(SIGN_IN_SCOPES),
            "state": self._sealer.seal_state(nonce, back),
            "code_challenge": challenge.rstrip(b"=").decode("ascii"),  # RFC 7636 §4.2
            "code_challenge_method": "S256",
        })  # fmt: skip
        csrf = Cookie(self._csrf_name(nonce), f"{nonce}.{verifier}",
                      int(SIGN_IN_WINDOW.total_seconds()))  # fmt: skip
        return Step(f"{self._policy.issuer.rstrip('/')}/auth?{query}", (csrf,))

    # -- /oauth2/callback ------------------------------------------------------------------
    async def finish(
        self, headers: ProxyHeaders, params: Mapping[str, str], cookies: Mapping[str, str]
    ) -> Step:
        """Check the state against this browser's cookie, redeem the code, and set the
        forward-auth cookie for the browser session the person signed in with."""
        opened = self._sealer.open_state(params.get("state", ""))
        if opened is None:
            raise SignInError("This sign-in link is not valid. Open the site again.")
        nonce, back = opened
        csrf_name = self._csrf_name(nonce)
        presented_nonce, _, verifier = cookies.get(csrf_name, "").partition(".")
        if not verifier or not secrets.compare_digest(presented_nonce, nonce):
            raise SignInError("This sign-in was started in another browser, or has expired. "
                              "Open the site again.")  # fmt: skip
        if params.get("error"):
            message = params.get("error_description") or params["error"]
            raise SignInError(f"The sign-in did not complete: {message[:300]}", 403)
        site = self._site(headers)
        try:
            redeemed = await self._redeem(
                self._client, params.get("code", ""), self._callback(headers, site), verifier
            )
        except OAuthError as error:
            raise SignInError(f"The sign-in could not be completed: {error.description}") from None
        session = await self._browser_session(redeemed.grant.session_id)
        now = self._clock()
        until = min(now + self._policy.lifetime, session.absolute_expiry)
        age = int((until - now).total_seconds()) if session.remember_me else None
        cookie = Cookie(self._policy.cookie_name, self._sealer.seal(session.id, now, until), age,
                        self._domain(site))  # fmt: skip
        return Step(back, (cookie, Cookie(csrf_name, "", 0)))

    async def _browser_session(self, grant_id: str) -> BrowserSession:
        try:
            grant = await self._storage.get_session(grant_id)
        except NotFoundError:
            raise SignInError("The sign-in has ended. Open the site again.") from None
        session = await self._browser.get(grant.browser_session_id)
        if session is None or not is_active(session, self._clock()):
            raise SignInError("The sign-in has ended. Open the site again.")
        return session

    # -- /oauth2/sign_out ------------------------------------------------------------------
    async def sign_out(
        self,
        headers: ProxyHeaders,
        cookies: Sequence[str],
        rd: str,
        *,
        asked_here: bool,
        token: str = "",
    ) -> Step | Confirm:
        """End the browser session behind the cookie (single sign-on ends everywhere, not
        only this cookie), delete the cookie, and go to ``rd`` if allowed. Only when the
        person asked here (a link or form of the same origin, or typed in; the browser
        says so with Fetch Metadata) or confirmed (``token``): otherwise any page could
        sign them out of everything, so they are asked first (:class:`Confirm`)."""
        back = self._policy.safe_redirect(rd) if rd else "/"
        if back is None:
            raise SignInError(_not_allowed(rd))
        person = await self._gate.person(cookies)
        if person is not None and person.sid:
            confirmed = self._sealer.tag_matches(token, "sign-out", person.sid)
            if not asked_here and not confirmed:
                return Confirm(self._sealer.tag("sign-out", person.sid))
            actor = person.claims.email or person.claims.user_id
            await self._revoker.end_browser_session(
                person.sid, actor=actor, reason="forward-auth sign-out", revoked_by="logout"
            )
            self._gate.people.forget(person.sid)
        try:
            domain = self._domain(self._site(headers))
        except SignInError:
            domain = ""
        return Step(back, (Cookie(self._policy.cookie_name, "", 0, domain),))

    # -- where things live -------------------------------------------------------------
    def _site(self, headers: ProxyHeaders) -> Site:
        try:
            return self._gate.site(headers)
        except AmbiguousSiteError as error:
            raise SignInError(f"The request is ambiguous: {error}.") from None

    def _callback(self, headers: ProxyHeaders, site: Site) -> str:
        """The callback at the site: its origin and /oauth2/callback (on Passgate's own
        host, below the issuer's path)."""
        prefix = self._policy.issuer_path if site.host == self._policy.issuer_host else ""
        callback = f"{site.scheme}://{site.netloc}{prefix}{CALLBACK_PATH}"
        if not self._policy.is_callback(callback):
            raise SignInError(f"{site.host!r} is not below forwardAuth.cookieDomain or "
                              "allowedRedirectDomains, so Passgate cannot sign people in "
                              "for it.", 403)  # fmt: skip
        return callback

    def _domain(self, site: Site) -> str:
        """The cookie's Domain: the configured one when the site is below it."""
        domain = self._policy.cookie_domain
        return domain if domain and domain_matches(site.host, domain) else ""

    def _csrf_name(self, nonce: str) -> str:
        # One per sign-in, so two tabs signing in at once do not overwrite each other's.
        return f"{self._policy.cookie_name}_csrf_{nonce[:10]}"


def _not_allowed(target: str) -> str:
    return (
        f"Passgate does not send people to {target[:200]!r}: only paths on the site and "
        "URLs below forwardAuth.allowedRedirectDomains (or cookieDomain) are allowed."
    )
