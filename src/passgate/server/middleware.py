"""Plain ASGI middleware: body limits, security headers, one log line and metrics per
request, and a last-resort handler that turns a bug into a spec-shaped 500."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

import structlog
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passgate.server.metrics import Metrics

log = structlog.get_logger("passgate.http")

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 8 * 1024
# Forms post to ourselves, then redirect to clients: form-action must allow the redirect.
_CSP = (
    "default-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; "
    "form-action 'self' http: https:"
)
_BAD_LENGTH = {"error": "invalid_request", "error_description": "invalid Content-Length"}
_TOO_LARGE = {"error": "invalid_request", "error_description": "request body too large"}


async def _send_json(send: Send, status: int, body: Mapping[str, str]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyTooLarge(Exception):
    """Raised from ``receive`` past the limit; whoever reads the body lets it through, so
    the answer is the 413 below."""


class LimitsMiddleware:
    """413 for bodies over ``max_body`` bytes (declared or streamed), 414 for long queries."""

    def __init__(
        self, app: ASGIApp, max_body: int = MAX_BODY_BYTES, max_query: int = MAX_QUERY_BYTES
    ) -> None:
        if max_body <= 0 or max_query <= 0:
            raise ValueError("limits must be positive")
        self.app, self.max_body, self.max_query = app, max_body, max_query

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.max_query:
            await _send_json(
                send, 414, {"error": "invalid_request", "error_description": "query too long"}
            )
            return
        for name, value in scope.get("headers", []):
            if name != b"content-length":
                continue
            if not value.isdigit():
                await _send_json(send, 400, _BAD_LENGTH)
                return
            if int(value) > self.max_body:
                await _send_json(send, 413, _TOO_LARGE)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_json(send, 413, _TOO_LARGE)


class SecurityHeadersMiddleware:
    """Headers every response carries, plus the ``web.headers`` of the config."""

    def __init__(self, app: ASGIApp, extra: Mapping[str, str], *, https: bool) -> None:
        headers = {
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
            "content-security-policy": _CSP,
        }
        if https:
            headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
        headers.update({key.lower(): value for key, value in extra.items()})
        self.app = app
        self.headers = [
            (key.encode("latin-1"), value.encode("latin-1")) for key, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, add_headers)


class ObservabilityMiddleware:
    """One structured log line per request (path only: queries carry codes and state),
    request counters and latency histograms; unexpected exceptions become a 500
    ``server_error`` and are logged with their traceback."""

    def __init__(self, app: ASGIApp, metrics: Metrics, prefix: str = "") -> None:
        self.app, self.metrics, self.prefix = app, metrics, prefix

    def _endpoint(self, scope: Scope) -> str:
        """The template of the route the router matched (``/auth/{connector}/login``), so
        labels stay few whatever the paths; "other" when none did (a 404, or a request
        refused before routing). The router records the route in the request's scope."""
        route = scope.get("route")
        path = getattr(route, "path", "")
        if not isinstance(path, str) or not path:
            return "other"
        if isinstance(route, Mount) and path == self.prefix:
            return "other"  # only the issuer's prefix matched
        return path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def capture(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            log.exception("unhandled error", path=scope.get("path", ""))
            status = 500
            if not response_started:
                await _send_json(
                    send, 500, {"error": "server_error", "error_description": "internal error"}
                )
        finally:
            elapsed = time.perf_counter() - started
            endpoint = self._endpoint(scope)
            self.metrics.requests.labels(endpoint, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(elapsed)
            client = scope.get("client") or ("", 0)
            log.info(
                "request",
                method=scope.get("method", ""),
                path=scope.get("path", "")[:200],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                remote=client[0],
            )


class CORSOutside:
    """CORS for the browser-facing endpoints, but not under ``/oauth2/``: forward-auth
    answers proxies for their sites, whose requests (a preflight ``OPTIONS`` included)
    carry the site's ``Origin`` and must reach the gate, not a CORS answer."""

    def __init__(
        self,
        app: ASGIApp,
        skip: str,
        allow_origins: Sequence[str],
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
    ) -> None:
        self.app = app
        self.skip = skip
        self.cors = CORSMiddleware(
            app, allow_origins=allow_origins, allow_methods=allow_methods,
            allow_headers=allow_headers,
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
        else:
            await self.cors(scope, receive, send)
