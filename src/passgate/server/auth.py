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
from passgate.server import csrf, session_cookie
from passgate.server.callback import start_callback
from passgate.server.errors import NO_STORE, page_error, render_error
from passgate.server.flow import (
    complete_login,
    issuer_url,
    origin_of,
    remember_session,
    render_page,
    services_of,
    signed_in,
)
from passgate.server.forms import query_params, request_params
from passgate.server.net import client_address
from passgate.storage.base import StorageUnavailableError
from passgate.storage.models import AuthRequest, BrowserSession, Client

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
        session = await services.sso.browser.resume(session_cookie.read(request, services.web))
        result = await authorize(
            params,
            directory=services.directory,
            connectors=services.connectors,
            settings=services.settings,
            clock=services.clock,
            sso=services.sso,
            session=session,
        )
        if result.request.logged_in:  # the browser's session signed the person in
            return await signed_in(request, result.request, result.reuse.session)
    except OAuthError as error:
        return page_error(request, error)
    if result.reuse.choose_account is not None:
        return _choose_account(request, result.request, result.client, result.reuse.choose_account)
    return _to_connectors(request, result.request, result.client, result.connectors,
                          result.show_chooser)  # fmt: skip


def _to_connectors(
    request: Request,
    auth_request: AuthRequest,
    client: Client,
    connectors: tuple[ConnectorEntry, ...],
    show_chooser: bool,
) -> Response:
    """The connector chooser, or straight to the one connector."""
    services = services_of(request)
    browser = csrf.browser_token(request)
    if show_chooser:
        return render_page(
            request,
            "chooser.html",
            {
                "client": client,
                "connectors": [
                    {
                        "name": entry.name,
                        "url": issuer_url(services, f"/auth/{entry.id}", state=auth_request.id),
                        "logo": connector_logo(entry.type),
                    }
                    for entry in connectors
                ],
            },
            browser=browser,
        )
    response = RedirectResponse(
        issuer_url(services, f"/auth/{connectors[0].id}", state=auth_request.id),
        status_code=302,
    )
    csrf.remember_browser(response, browser, services.web)
    return response


def _choose_account(
    request: Request, auth_request: AuthRequest, client: Client, session: BrowserSession
) -> Response:
    """``prompt=select_account`` (OIDC Core §3.1.2.1): continue as the person signed in
    in this browser, or sign in as somebody else."""
    services = services_of(request)
    browser = csrf.browser_token(request)
    return render_page(
        request,
        "account.html",
        {
            "client": client,
            "account": session.claims.email or session.claims.username or session.user_id,
            "name": session.claims.username,
            "req": auth_request.id,
            "action": issuer_url(services, "/auth/account"),
            "csrf_token": csrf.form_token(auth_request, browser[0], "account"),
        },
        browser=browser,
    )


async def choose_account(request: Request) -> Response:
    """POST /auth/account: the choice made on the ``select_account`` page."""
    services = services_of(request)
    browser = csrf.browser_token(request)
    try:
        params = await request_params(request)
        auth_request = await load_request(services.storage, params.require("req"), services.clock)
    except OAuthError as error:
        return page_error(request, error)
    if browser[1] or not csrf.check(
        auth_request, browser[0], "account", params.optional("csrf_token")
    ):
        return render_error(request, 403, "Form expired", "Please go back and sign in again.")
    client = await services.directory.get_client(auth_request.client_id)
    try:
        if params.optional("account") == "continue":
            session = await services.sso.browser.resume(session_cookie.read(request, services.web))
            signed = await services.sso.continue_as(auth_request, client, session)
            if signed is not None:
                return await signed_in(request, signed, session)
    except OAuthError as error:
        return page_error(request, error)
    usable = services.sso.usable(client)
    if not usable:
        return render_error(request, 400, "Not available", "No sign-in method is available.")
    return _to_connectors(request, auth_request, client, usable, len(usable) > 1)


async def _request_for(
    request: Request, params_state: str, connector_id: str | None
) -> tuple[AuthRequest, ConnectorEntry | None]:
    services = services_of(request)
    auth_request = await load_request(services.storage, params_state, services.clock)
    if connector_id is None:
        return auth_request, None
    entry = services.connectors.get(connector_id)
    client = await services.directory.get_client(auth_request.client_id)
    if entry is None or entry not in services.sso.usable(client):
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
        "username": auth_request.login_hint,  # OIDC Core §3.1.2.1: a hint, pre-filled
        "error": "",
        "csrf_token": csrf.form_token(auth_request, browser[0], "login"),
        "remember_me": services.web.remember_me_default,
    }
    if request.method != "POST":  # GET or HEAD: only a POST signs in
        return render_page(request, "login.html", context, browser=browser)
    try:
        form = await request_params(request)
        username, password = form.optional("login"), form.optional("password")
        presented = form.optional("csrf_token")
        remember_me = form.optional("remember_me") == "yes"
    except OAuthError as error:
        return page_error(request, error)
    if browser[1] or not csrf.check(auth_request, browser[0], "login", presented):
        return render_error(request, 403, "Form expired", "Please go back and sign in again.")
    context["username"] = username
    context["remember_me"] = remember_me
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
    except StorageUnavailableError:
        raise  # a 503 "try again" page (server.errors), not a failed sign-in
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
    return await complete_login(request, auth_request, entry, identity, remember_me=remember_me)


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
        session = await _fresh_session(request, auth_request)
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
                # Connectors without a login form of ours ask here (Dex DEP 4560).
                "ask_remember_me": session is not None,
                "remember_me": session is not None and session.remember_me,
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
            sessions=services.sessions, origin=origin_of(request), sso=services.sso,
            consented=True,
        )  # fmt: skip
    except OAuthError as error:
        return page_error(request, error)
    response = RedirectResponse(location, status_code=303, headers=NO_STORE)
    if params.optional("ask_remember_me") == "yes":
        await _remember_me(request, response, auth_request, params.optional("remember_me") == "yes")
    return response


async def _fresh_session(request: Request, auth_request: AuthRequest) -> BrowserSession | None:
    """The browser session this request's sign-in just started or renewed (None when the
    request was signed in by an earlier one, or the cookie is not this browser's)."""
    if auth_request.sso or not auth_request.browser_session_id:
        return None
    services = services_of(request)
    session = await services.sso.browser.resume(session_cookie.read(request, services.web))
    return (
        session if session is not None and session.id == auth_request.browser_session_id else None
    )


async def _remember_me(
    request: Request, response: Response, auth_request: AuthRequest, remember: bool
) -> None:
    """The approval page's "remember me" box: make the cookie outlive the browser, or not."""
    services = services_of(request)
    session = await _fresh_session(request, auth_request)
    if session is None or session.remember_me == remember:
        return
    session = await services.sso.browser.remember(session, remember)
    remember_session(response, services, session, session_cookie.read(request, services.web))


routes = [
    Route("/auth", auth, methods=["GET", "POST"], name="auth"),
    Route("/auth/account", choose_account, methods=["POST"], name="auth_account"),
    Route("/auth/{connector}", connector_start, methods=["GET"], name="auth_connector"),
    Route("/auth/{connector}/login", password_login, methods=["GET", "POST"], name="auth_login"),
    Route("/approval", approval, methods=["GET", "POST"], name="approval"),
]
