"""Redirect-based connectors: send the person upstream, take them back at /callback.

The ``state`` sent upstream is ``<auth request id>.<HMAC(request key, browser cookie)>``:
a callback from another browser, a forged state or a replay after the request was
completed is refused (the request is single-use once signed in).

SAML connectors (:class:`PostConnector`) use the HTTP-POST binding both ways: a page
posts the AuthnRequest to the IdP, and the IdP's page posts ``SAMLResponse`` back here
with ``RelayState`` in the role of ``state`` (shortened to SAML Bindings §3.5.3's 80
bytes). The IdP is usually another site, so the browser leaves out our SameSite=Lax
cookie on that POST: the first answer without it is a page that posts the same fields
again from our own origin, where the cookie is sent and checked as usual.
"""

from __future__ import annotations

import dataclasses
import secrets
from urllib.parse import urlsplit

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    Identity,
    PostConnector,
    UserNotInRequiredGroupsError,
)
from passgate.oauth2.errors import InvalidRequestError, OAuthError
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.ids import mac, mac_matches
from passgate.provider.login import load_request, scopes_for
from passgate.server import csrf
from passgate.server.errors import page_error, render_error
from passgate.server.flow import complete_login, render_page, services_of
from passgate.server.forms import FORM_TYPE, content_type, form_pairs, request_params
from passgate.server.net import client_address
from passgate.storage.models import AuthRequest

log = structlog.get_logger("passgate.callback")


def callback_url(request: Request) -> str:
    return services_of(request).settings.issuer.rstrip("/") + "/callback"


async def start_callback(
    request: Request, auth_request: AuthRequest, entry: ConnectorEntry
) -> Response:
    services = services_of(request)
    connector = entry.connector
    if isinstance(connector, PostConnector):
        return await _start_post(request, auth_request, entry, connector)
    assert isinstance(connector, CallbackConnector)
    browser = csrf.browser_token(request)
    binding = mac(auth_request.hmac_key, "callback", auth_request.id, browser[0])
    state = f"{auth_request.id}.{binding}"
    try:
        location, saved = await connector.begin(
            scopes_for(auth_request.scopes), callback_url(request), state
        )
    except Exception as error:
        return _login_failed(request, entry, error)
    await _remember(request, auth_request, entry, saved)
    response = RedirectResponse(location, status_code=302)
    csrf.remember_browser(response, browser, services.web)
    return response


async def callback(request: Request) -> Response:
    """GET/POST /callback (and /callback/{connector}): the upstream sends the person back."""
    services = services_of(request)
    saml = await _saml_form(request)
    if saml is not None:
        return await _saml_callback(request, saml)
    browser, new = csrf.browser_token(request)
    try:
        params = await request_params(request)
        request_id, _, signature = params.require("state").partition(".")
        auth_request = await load_request(services.storage, request_id, services.clock)
    except OAuthError as error:
        return page_error(request, error)
    bound = not new and mac_matches(
        auth_request.hmac_key, signature, "callback", auth_request.id, browser
    )
    entry = _returning_entry(request, auth_request, bound, CallbackConnector)
    if isinstance(entry, Response):
        return entry
    assert isinstance(entry.connector, CallbackConnector)
    try:
        identity = await entry.connector.finish(
            scopes_for(auth_request.scopes),
            callback_url(request),
            dict(params),
            auth_request.connector_data,
        )
    except Exception as error:
        return await _refused(request, auth_request, entry, error)
    return await complete_login(request, auth_request, entry, identity)


async def _refused(
    request: Request, auth_request: AuthRequest, entry: ConnectorEntry, error: Exception
) -> Response:
    """The page for a connector that did not produce an identity at the callback; the
    refused sign-in goes to the audit log."""
    if isinstance(error, UserNotInRequiredGroupsError):
        # Authenticated upstream but not allowed here: say why, and it is not a 502.
        log.info("connector refused the user", connector=entry.id, error=str(error))
        reason = str(error)
        page = render_error(request, 403, "Access denied", f"{entry.name}: {error}")
    elif isinstance(error, ConnectorError):
        log.warning("connector callback failed", connector=entry.id, error=str(error))
        reason = str(error)
        page = render_error(request, 502, "Sign-in failed", f"{entry.name}: {error}")
    else:
        reason = "the upstream answer could not be used"
        page = _connector_bug(request, entry, "callback")
    services = services_of(request)
    await services.sessions.login_failed(
        connector_id=entry.id,
        username="",
        client_id=auth_request.client_id,
        remote_addr=client_address(request, services.web),
        reason=reason,
    )
    return page


async def _remember(
    request: Request, auth_request: AuthRequest, entry: ConnectorEntry, saved: bytes
) -> None:
    """Keep the chosen connector and its per-sign-in state with the request."""
    await services_of(request).storage.update_auth_request(
        auth_request.id,
        lambda old: dataclasses.replace(old, connector_id=entry.id, connector_data=saved),
    )


def _login_failed(request: Request, entry: ConnectorEntry, error: Exception) -> Response:
    """The page for a connector that could not start the sign-in."""
    if isinstance(error, ConnectorError):
        log.warning("connector login failed", connector=entry.id, error=str(error))
        return render_error(request, 502, "Sign-in failed", f"{entry.name}: {error}")
    return _connector_bug(request, entry, "login")


def _returning_entry(
    request: Request,
    auth_request: AuthRequest,
    bound: bool,
    kind: type[CallbackConnector] | type[PostConnector],
) -> ConnectorEntry | Response:
    """The connector a person comes back from, or the page refusing the return: not
    this browser's sign-in (``bound`` false), already used, or another connector."""
    if not bound:
        return render_error(request, 403, "Sign-in failed", "This sign-in link is not valid.")
    if auth_request.logged_in:
        return render_error(request, 400, "Sign-in failed", "This sign-in was already used.")
    entry = services_of(request).connectors.get(auth_request.connector_id)
    if entry is None or not isinstance(entry.connector, kind) or not _path_matches(request, entry):
        return render_error(request, 400, "Sign-in failed", "Unknown sign-in method.")
    return entry


def _path_matches(request: Request, entry: ConnectorEntry) -> bool:
    """``/callback/{connector}`` must name the connector the sign-in started with."""
    named = request.path_params.get("connector")
    return named is None or named == entry.id


# -- SAML: the HTTP-POST binding ------------------------------------------------------
RELAY_MAC_CHARS = 48  # 22-char id + "." + 48 = 71 bytes <= 80 (SAML Bindings §3.5.3)
RELAYED = "passgate_relayed"


def _relay_state(auth_request: AuthRequest, browser: str) -> str:
    binding = mac(auth_request.hmac_key, "saml-relay", auth_request.id, browser)
    return f"{auth_request.id}.{binding[:RELAY_MAC_CHARS]}"


def _relay_matches(auth_request: AuthRequest, presented: str, browser: str) -> bool:
    expected = mac(auth_request.hmac_key, "saml-relay", auth_request.id, browser)
    return secrets.compare_digest(
        expected[:RELAY_MAC_CHARS].encode(), presented.encode("utf-8", "replace")
    )


def _post_page(
    request: Request,
    action: str,
    fields: list[tuple[str, str]],
    heading: str,
    hint: str,
    browser: tuple[str, bool] | None = None,
) -> Response:
    """A page whose form posts ``fields`` to ``action`` by itself (a nonce-allowed
    script), with a button for browsers without JavaScript."""
    nonce = secrets.token_urlsafe(16)
    context = {
        "heading": heading,
        "hint": hint,
        "action": action,
        "fields": fields,
        "nonce": nonce,
    }
    target = urlsplit(action)
    origin = f"{target.scheme}://{target.netloc}" if target.netloc else ""
    csp = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; img-src 'self' https: data:; "
        f"frame-ancestors 'none'; form-action 'self' {origin}".rstrip()
    )
    return render_page(
        request,
        "saml_post.html",
        context,
        browser=browser,
        headers={"Content-Security-Policy": csp},
    )


async def _start_post(
    request: Request, auth_request: AuthRequest, entry: ConnectorEntry, connector: PostConnector
) -> Response:
    browser = csrf.browser_token(request)
    relay_state = _relay_state(auth_request, browser[0])
    try:
        action, saml_request, saved = await connector.post_login(
            scopes_for(auth_request.scopes), callback_url(request), relay_state
        )
    except Exception as error:
        return _login_failed(request, entry, error)
    await _remember(request, auth_request, entry, saved)
    fields = [("SAMLRequest", saml_request), ("RelayState", relay_state)]
    hint = f"Taking you to {entry.name} to sign in."
    return _post_page(request, action, fields, f"Sign in with {entry.name}", hint, browser)


async def _saml_form(request: Request) -> dict[str, str] | None:
    """The fields of a SAML HTTP-POST answer, or None for any other callback. Read here,
    not through ``Params``: a signed SAMLResponse is longer than an OAuth parameter."""
    if request.method != "POST" or content_type(request) != FORM_TYPE:
        return None
    try:
        fields = dict(await form_pairs(request))
    except InvalidRequestError:  # malformed bodies: the generic path answers them
        return None
    return fields if "SAMLResponse" in fields else None


async def _saml_callback(request: Request, fields: dict[str, str]) -> Response:
    services = services_of(request)
    browser, new = csrf.browser_token(request)
    request_id, _, signature = fields.get("RelayState", "").partition(".")
    if not request_id or not signature:
        return render_error(request, 400, "Sign-in failed", "The answer has no RelayState.")
    try:
        auth_request = await load_request(services.storage, request_id, services.clock)
    except OAuthError as error:
        return page_error(request, error)
    if new and RELAYED not in fields:
        # Cross-site POST: our cookie was left out. Post again from this origin.
        relay = [(k, v) for k, v in fields.items() if k in ("SAMLResponse", "RelayState")]
        return _post_page(
            request, request.url.path, [*relay, (RELAYED, "1")], "Signing you in", "One moment."
        )
    bound = not new and _relay_matches(auth_request, signature, browser)
    entry = _returning_entry(request, auth_request, bound, PostConnector)
    if isinstance(entry, Response):
        return entry
    assert isinstance(entry.connector, PostConnector)
    try:
        identity: Identity = await entry.connector.handle_post(
            scopes_for(auth_request.scopes), fields["SAMLResponse"], auth_request.connector_data
        )
    except Exception as error:
        return await _refused(request, auth_request, entry, error)
    return await complete_login(request, auth_request, entry, identity)


async def saml_metadata(request: Request) -> Response:
    """GET /saml/metadata/{connector}: the SP metadata to register with the IdP."""
    entry = services_of(request).connectors.get(request.path_params["connector"])
    if entry is None or not isinstance(entry.connector, PostConnector):
        return render_error(request, 404, "Not found", "There is no SAML connector here.")
    return Response(entry.connector.metadata(), media_type="application/samlmetadata+xml")


def _connector_bug(request: Request, entry: ConnectorEntry, step: str) -> Response:
    """A connector failed in a way it did not foresee (an upstream answer it could not
    handle): the traceback goes to the log, the person gets a page, never a bare 500."""
    log.exception("connector failed unexpectedly", connector=entry.id, step=step)
    return render_error(
        request, 502, "Sign-in failed", f"{entry.name}: the upstream answer could not be used."
    )


routes = [
    Route("/callback", callback, methods=["GET", "POST"], name="callback"),
    Route("/callback/{connector}", callback, methods=["GET", "POST"], name="callback_connector"),
    Route("/saml/metadata/{connector}", saml_metadata, methods=["GET"], name="saml_metadata"),
]
