"""The tokenreview scenario sends tokens the webhook can map: those of a cluster's client,
found in the issuer's cluster listing (the demo's kubectl beside the bench's example-app)."""

import dataclasses
from typing import Any

import httpx
import pytest
from bench.loadgen import LoadSpec, run_load
from bench.run import measure, parse_args
from bench.scenarios import worker_factory
from bench.target import discover
from bench.webhook import WebhookSkipped, WebhookTarget, webhook_target
from fakeissuer import ISSUER, PUBLIC_CLIENT, TARGET, FakeIssuer, serve_live

pytestmark = pytest.mark.anyio
DEMO = [{"name": "demo", "server": "https://127.0.0.1:6443", "clientID": PUBLIC_CLIENT}]


async def resolve(status: int, body: Any) -> WebhookTarget:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url == f"{ISSUER}/kubeconfig/clusters"
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        return await webhook_target(client, TARGET, 18000)


async def test_a_cluster_of_the_targets_own_client_changes_nothing() -> None:
    listing = [{"name": "bench", "clientID": TARGET.client_id}, *DEMO]
    assert await resolve(200, listing) == WebhookTarget(TARGET)


async def test_another_clusters_client_signs_in_as_passgate_get_token_does() -> None:
    found = await resolve(200, DEMO)
    assert found.target == dataclasses.replace(
        TARGET, client_id=PUBLIC_CLIENT, client_secret=None, redirect_uri="http://localhost:18000"
    )
    assert found.note == (
        "tokens of kubectl, the client of cluster 'demo' (not app), signed in as "
        "passgate get-token does"
    )


async def test_an_issuer_without_clusters_is_skipped_with_the_reason() -> None:
    with pytest.raises(WebhookSkipped, match=r"no kubernetes\.clusters"):
        await resolve(404, {"error": "no_clusters", "error_description": "..."})


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"error": "not_published"}),  # kept private: the target's client, as given
        (404, "404 page not found"),  # not Passgate (Dex): its errors will say
        (200, []),
        (200, [{"name": "x"}]),
        (500, "oops"),
    ],
)
async def test_without_a_usable_listing_the_target_is_tried_as_given(
    status: int, body: Any
) -> None:
    assert await resolve(status, body) == WebhookTarget(TARGET)


async def test_the_public_clients_tokens_are_the_ones_reviewed() -> None:
    issuer = FakeIssuer(clusters=DEMO)
    transport = httpx.ASGITransport(app=issuer.app)
    async with httpx.AsyncClient(transport=transport) as client:
        endpoints = await discover(client, issuer.issuer)
        found = await webhook_target(client, issuer.target, 18000)
    spec = LoadSpec(concurrency=2, duration_s=30, max_requests=6, warmup_s=0)
    for target, errors in ((issuer.target, 6), (found.target, 0)):
        factory = worker_factory(
            "tokenreview", target, endpoints, client="httpx", transport=transport
        )
        outcome = await run_load(factory, spec)
        assert outcome.errors == errors, outcome.error_samples


@pytest.mark.parametrize(
    ("clusters", "said"),
    [
        (DEMO, "tokenreview: tokens of kubectl, the client of cluster 'demo'"),
        ([], "tokenreview: skipped, the issuer has no kubernetes.clusters"),
    ],
)
async def test_measure_against_another_issuer(
    clusters: list[dict[str, str]],
    said: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)
    async with serve_live(clusters=clusters) as issuer:
        argv = ["--issuer", issuer.issuer, "--scenarios", "tokenreview", "--requests", "4"]
        args = parse_args([*argv, "--warmup", "0", "--concurrency", "2"])
        results = await measure(issuer.target, "other", args)
    assert said in capsys.readouterr().err
    assert [(r.scenario, r.ok, r.errors) for r in results] == (
        [("tokenreview", 4, 0)] if clusters else []
    )
