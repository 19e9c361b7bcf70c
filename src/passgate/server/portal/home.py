"""The issuer's home page: who Passgate is, "Sign in", and once signed in who you are and
where to go next (the kubeconfig page, your account, the console for admins).

Also the portal's sign-in (``/signin``, ``/signin/callback``) and sign-out
(``/signout``), which every page of the portal shares (:data:`PORTAL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from passgate.config.builtin import PORTAL_CLIENT_ID
from passgate.oauth2.errors import OAuthError
from passgate.server.errors import NO_STORE, render_error
from passgate.server.flow import issuer_url, render_page, services_of
from passgate.server.forms import form_params
from passgate.server.portal.signin import SelfClient, VerifiedToken
from passgate.server.services import Services
from passgate.storage.models import Client

__all__ = ["PORTAL", "Person", "person_of", "portal_client", "routes"]

#: The portal's pages sign in as this built-in public client. An hour, then single
#: sign-on renews it without a password while the browser session lasts.
PORTAL = SelfClient(
    client_id=PORTAL_CLIENT_ID,
    name="Passgate",
    callback="/signin/callback",
    cookie="passgate_portal",
    cookie_path="/",
    session=timedelta(hours=1),
    landing="/",
    post_logout="/",
)
SIGN_OUT = "portal-sign-out"


def portal_client(issuer: str) -> Client:
    """The built-in client of the portal (always there)."""
    return PORTAL.client(issuer)


@dataclass(frozen=True, slots=True)
class Person:
    """The signed-in person as the portal's ID token describes them."""

    subject: str
    name: str
    email: str
    groups: tuple[str, ...]
    connector_id: str
    connector_name: str
    is_admin: bool
    token: VerifiedToken


def person_of(services: Services, verified: VerifiedToken) -> Person:
    claims = verified.claims
    groups = claims.get("groups")
    federated = claims.get("federated_claims")
    connector_id = federated.get("connector_id", "") if isinstance(federated, dict) else ""
    entry = services.connectors.get(connector_id) if isinstance(connector_id, str) else None
    held = tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ()
    admin_groups = services.admin.authenticator.groups if services.admin is not None else ()
    return Person(
        subject=verified.subject,
        name=str(claims.get("name") or claims.get("preferred_username") or ""),
        email=str(claims.get("email") or ""),
        groups=held,
        connector_id=str(connector_id),
        connector_name=entry.name if entry is not None else str(connector_id),
        is_admin=bool(set(held) & set(admin_groups)),
        token=verified,
    )


def links(services: Services, person: Person | None) -> list[tuple[str, str, str]]:
    """(id, label, path) of the places a person can go from every portal page."""
    found = [("home", "Home", "/")]
    if person is not None:
        found.append(("account", "Your account", "/account"))
        if services.kube_clusters:
            found.append(("kubeconfig", "Kubeconfig", "/kubeconfig"))
        if person.is_admin:
            found.append(("console", "Console", "/console"))
    return found


def page_context(request: Request, person: Person | None, here: str) -> dict[str, Any]:
    """What every portal page's frame shows: the navigation and the sign-out form."""
    services = services_of(request)
    nav = [(id_, label, issuer_url(services, path)) for id_, label, path in links(services, person)]
    return {
        "issuer": services.settings.issuer,
        "person": person,
        "here": here,
        "nav": nav,
        "urls": {id_: url for id_, _, url in nav},
        "sign_in_url": issuer_url(services, "/signin"),
        "sign_out_url": issuer_url(services, "/signout"),
        "sign_out_token": PORTAL.csrf_token(request, SIGN_OUT) if person is not None else "",
    }


async def signed_in(request: Request) -> Person | None:
    verified = await PORTAL.current(request)
    return None if verified is None else person_of(services_of(request), verified)


async def home(request: Request) -> Response:
    services = services_of(request)
    person = await signed_in(request)
    context = page_context(request, person, "home")
    context["kube_clusters"] = [entry.name for entry in services.kube_clusters]
    context["discovery_url"] = issuer_url(services, "/.well-known/openid-configuration")
    context["can_change_password"] = (
        person is not None
        and services.account.password_status(person.connector_id, person.email) == "changeable"
    )
    return render_page(request, "portal/home.html", context)


async def sign_in(request: Request) -> Response:
    """``/signin?next=/account``: start signing in, then back to ``next``."""
    return PORTAL.start(request, request.query_params.get("next", ""))


async def sign_in_callback(request: Request) -> Response:
    return await PORTAL.finish(request)


async def sign_out(request: Request) -> Response:
    """End the portal's sign-in here, then sign out of Passgate in this browser through
    RP-Initiated Logout (which asks to confirm and tells the other clients)."""
    services = services_of(request)
    try:
        form = await form_params(request)
    except OAuthError as error:
        return render_error(request, 400, "Bad request", error.description or error.error)
    if not PORTAL.csrf_ok(request, form.optional("csrf_token"), SIGN_OUT):
        return render_error(request, 403, "Form expired", "Please reload the page and retry.")
    params = {
        "client_id": PORTAL.client_id,
        "post_logout_redirect_uri": services.settings.issuer + "/",
    }
    token = PORTAL.token_of(request)
    if token:
        params["id_token_hint"] = token
    response = RedirectResponse(
        issuer_url(services, "/logout", **params), status_code=303, headers=NO_STORE
    )
    PORTAL.forget(response, request)
    return response


routes = [
    Route("/", home, methods=["GET"], name="home"),
    Route("/signin", sign_in, methods=["GET"], name="portal_sign_in"),
    Route(PORTAL.callback, sign_in_callback, methods=["GET"], name="portal_callback"),
    Route("/signout", sign_out, methods=["POST"], name="portal_sign_out"),
]
