"""The one place protocol errors become HTTP: RFC 6749 §5.2 JSON, a §4.1.2.1 redirect,
or a page for a person."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from passgate.oauth2.errors import (
    InvalidTokenError,
    MissingTokenError,
    OAuthError,
    TemporarilyUnavailableError,
)
from passgate.provider.login import error_redirect

log = structlog.get_logger("passgate.http")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
#: RFC 9110 §10.2.3: how long a client waits before it asks again during an outage.
RETRY_AFTER_SECONDS = 5


def json_error(error: OAuthError, *, bearer: bool = False) -> JSONResponse:
    """RFC 6749 §5.2 body; ``bearer`` for resource endpoints such as UserInfo."""
    headers = {**NO_STORE, **error.headers}
    if isinstance(error, MissingTokenError):
        headers["WWW-Authenticate"] = 'Bearer realm="passgate"'
    elif bearer or isinstance(error, InvalidTokenError):
        # RFC 6750 §3: the resource server names the error in WWW-Authenticate.
        headers["WWW-Authenticate"] = f'Bearer error="{error.error}"'
    return JSONResponse(error.to_dict(), status_code=error.status_code, headers=headers)


def page_error(request: Request, error: OAuthError, *, status: int | None = None) -> Response:
    """A redirect to the client when the error carries a trusted redirect URI, otherwise a
    page that tells the person what went wrong."""
    if error.redirect_uri is not None:
        return RedirectResponse(error_redirect(error), status_code=303)
    return render_error(
        request,
        status or (error.status_code if error.status_code >= 400 else 400),
        "Sign-in failed",
        error.description or error.error,
    )


def render_error(request: Request, status: int, title: str, message: str) -> Response:
    templates: Jinja2Templates = request.app.state.services.templates
    response: Response = templates.TemplateResponse(
        request,
        "error.html",
        {"title": title, "message": message, "status": status},
        status_code=status,
        headers=NO_STORE,
    )
    return response


def wants_page(request: Request) -> bool:
    """A person's browser (it asks for HTML), not an OAuth client or a script."""
    return "text/html" in request.headers.get("accept", "")


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot answer now: 503 with ``Retry-After``, as RFC 6749 JSON
    (``temporarily_unavailable``) for clients, or a "try again" page for a person. No
    write of the request was kept, so trying again is safe."""
    log.warning("storage unavailable", path=request.url.path[:200], error=str(exc)[:300])
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_page(request):
        response = render_error(
            request,
            503,
            "Please try again in a moment",
            "Passgate cannot reach its database right now. Nothing was lost: reload this "
            "page in a few seconds.",
        )
        response.headers.update(retry)
        return response
    error = TemporarilyUnavailableError("the database cannot be reached; try again shortly")
    error.headers.update(retry)
    return json_error(error)
