"""A refresh token whose upstream rotates its own (GitLab, Microsoft, GitHub apps): two
requests with it at once, as a client that retries or two kubectl processes send, ask the
upstream once; the one that waited gets the same new tokens (``reuseInterval``), instead
of spending the upstream token a second time and losing the grant."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import anyio
import pytest

from passgate.connectors.base import (
    ConnectorError,
    Identity,
    PasswordConnector,
    RefreshConnector,
    Scopes,
)
from passgate.provider.connectors import ConnectorEntry

from .harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    PASSWORD,
    USER_ID,
    Harness,
    basic,
    config_text,
    running,
)

pytestmark = pytest.mark.anyio


class RotatingUpstream(PasswordConnector, RefreshConnector):
    """Signs in with a password and keeps an upstream refresh token that works once."""

    def __init__(self) -> None:
        self.current = b"upstream-1"
        self.refreshes = 0

    async def login(self, scopes: Scopes, username: str, password: str) -> Identity | None:
        if (username, password) != (EMAIL, PASSWORD):
            return None
        return Identity(user_id=USER_ID, username="admin", email=EMAIL, email_verified=True,
                        connector_data=self.current)  # fmt: skip

    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        self.refreshes += 1
        await anyio.sleep(0.05)  # the upstream takes a moment: requests overlap
        if identity.connector_data != self.current:
            raise ConnectorError("invalid_grant: the refresh token was already used")
        self.current = self.current + b"'"
        return dataclasses.replace(identity, connector_data=self.current)


@pytest.fixture
async def harness(anyio_backend: str) -> AsyncIterator[Harness]:
    text = config_text(expiry="  refreshTokens:\n    reuseInterval: 10s")
    async with running(text) as built:
        yield built


async def test_two_refreshes_at_once_ask_the_upstream_once(harness: Harness) -> None:
    upstream = RotatingUpstream()
    harness.runtime.services.connectors.replace(
        [ConnectorEntry("local", "local", "Email", upstream)]
    )
    auth = basic(CLIENT_ID, CLIENT_SECRET)
    granted = await harness.token(
        {"grant_type": "password", "username": EMAIL, "password": PASSWORD,
         "scope": "openid email offline_access"}, auth,
    )  # fmt: skip
    assert granted.status_code == 200, granted.text
    form = {"grant_type": "refresh_token", "refresh_token": granted.json()["refresh_token"]}
    answers = []

    async def refresh() -> None:
        answers.append(await harness.token(form, auth))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(refresh)
        tasks.start_soon(refresh)
    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    first, second = (answer.json()["refresh_token"] for answer in answers)
    assert first == second  # the retry got what the first request got
    assert upstream.refreshes == 1
    # And the grant lives on: the next refresh asks the upstream with its newest token.
    assert (await harness.token({**form, "refresh_token": first}, auth)).status_code == 200
    assert upstream.refreshes == 2
