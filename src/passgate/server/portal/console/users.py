"""Users of the password database in the console: the list (the config file's
read-only), create, set a new password, disable (which ends their sessions) and enable,
through the :class:`~passgate.admin.users.UserService` calls the admin API makes."""

from __future__ import annotations

import re

from starlette.responses import Response
from starlette.routing import Route

from passgate.admin.errors import AdminError
from passgate.admin.users import NewUser, Secret
from passgate.oauth2.params import Params
from passgate.server import admin_schemas as s
from passgate.server.admin_parse import validated
from passgate.server.portal.console.gate import Console, action, page


def groups_of(text: str) -> list[str]:
    """Groups typed as a list: commas or new lines between them."""
    return [group.strip() for group in re.split(r"[,\n]", text) if group.strip()]


async def list_page(
    console: Console, form: Params | None = None, error: str = "", status: int = 200
) -> Response:
    views = await console.api.users.list_users(console.actor)
    context = {
        "views": views,
        "form": form or Params([]),
        "error": error,
        "password_db": console.services.connectors.get("local") is not None,
    }
    return console.render("console/users.html", "users", context, status=status)


async def users(console: Console) -> Response:
    return await list_page(console)


async def retry_create(console: Console, form: Params, error: AdminError) -> Response:
    """The list again, the create form keeping what was typed but the password."""
    kept = Params([(name, value) for name, value in form.items() if name != "password"])
    return await list_page(console, kept, error.description, error.status_code)


async def retry(console: Console, form: Params, error: AdminError) -> Response:
    return await list_page(console, None, error.description, error.status_code)


async def create(console: Console, form: Params) -> Response:
    body = validated(
        s.UserCreate,
        {
            "email": form.optional("email"),
            "name": form.optional("name"),
            "groups": groups_of(form.optional("groups")),
            "password": form.optional("password"),
        },
    )
    new = NewUser(
        email=body.email,
        secret=Secret(password=body.password),
        name=body.name,
        groups=tuple(body.groups),
    )
    await console.api.users.create(new, console.actor)
    return console.done("/users", "user-created")


async def set_password(console: Console, form: Params) -> Response:
    body = validated(s.PasswordBody, {"password": form.optional("password")})
    email = form.optional("email")
    await console.api.users.set_password(email, Secret(password=body.password), console.actor)
    return console.done("/users", "password-set")


async def disable(console: Console, form: Params) -> Response:
    reason = validated(s.Reason, {"reason": form.optional("reason")}).reason
    email = form.optional("email")
    view = await console.api.users.set_disabled(email, True, console.actor, reason=reason)
    return console.done("/users", "user-disabled", view.sessions_ended)


async def enable(console: Console, form: Params) -> Response:
    await console.api.users.set_disabled(form.optional("email"), False, console.actor)
    return console.done("/users", "user-enabled")


routes = [
    Route("/console/users", page(users), methods=["GET"]),
    Route("/console/users", action(create, retry_create), methods=["POST"]),
    Route("/console/users/password", action(set_password, retry), methods=["POST"]),
    Route("/console/users/disable", action(disable, retry), methods=["POST"]),
    Route("/console/users/enable", action(enable, retry), methods=["POST"]),
]
