"""The browser walk every redirect connector's in-app test takes, written once: Passgate
started from a config file with one connector (:func:`passgate_with`), /auth → the chooser
→ the upstream's authorization URL (:func:`to_upstream`), the browser at the upstream and
back to /callback (:func:`back_from`), and the client's code exchange (:func:`code_to_tokens`).

Each test keeps its own assertions about what the connector sends upstream (scopes,
endpoints) and about the tokens; only the walk is shared.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from e2e.tls import TLSFiles
from passgate.cli import static_config
from passgate.clock import FrozenClock
from passgate.connectors.base import Connector
from passgate.provider.directory import Directory
from server.harness import (
    ISSUER,
    PREFIX,
    REDIRECT_URI,
    SESSION_COOKIE,
    Harness,
    basic,
    config_text,
    query_of,
    running,
)

__all__ = [
    "CALLBACK",
    "STATE",
    "back_from",
    "callback",
    "claims_of",
    "code_to_tokens",
    "passgate_with",
    "to_upstream",
    "use_factory",
]

#: Passgate's own callback URL, the ``redirectURI`` of every connector under test.
CALLBACK = f"{ISSUER}/callback"
#: The ``state`` the OAuth client sends to /auth and must get back with its code.
STATE = "client-state"

Factory = Callable[[str, Mapping[str, Any], Directory], Connector]


def use_factory(monkeypatch: pytest.MonkeyPatch, connector_type: str, factory: Factory) -> None:
    """Build ``connector_type`` connectors with ``factory`` for this test only (a fake
    upstream, a test CA, a frozen clock)."""
    monkeypatch.setitem(static_config.CONNECTOR_FACTORIES, connector_type, factory)


@asynccontextmanager
async def passgate_with(connector: str, clock: FrozenClock | None = None) -> AsyncIterator[Harness]:
    """Passgate from a config file with the ``connectors:`` YAML ``connector`` and no
    approval screen, as ``passgate serve`` would build it."""
    text = config_text(oauth2="  skipApprovalScreen: true", extra=connector)
    async with running(text, clock=clock) as harness:
        yield harness


async def to_upstream(harness: Harness, connector_id: str, state: str = STATE) -> str:
    """/auth, pick ``connector_id`` on the chooser: the upstream's authorization URL. A
    sign-in from scratch: the browser's single sign-on cookie is dropped first."""
    harness.client.cookies.delete(SESSION_COOKIE)
    page = await harness.client.get(f"{PREFIX}/auth", params=harness.auth_params(state=state))
    assert page.status_code == 200, page.text[:300]
    link = re.search(rf'href="([^"]*/auth/{re.escape(connector_id)}\?[^"]*)"', page.text)
    assert link is not None, page.text
    response = await harness.client.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 302, response.text[:300]
    location: str = response.headers["location"]
    return location


async def back_from(authorize: str, tls: TLSFiles | None = None) -> dict[str, str]:
    """The browser at the upstream's authorization URL (trusting the test CA, as the
    person's browser trusts the upstream): the query it is sent back to Passgate with."""
    verify: ssl.SSLContext | bool = True
    if tls is not None:
        verify = ssl.create_default_context(cafile=str(tls.ca))
    async with httpx.AsyncClient(verify=verify) as browser:
        at_upstream = await browser.get(authorize)
    assert at_upstream.status_code == 302, at_upstream.text
    back: str = at_upstream.headers["location"]
    assert back.startswith(f"{CALLBACK}?"), back
    return query_of(back)


async def callback(harness: Harness, query: Mapping[str, str]) -> httpx.Response:
    """Passgate's /callback with the upstream's answer."""
    return await harness.client.get(f"{PREFIX}/callback", params=dict(query))


async def code_to_tokens(
    harness: Harness, response: httpx.Response, state: str = STATE
) -> dict[str, Any]:
    """The client's side: Passgate redirected it with a code and its state; the tokens."""
    assert response.status_code == 303, response.text[:300]
    assert response.headers["location"].startswith(REDIRECT_URI)
    query = query_of(response.headers["location"])
    assert query["state"] == state
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT_URI}
    tokens = await harness.token(data, basic())
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def claims_of(id_token: str) -> dict[str, Any]:
    """The payload of a Passgate ID token (its signature is the provider tests' business)."""
    payload = id_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded
