"""Fixtures of the end-to-end tests: Debian's reverse proxies (``e2e.proxies``)."""

import pytest

from e2e.proxies import CADDY, NGINX, require_binary


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    """Debian's nginx (``auth_request`` built in): skipped when absent, except under CI."""
    return require_binary(NGINX, "nginx")


@pytest.fixture(scope="session")
def caddy_binary() -> str:
    """Debian's Caddy (``forward_auth``): skipped when absent, except under CI."""
    return require_binary(CADDY, "caddy")
