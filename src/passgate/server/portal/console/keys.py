"""Signing keys in the console: the key that signs, the next one (published, signing
from ``signs_at``) and the keys that still verify; "Rotate" publishes a new key first,
and "Replace now" is the emergency path for a compromised key, behind a confirmation.
Both are the admin API's :meth:`~passgate.admin.keys.KeyService.rotate`."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from passgate.admin.errors import AdminError, BadRequestError
from passgate.oauth2.params import Params
from passgate.server.flow import issuer_url
from passgate.server.portal.console.gate import Console, action, page

#: What the confirmation box of "Replace now" sends.
CONFIRM = "compromised"


async def keys_page(console: Console, error: str = "", status: int = 200) -> Response:
    context = {
        "keys": await console.api.keys.status(console.actor),
        "jwks_url": issuer_url(console.services, "/keys"),
        "confirm": CONFIRM,
        "error": error,
    }
    return console.render("console/keys.html", "keys", context, status=status)


async def keys(console: Console) -> Response:
    return await keys_page(console)


async def rotate(console: Console, form: Params) -> Response:
    await console.api.keys.rotate(console.actor)
    return console.done("/keys", "keys-rotated")


async def replace(console: Console, form: Params) -> Response:
    if form.optional("confirm") != CONFIRM:
        raise BadRequestError("to replace the key now, tick the box that confirms it")
    await console.api.keys.rotate(console.actor, now=True)
    return console.done("/keys", "keys-replaced")


async def retry(console: Console, form: Params, error: AdminError) -> Response:
    return await keys_page(console, error.description, error.status_code)


routes = [
    Route("/console/keys", page(keys), methods=["GET"]),
    Route("/console/keys/rotate", action(rotate, retry), methods=["POST"]),
    Route("/console/keys/replace", action(replace, retry), methods=["POST"]),
]
