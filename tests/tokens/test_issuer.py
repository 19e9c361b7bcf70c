"""Minting ID and access tokens, checked with PyJWT (an independent implementation)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest

from passgate.clock import FrozenClock, system_clock
from passgate.keys import KeyManager
from passgate.oauth2.errors import InvalidTokenError
from passgate.provider.revocation_cache import RevocationCache
from passgate.provider.verify import TokenVerifier
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Claims
from passgate.tokens.issuer import TokenIssuer
from passgate.tokens.subject import decode_subject

ISSUER = "https://sso.example.com/dex"
LIFETIME = timedelta(hours=1)
JANE = Claims(
    user_id="u-1",
    username="Jane Doe",
    preferred_username="jane",
    email="jane@example.com",
    email_verified=True,
    groups=("admins", "dev"),
)
ALL_SCOPES = ("openid", "email", "profile", "groups", "federated:id", "offline_access")


@pytest.fixture
def clock() -> FrozenClock:
    # Real time, whole seconds: PyJWT checks exp and iat against the real clock.
    return FrozenClock(system_clock().replace(microsecond=0))


@pytest.fixture
async def keys(clock: FrozenClock) -> KeyManager:
    manager = KeyManager(
        MemoryStorage(), clock, rotation_period=timedelta(hours=6), id_token_lifetime=LIFETIME
    )
    await manager.start()
    return manager


@pytest.fixture
def issuer(keys: KeyManager, clock: FrozenClock) -> TokenIssuer:
    return TokenIssuer(ISSUER, keys, clock, LIFETIME)


async def pyjwt_decode(keys: KeyManager, token: str, audience: str) -> dict[str, object]:
    """Verify with PyJWT against our published JWKS: signature, aud, iss, exp, iat."""
    jwks = pyjwt.PyJWKSet.from_dict(await keys.jwks())
    key = jwks[pyjwt.get_unverified_header(token)["kid"]].key
    claims: dict[str, object] = pyjwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )
    return claims


def half_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


@pytest.mark.anyio
async def test_id_token_with_every_scope(
    issuer: TokenIssuer, keys: KeyManager, clock: FrozenClock
) -> None:
    auth_time = clock() - timedelta(minutes=5)
    token, expiry = await issuer.id_token(
        claims=JANE,
        client_id="kubectl",
        audience=["kubectl"],
        scopes=ALL_SCOPES,
        connector_id="ldap",
        nonce="n-0S6_WzA2Mj",
        access_token="access-token-value",
        code="the-code",
        auth_time=auth_time,
    )
    claims = await pyjwt_decode(keys, token, "kubectl")
    now = int(clock().timestamp())
    assert claims == {
        "iss": ISSUER,
        "sub": claims["sub"],
        "aud": "kubectl",  # one audience: a string, as Dex emits
        "azp": "kubectl",
        "exp": now + 3600,
        "iat": now,
        "auth_time": int(auth_time.timestamp()),
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": half_sha256("access-token-value"),
        "c_hash": half_sha256("the-code"),
        "email": "jane@example.com",
        "email_verified": True,
        "name": "Jane Doe",
        "preferred_username": "jane",
        "groups": ["admins", "dev"],
        "federated_claims": {"connector_id": "ldap", "user_id": "u-1"},
    }
    assert decode_subject(str(claims["sub"])) == ("u-1", "ldap")
    assert expiry == datetime.fromtimestamp(now + 3600, UTC)
    # The issuer is byte-identical, not normalised.
    assert f'"iss":"{ISSUER}"'.encode() in base64.urlsafe_b64decode(token.split(".")[1] + "==")


@pytest.mark.anyio
async def test_id_token_with_openid_only(issuer: TokenIssuer, keys: KeyManager) -> None:
    token, _ = await issuer.id_token(
        claims=JANE, client_id="web", audience=["web"], scopes=["openid"], connector_id="ldap"
    )
    claims = await pyjwt_decode(keys, token, "web")
    assert set(claims) == {"iss", "sub", "aud", "azp", "exp", "iat"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("email", {"email", "email_verified"}),
        ("profile", {"name", "preferred_username"}),
        ("groups", {"groups"}),
        ("federated:id", {"federated_claims"}),
    ],
)
async def test_each_scope_adds_its_claims(
    issuer: TokenIssuer, keys: KeyManager, scope: str, expected: set[str]
) -> None:
    token, _ = await issuer.id_token(
        claims=JANE, client_id="web", audience=["web"], scopes=["openid", scope], connector_id="c"
    )
    claims = await pyjwt_decode(keys, token, "web")
    assert set(claims) - {"iss", "sub", "aud", "azp", "exp", "iat"} == expected


@pytest.mark.anyio
async def test_several_audiences(issuer: TokenIssuer, keys: KeyManager) -> None:
    token, _ = await issuer.id_token(
        claims=JANE,
        client_id="web",
        audience=["kubernetes", "web"],
        scopes=["openid", "audience:server:client_id:kubernetes"],
        connector_id="c",
    )
    claims = await pyjwt_decode(keys, token, "kubernetes")
    assert claims["aud"] == ["kubernetes", "web"]
    assert claims["azp"] == "web"
    with pytest.raises(pyjwt.InvalidAudienceError):
        await pyjwt_decode(keys, token, "someone-else")


@pytest.mark.anyio
async def test_an_empty_audience_is_refused(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="audience"):
        await issuer.id_token(
            claims=JANE, client_id="web", audience=[], scopes=["openid"], connector_id="c"
        )


@pytest.mark.anyio
async def test_access_token(issuer: TokenIssuer, keys: KeyManager, clock: FrozenClock) -> None:
    first = await issuer.access_token(
        claims=JANE, client_id="web", audience=["web"], scopes=ALL_SCOPES, connector_id="ldap"
    )
    second = await issuer.access_token(
        claims=JANE, client_id="web", audience=["web"], scopes=ALL_SCOPES, connector_id="ldap"
    )
    assert first.jti != second.jti
    assert len(first.jti) >= 16
    claims = await pyjwt_decode(keys, first.token, "web")
    assert claims["jti"] == first.jti
    assert claims["scope"] == " ".join(ALL_SCOPES)
    assert claims["groups"] == ["admins", "dev"]
    assert first.expiry == datetime.fromtimestamp(int(clock().timestamp()) + 3600, UTC)
    given = await issuer.access_token(
        claims=JANE, client_id="web", audience=["web"], scopes=["openid"], connector_id="c", jti="J"
    )
    assert given.jti == "J"


@pytest.mark.anyio
async def test_verify_an_access_token(issuer: TokenIssuer, clock: FrozenClock) -> None:
    access = await issuer.access_token(
        claims=JANE,
        client_id="web",
        audience=["kubernetes", "web"],
        scopes=["openid", "email"],
        connector_id="ldap",
        nonce="n",
    )
    verified = await issuer.verify_token(access.token)
    assert verified.jti == access.jti
    assert verified.expiry == access.expiry
    assert verified.scopes == ("openid", "email")
    assert verified.client_id == "web"
    assert verified.audience == ("kubernetes", "web")
    assert decode_subject(verified.subject) == ("u-1", "ldap")
    assert verified.claims["email"] == "jane@example.com"
    assert verified.claims["nonce"] == "n"


@pytest.mark.anyio
async def test_exp_is_checked_without_leeway(issuer: TokenIssuer, clock: FrozenClock) -> None:
    access = await issuer.access_token(
        claims=JANE, client_id="web", audience=["web"], scopes=["openid"], connector_id="c"
    )
    clock.advance(LIFETIME - timedelta(seconds=1))
    await issuer.verify_token(access.token)
    clock.advance(timedelta(milliseconds=999))
    await issuer.verify_token(access.token)
    clock.advance(timedelta(milliseconds=1))  # now == exp: RFC 7519 §4.1.4 says expired
    with pytest.raises(InvalidTokenError, match="expired"):
        await issuer.verify_token(access.token)


@pytest.mark.anyio
async def test_verify_refuses_other_issuers_tampering_and_id_tokens(
    issuer: TokenIssuer, keys: KeyManager, clock: FrozenClock
) -> None:
    access = await issuer.access_token(
        claims=JANE, client_id="web", audience=["web"], scopes=["openid"], connector_id="c"
    )
    id_token, _ = await issuer.id_token(
        claims=JANE, client_id="web", audience=["web"], scopes=["openid"], connector_id="c"
    )
    header, payload, signature = access.token.split(".")
    other_key_token = await TokenIssuer(
        ISSUER,
        KeyManager(
            MemoryStorage(), clock, rotation_period=timedelta(hours=1), id_token_lifetime=LIFETIME
        ),
        clock,
        LIFETIME,
    ).access_token(claims=JANE, client_id="web", audience=["web"], scopes=[], connector_id="c")
    # An ID token carries no jti: the verifier that wants access tokens refuses it.
    access_only = TokenVerifier(issuer, RevocationCache(MemoryStorage(), clock))
    with pytest.raises(InvalidTokenError) as caught:
        await access_only.verify(id_token, kinds=("access",))
    assert caught.value.error == "invalid_token"
    refused = [
        f"{header}.{payload}.{signature[::-1]}",
        other_key_token.token,
        "not a token",
        "",
    ]
    for token in refused:
        with pytest.raises(InvalidTokenError) as caught:
            await issuer.verify_token(token)
        assert caught.value.error == "invalid_token"
        assert caught.value.status_code == 401
    for other in (ISSUER + "/", "https://sso.example.com/DEX", "http://sso.example.com/dex"):
        with pytest.raises(InvalidTokenError):
            await TokenIssuer(other, keys, clock, LIFETIME).verify_token(access.token)


@pytest.mark.anyio
async def test_claims_are_validated_after_the_signature(
    issuer: TokenIssuer, keys: KeyManager
) -> None:
    base = {"iss": ISSUER, "sub": "s", "aud": "web", "exp": 2**35, "iat": 0, "jti": "j"}
    assert (await issuer.verify_token(await keys.sign(base))).jti == "j"
    broken: list[dict[str, object]] = [
        {k: v for k, v in base.items() if k != "exp"},
        {k: v for k, v in base.items() if k != "sub"},
        {k: v for k, v in base.items() if k != "aud"},
        {**base, "exp": "soon"},
        {**base, "exp": True},
        {**base, "exp": 1e300},
        {**base, "aud": 5},
        {**base, "sub": 5},
        {**base, "jti": 5},
        {**base, "scope": ["openid"]},
        {**base, "azp": None},
        {**base, "nbf": 2**35},
    ]
    for claims in broken:
        with pytest.raises(InvalidTokenError):
            await issuer.verify_token(await keys.sign(claims))


@pytest.mark.anyio
async def test_an_iat_slightly_in_the_future_is_accepted(
    issuer: TokenIssuer, keys: KeyManager, clock: FrozenClock
) -> None:
    """Another replica's clock may run a little ahead."""
    now = int(clock().timestamp())
    token = await keys.sign(
        {"iss": ISSUER, "sub": "s", "aud": "web", "exp": now + 60, "iat": now + 2, "jti": "j"}
    )
    assert (await issuer.verify_token(token)).jti == "j"


@pytest.mark.anyio
async def test_verify_id_token(issuer: TokenIssuer) -> None:
    token, expiry = await issuer.id_token(
        claims=JANE,
        client_id="web",
        audience=["kubernetes", "web"],
        scopes=["openid", "groups"],
        connector_id="c",
    )
    verified = await issuer.verify_id_token(token, audience="kubernetes")
    assert verified.expiry == expiry
    assert verified.claims["groups"] == ["admins", "dev"]
    assert verified.jti == ""
    assert (await issuer.verify_id_token(token)).audience == ("kubernetes", "web")
    with pytest.raises(InvalidTokenError):
        await issuer.verify_id_token(token, audience="other")


@pytest.mark.anyio
async def test_lifetime_must_be_positive(keys: KeyManager, clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        TokenIssuer(ISSUER, keys, clock, timedelta(0))
