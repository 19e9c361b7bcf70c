"""The Starlette application: routes under the issuer's path, middleware around them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from passgate.server import (
    admin,
    auth,
    callback,
    device,
    forward_auth,
    logout,
    oidc,
    portal,
    revocation,
    token,
    tokenreview,
)
from passgate.server.errors import render_error, storage_unavailable, wants_page
from passgate.server.metrics import Metrics
from passgate.server.middleware import (
    CORSOutside,
    LimitsMiddleware,
    ObservabilityMiddleware,
    SecurityHeadersMiddleware,
)
from passgate.server.services import Services
from passgate.storage.base import StorageUnavailableError

HERE = Path(__file__).parent


def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(HERE / "templates"))


def issuer_path(issuer: str) -> str:
    """``https://sso.example.com/dex/`` → ``/dex``: every route lives below it."""
    return urlsplit(issuer).path.rstrip("/")


async def _not_found(request: Request, exc: Exception) -> Response:
    if wants_page(request):
        return render_error(request, 404, "Not found", "There is nothing at this address.")
    return JSONResponse({"error": "not_found"}, status_code=404)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    # RFC 9110 §15.5.6: a 405 MUST carry Allow; Starlette's routing exception holds it.
    headers = exc.headers if isinstance(exc, HTTPException) else None
    return JSONResponse(
        {"error": "invalid_request", "error_description": "method not allowed"},
        status_code=405,
        headers=headers,
    )


def create_app(services: Services) -> Starlette:
    routes: list[BaseRoute] = [
        *oidc.routes,
        *token.routes,
        *revocation.routes,
        *tokenreview.routes,
        *logout.routes,
        *auth.routes,
        *callback.routes,
        *device.routes,
        *portal.routes,
        *forward_auth.routes,
        *admin.admin_routes(),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    prefix = services.web.issuer_path
    top: list[BaseRoute] = [Mount(prefix, routes=routes)] if prefix else routes
    middleware = [
        Middleware(ObservabilityMiddleware, metrics=services.metrics, prefix=prefix),
        Middleware(LimitsMiddleware),
        Middleware(
            SecurityHeadersMiddleware,
            extra=services.web.extra_headers,
            https=services.settings.issuer.startswith("https://"),
        ),
    ]
    if services.web.allowed_origins:
        middleware.append(
            Middleware(
                CORSOutside,
                skip=f"{prefix}/oauth2/",
                allow_origins=list(services.web.allowed_origins),
                allow_methods=["GET", "POST"],
                allow_headers=list(services.web.allowed_headers)
                or ["Authorization", "Content-Type"],
            )
        )
    app = Starlette(
        routes=top,
        middleware=middleware,
        exception_handlers={
            404: _not_found,
            405: _method_not_allowed,
            StorageUnavailableError: storage_unavailable,
        },
    )
    app.state.services = services
    app.state.discovery = None
    return app


def create_telemetry_app(services: Services) -> Starlette:
    """``/metrics`` and health on the telemetry listener, away from the public port."""

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", oidc.healthz),
            Route("/healthz/live", oidc.live),
            Route("/healthz/ready", oidc.ready),
        ]
    )
    app.state.services = services
    return app


__all__ = ["Metrics", "create_app", "create_telemetry_app", "issuer_path", "templates"]
