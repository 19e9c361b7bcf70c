"""Development connectors (Dex ``mockCallback`` and ``mockPassword``): fixed identities,
no upstream. Never use them in production."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from passgate.connectors.base import (
    CallbackConnector,
    Identity,
    PasswordConnector,
    RefreshConnector,
    Scopes,
)

_KILGORE = Identity(
    user_id="0-385-28089-0",
    username="Kilgore Trout",
    preferred_username="kilgore",
    email="kilgore@kilgore.trout",
    email_verified=True,
    groups=("authors",),
)


class MockCallbackConnector(CallbackConnector, RefreshConnector):
    """Redirects straight back to the callback and signs in as Kilgore Trout."""

    needs_stored_data = False  # there is no upstream to ask with anything

    async def login_url(self, scopes: Scopes, callback_url: str, state: str) -> str:
        return f"{callback_url}?{urlencode({'state': state})}"

    async def handle_callback(
        self, scopes: Scopes, callback_url: str, query: dict[str, str]
    ) -> Identity:
        return _KILGORE

    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        return _KILGORE


class MockPasswordConnector(PasswordConnector):
    """One fixed username and password, signing in as Kilgore Trout."""

    prompt = "Username"

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password

    async def login(self, scopes: Scopes, username: str, password: str) -> Identity | None:
        if not (
            secrets.compare_digest(username.encode(), self._username.encode())
            and secrets.compare_digest(password.encode(), self._password.encode())
        ):
            return None
        return _KILGORE
