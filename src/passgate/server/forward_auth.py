"""oauth2-proxy's endpoints under the issuer's path (``<issuer>/oauth2/...``), so nginx
``auth_request``, ingress-nginx, Traefik and Caddy setups switch by changing one URL.
They also answer when a site's proxy forwards ``/oauth2/`` with the site's own Host.

Thin: read the proxy's headers and cookies, ask ``passgate.forwardauth``, write the
answer. Header values may be UTF-8 (a name like "Zoë"): they are written as bytes, with
control characters removed, so no claim can split a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from passgate.forwardauth import ForwardAuth
from passgate.forwardauth.proxied import ProxyHeaders
from passgate.forwardauth.signin import Confirm, Cookie, SignInError, Step
from passgate.oauth2.errors import OAuthError
from passgate.server.errors import NO_STORE, render_error
from passgate.server.flow import render_page, services_of
from passgate.server.forms import form_params

__all__ = ["routes"]

log = structlog.get_logger("passgate.forwardauth")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_COOKIE_HEADER = 64 * 1024


def _proxy_headers(request: Request, envoy_path: str | None = None) -> ProxyHeaders:
    get = request.headers.get
    forwarded_uri, envoy_method = get("x-forwarded-uri", ""), ""
    if envoy_path is not None:  # Envoy: the site's own path and method
        query = request.url.query
        forwarded_uri = "/" + envoy_path + (f"?{query}" if query else "")
        envoy_method = request.method
    return ProxyHeaders(
        host=get("host", ""),
        forwarded_host=",".join(request.headers.getlist("x-forwarded-host")),
        forwarded_proto=get("x-forwarded-proto", ""),
        forwarded_uri=forwarded_uri,
        forwarded_method=get("x-forwarded-method", ""),
        original_url=get("x-original-url", ""),
        original_method=get("x-original-method", ""),
        auth_request_redirect=get("x-auth-request-redirect", ""),
        sent_from=get("x-sent-from", ""),
        accept=get("accept", ""),
        requested_with=get("x-requested-with", ""),
        envoy_method=envoy_method,
    )


def _cookie_values(request: Request, name: str) -> list[str]:
    """Every value of cookie ``name``: a browser sends two when a host-only and a domain
    cookie share the name (an old setup), and either may be the good one."""
    header = "; ".join(request.headers.getlist("cookie"))[:_MAX_COOKIE_HEADER]
    values = []
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            values.append(value.strip().strip('"'))
    return values[:8]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _forward_auth(request: Request) -> ForwardAuth | None:
    return services_of(request).forward_auth


def _disabled(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return render_error(request, 404, "Not found", "Forward-auth is not configured here.")
    return JSONResponse({"error": "not_found"}, status_code=404, headers=NO_STORE)


def _header_value(value: str) -> bytes:
    return _CONTROL.sub(" ", value).encode("utf-8")


async def auth(request: Request) -> Response:
    """/oauth2/auth (any method, as a proxy may ask with the site request's): 202, 401,
    403 (302 for browsers behind Traefik or Caddy). Envoy's
    ext_authz asks ``/oauth2/auth/<the site's path>`` with the site's method: 200 there."""
    fa = _forward_auth(request)
    if fa is None:
        return _disabled(request)
    envoy_path = request.path_params.get("path")
    decision = await fa.gate.check(
        _proxy_headers(request, envoy_path),
        {} if envoy_path is not None else dict(request.query_params),
        _cookie_values(request, fa.gate.policy.cookie_name),
        _bearer(request),
        allowed=200 if envoy_path is not None else 202,
    )
    if decision.status == 403:  # the one answer a person asks an operator about
        who = decision.person.claims.email if decision.person is not None else ""
        log.info("forward-auth refused", reason=decision.reason, user=who)
    else:
        log.debug("forward-auth", status=decision.status, reason=decision.reason)
    response = Response(status_code=decision.status, headers=NO_STORE)
    for name, value in decision.headers:
        response.raw_headers.append((name.lower().encode("latin-1"), _header_value(value)))
    return response


async def start(request: Request) -> Response:
    """GET /oauth2/start?rd=... (and oauth2-proxy's /oauth2/sign_in): sign in, then rd."""
    fa = _forward_auth(request)
    if fa is None:
        return _disabled(request)
    try:
        step = fa.sign_in.start(_proxy_headers(request), request.query_params.get("rd", ""))
    except SignInError as error:
        return render_error(request, error.status, "Cannot sign in here", str(error))
    return _redirect(step, fa)


async def callback(request: Request) -> Response:
    """GET /oauth2/callback: the code comes back; the forward-auth cookie is set."""
    fa = _forward_auth(request)
    if fa is None:
        return _disabled(request)
    try:
        step = await fa.sign_in.finish(
            _proxy_headers(request), dict(request.query_params), request.cookies
        )
    except SignInError as error:
        return render_error(request, error.status, "Sign-in failed", str(error))
    return _redirect(step, fa)


async def sign_out(request: Request) -> Response:
    """GET/POST /oauth2/sign_out?rd=...: sign out of every site (the browser session).
    oauth2-proxy signs out on any GET; Passgate only when the person asked on this origin
    (:func:`_asked_here`), else it asks first with a form whose token only this
    browser's cookie can make."""
    fa = _forward_auth(request)
    if fa is None:
        return _disabled(request)
    token = ""
    if request.method == "POST":
        try:
            token = (await form_params(request, strict_type=False)).optional("token")
        except OAuthError:
            token = ""
    try:
        step = await fa.sign_in.sign_out(
            _proxy_headers(request),
            _cookie_values(request, fa.gate.policy.cookie_name),
            request.query_params.get("rd", ""),
            asked_here=_asked_here(request),
            token=token,
        )
    except SignInError as error:
        return render_error(request, error.status, "Cannot sign out here", str(error))
    if isinstance(step, Confirm):
        return render_page(request, "sign_out.html", {"token": step.token})
    return _redirect(step, fa)


def _asked_here(request: Request) -> bool:
    """The person asked on this origin: Fetch Metadata says so (a same-origin link or a
    typed URL), or, where a browser sends none (plain http), the Referer is this origin."""
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site:
        return fetch_site in ("same-origin", "none")
    referer = request.headers.get("referer", "")
    try:
        netloc = urlsplit(referer).netloc
    except ValueError:
        return False
    return bool(netloc) and netloc.lower() == request.headers.get("host", "").lower()


async def userinfo(request: Request) -> Response:
    """GET /oauth2/userinfo: who the cookie stands for (oauth2-proxy's JSON), or 401."""
    fa = _forward_auth(request)
    if fa is None:
        return _disabled(request)
    person = await fa.gate.person(
        _cookie_values(request, fa.gate.policy.cookie_name), _bearer(request)
    )
    if person is None:
        return JSONResponse({"error": "unauthorized"}, status_code=401, headers=NO_STORE)
    claims = person.claims
    body: Mapping[str, object] = {
        "user": claims.user_id,
        "email": claims.email,
        "groups": list(claims.groups),
        "preferredUsername": claims.preferred_username or claims.username,
    }
    return JSONResponse(body, headers=NO_STORE)


def _redirect(step: Step, fa: ForwardAuth) -> Response:
    response = RedirectResponse(step.location, status_code=302, headers=NO_STORE)
    for cookie in step.cookies:
        _set(response, cookie, fa)
    return response


def _set(response: Response, cookie: Cookie, fa: ForwardAuth) -> None:
    response.set_cookie(
        cookie.name,
        cookie.value,
        max_age=cookie.max_age,
        expires=0 if cookie.max_age == 0 else None,
        path=cookie.path,
        domain=cookie.domain or None,
        secure=fa.gate.policy.cookie_secure,
        httponly=True,
        samesite="lax",
    )


#: Envoy's check keeps the site request's own method (so may any other proxy).
SITE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

routes = [
    Route("/oauth2/auth", auth, methods=SITE_METHODS, name="forward_auth"),
    Route("/oauth2/auth/{path:path}", auth, methods=SITE_METHODS, name="forward_auth_envoy"),
    Route("/oauth2/start", start, methods=["GET"], name="forward_auth_start"),
    Route("/oauth2/sign_in", start, methods=["GET"], name="forward_auth_sign_in"),
    Route("/oauth2/callback", callback, methods=["GET"], name="forward_auth_callback"),
    Route("/oauth2/sign_out", sign_out, methods=["GET", "POST"], name="forward_auth_sign_out"),
    Route("/oauth2/userinfo", userinfo, methods=["GET"], name="forward_auth_userinfo"),
]
