"""The ``oidc`` connector against a fake upstream (``httpx.MockTransport``): discovery,
key rollover, every ID token check, claim mapping, groups rules and refresh."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from passgate.clock import FrozenClock
from passgate.config.connectors import OIDCConfig
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.oidc import OIDCConnector
from passgate.connectors.oidc.connector import nonce_for
from server.harness import query_of

pytestmark = pytest.mark.anyio

UPSTREAM = "https://upstream.example"
CLIENT_ID = "passgate"
CLIENT_SECRET = "up-secret"
REDIRECT = "https://sso.example.com/dex/callback"
SUB = "user-1"


@functools.cache
def rsa_key(kid: str) -> RSAKey:
    """2048-bit keys are slow to make: one per kid for the whole run."""
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class Upstream:
    """A small OpenID provider: discovery, JWKS, token, userinfo, and an authorize step
    the test drives by hand (:meth:`authorize`)."""

    def __init__(
        self, clock: FrozenClock, issuer: str = UPSTREAM, redirect: str = REDIRECT
    ) -> None:
        self.clock = clock
        self.redirect = redirect
        self.issuer = issuer
        self.signing = rsa_key("k1")
        self.published = [rsa_key("k1")]
        self.claims: dict[str, Any] = {
            "sub": SUB,
            "name": "Jane Doe",
            "preferred_username": "jane",
            "email": "jane@example.com",
            "email_verified": True,
            "groups": ["admins", "devs"],
        }
        self.token_claims: dict[str, Any] = {}  # overrides merged into the next ID tokens
        self.userinfo_claims: dict[str, Any] = {"sub": SUB}
        self.scopes_supported = ["openid", "email", "profile", "groups", "offline_access"]
        self.discovery_issuer = issuer
        self.codes: dict[str, str] = {}
        self.challenges: dict[str, tuple[str, str]] = {}
        self.refresh_tokens: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.fail: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.id_token_factory: Callable[[dict[str, Any]], str] | None = None
        self.with_refresh_id_token = True

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.url.path == path)

    # -- the browser side ----------------------------------------------------------
    def authorize(self, login_url: str) -> dict[str, str]:
        """What the upstream sends back to the callback after a successful sign-in."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(login_url).query).items()}
        code = secrets.token_urlsafe(8)
        self.codes[code] = query["nonce"]
        if "code_challenge" in query:  # RFC 7636 §4.4: remembered with the code
            self.challenges[code] = (query["code_challenge"], query["code_challenge_method"])
        return {"code": code, "state": query["state"]}

    # -- tokens ----------------------------------------------------------------------
    def id_token(self, **extra: Any) -> str:
        now = int(self.clock().timestamp())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 600,
            **self.claims,
            **self.token_claims,
            **extra,
        }
        if self.id_token_factory is not None:
            return self.id_token_factory(claims)
        return sign(claims, self.signing)

    # -- HTTP ------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path in self.fail:
            return self.fail[path](request)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery())
        if path == "/keys":
            return httpx.Response(
                200, json={"keys": [k.as_dict(private=False) for k in self.published]}
            )
        if path == "/token":
            return self.token(request)
        if path == "/userinfo":
            if request.headers.get("authorization") != "Bearer at-1":
                return httpx.Response(401, json={"error": "invalid_token"})
            return httpx.Response(200, json=self.userinfo_claims)
        return httpx.Response(404)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.discovery_issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/keys",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "scopes_supported": self.scopes_supported,
        }

    def pkce_matches(self, form: dict[str, str]) -> bool:
        """RFC 7636 §4.6, using the RFC's own transformation (no Passgate code)."""
        challenge = self.challenges.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier")
        if challenge is None:
            return verifier is None
        if verifier is None:
            return False
        value, method = challenge
        if method == "plain":
            return verifier == value
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == value

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        basic_ok = request.headers.get("authorization") == expected
        post_ok = (form.get("client_id"), form.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)
        if not (basic_ok or post_ok):
            return httpx.Response(401, json={"error": "invalid_client"})
        body: dict[str, Any] = {"access_token": "at-1", "token_type": "Bearer"}
        if form.get("grant_type") == "authorization_code":
            nonce = self.codes.pop(form.get("code", ""), None)
            if nonce is None or form.get("redirect_uri") != self.redirect:
                return httpx.Response(400, json={"error": "invalid_grant"})
            if not self.pkce_matches(form):
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "PKCE"}
                )
            body["id_token"] = self.id_token(nonce=nonce)
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "user disabled"}
                )
            if self.with_refresh_id_token:
                body["id_token"] = self.id_token()
        else:
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        token = f"rt-{secrets.token_hex(4)}"
        self.refresh_tokens.add(token)
        body["refresh_token"] = token
        return httpx.Response(200, json=body)


def sign(claims: dict[str, Any], key: RSAKey, alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def options(**extra: Any) -> OIDCConfig:
    base: dict[str, Any] = {
        "issuer": UPSTREAM,
        "clientID": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "redirectURI": REDIRECT,
    }
    return OIDCConfig.model_validate({**base, **extra})


class Ticker:
    """A monotonic clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


NO_SCOPES = Scopes()


class Setup:
    def __init__(self, **config: Any) -> None:
        self.clock = FrozenClock()
        self.ticker = Ticker()
        self.upstream = Upstream(self.clock)
        self.connector = OIDCConnector(
            options(**config),
            "up",
            self.upstream.client(),
            clock=self.clock,
            monotonic=self.ticker,
        )

    async def login(self, scopes: Scopes = NO_SCOPES, state: str = "req.mac") -> Identity:
        url = await self.connector.login_url(scopes, REDIRECT, state)
        return await self.connector.handle_callback(scopes, REDIRECT, self.upstream.authorize(url))


# -- the login redirect --------------------------------------------------------------
async def test_login_url_carries_the_authorization_request() -> None:
    setup = Setup()
    url = await setup.connector.login_url(Scopes(), REDIRECT, "abc.def")
    assert url.startswith(f"{UPSTREAM}/authorize?")
    assert query_of(url) == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid profile email",
        "state": "abc.def",
        "nonce": nonce_for("abc.def"),
    }


async def test_offline_access_asks_for_consent_and_an_upstream_refresh_token() -> None:
    setup = Setup(hostedDomains=["example.com"], acrValues=["mfa"])
    query = query_of(await setup.connector.login_url(Scopes(offline_access=True), REDIRECT, "s"))
    assert query["scope"] == "openid profile email offline_access"
    assert query["prompt"] == "consent"
    assert query["hd"] == "example.com"
    assert query["acr_values"] == "mfa"
    setup = Setup(promptType="login", hostedDomains=["a.com", "b.com"])
    query = query_of(await setup.connector.login_url(Scopes(offline_access=True), REDIRECT, "s"))
    assert (query["prompt"], query["hd"]) == ("login", "*")


async def test_groups_scope_only_when_enabled_and_supported() -> None:
    setup = Setup(insecureEnableGroups=True)
    query = query_of(await setup.connector.login_url(Scopes(), REDIRECT, "s"))
    assert query["scope"] == "openid profile email groups"
    setup = Setup(insecureEnableGroups=True, scopes=["email"])
    setup.upstream.scopes_supported = ["openid", "email"]
    query = query_of(await setup.connector.login_url(Scopes(), REDIRECT, "s"))
    assert query["scope"] == "openid email"


async def test_a_redirect_uri_that_is_not_our_callback_is_refused() -> None:
    setup = Setup()
    with pytest.raises(ConnectorError, match="redirectURI"):
        await setup.connector.login_url(Scopes(), "https://other.example/callback", "s")


# -- the callback --------------------------------------------------------------------
async def test_a_successful_sign_in_maps_the_claims() -> None:
    setup = Setup(insecureEnableGroups=True)
    identity = await setup.login()
    assert identity.user_id == SUB
    assert identity.username == "Jane Doe"
    assert identity.preferred_username == "jane"
    assert identity.email == "jane@example.com"
    assert identity.email_verified is True
    assert identity.groups == ("admins", "devs")
    assert json.loads(identity.connector_data)["refreshToken"].startswith("rt-")
    token_call = next(r for r in setup.upstream.requests if r.url.path == "/token")
    assert token_call.headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in token_call.content


async def test_basic_auth_unsupported_posts_the_secret() -> None:
    setup = Setup(basicAuthUnsupported=True)
    await setup.login()
    token_call = next(r for r in setup.upstream.requests if r.url.path == "/token")
    assert "authorization" not in token_call.headers
    assert b"client_secret=up-secret" in token_call.content


async def test_discovery_and_keys_are_fetched_once() -> None:
    setup = Setup()
    await setup.login()
    await setup.login()
    assert setup.upstream.count("/.well-known/openid-configuration") == 1
    assert setup.upstream.count("/keys") == 1


async def test_the_upstream_error_is_reported() -> None:
    setup = Setup()
    with pytest.raises(ConnectorError, match="access_denied: the user said no"):
        await setup.connector.handle_callback(
            Scopes(), REDIRECT, {"error": "access_denied", "error_description": "the user said no"}
        )
    with pytest.raises(ConnectorError, match="no code"):
        await setup.connector.handle_callback(Scopes(), REDIRECT, {"state": "s"})


@functools.cache
def forger_key() -> RSAKey:
    """Another key that claims the upstream's key id."""
    return RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)


BAD_TOKENS: dict[str, Callable[[dict[str, Any]], str]] = {
    "bad signature": lambda c: sign(c, forger_key()),
    "wrong issuer": lambda c: sign({**c, "iss": "https://evil.example"}, rsa_key("k1")),
    "wrong audience": lambda c: sign({**c, "aud": "someone-else"}, rsa_key("k1")),
    "expired": lambda c: sign({**c, "exp": c["iat"] - 61}, rsa_key("k1")),
    "wrong nonce": lambda c: sign({**c, "nonce": "other"}, rsa_key("k1")),
    "no nonce": lambda c: sign({k: v for k, v in c.items() if k != "nonce"}, rsa_key("k1")),
    "alg none": lambda c: f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(c)}.",
    "alg HS256": lambda c: jwt.encode(
        {"alg": "HS256", "kid": "k1"}, c, OctKey.import_key(CLIENT_SECRET.encode() * 4),
        algorithms=["HS256"],
    ),
    "garbage": lambda c: "not-a-jwt",
}  # fmt: skip


REASONS = {
    "bad signature": "signature is not valid", "wrong issuer": "'iss'",
    "wrong audience": "'aud'", "expired": "expired", "wrong nonce": "Invalid claim: 'nonce'",
    "no nonce": "Missing claim: 'nonce'", "alg none": "refused algorithm 'none'",
    "alg HS256": "refused algorithm 'HS256'", "garbage": "malformed",
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_invalid_id_tokens_are_refused(case: str) -> None:
    setup = Setup()
    setup.upstream.id_token_factory = BAD_TOKENS[case]
    with pytest.raises(ConnectorError, match="id_token") as caught:
        await setup.login()
    assert REASONS[case] in str(caught.value)


async def test_audience_list_and_token_without_kid_are_fine() -> None:
    setup = Setup()
    setup.upstream.id_token_factory = lambda c: jwt.encode(
        {"alg": "RS256"}, {**c, "aud": ["other", CLIENT_ID]}, rsa_key("k1")
    )
    assert (await setup.login()).user_id == SUB


async def test_clock_skew_up_to_a_minute_is_tolerated() -> None:
    setup = Setup()
    setup.upstream.id_token_factory = lambda c: sign({**c, "exp": c["iat"] - 30}, rsa_key("k1"))
    assert (await setup.login()).user_id == SUB


async def test_keys_are_refetched_on_rollover_but_not_too_often() -> None:
    setup = Setup()
    await setup.login()
    setup.upstream.signing = rsa_key("k2")
    setup.upstream.published = [rsa_key("k1"), rsa_key("k2")]
    # Within the refetch interval an unknown kid does not make us ask again.
    setup.ticker.now += 5
    with pytest.raises(ConnectorError, match="id_token"):
        await setup.login()
    assert setup.upstream.count("/keys") == 1
    setup.ticker.now += 10
    assert (await setup.login()).user_id == SUB
    assert setup.upstream.count("/keys") == 2


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout("timed out", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


FAILURES: dict[str, tuple[str, Callable[[httpx.Request], httpx.Response], str]] = {
    "discovery timeout": ("/.well-known/openid-configuration", timeout, "timed out"),
    "discovery refused": ("/.well-known/openid-configuration", refused, "connection refused"),
    "discovery not JSON": (
        "/.well-known/openid-configuration", lambda r: httpx.Response(200, text="<html>"),
        "JSON object",
    ),
    "discovery 500": (
        "/.well-known/openid-configuration", lambda r: httpx.Response(500), "HTTP 500",
    ),
    "discovery without endpoints": (
        "/.well-known/openid-configuration",
        lambda r: httpx.Response(200, json={"issuer": UPSTREAM}), "authorization_endpoint",
    ),
    "keys timeout": ("/keys", timeout, "key set failed"),
    "keys garbage": ("/keys", lambda r: httpx.Response(200, json={"keys": [{"kty": "??"}]}),
                     "key set is not usable"),
    "token 400": ("/token", lambda r: httpx.Response(400, json={"error": "invalid_grant"}),
                  "invalid_grant"),
    "token list": ("/token", lambda r: httpx.Response(200, json=[1]), "JSON object"),
    "token without id_token": (
        "/token", lambda r: httpx.Response(200, json={"access_token": "x"}), "no id_token",
    ),
    "token timeout": ("/token", timeout, "timed out"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_upstream_failures_are_connector_errors(case: str) -> None:
    path, handler, message = FAILURES[case]
    setup = Setup()
    setup.upstream.fail[path] = handler
    with pytest.raises(ConnectorError, match=message):
        await setup.login()


async def test_discovery_must_name_the_configured_issuer() -> None:
    setup = Setup()
    setup.upstream.discovery_issuer = UPSTREAM + "/"
    with pytest.raises(ConnectorError, match="issuer"):
        await setup.connector.login_url(Scopes(), REDIRECT, "s")


# -- claims ----------------------------------------------------------------------------
async def test_groups_are_dropped_unless_enabled_and_may_be_a_string() -> None:
    setup = Setup()
    assert (await setup.login()).groups == ()
    setup = Setup(insecureEnableGroups=True)
    setup.upstream.claims["groups"] = "solo"
    assert (await setup.login()).groups == ("solo",)


async def test_allowed_groups() -> None:
    setup = Setup(insecureEnableGroups=True, allowedGroups=["devs", "ops"])
    assert (await setup.login()).groups == ("devs",)
    setup.upstream.claims["groups"] = ["admins"]
    with pytest.raises(UserNotInRequiredGroupsError):
        await setup.login()


async def test_hosted_domains() -> None:
    setup = Setup(hostedDomains=["example.com"])
    setup.upstream.claims["hd"] = "example.com"
    assert (await setup.login()).user_id == SUB
    setup.upstream.claims["hd"] = "evil.com"
    with pytest.raises(UserNotInRequiredGroupsError, match=r"evil\.com"):
        await setup.login()
    del setup.upstream.claims["hd"]
    with pytest.raises(UserNotInRequiredGroupsError):
        await setup.login()


async def test_unverified_email_is_refused_unless_told_otherwise() -> None:
    setup = Setup()
    setup.upstream.claims["email_verified"] = False
    with pytest.raises(ConnectorError, match="verify"):
        await setup.login()
    setup = Setup(insecureSkipEmailVerified=True)
    setup.upstream.claims["email_verified"] = False
    assert (await setup.login()).email_verified is True


async def test_claim_mapping_and_keys() -> None:
    setup = Setup(
        userIDKey="oid", userNameKey="display", insecureEnableGroups=True,
        claimMapping={"email": "mail", "groups": "roles", "preferred_username": "login"},
    )  # fmt: skip
    claims = setup.upstream.claims
    for key in ("email", "groups", "preferred_username", "name"):
        del claims[key]
    claims.update(oid="o-1", display="Jane", mail="j@example.com", roles=["r"], login="jj")
    identity = await setup.login()
    assert (identity.user_id, identity.username, identity.email) == ("o-1", "Jane", "j@example.com")
    assert (identity.groups, identity.preferred_username) == (("r",), "jj")


async def test_override_claim_mapping_prefers_the_mapped_claim() -> None:
    setup = Setup(overrideClaimMapping=True, claimMapping={"email": "mail"})
    setup.upstream.claims["mail"] = "other@example.com"
    assert (await setup.login()).email == "other@example.com"
    setup = Setup(claimMapping={"email": "mail"})
    setup.upstream.claims["mail"] = "other@example.com"
    assert (await setup.login()).email == "jane@example.com"


async def test_get_user_info_merges_claims() -> None:
    setup = Setup(getUserInfo=True, insecureEnableGroups=True)
    setup.upstream.userinfo_claims = {"sub": SUB, "groups": ["from-userinfo"]}
    assert (await setup.login()).groups == ("from-userinfo",)
    setup.upstream.userinfo_claims = {"sub": "someone-else"}
    with pytest.raises(ConnectorError, match="another subject"):
        await setup.login()


async def test_missing_subject_is_refused() -> None:
    setup = Setup()
    setup.upstream.id_token_factory = lambda c: sign(
        {k: v for k, v in c.items() if k != "sub"}, rsa_key("k1")
    )
    with pytest.raises(ConnectorError):
        await setup.login()


# -- refresh -----------------------------------------------------------------------------
async def test_refresh_picks_up_changed_groups_and_rotates_the_token() -> None:
    setup = Setup(insecureEnableGroups=True)
    identity = await setup.login(Scopes(offline_access=True))
    setup.upstream.claims["groups"] = ["ops"]
    setup.clock.advance(timedelta(hours=2))
    refreshed = await setup.connector.refresh(Scopes(offline_access=True), identity)
    assert refreshed.groups == ("ops",)
    assert refreshed.connector_data != identity.connector_data
    setup.upstream.with_refresh_id_token = False
    with pytest.raises(ConnectorError, match="no id_token"):
        await setup.connector.refresh(Scopes(offline_access=True), refreshed)


async def test_refresh_for_another_subject_is_refused() -> None:
    setup = Setup()
    identity = await setup.login(Scopes(offline_access=True))
    setup.upstream.claims["sub"] = "someone-else"
    with pytest.raises(ConnectorError, match="another user"):
        await setup.connector.refresh(Scopes(offline_access=True), identity)


async def test_refresh_rechecks_allowed_groups() -> None:
    setup = Setup(insecureEnableGroups=True, allowedGroups=["devs"])
    identity = await setup.login(Scopes(offline_access=True))
    setup.upstream.claims["groups"] = ["ops"]
    with pytest.raises(UserNotInRequiredGroupsError):
        await setup.connector.refresh(Scopes(offline_access=True), identity)


async def test_refresh_refused_upstream_is_a_connector_error() -> None:
    setup = Setup()
    identity = await setup.login(Scopes(offline_access=True))
    setup.upstream.refresh_tokens.clear()  # the user was disabled upstream
    with pytest.raises(ConnectorError, match="invalid_grant: user disabled"):
        await setup.connector.refresh(Scopes(offline_access=True), identity)


async def test_refresh_without_an_upstream_token_keeps_the_identity() -> None:
    setup = Setup()
    identity = Identity(user_id=SUB, username="Jane Doe")
    assert await setup.connector.refresh(Scopes(), identity) == identity
    assert setup.upstream.requests == []


async def test_close_leaves_an_injected_client_open() -> None:
    setup = Setup()
    await setup.connector.close()
    owned = OIDCConnector(options())
    await owned.close()
