"""Acceptance: signing keys rotate without breaking tokens already handed out, and
replicas sharing one database rotate once per period between them, not once each."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from typing import Any

import anyio
import httpx
import jwt
import pytest
from bench.launcher import postgres_storage

from e2e.support import Launcher, PassgateServer
from passgate.storage.models import Keys
from passgate.storage.sql.postgres import PostgresStorage

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

# Keys re-read every 0.25 s and published 0.5 s before they sign: whole rotations in seconds.
FAST = {"keysReloadInterval": "250ms", "jwksMaxAge": "0s", "propagationDelay": "500ms"}
FAST_SIGNER = {"type": "local", "config": FAST}
DELAY = timedelta(milliseconds=500)


async def jwks(server: PassgateServer, http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await http.get(server.url("/keys"))
    assert response.status_code == 200, response.text
    return {key["kid"]: key for key in response.json()["keys"]}


def verify(token: str, keys: dict[str, dict[str, Any]], server: PassgateServer) -> dict[str, Any]:
    """PyJWT, with the JWKS key named by the token's kid; exp checked with no leeway."""
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in keys, f"kid {kid} is no longer published"
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(keys[kid]).key,
        algorithms=["RS256"],
        audience=server.client.id,
        issuer=server.issuer,
        leeway=0,
    )
    return claims


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def userinfo_status(server: PassgateServer, http: httpx.AsyncClient, access: str) -> int:
    response = await http.get(
        server.url("/userinfo"), headers={"authorization": f"Bearer {access}"}
    )
    return response.status_code


async def test_tokens_outlive_the_key_that_signed_them(launcher: Launcher) -> None:
    server = launcher.new(expiry={"signingKeys": "2s", "idTokens": "8s"}, signer=FAST_SIGNER)
    await server.start()
    async with server.http() as http:
        tokens = await server.password_grant(http)
        old_kid = kid_of(tokens["id_token"])
        exp = verify(tokens["id_token"], await jwks(server, http), server)["exp"]
        published: set[str] = set()
        signing: set[str] = {old_kid}
        checked = 0
        while time.time() < exp - 1.0:
            keys = await jwks(server, http)
            published |= set(keys)
            # The checks must land before exp on a busy machine too: a second to spare.
            if time.time() < exp - 1.0:
                verify(tokens["id_token"], keys, server)
                # Passgate itself still accepts the old access token too.
                assert await userinfo_status(server, http, tokens["access_token"]) == 200
                checked += 1
            fresh = await server.password_grant(http, scope="openid email")
            signing.add(kid_of(fresh["id_token"]))
            verify(fresh["id_token"], keys | await jwks(server, http), server)
            await anyio.sleep(0.4)
        # 2s periods over the ~7s the token was watched: at least two rotations happened,
        # the old token was checked all along, and new tokens were signed by the new keys.
        assert checked >= 5, checked
        assert len(signing) >= 3, signing
        assert signing <= published
        await anyio.sleep(max(0.0, exp - time.time()) + 1.1)
        keys = await jwks(server, http)
        with pytest.raises(jwt.ExpiredSignatureError):
            verify(tokens["id_token"], keys, server)
        assert await userinfo_status(server, http, tokens["access_token"]) == 401


async def stored_keys(dsn: str) -> Keys:
    storage = PostgresStorage(dsn, max_size=1)
    await storage.open()
    try:
        return await storage.get_keys()
    finally:
        await storage.close()


def stored_kids(keys: Keys) -> list[str]:
    """Retired keys oldest first, the signing key, the pending key."""
    assert keys.signing_key_pub is not None
    retired = sorted(keys.verification_keys, key=lambda key: key.expiry)
    pending = [keys.next_key.public_jwk] if keys.next_key is not None else []
    return [
        str(jwk["kid"])
        for jwk in [k.public_jwk for k in retired] + [keys.signing_key_pub] + pending
    ]


@pytest.mark.postgres
async def test_replicas_on_one_database_rotate_once_per_period(
    launcher: Launcher, postgres_dsn: str
) -> None:
    period = 2.0
    first = launcher.new(
        postgres_storage(postgres_dsn),
        signer={"type": "local", "config": {"keysRotationPeriod": "2s", **FAST}},
        expiry={"idTokens": "30s"},  # keeps every retired key published during the test
    )
    second = launcher.replica(first)
    started = time.time()
    async with anyio.create_task_group() as group:  # both race to create the first key
        group.start_soon(first.start)
        group.start_soon(second.start)
    seen: set[str] = set()
    async with first.http() as http_a, second.http() as http_b:
        # Both replicas serve traffic (which triggers due rotations) for several periods.
        while time.time() < started + 9:
            for server, http in ((first, http_a), (second, http_b)):
                seen |= set(await jwks(server, http))
            await anyio.sleep(0.1)
        # A quiet moment, well away from a publication or a promotion: the replicas must
        # agree completely.
        while True:
            keys = await stored_keys(postgres_dsn)
            assert keys.next_rotation is not None
            change = keys.next_key.signs_at if keys.next_key else keys.next_rotation - DELAY
            if change.timestamp() - time.time() > 0.8:
                break
            seen |= set(await jwks(first, http_a)) | set(await jwks(second, http_b))
            await anyio.sleep(0.1)
        await anyio.sleep(0.3)  # both have re-read the keys since
        jwks_a, jwks_b = await jwks(first, http_a), await jwks(second, http_b)
        assert jwks_a == jwks_b
        token_a = (await first.password_grant(http_a, scope="openid"))["id_token"]
        token_b = (await second.password_grant(http_b, scope="openid"))["id_token"]
        ended = time.time()
    assert keys.signing_key_pub is not None
    assert kid_of(token_a) == kid_of(token_b) == keys.signing_key_pub["kid"]
    verify(token_a, jwks_b, first)
    verify(token_b, jwks_a, second)

    kids = stored_kids(keys)
    assert len(set(kids)) == len(kids)
    # Every key either replica ever published is in storage, and storage has no others.
    assert seen | set(jwks_a) == set(kids) == set(jwks_a)
    # One key per period elapsed, not one per replica and period: the first key plus at
    # most one rotation per whole period since start-up (a published key still waiting
    # to sign is not a rotation yet) ...
    rotations = len(kids) - 1 - (keys.next_key is not None)
    assert rotations <= (ended - started) / period, kids
    # ... and, as the replicas kept asking, not much fewer.
    assert rotations >= int((ended - started) / (period + 0.7)), kids
    # Retirement times (expiry minus the same retention) are a period apart, less the
    # time a replica takes to notice the new key signs (one reload interval): no two
    # rotations ever happened in one period.
    expiries = sorted(key.expiry for key in keys.verification_keys)
    gaps = [later - earlier for earlier, later in itertools.pairwise(expiries)]
    assert all(gap >= timedelta(seconds=period - 0.3) for gap in gaps), gaps
