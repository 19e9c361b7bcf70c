"""Request metrics are labelled with the matched route's template, so the label set stays
small whatever paths clients send: one label per route, "other" for the rest."""

from __future__ import annotations

import pytest

from .harness import PREFIX, Harness

pytestmark = pytest.mark.anyio


def labels(harness: Harness) -> set[tuple[str, str, str]]:
    registry = harness.runtime.services.metrics.requests
    return {
        (sample.labels["endpoint"], sample.labels["method"], sample.labels["code"])
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


async def test_labels_are_route_templates(harness: Harness) -> None:
    client = harness.client
    await client.get(f"{PREFIX}/.well-known/openid-configuration")
    await client.get(f"{PREFIX}/auth/local/login")
    await client.get(f"{PREFIX}/auth/no-such-connector/login")
    await client.get(f"{PREFIX}/callback/anything")
    await client.get(f"{PREFIX}/static/main.css")
    await client.get(f"{PREFIX}/token")  # the route, with the wrong method
    await client.get(f"{PREFIX}/no/such/page")
    await client.get("/elsewhere")
    found = labels(harness)
    endpoints = {endpoint for endpoint, _, _ in found}
    assert {
        "/.well-known/openid-configuration",
        "/auth/{connector}/login",
        "/callback/{connector}",
        "/static",
        "/token",
        "other",
    } == endpoints
    assert ("/token", "GET", "405") in found
    assert ("other", "GET", "404") in found
