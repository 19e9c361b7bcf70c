"""An in-process Passgate with the admin API on (tests/server/harness.py plus an
``admin`` section): a bearer token for ``admin:ci`` and the group ``admins``, which the
harness's static user admin@example.com is in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from passgate.admin.auth import hash_token
from server.harness import PREFIX, Harness, basic, config_text, running

ADMIN_TOKEN = "pgadm_test-token-for-the-admin-api-0123456789"
API = f"{PREFIX}/admin/v1"
ADMIN_SECTION = f"""
admin:
  tokens:
  - name: ci
    hash: "{hash_token(ADMIN_TOKEN)}"
  groups: [admins]
audit:
  retention: 24h
"""


def admin_config(extra: str = "") -> str:
    return config_text(extra=ADMIN_SECTION + extra)


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(admin_config()) as built:
        yield built


async def call(
    harness: Harness,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    token: str = ADMIN_TOKEN,
    status: int = 200,
) -> Any:
    """One admin API call that must answer ``status``; its JSON body (None for 204)."""
    response = await harness.client.request(
        method, API + path, json=json, params=params, headers=auth(token)
    )
    assert response.status_code == status, (response.status_code, response.text)
    assert "no-store" in response.headers["cache-control"]
    return None if status == 204 else response.json()


async def password_grant(
    harness: Harness, email: str, password: str, scope: str = "openid email groups"
) -> httpx.Response:
    data = {"grant_type": "password", "username": email, "password": password, "scope": scope}
    return await harness.token(data, basic())


async def events(harness: Harness, **filters: str) -> list[dict[str, Any]]:
    """Audit events, oldest first (read from storage: listing through the API adds one)."""
    from passgate.storage.models import AuditFilter

    found = await harness.runtime.services.storage.list_audit_events(
        AuditFilter(limit=1000, **filters)  # type: ignore[arg-type]
    )
    return [
        {"action": e.action, "actor": e.actor, "outcome": e.outcome, "subject": e.subject,
         "client_id": e.client_id, "user_id": e.user_id, "details": e.details}
        for e in reversed(found)
    ]  # fmt: skip
