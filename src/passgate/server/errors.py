"""The one place protocol errors become HTTP: RFC 6749 §5.2 JSON, a §4.1.2.1 redirect,
or a page for a person."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from passgate.oauth2.errors import InvalidTokenError, MissingTokenError, OAuthError
from passgate.provider.login import error_redirect

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


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
