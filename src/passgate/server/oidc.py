"""Discovery, JWKS, UserInfo and health endpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from passgate.etags import strong_etag
from passgate.oauth2.client_auth import SUPPORTED_METHODS
from passgate.oauth2.errors import OAuthError
from passgate.oauth2.scopes import SUPPORTED_SCOPES
from passgate.provider.settings import DEVICE_CODE, ProviderSettings
from passgate.provider.userinfo import bearer_token, userinfo
from passgate.server.errors import NO_STORE, json_error
from passgate.server.forms import form_params
from passgate.server.services import Services

CLAIMS_SUPPORTED = (
    "iss", "sub", "aud", "iat", "exp", "azp", "nonce", "at_hash", "c_hash", "auth_time",
    "email", "email_verified", "name", "preferred_username", "groups", "federated_claims",
    "sid",
)  # fmt: skip


def discovery_document(settings: ProviderSettings, algorithm: str) -> dict[str, object]:
    """OpenID Connect Discovery 1.0 §3; ``issuer`` byte-identical to the configuration."""
    base = settings.issuer.rstrip("/")
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/keys",
        "userinfo_endpoint": f"{base}/userinfo",
        "revocation_endpoint": f"{base}/token/revoke",  # RFC 8414 §2 / RFC 7009
        "revocation_endpoint_auth_methods_supported": list(SUPPORTED_METHODS),
        "introspection_endpoint": f"{base}/token/introspect",  # RFC 8414 §2 / RFC 7662
        "introspection_endpoint_auth_methods_supported": list(SUPPORTED_METHODS),
        "end_session_endpoint": f"{base}/logout",  # OIDC RP-Initiated Logout §2.1
        # OIDC Back-Channel Logout 1.0 §2.1: logout tokens carry the sid.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # RFC 8628 §4: advertised only while the grant is enabled.
        **(
            {"device_authorization_endpoint": f"{base}/device/code"}
            if DEVICE_CODE in settings.grant_types
            else {}
        ),
        "response_types_supported": list(settings.response_types),
        "response_modes_supported": ["query"],
        # OIDC Prompt Create 1.0 §4.1 names the member; "create" is not offered.
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [algorithm],
        "code_challenge_methods_supported": list(settings.pkce_methods),
        "scopes_supported": list(SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": list(SUPPORTED_METHODS),
        "grant_types_supported": list(settings.grant_types),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


@dataclass(frozen=True, slots=True)
class StaticDocument:
    """A JSON document serialized once, with its strong ``ETag``."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, document: object) -> StaticDocument:
        body = json.dumps(document, separators=(",", ":")).encode()
        return cls(body, strong_etag(body))


def cached_json(request: Request, body: bytes, etag: str, cache_control: str) -> Response:
    """``body`` with its validators, or ``304`` when the client holds it already."""
    headers = {"Cache-Control": cache_control, "ETag": etag}
    if if_none_match(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)  # RFC 9110 §15.4.5
    return Response(body, media_type="application/json", headers=headers)


async def discovery(request: Request) -> Response:
    services: Services = request.app.state.services
    document: StaticDocument | None = request.app.state.discovery
    if document is None:
        document = StaticDocument.of(discovery_document(services.settings, services.keys.algorithm))
        request.app.state.discovery = document
    return cached_json(request, document.body, document.etag, "public, max-age=3600")


async def keys(request: Request) -> Response:
    """The JWK Set, serialized once per key set. ``max-age`` is shorter than the time a
    new key is published before it signs, so a cache that honours it never misses one."""
    services: Services = request.app.state.services
    document = await services.keys.jwks_document()
    cache_control = f"public, max-age={document.max_age}, must-revalidate"
    return cached_json(request, document.body, document.etag, cache_control)


def if_none_match(header: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: the weak comparison of ``If-None-Match`` against ``etag``."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


async def userinfo_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        form_token = ""
        if request.method == "POST":
            form_token = (await form_params(request, strict_type=False)).optional("access_token")
        token = bearer_token(request.headers.get("authorization"), form_token)
        claims = await userinfo(token, verifier=services.verifier)
    except OAuthError as error:
        return json_error(error, bearer=True)
    return JSONResponse(claims, headers=NO_STORE)


#: How long readiness waits for storage before it says "unavailable".
READY_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    return await ready(request)


async def live(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """Ready when not stopping, storage answers (within two seconds: a probe's patience)
    and a signing key is loaded."""
    services: Services = request.app.state.services
    if services.health.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    try:
        with anyio.fail_after(READY_TIMEOUT_S):
            await services.storage.get_keys()
            await services.keys.jwks()
    except Exception as error:  # any failure means "not ready"; the reason is reported
        return JSONResponse(
            {"status": "unavailable", "error": type(error).__name__}, status_code=503
        )
    return JSONResponse({"status": "ok"})


routes = [
    Route("/.well-known/openid-configuration", discovery, methods=["GET"], name="discovery"),
    Route("/keys", keys, methods=["GET"], name="keys"),
    Route("/userinfo", userinfo_endpoint, methods=["GET", "POST"], name="userinfo"),
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
    Route("/healthz/live", live, methods=["GET"], name="healthz_live"),
    Route("/healthz/ready", ready, methods=["GET"], name="healthz_ready"),
]
