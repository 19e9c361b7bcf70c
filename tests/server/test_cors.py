"""CORS (``web.allowedOrigins``) for the endpoints a browser app calls, and none under
/oauth2/: a proxy forwards its site's requests there, preflights included, with the
site's Origin, and the gate must answer them."""

from __future__ import annotations

import pytest

from .forward_auth_support import WIKI, forward_auth_config, site_url
from .harness import PREFIX, running

pytestmark = pytest.mark.anyio

APP = "https://app.example.com"
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST"}


def with_origins(text: str) -> str:
    return text.replace(
        "  http: 127.0.0.1:5556", f"  http: 127.0.0.1:5556\n  allowedOrigins: [{APP}]"
    )


async def test_allowed_origins_get_cors_and_forward_auth_gets_none(anyio_backend: str) -> None:
    async with running(with_origins(forward_auth_config())) as harness:
        discovery = await harness.client.get(
            f"{PREFIX}/.well-known/openid-configuration", headers={"Origin": APP}
        )
        assert discovery.headers["access-control-allow-origin"] == APP
        preflight = await harness.client.options(f"{PREFIX}/token", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == APP
        # The site's own preflight, forwarded by the proxy: the gate answers (no cookie).
        site = await harness.client.options(
            site_url(WIKI, f"{PREFIX}/oauth2/auth"),
            headers={**PREFLIGHT, "Origin": f"http://{WIKI}", "X-Forwarded-Uri": "/api"},
        )
        assert site.status_code == 401
        assert "access-control-allow-origin" not in site.headers
