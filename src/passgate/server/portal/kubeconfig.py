"""``GET /kubeconfig``: a signed-in person downloads a kubeconfig for the clusters they pick.

The page is one of the portal's: people sign in once for all of Passgate's pages
(:data:`passgate.server.portal.home.PORTAL`, the built-in client ``passgate-portal``
through ``/auth`` with PKCE; see :mod:`.signin`), and the cluster form carries a CSRF
token bound to that sign-in.

``GET /kubeconfig/clusters`` lists the clusters as public JSON for ``passgate kubeconfig
--issuer-url`` when ``kubernetes.publishClusters`` is true; otherwise a 404 whose ``error``
says which is missing, the clusters or their publication, so the command can tell the
person which setting to look at.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from passgate.kube import kubeconfig
from passgate.oauth2.errors import OAuthError
from passgate.server.errors import NO_STORE, render_error
from passgate.server.flow import issuer_url, render_page, services_of
from passgate.server.forms import FORM_TYPE, content_type, form_pairs
from passgate.server.portal.home import PORTAL, Person, page_context, signed_in
from passgate.server.services import Services

__all__ = ["routes"]

log = structlog.get_logger("passgate.kubeconfig")

PAGE = "/kubeconfig"
FORM = "kubeconfig-form"


def _enabled(services: Services) -> bool:
    return bool(services.kube_clusters)


def _no_clusters(request: Request) -> Response:
    """A person who followed a link here learns why there is no page, not just a 404."""
    return render_error(
        request,
        404,
        "No clusters configured",
        "This issuer hands out no kubeconfigs: its configuration lists no Kubernetes "
        "clusters (kubernetes.clusters is empty).",
    )


def _page(request: Request, who: Person, **context: Any) -> Response:
    services = services_of(request)
    base = page_context(request, who, "kubeconfig") | {
        "email": who.email,
        "name": who.name,
        "groups": list(who.groups),
        "clusters": services.kube_clusters,
        "selected": [],
        "action": issuer_url(services, PAGE),
        "csrf_token": PORTAL.csrf_token(request, FORM),
        "publish": services.publish_clusters,
        "error": "",
        "text": "",
    }
    status = int(context.pop("status", 200))
    return render_page(request, "portal/kubeconfig.html", base | context, status=status)


async def page(request: Request) -> Response:
    """GET shows who is signed in and the cluster form; POST builds the kubeconfig."""
    services = services_of(request)
    if not _enabled(services):
        return _no_clusters(request)
    who = await signed_in(request)
    if who is None:
        if request.method == "POST":  # back to GET, which signs in and returns here
            return RedirectResponse(issuer_url(services, PAGE), status_code=303)
        return PORTAL.start(request, PAGE)
    if request.method != "POST":
        return _page(request, who)
    try:
        fields = await _form(request)
    except OAuthError as error:
        return render_error(request, 400, "Bad request", error.description or error.error)
    if not PORTAL.csrf_ok(request, fields.get("csrf_token", [""])[0], FORM):
        return render_error(request, 403, "Form expired", "Please reload the page and retry.")
    return _result(request, who, fields)


def _result(request: Request, who: Person, fields: dict[str, list[str]]) -> Response:
    services = services_of(request)
    names = fields.get("cluster", [])
    if fields.get("all") == ["1"]:
        names = [entry.name for entry in services.kube_clusters]
    if not names:
        return _page(request, who, error="Pick at least one cluster.", status=400)
    try:
        chosen = kubeconfig.select(services.kube_clusters, names)
    except kubeconfig.KubeconfigError:
        return _page(request, who, error="Unknown cluster; pick from the list.", status=400)
    document = kubeconfig.merge(None, kubeconfig.build(chosen))
    text = kubeconfig.dump(document)
    log.info("kubeconfig issued", sub=who.subject, clusters=[entry.name for entry in chosen])
    if fields.get("action") == ["download"]:
        headers = {**NO_STORE, "Content-Disposition": 'attachment; filename="kubeconfig"'}
        return Response(text, media_type="application/yaml", headers=headers)
    return _page(request, who, text=text, selected=[entry.name for entry in chosen])


async def _form(request: Request) -> dict[str, list[str]]:
    """The cluster form: ``cluster`` repeats (one per checkbox), the rest are single."""
    if content_type(request) != FORM_TYPE:
        raise OAuthError(f"the body must be {FORM_TYPE}")
    fields: dict[str, list[str]] = {}
    for name, value in await form_pairs(request, max_fields=256):
        fields.setdefault(name, []).append(value)
    for name, values in fields.items():
        if name != "cluster" and len(values) > 1:
            raise OAuthError(f"parameter {name[:32]!r} is repeated")
    return fields


async def clusters(request: Request) -> Response:
    """``GET /kubeconfig/clusters``: the public cluster list (``publishClusters``)."""
    services = services_of(request)
    if not _enabled(services):
        description = "no clusters are configured (kubernetes.clusters is empty)"
        return _no_listing(kubeconfig.NO_CLUSTERS, description)
    if not services.publish_clusters:
        description = (
            "the clusters are configured but not published (kubernetes.publishClusters is "
            f"false): download a kubeconfig at {services.settings.issuer}/kubeconfig"
        )
        return _no_listing(kubeconfig.NOT_PUBLISHED, description)
    listing = kubeconfig.listing_of(services.kube_clusters)
    return JSONResponse(listing, headers={"Cache-Control": "no-cache"})


def _no_listing(error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=404, headers={"Cache-Control": "no-cache"})


routes = [
    Route(PAGE, page, methods=["GET", "POST"], name="kubeconfig"),
    Route("/kubeconfig/clusters", clusters, methods=["GET"], name="kubeconfig_clusters"),
]
