"""``GET /kubeconfig``: a signed-in person downloads a kubeconfig for the clusters they pick.

Sign-in goes through the normal ``/auth`` flow (connectors, chooser, approval) as the
built-in public client ``passgate-kubeconfig`` with redirect URI
``<issuer>/kubeconfig/callback``, PKCE S256 and a random ``state``:

- the state and the PKCE verifier live in an HttpOnly, SameSite=Lax cookie scoped to
  ``<issuer path>/kubeconfig`` (``passgate_kubeconfig_login``), so the callback only
  completes in the browser that started it (login CSRF) and a stolen code is useless;
- the callback redeems the code in-process through the token endpoint's own code
  (single use, PKCE, redirect-URI match) and keeps the resulting ID token (signed by
  the issuer, ``aud`` = the internal client, so no API server accepts it) in a second
  such cookie (``passgate_kubeconfig``) for :data:`SESSION` only; every request
  re-verifies signature, issuer, audience, ``azp``, ``exp`` and ``iat`` age. Any
  replica can check it (the keys are shared storage), and nothing is stored per person;
- the cluster form carries a CSRF token, HMAC keyed by the session cookie's hash;
- every redirect goes to a fixed path below the issuer (no open redirect).

``GET /kubeconfig/clusters`` lists the clusters as public JSON for ``passgate kubeconfig
--issuer-url`` when ``kubernetes.publishClusters`` is true; otherwise a 404 whose ``error``
says which is missing, the clusters or their publication, so the command can tell the
person which setting to look at.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from passgate.config.kubernetes import KUBECONFIG_CLIENT_ID
from passgate.kube import kubeconfig
from passgate.oauth2.errors import InvalidTokenError, OAuthError
from passgate.oauth2.params import Params
from passgate.oauth2.pkce import s256_challenge
from passgate.provider.ids import mac, mac_matches
from passgate.server.errors import NO_STORE, render_error
from passgate.server.flow import issuer_url, render_page, services_of
from passgate.server.forms import FORM_TYPE, content_type, form_pairs
from passgate.server.services import Services
from passgate.storage.models import Client
from passgate.tokens.issuer import VerifiedToken

__all__ = ["SESSION", "kubeconfig_client", "routes"]

log = structlog.get_logger("passgate.kubeconfig")

LOGIN_COOKIE = "passgate_kubeconfig_login"
SESSION_COOKIE = "passgate_kubeconfig"
LOGIN_TIME = timedelta(minutes=30)  # to finish signing in (an upstream may be slow)
SESSION = timedelta(minutes=15)  # to pick clusters and download, once signed in
SCOPES = "openid email profile groups"
MAX_COOKIE = 3800  # browsers drop cookies over 4096 bytes (RFC 6265 §6.1 minimum)
CALLBACK = "/kubeconfig/callback"


def kubeconfig_client(issuer: str) -> Client:
    """The built-in public client of this page (added only when clusters exist)."""
    return Client(
        id=KUBECONFIG_CLIENT_ID,
        secret="",
        redirect_uris=(issuer + CALLBACK,),
        public=True,
        name="Kubeconfig download",
    )


def _cookie(response: Response, services: Services, name: str, value: str, age: timedelta) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(age.total_seconds()),
        path=issuer_url(services, "/kubeconfig"),
        httponly=True,
        samesite="lax",
        secure=services.web.secure_cookies,
    )


def _forget(response: Response, services: Services, name: str) -> None:
    response.delete_cookie(
        name,
        path=issuer_url(services, "/kubeconfig"),
        httponly=True,
        samesite="lax",
        secure=services.web.secure_cookies,
    )


def _start_sign_in(services: Services) -> Response:
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    location = issuer_url(
        services,
        "/auth",
        client_id=KUBECONFIG_CLIENT_ID,
        redirect_uri=services.settings.issuer + CALLBACK,
        response_type="code",
        scope=SCOPES,
        state=state,
        code_challenge=s256_challenge(verifier),  # RFC 7636 §4.2
        code_challenge_method="S256",
    )
    response = RedirectResponse(location, status_code=303, headers=NO_STORE)
    _cookie(response, services, LOGIN_COOKIE, f"{state}.{verifier}", LOGIN_TIME)
    return response


async def _session(request: Request) -> VerifiedToken | None:
    """The signed-in person, or ``None`` (no cookie, forged, expired or too old)."""
    services = services_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > MAX_COOKIE:
        return None
    try:
        verified = await services.issuer.verify_id_token(token, audience=KUBECONFIG_CLIENT_ID)
    except InvalidTokenError:
        return None
    issued = verified.claims.get("iat")
    if verified.client_id != KUBECONFIG_CLIENT_ID or not isinstance(issued, int):
        return None
    age = services.clock().timestamp() - issued
    if not -60 <= age <= SESSION.total_seconds():
        return None
    # A revoked session, user or "everything" ends the page's sign-in too (from memory).
    return None if services.verifier.is_revoked(verified) else verified


def _csrf_key(request: Request) -> bytes:
    """Only a page that can read the HttpOnly session cookie can compute the token."""
    return hashlib.sha256(request.cookies.get(SESSION_COOKIE, "").encode()).digest()


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


def _page(request: Request, who: VerifiedToken, **context: Any) -> Response:
    services = services_of(request)
    claims = who.claims
    groups = claims.get("groups")
    base = {
        "issuer": services.settings.issuer,
        "email": claims.get("email") or "",
        "name": claims.get("name") or claims.get("preferred_username") or "",
        "groups": [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else [],
        "clusters": services.kube_clusters,
        "selected": [],
        "action": issuer_url(services, "/kubeconfig"),
        "csrf_token": mac(_csrf_key(request), "kubeconfig-form"),
        "publish": services.publish_clusters,
        "error": "",
        "text": "",
    }
    status = int(context.pop("status", 200))
    return render_page(request, "kubeconfig.html", base | context, status=status)


async def page(request: Request) -> Response:
    """GET shows who is signed in and the cluster form; POST builds the kubeconfig."""
    services = services_of(request)
    if not _enabled(services):
        return _no_clusters(request)
    who = await _session(request)
    if who is None:
        if request.method == "POST":  # back to GET, which signs in and returns here
            return RedirectResponse(issuer_url(services, "/kubeconfig"), status_code=303)
        return _start_sign_in(services)
    if request.method != "POST":
        return _page(request, who)
    try:
        fields = await _form(request)
    except OAuthError as error:
        return render_error(request, 400, "Bad request", error.description or error.error)
    if not mac_matches(_csrf_key(request), fields.get("csrf_token", [""])[0], "kubeconfig-form"):
        return render_error(request, 403, "Form expired", "Please reload the page and retry.")
    return _result(request, who, fields)


def _result(request: Request, who: VerifiedToken, fields: dict[str, list[str]]) -> Response:
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


async def callback(request: Request) -> Response:
    """``/kubeconfig/callback``: the end of the sign-in this page started."""
    services = services_of(request)
    if not _enabled(services):
        return _no_clusters(request)
    state, _, verifier = request.cookies.get(LOGIN_COOKIE, "").partition(".")
    query = request.query_params
    presented = query.get("state", "")
    if not state or not verifier:
        return render_error(
            request, 400, "Sign-in expired", "Open the kubeconfig page again to sign in."
        )
    if not secrets.compare_digest(state.encode(), presented.encode("utf-8", "replace")):
        return render_error(request, 400, "Invalid sign-in", "This sign-in was not started here.")
    if "error" in query:  # RFC 6749 §4.1.2.1, e.g. access_denied from the approval page
        response = render_error(request, 403, "Not signed in", "The sign-in was not completed.")
        _forget(response, services, LOGIN_COOKIE)
        return response
    try:
        params = Params(
            [
                ("grant_type", "authorization_code"),
                ("code", query.get("code", "")),
                ("redirect_uri", services.settings.issuer + CALLBACK),
                ("code_verifier", verifier),
                ("client_id", KUBECONFIG_CLIENT_ID),
            ]
        )
        # The token endpoint's own rules, in-process: single use, PKCE, redirect URI.
        answer = await services.token_endpoint.handle(params, None)
    except OAuthError as error:
        return render_error(request, 400, "Sign-in failed", error.description or error.error)
    token = answer.id_token or ""
    if len(token) > MAX_COOKIE:
        message = "Your account carries too many groups to keep in a browser cookie."
        return render_error(request, 400, "Sign-in too large", message)
    response = RedirectResponse(issuer_url(services, "/kubeconfig"), status_code=303)
    _cookie(response, services, SESSION_COOKIE, token, SESSION)
    _forget(response, services, LOGIN_COOKIE)
    return response


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
    Route("/kubeconfig", page, methods=["GET", "POST"], name="kubeconfig"),
    Route(CALLBACK, callback, methods=["GET"], name="kubeconfig_callback"),
    Route("/kubeconfig/clusters", clusters, methods=["GET"], name="kubeconfig_clusters"),
]
