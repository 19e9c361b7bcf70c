"""POST /token (RFC 6749 §3.2): parse, hand to the provider, render."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from passgate.oauth2.errors import OAuthError
from passgate.server.errors import NO_STORE, json_error
from passgate.server.forms import form_params
from passgate.server.net import client_address
from passgate.server.services import Services

_KNOWN = {
    "authorization_code", "refresh_token", "password", "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
}  # fmt: skip


async def token(request: Request) -> Response:
    services: Services = request.app.state.services
    started = time.perf_counter()
    grant_type = "unknown"
    try:
        form = await form_params(request)
        grant_type = form.optional("grant_type")
        grant_type = grant_type if grant_type in _KNOWN else "other"
        result = await services.token_endpoint.handle(
            form, request.headers.get("authorization"), client_address(request, services.web)
        )
    except OAuthError as error:
        services.metrics.grants.labels(grant_type, error.error).inc()
        return json_error(error)
    finally:
        services.metrics.grant_latency.labels(grant_type).observe(time.perf_counter() - started)
    services.metrics.grants.labels(grant_type, "ok").inc()
    return JSONResponse(result.to_dict(), headers=NO_STORE)


routes = [Route("/token", token, methods=["POST"], name="token")]
