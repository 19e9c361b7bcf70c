"""The ``oidc`` connector's less common Dex options: ``pkceChallenge``, ``issuerAlias``,
``claimModifications``, ``rootCAs`` and ``insecureSkipVerify``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.fakeserver import serve_app
from connectors.test_oidc import REDIRECT, Setup, query_of
from e2e.tls import make_tls_files
from passgate.connectors.base import ConnectorError, Scopes
from passgate.connectors.oidc import OIDCConnector
from passgate.oauth2.pkce import s256_challenge

from .test_oidc import options

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("method", ["S256", "plain"])
async def test_pkce_towards_the_upstream(method: str) -> None:
    setup = Setup(pkceChallenge=method)
    url, saved = await setup.connector.begin(Scopes(), REDIRECT, "req.mac")
    query = query_of(url)
    assert query["code_challenge_method"] == method
    verifier = saved.decode()
    assert 43 <= len(verifier) <= 128  # RFC 7636 §4.1
    expected = s256_challenge(verifier) if method == "S256" else verifier
    assert query["code_challenge"] == expected
    back = setup.upstream.authorize(url)
    identity = await setup.connector.finish(Scopes(), REDIRECT, back, saved)
    assert identity.user_id == "user-1"
    token_call = next(r for r in setup.upstream.requests if r.url.path == "/token")
    assert f"code_verifier={verifier}".encode() in token_call.content


async def test_pkce_with_a_lost_verifier_is_refused_by_the_upstream() -> None:
    setup = Setup(pkceChallenge="S256")
    url, _saved = await setup.connector.begin(Scopes(), REDIRECT, "req.mac")
    back = setup.upstream.authorize(url)
    with pytest.raises(ConnectorError, match="invalid_grant"):
        await setup.connector.finish(Scopes(), REDIRECT, back, b"another-verifier-" * 3)


async def test_without_pkce_nothing_is_saved_or_sent() -> None:
    setup = Setup()
    url, saved = await setup.connector.begin(Scopes(), REDIRECT, "req.mac")
    assert saved == b""
    assert "code_challenge" not in query_of(url)


async def test_issuer_alias_is_the_issuer_the_upstream_names() -> None:
    alias = "https://login.upstream.example/v2"
    setup = Setup(issuerAlias=alias)
    setup.upstream.discovery_issuer = alias
    setup.upstream.token_claims = {"iss": alias}
    assert (await setup.login()).user_id == "user-1"
    # Without the alias the same upstream is refused.
    plain = Setup()
    plain.upstream.discovery_issuer = alias
    with pytest.raises(ConnectorError, match="discovery names issuer"):
        await plain.login()


def claims_setup(**mods: Any) -> Setup:
    setup = Setup(insecureEnableGroups=True, claimModifications=mods)
    setup.upstream.claims.update(
        groups=["admins", "devs", "team:ops"], org="acme", dept="eng:platform", level=3
    )
    return setup


async def test_claim_modifications_in_dex_order() -> None:
    setup = claims_setup(
        newGroupFromClaims=[
            {"claims": ["org", "dept"], "delimiter": ":", "clearDelimiter": True, "prefix": "x"},
            {"claims": ["level"], "delimiter": "/"},  # not a string: no group at all
            {"claims": ["org"], "delimiter": "/"},  # an empty prefix is still a segment
        ],
        filterGroupClaims={"groupsFilter": "^(admins|team:)"},
        modifyGroupNames={"prefix": "up:", "suffix": "!"},
    )
    identity = await setup.login()
    assert identity.groups == ("up:admins!", "up:team:ops!", "up:x:acme:engplatform!", "up:/acme!")


async def test_groups_given_as_objects_with_a_name() -> None:
    setup = Setup(insecureEnableGroups=True)
    setup.upstream.claims["groups"] = [{"name": "admins", "id": 1}, {"name": "devs"}]
    assert (await setup.login()).groups == ("admins", "devs")


def discovery_app() -> Starlette:
    async def well_known(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/keys",
            }
        )

    return Starlette(routes=[Route("/.well-known/openid-configuration", well_known)])


async def test_root_cas_and_insecure_skip_verify_over_real_tls(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    with serve_app(discovery_app(), tls) as issuer:
        cases: list[tuple[dict[str, Any], bool]] = [
            ({}, False),
            ({"rootCAs": [str(tls.ca)]}, True),
            ({"insecureSkipVerify": True}, True),
        ]
        for extra, works in cases:
            connector = OIDCConnector(options(issuer=issuer, **extra), "up")
            try:
                if works:
                    url = await connector.login_url(Scopes(), REDIRECT, "s")
                    assert url.startswith(f"{issuer}/authorize?")
                else:
                    with pytest.raises(ConnectorError, match="CERTIFICATE_VERIFY_FAILED"):
                        await connector.login_url(Scopes(), REDIRECT, "s")
            finally:
                await connector.close()


@pytest.mark.parametrize("claim", ["sub", "name", "email", "groups"])
async def test_a_nul_character_from_the_upstream_is_refused(claim: str) -> None:
    """PostgreSQL cannot store it: refused as a bad upstream answer, never a 500 later."""
    setup = Setup(insecureEnableGroups=True)
    setup.upstream.claims[claim] = ["a\x00b"] if claim == "groups" else "a\x00b"
    if claim == "sub":
        setup.upstream.userinfo_claims = {"sub": "a\x00b"}
    with pytest.raises(ConnectorError, match="NUL character"):
        await setup.login()
