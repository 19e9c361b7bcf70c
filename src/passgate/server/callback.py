"""Redirect-based connectors: send the person upstream, take them back at /callback.

The ``state`` sent upstream is ``<auth request id>.<HMAC(request key, browser cookie)>``:
a callback from another browser, a forged state or a replay after the request was
completed is refused (the request is single-use once signed in).
"""

from __future__ import annotations

import dataclasses

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    UserNotInRequiredGroupsError,
)
from passgate.oauth2.errors import OAuthError
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.ids import mac, mac_matches
from passgate.provider.login import load_request, scopes_for
from passgate.server import csrf
from passgate.server.errors import page_error, render_error
from passgate.server.flow import complete_login, services_of
from passgate.server.forms import request_params
from passgate.storage.models import AuthRequest

log = structlog.get_logger("passgate.callback")


def callback_url(request: Request) -> str:
    return services_of(request).settings.issuer.rstrip("/") + "/callback"


async def start_callback(
    request: Request, auth_request: AuthRequest, entry: ConnectorEntry
) -> Response:
    services = services_of(request)
    connector = entry.connector
    assert isinstance(connector, CallbackConnector)
    browser = csrf.browser_token(request)
    binding = mac(auth_request.hmac_key, "callback", auth_request.id, browser[0])
    state = f"{auth_request.id}.{binding}"
    try:
        location, saved = await connector.begin(
            scopes_for(auth_request.scopes), callback_url(request), state
        )
    except ConnectorError as error:
        log.warning("connector login failed", connector=entry.id, error=str(error))
        return render_error(request, 502, "Sign-in failed", f"{entry.name}: {error}")
    except Exception:
        return _connector_bug(request, entry, "login")
    await services.storage.update_auth_request(
        auth_request.id,
        lambda old: dataclasses.replace(old, connector_id=entry.id, connector_data=saved),
    )
    response = RedirectResponse(location, status_code=302)
    csrf.remember_browser(response, browser, services.web)
    return response


async def callback(request: Request) -> Response:
    """GET/POST /callback: the upstream sends the person back here."""
    services = services_of(request)
    browser, new = csrf.browser_token(request)
    try:
        params = await request_params(request)
        request_id, _, signature = params.require("state").partition(".")
        auth_request = await load_request(services.storage, request_id, services.clock)
    except OAuthError as error:
        return page_error(request, error)
    if new or not mac_matches(
        auth_request.hmac_key, signature, "callback", auth_request.id, browser
    ):
        return render_error(request, 403, "Sign-in failed", "This sign-in link is not valid.")
    if auth_request.logged_in:
        return render_error(request, 400, "Sign-in failed", "This sign-in was already used.")
    entry = services.connectors.get(auth_request.connector_id)
    if entry is None or not isinstance(entry.connector, CallbackConnector):
        return render_error(request, 400, "Sign-in failed", "Unknown sign-in method.")
    try:
        identity = await entry.connector.finish(
            scopes_for(auth_request.scopes),
            callback_url(request),
            dict(params),
            auth_request.connector_data,
        )
    except UserNotInRequiredGroupsError as error:
        # Authenticated upstream but not allowed here: say why, and it is not a 502.
        log.info("connector refused the user", connector=entry.id, error=str(error))
        return render_error(request, 403, "Access denied", f"{entry.name}: {error}")
    except ConnectorError as error:
        log.warning("connector callback failed", connector=entry.id, error=str(error))
        return render_error(request, 502, "Sign-in failed", f"{entry.name}: {error}")
    except Exception:
        return _connector_bug(request, entry, "callback")
    return await complete_login(request, auth_request, entry, identity)


def _connector_bug(request: Request, entry: ConnectorEntry, step: str) -> Response:
    """A connector failed in a way it did not foresee (an upstream answer it could not
    handle): the traceback goes to the log, the person gets a page, never a bare 500."""
    log.exception("connector failed unexpectedly", connector=entry.id, step=step)
    return render_error(
        request, 502, "Sign-in failed", f"{entry.name}: the upstream answer could not be used."
    )


routes = [Route("/callback", callback, methods=["GET", "POST"], name="callback")]
