"""Small pieces shared by the page endpoints: the services, URLs below the issuer, and
where a person goes once signed in."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from passgate.connectors.base import Identity
from passgate.oauth2.errors import OAuthError
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.ids import mac
from passgate.provider.login import finish_login, issue_code, needs_approval
from passgate.provider.sessions import Origin
from passgate.server import csrf
from passgate.server.errors import NO_STORE, page_error
from passgate.server.net import client_address
from passgate.server.services import Services
from passgate.storage.models import AuthRequest


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
    request: Request, auth_request: AuthRequest, entry: ConnectorEntry, identity: Identity
) -> Response:
    """Record the identity, then send the person to approval, or straight back to the
    client with a code when approval is skipped."""
    services = services_of(request)
    try:
        auth_request = await finish_login(
            services.storage, auth_request, entry, identity, services.clock
        )
        if not needs_approval(auth_request, services.settings):
            location = await issue_code(
                services.storage, auth_request, services.settings, services.clock,
                sessions=services.sessions, origin=origin_of(request),
            )  # fmt: skip
            return RedirectResponse(location, status_code=303)
    except OAuthError as error:
        return page_error(request, error)
    signature = mac(auth_request.hmac_key, "approval", auth_request.id)
    return RedirectResponse(
        issuer_url(services, "/approval", req=auth_request.id, hmac=signature), status_code=303
    )


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
