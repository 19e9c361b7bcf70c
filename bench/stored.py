"""A confidential client kept in storage (made through the admin API) for the token
scenarios, instead of the config file's: what the token endpoint does per request for
such a client (a storage read, and checking the secret against what storage keeps) is
then what is measured.

``set`` gives the client a secret chosen by hand, ``generated`` lets Passgate make one
(returned once, in the answer to the call that made it).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx

from bench.target import Target

__all__ = ["STORED_CLIENT_ID", "AdminAccess", "SecretKind", "admin_access", "create_stored_client"]

#: ``static``: the config file's client; ``set`` / ``generated``: one in storage.
SecretKind = Literal["static", "set", "generated"]
SECRET_KINDS: tuple[SecretKind, ...] = ("static", "set", "generated")
STORED_CLIENT_ID = "bench-stored"


@dataclass(frozen=True, slots=True)
class AdminAccess:
    """An admin bearer token and the ``admin`` config section that accepts it."""

    token: str
    section: dict[str, Any]


def admin_access() -> AdminAccess:
    token = "pgadm_" + secrets.token_urlsafe(32)
    digest = "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    return AdminAccess(token, {"tokens": [{"name": "bench", "hash": digest}]})


async def create_stored_client(target: Target, token: str, kind: SecretKind) -> Target:
    """Create the stored client through ``POST /admin/v1/clients``; ``target`` with its
    id and secret in place of the static client's."""
    body: dict[str, Any] = {
        "id": STORED_CLIENT_ID,
        "name": "Benchmark (stored)",
        "redirect_uris": [target.redirect_uri],
    }
    if kind == "set":
        body["secret"] = secrets.token_urlsafe(24)
    url = target.issuer.rstrip("/") + "/admin/v1/clients"
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 201:
        raise RuntimeError(f"creating the stored client: {response.status_code} {response.text}")
    secret = body.get("secret") or response.json()["secret"]
    return replace(target, client_id=STORED_CLIENT_ID, client_secret=secret)
