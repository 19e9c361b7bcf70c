import dataclasses

import httpx
import pytest
from bench.forwardauth import SITE_HOST, SITE_PAGE
from bench.loadgen import LoadSpec, run_load
from bench.scenarios import SCENARIOS, ClientKind, missing_inputs, skip_reason, worker_factory
from bench.target import Endpoints, FlowError, Target, discover
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
    # Forward-auth signs in with the built-in client: no client of ours, but the site.
    assert missing_inputs("forward_auth", dataclasses.replace(TARGET, client_id=None)) == []
    assert missing_inputs("forward_auth", bare) == ["username", "password", "forward_auth_host"]


def test_skip_reasons_name_the_flags_or_the_started_passgate() -> None:
    assert skip_reason("jwks", Target(issuer=ISSUER)) is None
    assert skip_reason("login", Target(ISSUER, "a", "b")) == (
        "needs --redirect-uri --username --password"
    )
    # Another issuer (--issuer) has all the flags and still no forwardAuth the bench wrote.
    foreign = dataclasses.replace(TARGET, forward_auth_host=None)
    reason = skip_reason("forward_auth", foreign)
    assert reason is not None
    assert "forwardAuth" in reason
    assert "--issuer" in reason
    assert skip_reason("forward_auth", TARGET) is None


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


@pytest.mark.anyio
@pytest.mark.parametrize("client", ["raw", "httpx"])
async def test_forward_auth_signs_in_through_the_site_then_asks_as_nginx(
    client: ClientKind,
) -> None:
    async with serve_live() as issuer, httpx.AsyncClient() as http:
        endpoints = await discover(http, issuer.issuer)
        factory = worker_factory("forward_auth", issuer.target, endpoints, client=client)
        spec = LoadSpec(concurrency=2, duration_s=30, max_requests=8, warmup_s=0)
        outcome = await run_load(factory, spec)
    assert (len(outcome.latencies_ms), outcome.errors) == (8, 0), outcome.error_samples
    # Each worker signed in once, its proxy sending the site's /oauth2/ to Passgate's
    # <issuer>/oauth2/ with the site's own Host; then each step asked about the page.
    assert sorted(issuer.fa_seen) == [
        *[("/dex/oauth2/auth", SITE_HOST, SITE_PAGE)] * 8,
        *[("/dex/oauth2/callback", SITE_HOST, "")] * 2,
        *[("/dex/oauth2/start", SITE_HOST, "")] * 2,
    ]
    assert len(issuer.fa_cookies) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("client", ["raw", "httpx"])
async def test_forward_auth_steps_fail_unless_202_with_the_email(client: ClientKind) -> None:
    async with serve_live() as issuer, httpx.AsyncClient() as http:
        endpoints = await discover(http, issuer.issuer)
        worker = worker_factory("forward_auth", issuer.target, endpoints, client=client)(0)
        try:
            await worker.setup()
            await worker.step()
            issuer.fa_email = ""
            with pytest.raises(FlowError, match="X-Auth-Request-Email is ''"):
                await worker.step()
            issuer.fa_cookies.clear()  # the sign-in ended
            with pytest.raises(FlowError, match="401, not 202"):
                await worker.step()
        finally:
            await worker.close()


@pytest.mark.anyio
async def test_a_refused_forward_auth_sign_in_fails_the_setup() -> None:
    issuer = FakeIssuer(deny=True)  # the approval ends in error=access_denied
    transport = httpx.ASGITransport(app=issuer.app)
    endpoints = await endpoints_of(issuer)
    factory = worker_factory("forward_auth", TARGET, endpoints, client="httpx", transport=transport)
    outcome = await run_load(factory, LoadSpec(concurrency=1, warmup_s=0))
    assert outcome.latencies_ms == []
    [sample] = outcome.error_samples
    assert sample.startswith(f"FlowError: 403 at http://{SITE_HOST}/oauth2/callback?error=")
