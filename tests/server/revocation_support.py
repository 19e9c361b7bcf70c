"""Helpers for the session, revocation, introspection, logout and TokenReview tests: the
test issuer with one Kubernetes cluster, and one call per endpoint, made exactly as a
client (or kube-apiserver) makes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from passgate.storage.models import AuditEvent, AuditFilter

from .harness import CLIENT_ID, PREFIX, REDIRECT_URI, Harness, basic, config_text

POST_LOGOUT_URI = "http://127.0.0.1:5555/signed-out"
SERVER = "https://k8s.example.com:6443"
V1 = "authentication.k8s.io/v1"
V1BETA1 = "authentication.k8s.io/v1beta1"


def kube_config(token_review: str = "", expiry: str = "") -> str:
    """The harness config, the example app with a post-logout URI, and a cluster whose
    apiserver accepts the example app's tokens (username from email, groups prefixed)."""
    text = config_text(
        expiry=expiry,
        extra=f"""kubernetes:
  clusters:
  - name: prod
    server: {SERVER}
    clientID: {CLIENT_ID}
    groupsPrefix: "oidc:"
{token_review}""",
    )
    return text.replace(
        f'  redirectURIs: ["{REDIRECT_URI}"]\n',
        f'  redirectURIs: ["{REDIRECT_URI}"]\n  postLogoutRedirectURIs: ["{POST_LOGOUT_URI}"]\n',
        1,
    )


async def revoke(
    harness: Harness, token: str, auth: Mapping[str, str] | None = None, **extra: str
) -> httpx.Response:
    return await harness.client.post(
        f"{PREFIX}/token/revoke",
        data={"token": token, **extra},
        headers=basic() if auth is None else auth,
    )


async def introspect(
    harness: Harness, token: str, auth: Mapping[str, str] | None = None
) -> dict[str, Any]:
    response = await harness.client.post(
        f"{PREFIX}/token/introspect",
        data={"token": token},
        headers=basic() if auth is None else auth,
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def review_body(
    token: str, version: str = V1, audiences: Sequence[str] | None = None
) -> dict[str, Any]:
    """What kube-apiserver's webhook authenticator POSTs (k8s.io/apiserver
    plugin/pkg/authenticator/token/webhook): apiVersion, kind, spec.token and, when the
    apiserver has API audiences, spec.audiences."""
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = list(audiences)
    return {"apiVersion": version, "kind": "TokenReview", "metadata": {}, "spec": spec}


async def token_review(
    harness: Harness,
    token: str,
    version: str = V1,
    audiences: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    response = await harness.client.post(
        f"{PREFIX}/kubernetes/tokenreview",
        json=review_body(token, version, audiences),
        headers={"Accept": "application/json", **(headers or {})},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["apiVersion"] == version
    assert body["kind"] == "TokenReview"
    return body


async def authenticated(harness: Harness, token: str) -> bool:
    """TokenReview v1 answer: authenticated or not."""
    status = (await token_review(harness, token))["status"]
    return bool(status["authenticated"])


async def events(harness: Harness, action: str = "", **which: Any) -> list[AuditEvent]:
    storage = harness.runtime.services.storage
    return await storage.list_audit_events(AuditFilter(action=action, limit=1000, **which))
