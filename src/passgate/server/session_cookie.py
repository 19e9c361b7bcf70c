"""The browser session cookie: ``<session id>.<secret>`` and nothing else (the session's
data stays on the server). HttpOnly, SameSite=Lax, and on an https issuer Secure with the
``__Host-`` prefix (then Path=/ and no Domain, so no other host can set or read it).
Without "remember me" it is a session cookie, gone when the browser closes."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from passgate.server.services import WebSettings

__all__ = ["clear", "read", "write"]

_MAX_LENGTH = 256  # a handle is about 66 characters; anything longer is not ours


def _path(web: WebSettings) -> str:
    if web.session_cookie.startswith("__Host-"):
        return "/"  # RFC 6265bis §4.1.3.2
    return web.issuer_path or "/"


def read(request: Request, web: WebSettings) -> str:
    """The cookie's value ("" for none or a value that cannot be one of ours)."""
    value = request.cookies.get(web.session_cookie, "")
    return value if len(value) <= _MAX_LENGTH else ""


def write(
    response: Response, value: str, web: WebSettings, *, until: datetime | None, now: datetime
) -> None:
    """Set the cookie; ``until`` (remember me) makes it outlive the browser."""
    max_age = None if until is None else max(0, int((until - now).total_seconds()))
    response.set_cookie(
        web.session_cookie,
        value,
        max_age=max_age,
        path=_path(web),
        secure=web.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear(response: Response, web: WebSettings) -> None:
    response.delete_cookie(
        web.session_cookie,
        path=_path(web),
        secure=web.secure_cookies,
        httponly=True,
        samesite="lax",
    )
