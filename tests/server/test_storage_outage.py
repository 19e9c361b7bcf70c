"""What clients and people see while the database is down: 503 with Retry-After, as
RFC 6749 JSON (``temporarily_unavailable``) or a "try again" page, never a 500; what the
in-memory caches answer keeps working; readiness says so, and comes back by itself."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from passgate.storage.base import Storage, StorageUnavailableError

from .forward_auth_support import GRAFANA, WIKI, ask, forward_auth_config, sign_in_at
from .harness import CLIENT_ID, CLIENT_SECRET, PREFIX, Harness, basic, running
from .revocation_support import authenticated, kube_config

pytestmark = pytest.mark.anyio


@contextmanager
def database_down(storage: Storage) -> Iterator[None]:
    """Every storage call fails as an outage does, until the block ends."""
    saved: dict[str, Any] = {}

    async def unavailable(*_args: object, **_kwargs: object) -> None:
        raise StorageUnavailableError("PostgreSQL: connection refused")

    for name, member in inspect.getmembers(type(storage), inspect.iscoroutinefunction):
        if not name.startswith("_") and name not in ("open", "close"):
            saved[name] = member
            setattr(storage, name, unavailable)
    try:
        yield
    finally:
        for name in saved:
            delattr(storage, name)


@pytest.fixture
async def harness(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(kube_config()) as built:
        yield built


async def test_clients_get_503_json_and_people_a_page(harness: Harness) -> None:
    tokens = await harness.tokens()
    services = harness.runtime.services
    with database_down(services.storage):
        refreshed = await harness.token(
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            basic(CLIENT_ID, CLIENT_SECRET),
        )
        assert refreshed.status_code == 503
        assert refreshed.json()["error"] == "temporarily_unavailable"
        assert refreshed.headers["retry-after"] == "5"
        assert refreshed.headers["cache-control"] == "no-store"
        page = await harness.client.get(
            f"{PREFIX}/auth", params=harness.auth_params(), headers={"Accept": "text/html"}
        )
        assert page.status_code == 503
        assert page.headers["retry-after"] == "5"
        assert "try again" in page.text.lower()
        # What memory answers: discovery, the keys, and a valid token's own claims.
        assert (await harness.client.get(f"{PREFIX}/.well-known/openid-configuration")).is_success
        assert (await harness.client.get(f"{PREFIX}/keys")).is_success
        assert (await harness.userinfo(tokens["access_token"])).status_code == 200
        assert await authenticated(harness, tokens["id_token"])  # TokenReview
        ready = await harness.client.get(f"{PREFIX}/healthz/ready")
        assert ready.status_code == 503
    # Back by itself, and the refresh token that got a 503 still works.
    assert (await harness.client.get(f"{PREFIX}/healthz/ready")).status_code == 200
    again = await harness.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        basic(CLIENT_ID, CLIENT_SECRET),
    )
    assert again.status_code == 200, again.text


async def test_forward_auth_keeps_letting_signed_in_people_through(anyio_backend: str) -> None:
    async with running(forward_auth_config()) as fa:
        browser = await fa.browser()
        assert (await sign_in_at(fa, browser, GRAFANA)).status_code == 302
        assert (await ask(fa, browser, WIKI)).status_code == 202
        with database_down(fa.runtime.services.storage):
            for minutes in (1, 10, 120):  # past the cache, the idle touch, the refresh
                fa.clock.advance(timedelta(minutes=minutes))
                assert (await ask(fa, browser, WIKI)).status_code == 202
            stranger = await fa.browser()
            assert (await ask(fa, stranger, WIKI)).status_code == 401
