"""Clients in the console: the list (the config file's read-only, marked as living in
git), create, change the name and redirect URIs, rotate a secret (shown once) and
delete. Forms are checked with the admin API's own body models, then handed to the same
:class:`~passgate.admin.clients.ClientService` calls the API makes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from passgate.admin.clients import ClientView
from passgate.admin.errors import AdminError
from passgate.config.builtin import BUILT_IN_CLIENTS
from passgate.oauth2.params import Params
from passgate.server import admin_schemas as s
from passgate.server.admin_parse import validated
from passgate.server.portal.console.gate import Console, action, page


def lines(text: str) -> list[str]:
    """A textarea of one value a line: blank lines and surrounding spaces dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def client_path(client_id: str) -> str:
    return "/clients/" + quote(client_id, safe="")


async def list_page(
    console: Console, form: Params | None = None, error: str = "", status: int = 200
) -> Response:
    views = await console.api.clients.list_clients(console.actor)
    context = {
        "views": views,
        "form": form or Params([]),
        "error": error,
        "path": client_path,
        "built_in": BUILT_IN_CLIENTS,
    }
    return console.render("console/clients.html", "clients", context, status=status)


async def client_page(
    console: Console,
    client_id: str,
    *,
    view: ClientView | None = None,
    form: Params | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    """One client; ``view`` when the call that made it has a new secret to show once."""
    view = view or await console.api.clients.get(client_id, console.actor)
    context: dict[str, Any] = {
        "view": view,
        "client": view.client,
        "form": form,
        "error": error,
        "client_url": client_path(view.client.id),
    }
    return console.render("console/client.html", "clients", context, status=status)


async def clients(console: Console) -> Response:
    return await list_page(console)


async def create(console: Console, form: Params) -> Response:
    body = validated(
        s.ClientCreate,
        {
            "id": form.optional("id") or None,
            "name": form.optional("name"),
            "public": form.optional("public") == "yes",
            "redirect_uris": lines(form.optional("redirect_uris")),
        },
    )
    view = await console.api.clients.create(body.id, body.changes(), console.actor)
    return await client_page(console, view.client.id, view=view, status=201)


async def retry_create(console: Console, form: Params, error: AdminError) -> Response:
    return await list_page(console, form, error.description, error.status_code)


async def client(console: Console) -> Response:
    return await client_page(console, console.request.path_params["client_id"])


async def update(console: Console, form: Params) -> Response:
    client_id = console.request.path_params["client_id"]
    body = validated(
        s.ClientPatch,
        {
            "name": form.optional("name"),
            "redirect_uris": lines(form.optional("redirect_uris")),
            "post_logout_redirect_uris": lines(form.optional("post_logout_redirect_uris")),
        },
    )
    await console.api.clients.update(client_id, body.changes(), console.actor)
    return console.done(client_path(client_id), "client-saved")


async def retry_update(console: Console, form: Params, error: AdminError) -> Response:
    client_id = console.request.path_params["client_id"]
    return await client_page(
        console, client_id, form=form, error=error.description, status=error.status_code
    )


async def rotate_secret(console: Console, form: Params) -> Response:
    client_id = console.request.path_params["client_id"]
    view = await console.api.clients.rotate_secret(client_id, console.actor)
    return await client_page(console, client_id, view=view)


async def retry_client(console: Console, form: Params, error: AdminError) -> Response:
    client_id = console.request.path_params["client_id"]
    return await client_page(console, client_id, error=error.description, status=error.status_code)


async def delete(console: Console, form: Params) -> Response:
    await console.api.clients.delete(console.request.path_params["client_id"], console.actor)
    return console.done("/clients", "client-deleted")


_ONE = "/console/clients/{client_id}"
routes = [
    Route("/console/clients", page(clients), methods=["GET"]),
    Route("/console/clients", action(create, retry_create), methods=["POST"]),
    Route(_ONE, page(client), methods=["GET"]),
    Route(_ONE, action(update, retry_update), methods=["POST"]),
    Route(_ONE + "/secret", action(rotate_secret, retry_client), methods=["POST"]),
    Route(_ONE + "/delete", action(delete, retry_client), methods=["POST"]),
]
