"""Whose tokens the ``tokenreview`` scenario sends: the TokenReview webhook answers only
for tokens issued to a ``kubernetes.clusters`` client (DESIGN §4), as kube-apiserver's
``--oidc-client-id`` would. Passgate lists those clients at ``GET <issuer>/kubeconfig/
clusters``; when the bench's client is not one of them (the demo's ``example-app`` beside
its cluster's ``kubectl``), the scenario signs in as the cluster's client the way
``passgate get-token`` does: a public client, PKCE, a loopback redirect on any port.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx

from bench.target import Target

__all__ = ["LISTING_PATH", "WebhookSkipped", "WebhookTarget", "webhook_target"]

LISTING_PATH = "/kubeconfig/clusters"
#: The listing's 404 ``error`` when the issuer has no ``kubernetes.clusters`` at all.
NO_CLUSTERS = "no_clusters"
#: Where ``passgate get-token`` has the browser return (the bench only reads the Location).
LOOPBACK_REDIRECT = "http://localhost:{port}"


class WebhookSkipped(Exception):
    """The webhook can authenticate no token of this issuer; the message says why."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    target: Target
    note: str = ""  # for the person running the bench: whose tokens, when not the target's


def _listing(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


async def webhook_target(client: httpx.AsyncClient, target: Target, port: int) -> WebhookTarget:
    """The target whose sign-in gives tokens the webhook maps. ``target`` itself unless
    the issuer lists clusters none of which uses its client; ``port`` goes into the
    public client's loopback redirect. :class:`WebhookSkipped` for an issuer without
    clusters. Without a listing (not published, or not Passgate) the target's client is
    tried as given, and a webhook that refuses its tokens shows in the errors."""
    response = await client.get(target.issuer.rstrip("/") + LISTING_PATH)
    body = _listing(response)
    if isinstance(body, dict) and body.get("error") == NO_CLUSTERS:
        raise WebhookSkipped(
            "the issuer has no kubernetes.clusters, so its webhook authenticates no token"
        )
    if response.status_code != 200 or not isinstance(body, list):
        return WebhookTarget(target)
    clusters = [item for item in body if isinstance(item, dict)]
    clients = [item.get("clientID") for item in clusters]
    if not clients or target.client_id in clients:
        return WebhookTarget(target)
    cluster = clusters[0]
    client_id = cluster.get("clientID")
    if not isinstance(client_id, str) or not client_id:
        return WebhookTarget(target)
    public = replace(
        target,
        client_id=client_id,
        client_secret=None,
        redirect_uri=LOOPBACK_REDIRECT.format(port=port),
    )
    note = (
        f"tokens of {client_id}, the client of cluster {cluster.get('name')!r} "
        f"(not {target.client_id}), signed in as passgate get-token does"
    )
    return WebhookTarget(public, note)
