"""Small pieces shared by the page endpoints: the services, URLs below the issuer, and
where a person goes once signed in."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from passgate.connectors.base import Identity
from passgate.oauth2.errors import OAuthError
from passgate.provider.browser import BrowserSignIn
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.identity import claims_of
from passgate.provider.ids import mac
from passgate.provider.login import finish_login, issue_code, scopes_for
from passgate.provider.sessions import Origin
from passgate.server import csrf, session_cookie
from passgate.server.errors import NO_STORE, page_error
from passgate.server.net import client_address
from passgate.server.services import Services
from passgate.storage.models import AuthRequest, BrowserSession


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def origin_of(request: Request) -> Origin:
    """Where a sign-in comes from, as its session records it."""
    services = services_of(request)
    address = client_address(request, services.web)
    return Origin(address, request.headers.get("user-agent", ""))


def issuer_url(services: Services, path: str, **params: str) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{services.web.issuer_path}{path}{query}"


async def complete_login(
    request: Request,
    auth_request: AuthRequest,
    entry: ConnectorEntry,
    identity: Identity,
    *,
    remember_me: bool | None = None,
) -> Response:
    """A person just signed in at a connector: start (or renew) the browser's session and
    set its cookie, record the identity, then approval or straight back to the client.
    ``remember_me`` (the login form's box; the config's default when None) makes the
    cookie outlive the browser."""
    services = services_of(request)
    current = await services.sso.browser.resume(session_cookie.read(request, services.web))
    remember = services.web.remember_me_default if remember_me is None else remember_me
    sign_in = BrowserSignIn(
        claims=claims_of(identity),
        connector_id=entry.id,
        connector_data=identity.connector_data,
        with_groups=scopes_for(auth_request.scopes).groups,
        remember_me=remember,
        acr_values=auth_request.acr_values,
        origin=origin_of(request),
    )
    session, cookie = await services.sso.signed_in_anew(sign_in, current)
    try:
        auth_request = await finish_login(
            services.storage, auth_request, entry, identity, services.clock,
            browser_session=session,
        )  # fmt: skip
        response = await signed_in(request, auth_request, session)
    except OAuthError as error:
        response = page_error(request, error)
    remember_session(response, services, session, cookie)
    return response


async def signed_in(
    request: Request, auth_request: AuthRequest, session: BrowserSession | None
) -> Response:
    """The person is signed in (``session``, the browser's): to approval when it is
    needed, otherwise back to the client with a code."""
    services = services_of(request)
    if not services.sso.needs_approval(auth_request, session):
        location = await issue_code(
            services.storage, auth_request, services.settings, services.clock,
            sessions=services.sessions, origin=origin_of(request), sso=services.sso,
        )  # fmt: skip
        return RedirectResponse(location, status_code=303, headers=NO_STORE)
    signature = mac(auth_request.hmac_key, "approval", auth_request.id)
    return RedirectResponse(
        issuer_url(services, "/approval", req=auth_request.id, hmac=signature), status_code=303
    )


def remember_session(
    response: Response, services: Services, session: BrowserSession, cookie: str
) -> None:
    """Set the browser session cookie: until the session's end with "remember me", else
    until the browser closes."""
    until = session.absolute_expiry if session.remember_me else None
    session_cookie.write(response, cookie, services.web, until=until, now=services.clock())


def render_page(
    request: Request,
    template: str,
    context: Mapping[str, object],
    *,
    status: int = 200,
    browser: tuple[str, bool] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One of our pages: the branding (issuer name, logo), never cached, and with
    ``browser`` the cookie that binds the page's forms to this browser."""
    services = services_of(request)
    full = {"issuer_name": services.web.issuer_name, "logo_url": services.web.logo_url, **context}
    response = services.templates.TemplateResponse(
        request, template, full, status_code=status, headers={**NO_STORE, **(headers or {})}
    )
    if browser is not None:
        csrf.remember_browser(response, browser, services.web)
    return response
