"""Issue 2/5, acceptance 3: an upstream that is down, slow or answers garbage gives the
person a clear page and the operator a log line, from a real ``passgate serve`` process:
never a 500, never a request that hangs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.fakeserver import serve_app
from e2e.support import Launcher, PassgateServer
from upstream.provider import free_port

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

#: Longer than any upstream timeout of Passgate's: a request still open then has hung.
CLIENT_TIMEOUT = 60.0


def upstream_app(*, discovery: str = "ok", token: str = "ok") -> Starlette:
    """An upstream whose discovery and token endpoints answer well, slowly or garbage."""

    async def answer(request: Request, mode: str, good: dict[str, Any]) -> Response:
        if mode == "slow":
            await anyio.sleep(CLIENT_TIMEOUT * 2)
        if mode == "garbage":
            return PlainTextResponse("<html><body>Service Unavailable</body></html>")
        if mode == "huge":
            return PlainTextResponse("[" * (3 * 1024 * 1024))
        return JSONResponse(good)

    async def well_known(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        doc = {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/keys",
            "scopes_supported": ["openid", "email"],
        }
        return await answer(request, discovery, doc)

    async def token_endpoint(request: Request) -> Response:
        return await answer(request, token, {"access_token": "x", "token_type": "Bearer"})

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", well_known),
            Route("/token", token_endpoint, methods=["POST"]),
        ]
    )


def oidc(connector_id: str, issuer: str, server: PassgateServer) -> dict[str, Any]:
    return {
        "type": "oidc",
        "id": connector_id,
        "name": f"Upstream {connector_id}",
        "config": {
            "issuer": issuer,
            "clientID": "passgate",
            "clientSecret": "upstream-secret-value",
            "redirectURI": server.issuer + "/callback",
        },
    }


UPSTREAMS: dict[str, dict[str, str]] = {
    "slow": {"discovery": "slow"},
    "garbage": {"discovery": "garbage"},
    "huge": {"discovery": "huge"},
    "slowtoken": {"token": "slow"},
    "garbagetoken": {"token": "garbage"},
}


@contextmanager
def upstreams() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        issuers = {name: stack.enter_context(serve_app(upstream_app(**modes)))
                   for name, modes in UPSTREAMS.items()}  # fmt: skip
        issuers["down"] = f"http://127.0.0.1:{free_port()}"
        yield issuers


def log_records(server: PassgateServer) -> list[dict[str, Any]]:
    records = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


async def to_upstream(http: httpx.AsyncClient, server: PassgateServer, connector: str) -> str:
    """The browser's first steps: /auth, then /auth/{connector}; returns that answer's
    Location (the upstream) or raises with the page Passgate showed instead."""
    params = {
        "client_id": server.client.id,
        "redirect_uri": server.client.redirect_uri,
        "response_type": "code",
        "scope": "openid email",
        "state": "s",
        "connector_id": connector,
    }
    first = await http.get(server.url("/auth"), params=params)
    assert first.status_code == 302, first.text[:300]
    return str(first.url.join(first.headers["location"]))


async def serve_with(launcher: Launcher, connector: str, issuer: str) -> PassgateServer:
    server = launcher.new()
    server.connectors = [oidc(connector, issuer, server)]
    server.write_config()
    await server.start()
    return server


def assert_clear_page(response: httpx.Response, connector: str, reason: str) -> None:
    assert response.status_code == 502, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    assert f"Upstream {connector}" in response.text
    assert reason in response.text
    assert "Traceback" not in response.text


def assert_logged(server: PassgateServer, connector: str, event: str, reason: str) -> None:
    logged = [r for r in log_records(server) if r.get("connector") == connector]
    assert any(r["event"] == event and reason in r["error"] for r in logged), logged


@pytest.mark.parametrize(
    ("connector", "reason"),
    [
        ("down", "upstream discovery failed"),
        ("slow", "timed out"),
        ("garbage", "did not answer a JSON object"),
        ("huge", "answered more than"),
    ],
)
async def test_login_redirect_fails_with_a_page_and_a_log_line(
    launcher: Launcher, connector: str, reason: str
) -> None:
    with upstreams() as issuers:
        server = await serve_with(launcher, connector, issuers[connector])
        async with server.http(timeout=CLIENT_TIMEOUT) as http:
            page = await http.get(await to_upstream(http, server, connector))
            assert_clear_page(page, connector, reason)
        assert_logged(server, connector, "connector login failed", reason)


@pytest.mark.parametrize(
    ("connector", "reason"),
    [("slowtoken", "timed out"), ("garbagetoken", "did not answer a JSON object")],
)
async def test_callback_fails_with_a_page_and_a_log_line(
    launcher: Launcher, connector: str, reason: str
) -> None:
    with upstreams() as issuers:
        server = await serve_with(launcher, connector, issuers[connector])
        async with server.http(timeout=CLIENT_TIMEOUT) as http:
            upstream = await http.get(await to_upstream(http, server, connector))
            assert upstream.status_code == 302, upstream.text[:300]
            state = parse_qs(urlsplit(upstream.headers["location"]).query)["state"][0]
            page = await http.get(server.url("/callback"), params={"state": state, "code": "c"})
            assert_clear_page(page, connector, reason)
        assert_logged(server, connector, "connector callback failed", reason)
