"""The device flow's endpoints (RFC 8628, Dex's paths): ``POST /device/code`` for the
device, ``GET /device`` and ``POST /device/auth/verify_code`` for the person, and
``GET /device/callback`` where their sign-in returns. Decisions live in
``passgate.provider.device``; this module parses and renders."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from passgate.oauth2.errors import OAuthError
from passgate.provider.device import (
    DeviceFlow,
    PendingDevice,
    UserCodeError,
    normalize_user_code,
)
from passgate.provider.limits import LoginLimiter, TooManyAttempts
from passgate.server import csrf
from passgate.server.errors import NO_STORE, json_error, page_error, render_error
from passgate.server.flow import issuer_url, render_page, services_of
from passgate.server.forms import form_params, query_params
from passgate.server.net import client_address
from passgate.storage.models import Client


def _flow(request: Request) -> DeviceFlow:
    return services_of(request).token_endpoint.device


def _entry(request: Request, user_code: str = "", error: str = "", status: int = 200) -> Response:
    """The page where the person types the code (again, with ``error``)."""
    entry = issuer_url(services_of(request), "/device")
    context = {"pending": False, "entry": entry, "user_code": user_code[:32], "error": error}
    return render_page(request, "device.html", context, status=status)


def _confirm(request: Request, pending: PendingDevice) -> Response:
    """RFC 8628 §5.4: name the client and the code before the person signs in."""
    browser = csrf.browser_token(request)
    context = {
        "pending": True,
        "client": pending.client,
        "user_code": pending.user_code,
        "action": issuer_url(services_of(request), "/device/auth/verify_code"),
        "csrf_token": pending.form_token(browser[0]),
    }
    return render_page(request, "device.html", context, browser=browser)


async def _find(request: Request, user_code: str) -> PendingDevice:
    """Look the code up. RFC 8628 §5.1: user codes are short, so well-formed codes that
    name nothing count as guesses against the address (typos of the format do not)."""
    services = services_of(request)
    address = client_address(request, services.web)
    keys = (f"device:{address}", LoginLimiter.keys("device", "", address)[1])
    await services.limiter.check(*keys)
    try:
        return await _flow(request).find(user_code)
    except UserCodeError:
        if normalize_user_code(user_code) is not None:
            await services.limiter.failed(*keys)
        raise


async def device_code(request: Request) -> Response:
    """POST /device/code (RFC 8628 §3.1, §3.2)."""
    try:
        form = await form_params(request)
        result = await _flow(request).start(form, request.headers.get("authorization"))
    except OAuthError as error:
        return json_error(error)
    return JSONResponse(result.to_dict(), headers=NO_STORE)


async def device_page(request: Request) -> Response:
    """GET /device: enter the code, or confirm it when ``?user_code=`` names one."""
    try:
        user_code = query_params(request).optional("user_code")
        if not user_code:
            return _entry(request)
        pending = await _find(request, user_code)
    except TooManyAttempts:
        return _entry(request, error="Too many wrong codes. Please wait and try again.", status=429)
    except OAuthError as error:
        return _entry(request, error=error.description, status=400)
    return _confirm(request, pending)


async def verify_code(request: Request) -> Response:
    """POST /device/auth/verify_code: the confirmed code starts the ordinary sign-in."""
    browser = csrf.browser_token(request)
    try:
        form = await form_params(request, strict_type=False)
        user_code = form.optional("user_code")
        pending = await _find(request, user_code)
    except TooManyAttempts:
        return _entry(request, error="Too many wrong codes. Please wait and try again.", status=429)
    except OAuthError as error:
        return _entry(request, error=error.description, status=400)
    if browser[1] or not pending.form_token_matches(browser[0], form.optional("csrf_token")):
        return render_error(request, 403, "Form expired", "Please enter the code again.")
    params = _flow(request).sign_in_params(pending, browser[0])
    return RedirectResponse(issuer_url(services_of(request), "/auth", **params), status_code=303)


async def device_callback(request: Request) -> Response:
    """GET /device/callback: the sign-in's answer completes, or denies, the device."""
    flow = _flow(request)
    value, new = csrf.browser_token(request)
    browser = "" if new else value
    client: Client
    try:
        params = query_params(request)
        state = params.require("state")
        error = params.optional("error")
        if error == "access_denied":
            client = await flow.deny(state, browser)
        elif error:
            description = params.optional("error_description") or error
            return render_error(request, 400, "Sign-in failed", description[:300])
        else:
            client = await flow.complete(state, params.require("code"), browser)
    except OAuthError as error:
        return page_error(request, error, status=400)
    context = {"client": client, "approved": not error}
    return render_page(request, "device_result.html", context)


routes = [
    Route("/device/code", device_code, methods=["POST"], name="device_code"),
    Route("/device", device_page, methods=["GET"], name="device"),
    Route("/device/auth/verify_code", verify_code, methods=["POST"], name="device_verify"),
    Route("/device/callback", device_callback, methods=["GET"], name="device_callback"),
]
