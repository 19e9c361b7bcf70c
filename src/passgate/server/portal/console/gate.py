"""The console's one door: who may pass, how forms are checked, and how pages answer.

Every console request is signed in through the portal (:data:`PORTAL`) and then
authenticated by the admin API's own :meth:`AdminAPI.authenticate` with the portal's ID
token as the bearer, so the console admits exactly the people the API admits and every
action it takes is the API's service call, audited the same way. Every POST carries a
CSRF token bound to the HttpOnly sign-in cookie. Refusals are pages, never traces:
not signed in → sign in and come back; not an admin → 403; a forged form → 403.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from passgate.admin.api import AdminAPI
from passgate.admin.audit import Actor
from passgate.admin.errors import AdminError, ForbiddenError, UnauthorizedError
from passgate.oauth2.errors import OAuthError
from passgate.oauth2.params import Params
from passgate.server.errors import NO_STORE, render_error
from passgate.server.flow import issuer_url, render_page, services_of
from passgate.server.forms import form_params
from passgate.server.net import client_address
from passgate.server.portal.home import PORTAL, Person, page_context, person_of
from passgate.server.services import Services

__all__ = ["AREAS", "Console", "FormHandler", "PageHandler", "action", "page"]

CSRF_PURPOSE = "console"
ROOT = "/console"

#: (id, label, path below /console) of the console's areas, in the order of its menu.
AREAS = (
    ("overview", "Overview", ""),
    ("clients", "Clients", "/clients"),
    ("users", "Users", "/users"),
    ("sessions", "Sessions", "/sessions"),
    ("revocations", "Revocations", "/revocations"),
    ("keys", "Signing keys", "/keys"),
    ("audit", "Audit log", "/audit"),
)

#: What a redirect after an action says (``?done=<code>``; ``n`` a count): fixed texts,
#: so a crafted link cannot make the console say something else.
NOTICES = {
    "client-saved": "The client was saved.",
    "client-deleted": "The client was deleted.",
    "user-created": "The user was created.",
    "password-set": "The password was changed.",
    "user-disabled": "The user was disabled. Sessions ended: {n}.",
    "user-enabled": "The user was enabled.",
    "revoked": "Revoked. Sessions ended: {n}.",
    "nothing-revoked": "Nothing was left to revoke.",
    "keys-rotated": "A new signing key is published; it signs from the time shown.",
    "keys-replaced": "The signing key was replaced: the new key signs now.",
}


def when(moment: datetime | None) -> str:
    """A time as the console shows it: UTC, to the second."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclasses.dataclass(frozen=True, slots=True)
class Console:
    """One request that passed the door: the admin API and who is calling it."""

    request: Request
    services: Services
    api: AdminAPI
    actor: Actor
    person: Person

    def url(self, path: str = "", **params: str) -> str:
        """A console URL: ``path`` below ``/console``, with a query of ``params``."""
        return issuer_url(self.services, ROOT + path, **params)

    def render(
        self, template: str, area: str, context: Mapping[str, Any], *, status: int = 200
    ) -> Response:
        """A console page: the portal's frame, the console's menu and any notice."""
        full = {
            **page_context(self.request, self.person, "console"),
            "area": area,
            "areas": [(id_, label, self.url(path)) for id_, label, path in AREAS],
            "csrf_token": PORTAL.csrf_token(self.request, CSRF_PURPOSE),
            "notice": notice_of(self.request),
            "actor": self.actor.name,
            "url": self.url,
            "when": when,
            **context,
        }
        return render_page(self.request, template, full, status=status)

    def done(self, path: str, notice: str, count: int | None = None, **params: str) -> Response:
        """After an action: back to a console page (Post/Redirect/Get) with a notice."""
        query = {"done": notice, **({"n": str(count)} if count is not None else {}), **params}
        return RedirectResponse(self.url(path, **query), status_code=303, headers=NO_STORE)


def notice_of(request: Request) -> str:
    text = NOTICES.get(request.query_params.get("done", ""), "")
    count = request.query_params.get("n", "")
    return text.format(n=count if re.fullmatch(r"[0-9]{1,9}", count) else "?")


def _sign_in(request: Request, services: Services) -> Response:
    """To the portal's sign-in, returning to this console page (a GET's own URL)."""
    path = request.url.path.removeprefix(services.web.issuer_path)
    back = ROOT
    if request.method == "GET" and path.startswith(ROOT):
        # Only characters a cookie value holds as they are (see portal.signin).
        query = urlencode(request.query_params.multi_items())
        back = quote(path, safe="/") + (f"?{query}" if query else "")
    location = issuer_url(services, "/signin", next=back)
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def enter(request: Request) -> Console | Response:
    """The :class:`Console` of a request, or the page that refuses it."""
    services = services_of(request)
    api = services.admin
    if api is None:
        message = "The console needs an admin section in the configuration (admin.groups)."
        return render_error(request, 404, "The console is off", message)
    verified = await PORTAL.current(request)
    if verified is None:
        return _sign_in(request, services)
    remote = client_address(request, services.web)
    bearer = "Bearer " + PORTAL.token_of(request)
    try:
        actor = await api.authenticate(bearer, remote, request.method, request.url.path)
    except ForbiddenError:
        message = "The console is for people in the admin groups (admin.groups)."
        return render_error(request, 403, "Not an administrator", message)
    except UnauthorizedError:
        message = "No admin groups are configured (admin.groups), so nobody may use the console."
        return render_error(request, 403, "The console is closed", message)
    return Console(request, services, api, actor, person_of(services, verified))


PageHandler = Callable[[Console], Awaitable[Response]]
FormHandler = Callable[[Console, Params], Awaitable[Response]]
#: Renders the page of a refused form again, with the error (and the form's values).
Retry = Callable[[Console, Params, AdminError], Awaitable[Response]]


def refusal(request: Request, error: AdminError) -> Response:
    """The page for an admin API refusal nothing better can show."""
    titles = {404: "Not found", 409: "Not possible", 503: "Please try again in a moment"}
    title = titles.get(error.status_code, "Not done")
    return render_error(request, error.status_code, title, error.description)


def page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A GET endpoint of the console."""

    async def endpoint(request: Request) -> Response:
        entered = await enter(request)
        if isinstance(entered, Response):
            return entered
        try:
            return await handler(entered)
        except AdminError as error:
            return refusal(request, error)

    return endpoint


def action(
    handler: FormHandler, retry: Retry | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint of the console: the door, then the form and its CSRF token; an
    admin API refusal shows the page again with the error (``retry``) or as a page."""

    async def endpoint(request: Request) -> Response:
        entered = await enter(request)
        if isinstance(entered, Response):
            return entered
        try:
            form = await form_params(request)
        except OAuthError as error:
            return render_error(request, 400, "Bad request", error.description or error.error)
        if not PORTAL.csrf_ok(request, form.optional("csrf_token"), CSRF_PURPOSE):
            message = "This form was not made for this sign-in. Reload the page and try again."
            return render_error(request, 403, "Form expired", message)
        try:
            return await handler(entered, form)
        except AdminError as error:
            if retry is None or error.status_code >= 500:
                return refusal(request, error)
            try:
                return await retry(entered, form, error)
            except AdminError as again:  # the page itself is gone (a deleted client)
                return refusal(request, again)

    return endpoint
