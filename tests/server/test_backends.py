"""The endpoints on the durable backends: what a memory dict takes, SQLite and PostgreSQL
columns must take too (the largest values the protocol checks let through), never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from .harness import (
    PREFIX,
    REDIRECT_URI,
    Harness,
    StorageFactory,
    new_verifier,
    query_of,
    running,
    without_query,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def durable(backend: StorageFactory, anyio_backend: str) -> AsyncIterator[Harness]:
    storage = backend()
    await storage.open()
    async with running(storage=storage) as harness:
        yield harness


async def test_largest_accepted_values_round_trip(durable: Harness) -> None:
    extremes = {
        "state": "é" * 4096,
        "nonce": "\U0001f600" * 1000 + "n" * 3096,
        "max_age": "9" * 10,  # the longest max_age /auth accepts
        "login_hint": "x" * 4096,
    }
    verifier = new_verifier()
    params = durable.auth_params(verifier=verifier, **extremes)
    params.pop("login_hint")
    # Over 8 KiB of query: POST the authorization request instead (OIDC Core §3.1.2.1).
    response = await durable.client.post(f"{PREFIX}/auth", data=params)
    assert response.status_code == 302, response.text[:300]
    start = await durable.client.get(response.headers["location"])
    assert start.status_code == 302, start.text[:300]
    form = await durable.login_form(start.headers["location"])
    login = await durable.submit_login(form)
    assert login.status_code == 303, login.text[:300]
    approval = await durable.approval_form(login.headers["location"])
    done = await durable.submit_approval(approval)
    assert done.status_code == 303, done.text[:300]
    assert without_query(done.headers["location"]) == REDIRECT_URI
    query = query_of(done.headers["location"])
    assert query["state"] == extremes["state"]


async def test_full_flow_refresh_and_replay(durable: Harness) -> None:
    result = await durable.get_code()
    first = await durable.exchange(result)
    assert first.status_code == 200, first.text
    tokens = first.json()
    refreshed = await durable.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert (await durable.exchange(result)).status_code == 400
    assert (await durable.refresh(refreshed.json()["refresh_token"])).status_code == 400
    assert (await durable.userinfo(tokens["access_token"])).status_code == 401
    durable.clock.advance(timedelta(minutes=20))
    for _ in range(6):
        form = await durable.login_form(await durable.login_url(durable.auth_params()))
        await durable.submit_login(form, password="wrong")
    assert (await durable.submit_login(form)).status_code == 429
