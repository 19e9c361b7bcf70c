import httpx
import pytest
from bench.loadgen import LoadSpec, run_load
from bench.scenarios import SCENARIOS, ClientKind, missing_inputs, worker_factory
from bench.target import Endpoints, Target, discover
from fakeissuer import ISSUER, TARGET, FakeIssuer, serve_live

SPEC = LoadSpec(concurrency=2, duration_s=30, max_requests=6, warmup_s=0)


def test_missing_inputs() -> None:
    bare = Target(issuer=ISSUER)
    assert missing_inputs("discovery", bare) == []
    assert missing_inputs("jwks", bare) == []
    assert missing_inputs("client_credentials", bare) == ["client_id", "client_secret"]
    assert missing_inputs("login", Target(ISSUER, "a", "b")) == [
        "redirect_uri",
        "username",
        "password",
    ]
    assert all(missing_inputs(s, TARGET) == [] for s in SCENARIOS)


async def endpoints_of(issuer: FakeIssuer) -> Endpoints:
    transport = httpx.ASGITransport(app=issuer.app)
    async with httpx.AsyncClient(transport=transport) as client:
        return await discover(client, issuer.issuer)


@pytest.mark.anyio
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_every_scenario_runs_in_process_with_httpx(scenario: str) -> None:
    issuer = FakeIssuer()
    transport = httpx.ASGITransport(app=issuer.app)
    endpoints = await endpoints_of(issuer)
    factory = worker_factory(scenario, TARGET, endpoints, client="httpx", transport=transport)
    outcome = await run_load(factory, SPEC)
    assert (len(outcome.latencies_ms), outcome.errors) == (6, 0), outcome.error_samples


@pytest.mark.anyio
@pytest.mark.parametrize("client", ["raw", "httpx"])
async def test_every_scenario_runs_over_loopback(client: ClientKind) -> None:
    async with serve_live() as issuer, httpx.AsyncClient() as http:
        endpoints = await discover(http, issuer.issuer)
        for scenario in SCENARIOS:
            factory = worker_factory(scenario, issuer.target, endpoints, client=client)
            outcome = await run_load(factory, SPEC)
            assert (len(outcome.latencies_ms), outcome.errors) == (6, 0), outcome.error_samples


@pytest.mark.anyio
@pytest.mark.parametrize("client", ["raw", "httpx"])
async def test_refresh_workers_chain_their_own_rotated_tokens(client: ClientKind) -> None:
    async with serve_live() as issuer, httpx.AsyncClient() as http:
        endpoints = await discover(http, issuer.issuer)
        factory = worker_factory("refresh_token", issuer.target, endpoints, client=client)
        spec = LoadSpec(concurrency=3, duration_s=30, max_requests=30, warmup_s=0)
        outcome = await run_load(factory, spec)
    assert outcome.errors == 0, outcome.error_samples
    assert len(outcome.latencies_ms) == 30
    # The fake accepts each refresh token once, so 30 successes prove the chaining.
    assert issuer.grants.count("authorization_code") == 3
    assert issuer.grants.count("refresh_token") == 30


@pytest.mark.anyio
async def test_an_error_status_fails_the_operation() -> None:
    async with serve_live() as issuer, httpx.AsyncClient() as http:
        found = await discover(http, issuer.issuer)
        broken = Endpoints(found.discovery, found.authorization, found.token, found.jwks + "x")
        spec = LoadSpec(concurrency=1, duration_s=30, max_requests=3, warmup_s=0)
        outcome = await run_load(worker_factory("jwks", issuer.target, broken), spec)
    assert outcome.errors == 3
    assert outcome.error_samples[0] == f"FlowError: GET {broken.jwks}: 404"


@pytest.mark.anyio
async def test_a_refused_client_fails_client_credentials() -> None:
    async with serve_live() as issuer, httpx.AsyncClient() as http:
        endpoints = await discover(http, issuer.issuer)
        target = Target(issuer.issuer, "app", "wrong")
        spec = LoadSpec(concurrency=1, duration_s=30, max_requests=2, warmup_s=0)
        outcome = await run_load(worker_factory("client_credentials", target, endpoints), spec)
    assert outcome.errors == 2
    assert outcome.error_samples[0].startswith("FlowError: token endpoint: 401")
