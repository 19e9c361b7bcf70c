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
from passgate.storage.models import AuthRequest

COOKIE = "passgate_csrf"


def browser_token(request: Request) -> tuple[str, bool]:
    """The browser's binding value and whether it is new (to be set on the response)."""
    value = request.cookies.get(COOKIE, "")
    if 32 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
        return value, False
    return secrets.token_urlsafe(32), True


def set_cookie(response: Response, value: str, *, path: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, value, path=path or "/", httponly=True, samesite="lax", secure=secure
    )


def form_token(request: AuthRequest, browser: str, purpose: str) -> str:
    return mac(request.hmac_key, purpose, request.id, browser)


def check(request: AuthRequest, browser: str, purpose: str, presented: str) -> bool:
    return bool(browser) and mac_matches(request.hmac_key, presented, purpose, request.id, browser)
