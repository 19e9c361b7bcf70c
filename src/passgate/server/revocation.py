"""POST /token/revoke (RFC 7009) and POST /token/introspect (RFC 7662).

Both authenticate the client exactly as /token does (RFC 7009 §2.1, RFC 7662 §2.1).
Revocation answers 200 with an empty body for unknown, invalid or expired tokens
(RFC 7009 §2.2); introspection answers ``{"active": false}`` for anything it will not
describe.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from passgate.oauth2.errors import OAuthError
from passgate.oauth2.params import Params
from passgate.server.errors import NO_STORE, json_error
from passgate.server.flow import services_of
from passgate.server.forms import form_params
from passgate.storage.models import Client


async def _client_and_token(request: Request) -> tuple[Client, Params]:
    services = services_of(request)
    form = await form_params(request)
    client = await services.token_endpoint.authenticate(form, request.headers.get("authorization"))
    form.require("token")
    return client, form


async def revoke(request: Request) -> Response:
    services = services_of(request)
    try:
        client, form = await _client_and_token(request)
        # token_type_hint (RFC 7009 §2.1) is only a hint: the token's form tells its type.
        await services.revoker.revoke_token(
            form.require("token"), actor=client.id, client_id=client.id, reason="client request"
        )
    except OAuthError as error:
        return json_error(error)
    return Response(status_code=200, headers=NO_STORE)


async def introspect(request: Request) -> Response:
    services = services_of(request)
    try:
        client, form = await _client_and_token(request)
        body = await services.introspector.introspect(form.require("token"), client)
    except OAuthError as error:
        return json_error(error)
    return JSONResponse(body, headers=NO_STORE)


routes = [
    Route("/token/revoke", revoke, methods=["POST"], name="token_revoke"),
    Route("/token/introspect", introspect, methods=["POST"], name="token_introspect"),
]
