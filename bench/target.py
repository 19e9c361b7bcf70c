"""What the benchmark talks to: an issuer, its endpoints, and the client's credentials."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx


class FlowError(Exception):
    """A scenario met an answer it cannot go on from."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send load, and the credentials scenarios need (``None``: scenario skipped)."""

    issuer: str
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str | None = None
    username: str | None = None
    password: str | None = None
    # A site the issuer's forward-auth protects (its host name; the issuer answers that
    # site's /oauth2/): set for the Passgate the bench configures and starts.
    forward_auth_host: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoints:
    discovery: str
    authorization: str
    token: str
    jwks: str


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def discover(client: httpx.AsyncClient, issuer: str) -> Endpoints:
    response = await client.get(discovery_url(issuer))
    response.raise_for_status()
    doc = response.json()
    return Endpoints(
        discovery=discovery_url(issuer),
        authorization=doc["authorization_endpoint"],
        token=doc["token_endpoint"],
        jwks=doc["jwks_uri"],
    )


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def need(value: str | None, name: str) -> str:
    if value is None:
        raise FlowError(f"the target has no {name}")
    return value


def token_response(status: int, body: bytes) -> dict[str, Any]:
    """The JSON of a successful token response (RFC 6749 §5.1), else a FlowError."""
    if status != 200:
        raise FlowError(f"token endpoint: {status} {body[:200]!r}")
    tokens: dict[str, Any] = json.loads(body)
    if "access_token" not in tokens:
        raise FlowError("token endpoint: no access_token")
    return tokens
