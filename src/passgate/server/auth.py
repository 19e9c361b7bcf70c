"""The pages a person sees: /auth, the connector chooser, the password form, approval."""

from __future__ import annotations

from pathlib import Path

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    PasswordConnector,
    PostConnector,
)
from passgate.oauth2.errors import OAuthError
from passgate.provider.authorize import authorize
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.ids import mac_matches
from passgate.provider.limits import TooManyAttempts
from passgate.provider.login import (
    check_password,
    deny,
    issue_code,
    load_request,
    scopes_for,
)
from passgate.server import csrf
from passgate.server.callback import start_callback
from passgate.server.errors import page_error, render_error
from passgate.server.flow import complete_login, issuer_url, origin_of, render_page, services_of
from passgate.server.forms import query_params, request_params
from passgate.server.net import client_address
from passgate.storage.models import AuthRequest

STATIC = Path(__file__).parent / "static"

log = structlog.get_logger("passgate.auth")


def connector_logo(kind: str) -> str:
    """The static path of the connector type's icon on the chooser, or "" if none."""
    path = f"img/{kind}.svg"
    return path if (STATIC / path).is_file() else ""


async def auth(request: Request) -> Response:
    """GET/POST /auth (RFC 6749 §4.1.1, OIDC Core §3.1.2.1)."""
    services = services_of(request)
    try:
        params = await request_params(request)
        result = await authorize(
            params,
            directory=services.directory,
            connectors=services.connectors,
            settings=services.settings,
            clock=services.clock,
        )
    except OAuthError as error:
        return page_error(request, error)
    browser = csrf.browser_token(request)
    if result.show_chooser:
        return render_page(
            request,
            "chooser.html",
            {
                "client": result.client,
                "connectors": [
                    {
                        "name": entry.name,
                        "url": issuer_url(services, f"/auth/{entry.id}", state=result.request.id),
                        "logo": connector_logo(entry.type),
                    }
                    for entry in result.connectors
                ],
            },
            browser=browser,
        )
    response = RedirectResponse(
        issuer_url(services, f"/auth/{result.connectors[0].id}", state=result.request.id),
        status_code=302,
    )
    csrf.remember_browser(response, browser, services.web)
    return response


async def _request_for(
    request: Request, params_state: str, connector_id: str | None
) -> tuple[AuthRequest, ConnectorEntry | None]:
    services = services_of(request)
    auth_request = await load_request(services.storage, params_state, services.clock)
    if connector_id is None:
        return auth_request, None
    entry = services.connectors.get(connector_id)
    client = await services.directory.get_client(auth_request.client_id)
    if entry is None or entry not in services.connectors.for_client(client, "authorization_code"):
        raise OAuthError("this sign-in method is not available")
    return auth_request, entry


async def connector_start(request: Request) -> Response:
    """GET /auth/{connector}: begin signing in with one connector."""
    services = services_of(request)
    connector_id = request.path_params["connector"]
    try:
        params = query_params(request)
        auth_request, entry = await _request_for(request, params.require("state"), connector_id)
    except OAuthError as error:
        return page_error(request, error)
    assert entry is not None
    if isinstance(entry.connector, PasswordConnector):
        return RedirectResponse(
            issuer_url(services, f"/auth/{entry.id}/login", state=auth_request.id), status_code=302
        )
    if isinstance(entry.connector, (CallbackConnector, PostConnector)):
        return await start_callback(request, auth_request, entry)
    return render_error(request, 400, "Not available", "This sign-in method is not supported yet.")


async def password_login(request: Request) -> Response:
    """GET shows the password form; POST checks it (fields ``login`` and ``password``)."""
    services = services_of(request)
    connector_id = request.path_params["connector"]
    browser = csrf.browser_token(request)
    try:
        query = query_params(request)
        auth_request, entry = await _request_for(request, query.require("state"), connector_id)
    except OAuthError as error:
        return page_error(request, error)
    assert entry is not None
    connector = entry.connector
    if not isinstance(connector, PasswordConnector):
        return render_error(request, 404, "Not found", "This connector has no password form.")
    context: dict[str, object] = {
        "connector_name": entry.name,
        "prompt": connector.prompt,
        "action": issuer_url(services, f"/auth/{entry.id}/login", state=auth_request.id),
        "username": "",
        "error": "",
        "csrf_token": csrf.form_token(auth_request, browser[0], "login"),
    }
    if request.method != "POST":  # GET or HEAD: only a POST signs in
        return render_page(request, "login.html", context, browser=browser)
    try:
        form = await request_params(request)
        username, password = form.optional("login"), form.optional("password")
        presented = form.optional("csrf_token")
    except OAuthError as error:
        return page_error(request, error)
    if browser[1] or not csrf.check(auth_request, browser[0], "login", presented):
        return render_error(request, 403, "Form expired", "Please go back and sign in again.")
    context["username"] = username
    try:
        identity = await check_password(
            entry, connector, scopes_for(auth_request.scopes), username=username,
            password=password, limiter=services.limiter,
            address=client_address(request, services.web), client_id=auth_request.client_id,
            sessions=services.sessions,
        )  # fmt: skip
    except TooManyAttempts as locked:
        services.metrics.logins.labels(entry.id, "locked").inc()
        context["error"] = "Too many failed attempts. Please wait a few minutes and try again."
        response = render_page(request, "login.html", context, browser=browser, status=429)
        response.headers["Retry-After"] = str(locked.retry_after)
        return response
    except ConnectorError as error:
        log.warning("password login failed", connector=entry.id, error=str(error))
        services.metrics.logins.labels(entry.id, "error").inc()
        return render_error(request, 502, "Sign-in failed", str(error))
    except Exception:
        # A connector bug or an answer it did not foresee: a page, never a bare 500.
        log.exception("password connector failed unexpectedly", connector=entry.id)
        services.metrics.logins.labels(entry.id, "error").inc()
        return render_error(request, 502, "Sign-in failed", "The sign-in could not be checked.")
    if identity is None:
        services.metrics.logins.labels(entry.id, "invalid").inc()
        context["error"] = "Invalid username or password."
        # 200 as in Dex: a 401 would need a WWW-Authenticate challenge (RFC 9110 §15.5.2).
        return render_page(request, "login.html", context, browser=browser)
    services.metrics.logins.labels(entry.id, "ok").inc()
    return await complete_login(request, auth_request, entry, identity)


async def approval(request: Request) -> Response:
    """GET shows what the client asks for; POST ``approval=approve`` issues the code."""
    services = services_of(request)
    browser = csrf.browser_token(request)
    try:
        params = (
            await request_params(request) if request.method == "POST" else query_params(request)
        )
        auth_request = await load_request(services.storage, params.require("req"), services.clock)
    except OAuthError as error:
        return page_error(request, error)
    if not auth_request.logged_in:
        return render_error(request, 400, "Not signed in", "Please sign in first.")
    if request.method != "POST":  # GET or HEAD: only a POST approves
        if not mac_matches(
            auth_request.hmac_key, params.optional("hmac"), "approval", auth_request.id
        ):
            return render_error(request, 403, "Invalid link", "This approval link is not valid.")
        client = await services.directory.get_client(auth_request.client_id)
        return render_page(
            request,
            "approval.html",
            {
                "client": client,
                "scopes": [s for s in auth_request.scopes if s != "openid"],
                "req": auth_request.id,
                "action": issuer_url(services, "/approval"),
                "csrf_token": csrf.form_token(auth_request, browser[0], "approval"),
                "username": auth_request.claims.email or auth_request.claims.username
                if auth_request.claims
                else "",
            },
            browser=browser,
        )
    if browser[1] or not csrf.check(
        auth_request, browser[0], "approval", params.optional("csrf_token")
    ):
        return render_error(request, 403, "Form expired", "Please go back and sign in again.")
    try:
        if params.optional("approval") != "approve":
            return RedirectResponse(await deny(services.storage, auth_request), status_code=303)
        location = await issue_code(
            services.storage, auth_request, services.settings, services.clock,
            sessions=services.sessions, origin=origin_of(request),
        )  # fmt: skip
    except OAuthError as error:
        return page_error(request, error)
    return RedirectResponse(location, status_code=303)


routes = [
    Route("/auth", auth, methods=["GET", "POST"], name="auth"),
    Route("/auth/{connector}", connector_start, methods=["GET"], name="auth_connector"),
    Route("/auth/{connector}/login", password_login, methods=["GET", "POST"], name="auth_login"),
    Route("/approval", approval, methods=["GET", "POST"], name="approval"),
]
