"""Passgate's own pages sign people in as a client of Passgate: the real ``/auth`` flow
(any connector, the chooser, single sign-on), authorization code with PKCE S256.

- ``state``, the PKCE verifier and where to return live in an HttpOnly, SameSite=Lax
  cookie scoped to the callback (``<name>_login``), so the callback completes only in the
  browser that started the sign-in (login CSRF), and a stolen code is useless;
- the callback redeems the code in-process through the token endpoint's own rules (single
  use, PKCE, exact redirect URI) and keeps the ID token (``aud`` = the built-in client, so
  no API server or application accepts it) in a second HttpOnly cookie (``<name>``);
- every request verifies that token again (signature, issuer, audience, ``azp``, ``exp``,
  age) and the revocation rules in memory: ending the browser session (sign-out), the
  person's sessions, or everything ends the page's sign-in on every replica at once;
- forms carry a CSRF token, an HMAC keyed by a hash of that HttpOnly cookie;
- where to go after signing in is a path below the issuer, never another site.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from passgate.oauth2.errors import InvalidTokenError, OAuthError
from passgate.oauth2.params import Params
from passgate.oauth2.pkce import s256_challenge
from passgate.provider.ids import mac, mac_matches
from passgate.server.errors import NO_STORE, render_error
from passgate.server.flow import issuer_url, services_of
from passgate.server.services import Services
from passgate.storage.models import Client
from passgate.tokens.issuer import VerifiedToken

__all__ = ["SelfClient", "VerifiedToken"]

LOGIN_TIME = timedelta(minutes=30)  # to finish signing in (an upstream may be slow)
MAX_COOKIE = 3800  # browsers drop cookies over 4096 bytes (RFC 6265 §6.1 minimum)
MAX_NEXT = 512


@dataclasses.dataclass(frozen=True, slots=True)
class SelfClient:
    """One built-in public client and the cookies of the pages that sign in with it.

    ``cookie_path`` is below the issuer's path (``/`` for every page); ``landing`` is
    where a sign-in returns when it was not asked to return elsewhere."""

    client_id: str
    name: str
    callback: str
    cookie: str
    cookie_path: str
    session: timedelta
    landing: str
    scopes: str = "openid email profile groups federated:id"
    post_logout: str = ""

    def client(self, issuer: str) -> Client:
        """The built-in :class:`Client` (public; its only redirect URI the callback)."""
        return Client(
            id=self.client_id,
            secret="",
            redirect_uris=(issuer + self.callback,),
            public=True,
            name=self.name,
            post_logout_redirect_uris=(issuer + self.post_logout,) if self.post_logout else (),
        )

    # -- signing in --------------------------------------------------------------------
    def start(self, request: Request, next_path: str = "") -> Response:
        """Redirect to ``/auth``; the sign-in returns to ``next_path`` (a path below the
        issuer, else :attr:`landing`)."""
        services = services_of(request)
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        back = next_path if _is_local(next_path) else self.landing
        location = issuer_url(
            services,
            "/auth",
            client_id=self.client_id,
            redirect_uri=services.settings.issuer + self.callback,
            response_type="code",
            scope=self.scopes,
            state=state,
            code_challenge=s256_challenge(verifier),  # RFC 7636 §4.2
            code_challenge_method="S256",
        )
        response = RedirectResponse(location, status_code=303, headers=NO_STORE)
        self._set(response, services, self._login_cookie, f"{state}.{verifier}.{back}", LOGIN_TIME)
        return response

    async def finish(self, request: Request) -> Response:
        """The callback: check ``state`` against the cookie, redeem the code with PKCE,
        keep the ID token and return where the sign-in was started."""
        services = services_of(request)
        state, verifier, back = _split(request.cookies.get(self._login_cookie, ""))
        query = request.query_params
        if not state or not verifier:
            return render_error(request, 400, "Sign-in expired", "Open the page again to sign in.")
        presented = query.get("state", "").encode("utf-8", "replace")
        if not secrets.compare_digest(state.encode(), presented):
            return render_error(
                request, 400, "Invalid sign-in", "This sign-in was not started here."
            )
        if "error" in query:  # RFC 6749 §4.1.2.1, e.g. access_denied from the approval page
            response = render_error(request, 403, "Not signed in", "The sign-in was not completed.")
            self._forget(response, services, self._login_cookie)
            return response
        params = Params(
            [
                ("grant_type", "authorization_code"),
                ("code", query.get("code", "")),
                ("redirect_uri", services.settings.issuer + self.callback),
                ("code_verifier", verifier),
                ("client_id", self.client_id),
            ]
        )
        try:
            # The token endpoint's own rules, in-process: single use, PKCE, redirect URI.
            answer = await services.token_endpoint.handle(params, None)
        except OAuthError as error:
            return render_error(request, 400, "Sign-in failed", error.description or error.error)
        token = answer.id_token or ""
        if len(token) > MAX_COOKIE:
            message = "Your account carries too many groups to keep in a browser cookie."
            return render_error(request, 400, "Sign-in too large", message)
        target = back if _is_local(back) else self.landing
        response = RedirectResponse(issuer_url(services, target), status_code=303)
        self._set(response, services, self.cookie, token, self.session)
        self._forget(response, services, self._login_cookie)
        return response

    # -- the signed-in person -------------------------------------------------------------
    async def current(self, request: Request) -> VerifiedToken | None:
        """The signed-in person, or ``None`` (no cookie, forged, expired, too old or
        revoked)."""
        services = services_of(request)
        token = self.token_of(request)
        if not token:
            return None
        try:
            verified = await services.issuer.verify_id_token(token, audience=self.client_id)
        except InvalidTokenError:
            return None
        issued = verified.claims.get("iat")
        if verified.client_id != self.client_id or not isinstance(issued, int):
            return None
        age = services.clock().timestamp() - issued
        if not -60 <= age <= self.session.total_seconds():
            return None
        return None if services.verifier.is_revoked(verified) else verified

    def token_of(self, request: Request) -> str:
        """The raw ID token of the cookie ("" when absent or oversized)."""
        token = request.cookies.get(self.cookie, "")
        return token if len(token) <= MAX_COOKIE else ""

    def csrf_token(self, request: Request, purpose: str) -> str:
        """A form token only a page that can read the HttpOnly cookie could compute."""
        return mac(self._csrf_key(request), purpose)

    def csrf_ok(self, request: Request, presented: str, purpose: str) -> bool:
        return bool(self.token_of(request)) and mac_matches(
            self._csrf_key(request), presented, purpose
        )

    def forget(self, response: Response, request: Request) -> None:
        """End this page's sign-in in this browser (the cookie only)."""
        self._forget(response, services_of(request), self.cookie)

    # -- cookies ---------------------------------------------------------------------------
    @property
    def _login_cookie(self) -> str:
        return self.cookie + "_login"

    def _csrf_key(self, request: Request) -> bytes:
        return hashlib.sha256(request.cookies.get(self.cookie, "").encode()).digest()

    def _path(self, services: Services) -> str:
        if self.cookie_path == "/":
            return services.web.issuer_path or "/"
        return issuer_url(services, self.cookie_path)

    def _set(
        self, response: Response, services: Services, name: str, value: str, age: timedelta
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(age.total_seconds()),
            path=self._path(services),
            httponly=True,
            samesite="lax",
            secure=services.web.secure_cookies,
        )

    def _forget(self, response: Response, services: Services, name: str) -> None:
        response.delete_cookie(
            name,
            path=self._path(services),
            httponly=True,
            samesite="lax",
            secure=services.web.secure_cookies,
        )


def _split(value: str) -> tuple[str, str, str]:
    """``state.verifier.next`` of the login cookie (both random parts are base64url)."""
    state, _, rest = value.partition(".")
    verifier, _, back = rest.partition(".")
    return state, verifier, back


# A path below the issuer: one leading slash (``//host`` is another site), and only
# characters a cookie value holds as they are.
_LOCAL_PATH = re.compile(r"/(?!/)[A-Za-z0-9/_.~%?=&+-]*")


def _is_local(path: str) -> bool:
    """Whether ``path`` may be returned to after signing in."""
    return len(path) <= MAX_NEXT and _LOCAL_PATH.fullmatch(path) is not None
