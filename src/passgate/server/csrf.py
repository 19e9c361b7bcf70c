"""CSRF protection for the login and approval forms.

A random cookie binds the browser; each form carries HMAC(request key, cookie). A page on
another site can neither read the cookie nor the auth request's key, so it cannot build a
form that passes, and a form loaded in one browser fails in another.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response

from passgate.provider.ids import mac, mac_matches
from passgate.server.services import WebSettings
from passgate.storage.models import AuthRequest

COOKIE = "passgate_csrf"


def browser_token(request: Request) -> tuple[str, bool]:
    """The browser's binding value and whether it is new (to be set on the response)."""
    value = request.cookies.get(COOKIE, "")
    if 32 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
        return value, False
    return secrets.token_urlsafe(32), True


def remember_browser(response: Response, browser: tuple[str, bool], web: WebSettings) -> None:
    """Set the binding cookie on ``response`` when :func:`browser_token` made a new one."""
    value, new = browser
    if new:
        response.set_cookie(
            COOKIE,
            value,
            path=web.issuer_path or "/",
            httponly=True,
            samesite="lax",
            secure=web.secure_cookies,
        )


def form_token(request: AuthRequest, browser: str, purpose: str) -> str:
    return mac(request.hmac_key, purpose, request.id, browser)


def check(request: AuthRequest, browser: str, purpose: str, presented: str) -> bool:
    return bool(browser) and mac_matches(request.hmac_key, presented, purpose, request.id, browser)
