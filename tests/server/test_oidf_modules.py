"""The OpenID Foundation conformance suite's OP test modules, one test per module, each
replaying the module's steps over HTTP against the in-process issuer and asserting what
the module asserts at FAILURE level (plus what the specifications require where the
checklist marks a rule [SPEC]). A browser is a cookie jar of its own; the token, UserInfo
and JWKS calls come from the suite's server (``harness.client``). ID and logout tokens are
checked with PyJWT against the issuer's ``jwks_uri``, never with Passgate's own code.

The static client is the suite's: ``redirect_uri`` ``<base>/callback`` and
``post_logout_redirect_uris`` ``[<base>/post_logout_redirect]`` (``<base>`` is the suite's
URL for the alias; here ``http://127.0.0.1:5555``), client_secret_basic; other-app is the
second client (``client2``). The approval screen is on (Dex's default): the first sign-in of
a browser approves, later ones reuse the consent remembered in the browser session.

Plans and modules covered:

- Config OP: oidcc-discovery-endpoint-verification (on an https issuer).
- Basic OP: oidcc-server (client_secret_basic and client_secret_post), oidcc-idtoken-signature,
  oidcc-response-type-missing, oidcc-userinfo-get, oidcc-userinfo-post-header,
  oidcc-userinfo-post-body, oidcc-ensure-request-without-nonce-succeeds-for-code-flow,
  oidcc-scope-profile, oidcc-scope-email, oidcc-scope-address, oidcc-scope-phone,
  oidcc-scope-all (the last three end SKIPPED in the suite: see their test),
  oidcc-ensure-other-scope-order-succeeds, oidcc-display-page, oidcc-display-popup,
  oidcc-prompt-login, oidcc-prompt-none-not-logged-in, oidcc-prompt-none-logged-in,
  oidcc-max-age-1, oidcc-max-age-10000, oidcc-id-token-hint, oidcc-login-hint,
  oidcc-ui-locales, oidcc-claims-locales, oidcc-ensure-request-with-acr-values-succeeds,
  oidcc-ensure-request-with-unknown-parameter-succeeds, oidcc-claims-essential,
  oidcc-ensure-post-request-succeeds, oidcc-ensure-request-with-valid-pkce-succeeds,
  oidcc-codereuse, oidcc-codereuse-30seconds, oidcc-ensure-registered-redirect-uri,
  oidcc-ensure-redirect-uri-in-authorization-request,
  oidcc-ensure-request-object-with-redirect-uri,
  oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported (and the
  request_uri refusal), oidcc-refresh-token, oidcc-server-rotate-keys.
- RP-Initiated Logout OP: oidcc-rp-initiated-logout-discovery-endpoint-verification,
  oidcc-rp-initiated-logout, -bad-id-token-hint, -modified-id-token-hint,
  -no-id-token-hint, -no-params, -no-post-logout-redirect-uri, -no-state, -only-state,
  -query-added-to-post-logout-redirect-uri, -bad-post-logout-redirect-uri,
  -no-client-id-bad-post-logout-redirect-uri, -client-id-mismatch (the last two are not in
  the stored suite; they assert RP-Initiated Logout 1.0 §2/§3), and the [SPEC] rules:
  GET and POST, an expired hint, logging out twice, a registered URI with a query, and a
  hint that names another person than the browser's.
- Back-Channel Logout OP: oidcc-backchannel-logout-discovery-endpoint-verification,
  oidcc-backchannel-rp-initiated-logout (a real RP on a loopback port).

Skipped, because Passgate deliberately lacks the feature (response_type=code only, static
clients, no request objects, no front-channel logout or session management):

- every implicit and hybrid variant (response_type id_token, id_token token, code id_token,
  code token, code id_token token) and the form_post response mode variants;
- dynamic registration: oidcc-registration-*, oidcc-idtoken-unsigned, oidcc-request-uri-*
  (VariantNotApplicable for static clients), oidcc-redirect-uri-query-*,
  oidcc-registration-logo-uri/policy-uri/tos-uri/sector-*, oidcc-userinfo-rs256 and other
  modules that register signing/encryption algorithms;
- request objects beyond their refusal: oidcc-request-uri-signed-rs256,
  oidcc-request-uri-unsigned, oidcc-ensure-request-object-*-signed-*;
- oidcc-frontchannel-rp-initiated-logout and oidcc-session-management-* (no
  ``frontchannel_logout_supported``, no ``check_session_iframe``);
- private_key_jwt / client_secret_jwt / mtls client authentication variants.

A valid id_token_hint naming another person than the one signed in at the browser asks
that browser's person first (RP-Initiated Logout 1.0 §2 MUST), then ends only their own
session.

Warnings the suite would log (not failures, so not asserted): oidcc-scope-profile lists the
profile claims Passgate does not hold (given_name, family_name, ...); oidcc-ensure-request-
with-acr-values-succeeds warns that no ``acr`` came back; oidcc-claims-essential warns that
``name`` is in the ID token too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.fakeserver import serve_app
from passgate.admin.auth import hash_token

from .harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    DESCRIPTION,
    ISSUER,
    OTHER_ID,
    OTHER_REDIRECT_URI,
    OTHER_SECRET,
    PREFIX,
    REDIRECT_URI,
    Harness,
    basic,
    bearer,
    config_text,
    parse_form,
    query_of,
    running,
    without_query,
)
from .sso_support import (
    SECOND_EMAIL,
    SECOND_PASSWORD,
    AuthAnswer,
    add_second_user,
    approve_it,
    follow,
    sign_in,
)

pytestmark = pytest.mark.anyio

SUITE_BASE = "http://127.0.0.1:5555"  # the suite's URL for the test alias
CALLBACK = REDIRECT_URI  # <base>/callback
POST_LOGOUT = f"{SUITE_BASE}/post_logout_redirect"
# other-app's registered post-logout URI carries a query of its own (RP-Initiated §3).
OTHER_POST_LOGOUT = f"{SUITE_BASE}/other_signed_out?tenant=a"
HTTPS_ISSUER = ISSUER.replace("http://", "https://", 1)
SECRETS = {CLIENT_ID: CLIENT_SECRET, OTHER_ID: OTHER_SECRET}
REDIRECTS = {CLIENT_ID: CALLBACK, OTHER_ID: OTHER_REDIRECT_URI}

SKEW = 5 * 60  # the suite's clock skew allowance
YEAR = 365 * 24 * 3600
PROMPT_NONE_ERRORS = {
    "login_required", "interaction_required", "account_selection_required", "consent_required",
}  # fmt: skip
ERROR_RESPONSE_PARAMS = {"error", "error_description", "error_uri", "state", "session_state", "iss"}
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# RFC 6749 Appendix A.4: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# OIDC Core §5.4: the claims each scope asks for (the suite's VerifyScopesReturnedIn...).
SCOPE_CLAIMS = {
    "profile": (
        "name", "given_name", "family_name", "middle_name", "nickname", "profile", "picture",
        "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
        "preferred_username",
    ),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
}  # fmt: skip
STRING_CLAIMS = frozenset(
    {
        "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
        "profile", "picture", "website", "email", "gender", "birthdate", "zoneinfo", "locale",
        "phone_number",
    }
)  # fmt: skip
BOOLEAN_CLAIMS = frozenset({"email_verified", "phone_number_verified"})

ADMIN_TOKEN = "pgadm_oidf-rotate-keys-0123456789abcdef"
ADMIN_SECTION = f"""
admin:
  tokens:
  - name: oidf
    hash: "{hash_token(ADMIN_TOKEN)}"
"""


def oidf_config(*, issuer: str = ISSUER, backchannel_uri: str = "", extra: str = "") -> str:
    """The harness issuer with the suite's static client registration."""
    text = config_text(extra=extra)
    example = f'  redirectURIs: ["{REDIRECT_URI}"]\n'
    registration = f'  postLogoutRedirectURIs: ["{POST_LOGOUT}"]\n'
    if backchannel_uri:
        registration += f"  backchannelLogoutURI: {backchannel_uri}\n"
    text = text.replace(example, example + registration, 1)
    other = f'  redirectURIs: ["{OTHER_REDIRECT_URI}"]\n'
    text = text.replace(other, other + f'  postLogoutRedirectURIs: ["{OTHER_POST_LOGOUT}"]\n', 1)
    return text.replace(f"issuer: {ISSUER}\n", f"issuer: {issuer}\n", 1)


@pytest.fixture
async def op(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(oidf_config()) as harness:
        yield harness


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def half_hash(value: str) -> str:
    """OIDC Core §3.1.3.6 / §3.3.2.11 for RS256: the left half of SHA-256, base64url."""
    return _b64(hashlib.sha256(value.encode("ascii")).digest()[:16])


def is_url(value: object, *, https: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    schemes = ("https",) if https else ("https", "http")
    return parts.scheme in schemes and bool(parts.netloc) and not parts.fragment


def check_standard_claims(claims: Mapping[str, Any]) -> None:
    """OIDC Core §5.1 types (the suite's ValidateUserInfoStandardClaims and the ID token's)."""
    for name, value in claims.items():
        if name in STRING_CLAIMS:
            assert isinstance(value, str), (name, value)
        elif name in BOOLEAN_CLAIMS:
            assert isinstance(value, bool), (name, value)
        elif name == "address":
            assert isinstance(value, dict), (name, value)
        elif name == "updated_at":
            assert isinstance(value, int | float), (name, value)
            assert not isinstance(value, bool), (name, value)
    if "birthdate" in claims:
        assert re.fullmatch(r"\d{4}(-\d{2}-\d{2})?", claims["birthdate"]), claims["birthdate"]


def check_error_description(body: Mapping[str, Any]) -> None:
    """RFC 6749 §4.1.2.1 / §5.2 syntax of error_description and error_uri."""
    if "error_description" in body:
        description = body["error_description"]
        assert isinstance(description, str)
        assert not set(description) & {"\r", "\n", "\t"}, description  # WARN in the suite
        assert DESCRIPTION.fullmatch(description), description
    if "error_uri" in body:
        assert is_url(body["error_uri"]), body


def assert_page(response: httpx.Response) -> None:
    """The OP shows a page of its own: no redirect anywhere (the suite's placeholder
    "screenshot" cases, and every case where reaching the client is a failure)."""
    assert "location" not in response.headers, (response.status_code, response.headers)
    assert response.status_code in (200, 400, 403), (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "<html" in response.text


@dataclass
class Flow:
    """One authorization as the suite saw it: the request, the callback, the tokens."""

    params: dict[str, str]
    callback: dict[str, str]
    tokens: dict[str, Any]
    claims: dict[str, Any]  # the verified ID token's

    @property
    def id_token(self) -> str:
        return str(self.tokens["id_token"])

    @property
    def access_token(self) -> str:
        return str(self.tokens["access_token"])


class Suite:
    """The suite's side of one test module: the discovery document and JWKS fetched at
    setup, one browser (cookie jar), and the checks it runs on what comes back."""

    def __init__(self, harness: Harness, browser: httpx.AsyncClient) -> None:
        self.harness = harness
        self.browser = browser
        self.discovery: dict[str, Any] = {}
        self.jwks: dict[str, Any] = {}

    @classmethod
    async def start(cls, harness: Harness) -> Suite:
        suite = cls(harness, await harness.browser())
        response = await harness.client.get(f"{PREFIX}/.well-known/openid-configuration")
        assert response.status_code == 200, response.text
        suite.discovery = response.json()
        # CheckServerConfiguration (stop on failure)
        for name in ("authorization_endpoint", "token_endpoint", "issuer"):
            assert isinstance(suite.discovery.get(name), str), name
        suite.jwks = await suite.fetch_jwks()
        return suite

    # -- JWKS ---------------------------------------------------------------------------
    async def fetch_jwks(self) -> dict[str, Any]:
        response = await self.harness.client.get(urlsplit(self.discovery["jwks_uri"]).path)
        assert response.status_code == 200, response.text
        keys: dict[str, Any] = response.json()
        check_jwks(keys)
        return keys

    def key(self, token: str, jwks: Mapping[str, Any] | None = None) -> Any:
        """ValidateIdTokenSignatureUsingKid: the key the JWS header's kid names."""
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256", header
        keyset = jwt.PyJWKSet.from_dict(dict(jwks or self.jwks))
        return keyset[header["kid"]].key

    # -- the authorization endpoint -----------------------------------------------------
    def request(
        self,
        *,
        client_id: str = CLIENT_ID,
        scope: str = "openid",
        nonce: bool = True,
        state: str | None = None,
        **extra: str,
    ) -> dict[str, str]:
        """CreateAuthorizationEndpointRequestFromClientInformation plus random state/nonce."""
        params = {
            "client_id": client_id,
            "redirect_uri": REDIRECTS[client_id],
            "response_type": "code",
            "scope": scope,
            "state": state if state is not None else secrets.token_urlsafe(12),
        }
        if nonce:
            params["nonce"] = secrets.token_urlsafe(12)
        params.update(extra)
        return params

    async def send(self, params: Mapping[str, str], *, post: bool = False) -> AuthAnswer:
        """The browser goes to the authorization endpoint (GET, or a form POST) and
        follows the OP's own redirects."""
        path = urlsplit(self.discovery["authorization_endpoint"]).path
        if post:
            response = await self.browser.post(path, data=dict(params))
        else:
            response = await self.browser.get(path, params=dict(params))
        return await follow(self.harness, self.browser, response, dict(params))

    async def sign_in(self, answer: AuthAnswer, **fields: str) -> AuthAnswer:
        """The tester signs in on the login page (and approves when asked)."""
        return await sign_in(self.harness, answer, self.browser, **fields)

    def callback(self, answer: AuthAnswer) -> dict[str, str]:
        """A successful authorization response (CheckMatchingCallbackParameters,
        CheckIfAuthorizationEndpointError, CheckMatchingStateParameter, RFC 9207 iss)."""
        assert answer.to_client, (answer.response.status_code, answer.location)
        assert without_query(answer.location) == answer.params["redirect_uri"]
        query = query_of(answer.location)
        assert "error" not in query, query
        assert query.get("state") == answer.params.get("state"), query
        if "iss" in query:
            assert query["iss"] == self.discovery["issuer"]
        assert query.get("code"), query
        return query

    def error_callback(self, answer: AuthAnswer, *allowed: str) -> dict[str, str]:
        """performGenericAuthorizationEndpointErrorResponseValidation."""
        assert answer.to_client, (answer.response.status_code, answer.response.text[:300])
        assert without_query(answer.location) == answer.params["redirect_uri"]
        query = query_of(answer.location)
        assert query.get("state") == answer.params.get("state"), query
        if "iss" in query:
            assert query["iss"] == self.discovery["issuer"]
        assert "error" in query, query
        assert "code" not in query, query
        assert set(query) <= ERROR_RESPONSE_PARAMS, query  # WARN in the suite
        check_error_description(query)
        if allowed:
            assert query["error"] in allowed, query
        return query

    # -- the token endpoint -------------------------------------------------------------
    async def token_request(
        self, client_id: str, data: Mapping[str, str], *, auth: str = "basic"
    ) -> httpx.Response:
        path = urlsplit(self.discovery["token_endpoint"]).path
        form = dict(data)
        headers: dict[str, str] = {}
        if auth == "basic":
            headers = basic(client_id, SECRETS[client_id])
        else:  # client_secret_post
            form |= {"client_id": client_id, "client_secret": SECRETS[client_id]}
        return await self.harness.client.post(path, data=form, headers=headers)

    async def exchange(
        self, params: Mapping[str, str], code: str, *, auth: str = "basic"
    ) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
        }
        if "code_verifier" in params:
            data["code_verifier"] = params["code_verifier"]
        return await self.token_request(params["client_id"], data, auth=auth)

    def check_token_response(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body: dict[str, Any] = response.json()
        assert "error" not in body, body
        assert isinstance(body.get("access_token"), str), body  # CheckForAccessTokenValue
        assert body.get("access_token")
        assert str(body.get("token_type", "")).lower() == "bearer", body
        if "expires_in" in body:  # ValidateExpiresIn
            assert isinstance(body["expires_in"], int), body
            assert body["expires_in"] > 0, body
        return body

    async def redeem(
        self, answer: AuthAnswer, *, auth: str = "basic", userinfo: bool = True
    ) -> Flow:
        """Token request for the code, the ID token checks, then the protected resource."""
        params = answer.params
        callback = self.callback(answer)
        tokens = self.check_token_response(await self.exchange(params, callback["code"], auth=auth))
        assert isinstance(tokens.get("id_token"), str), tokens  # OIDCC-3.1.3.3
        claims = self.check_id_token(
            tokens["id_token"],
            client_id=params["client_id"],
            nonce=params.get("nonce"),
            access_token=tokens["access_token"],
            code=callback["code"],
        )
        if userinfo:  # CallProtectedResourceWithBearerToken
            response = await self.userinfo(tokens["access_token"])
            assert response.status_code == 200, response.text
        return Flow(dict(params), callback, tokens, claims)

    def check_id_token(
        self,
        raw: str,
        *,
        client_id: str,
        nonce: str | None,
        access_token: str | None = None,
        code: str | None = None,
        jwks: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """PerformStandardIdTokenChecks: signature (by kid), iss, aud, exp, iat,
        auth_time, acr, nonce, sub, standard claims; at_hash/c_hash when present."""
        claims: dict[str, Any] = jwt.decode(
            raw,
            self.key(raw, jwks),
            algorithms=["RS256"],
            audience=client_id,
            issuer=self.discovery["issuer"],
            # Time is the harness's frozen clock, checked below with the suite's skew.
            options={
                "verify_exp": False, "verify_iat": False, "verify_nbf": False,
                "require": ["iss", "sub", "aud", "exp", "iat"],
            },
        )  # fmt: skip
        now = self.harness.clock().timestamp()
        assert isinstance(claims["exp"], int | float), claims
        assert claims["exp"] > now - SKEW, claims
        assert isinstance(claims["iat"], int | float), claims
        assert now - SKEW <= claims["iat"] <= now + SKEW, (claims["iat"], now)
        if "auth_time" in claims:
            auth_time = claims["auth_time"]
            assert isinstance(auth_time, int | float)
            assert not isinstance(auth_time, bool)
            assert now - YEAR <= auth_time <= now + SKEW, (auth_time, now)
        if "acr" in claims:
            assert isinstance(claims["acr"], str), claims
            assert claims["acr"], claims
        if nonce:
            assert claims.get("nonce") == nonce, claims
        else:
            assert "nonce" not in claims, claims
        assert isinstance(claims["sub"], str), claims
        assert claims["sub"], claims
        # [SPEC] OIDC Core §2: azp, when present, is the client the token was issued to.
        if "azp" in claims:
            assert claims["azp"] == client_id, claims
        check_standard_claims(claims)
        # [SPEC] OIDC Core §3.1.3.6 / §3.3.2.11: when present they must match.
        if "at_hash" in claims and access_token is not None:
            assert claims["at_hash"] == half_hash(access_token), claims
        if "c_hash" in claims and code is not None:
            assert claims["c_hash"] == half_hash(code), claims
        return claims

    async def userinfo(self, access_token: str, *, how: str = "get") -> httpx.Response:
        path = urlsplit(self.discovery["userinfo_endpoint"]).path
        client = self.harness.client
        if how == "get":
            return await client.get(path, headers=bearer(access_token))
        if how == "post-header":
            return await client.post(path, headers=bearer(access_token))
        return await client.post(path, data={"access_token": access_token})

    def check_userinfo(self, response: httpx.Response, flow: Flow) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body: dict[str, Any] = response.json()
        assert isinstance(body.get("sub"), str), body
        assert body["sub"], body
        assert body["sub"] == flow.claims["sub"]  # [SPEC] OIDC Core §5.3.2
        check_standard_claims(body)
        return body

    # -- whole flows --------------------------------------------------------------------
    async def flow(
        self, *, login: bool | None = None, post: bool = False, auth: str = "basic", **request: Any
    ) -> Flow:
        """A normal authorization code flow. ``login``: True when the login page must be
        shown (placeholder screenshot), False when the OP must not show any page, None
        for either."""
        answer = await self.send(self.request(**request), post=post)
        if login is False:
            assert answer.to_client, (answer.response.status_code, answer.response.text[:300])
        elif login is True:
            assert answer.to_login_form, (answer.response.status_code, answer.location)
        if answer.to_login_form:
            answer = await self.sign_in(answer)
        elif answer.to_approval:
            answer = await approve_it(self.harness, answer, self.browser)
        return await self.redeem(answer, auth=auth)

    async def logout(self, params: Mapping[str, str], *, post: bool = False) -> httpx.Response:
        """The browser goes to the end_session_endpoint."""
        path = urlsplit(self.discovery["end_session_endpoint"]).path
        if post:
            return await self.browser.post(path, data=dict(params))
        return await self.browser.get(path, params=dict(params))

    async def assert_logged_out(self) -> None:
        """After a logout: prompt=none (state of 128 characters) must come back with
        login_required or another prompt=none error."""
        answer = await self.send(self.request(prompt="none", state=secrets.token_hex(64)))
        self.error_callback(answer, *PROMPT_NONE_ERRORS)


def check_jwks(jwks: Mapping[str, Any]) -> None:
    """ValidateServerJWKs, CheckForKeyIdInServerJWKs (OIDCC-10.1), distinct kids, no
    private or symmetric keys."""
    keys = jwks.get("keys")
    assert isinstance(keys, list), jwks
    assert keys, jwks
    kids = [key.get("kid") for key in keys]
    assert all(isinstance(kid, str) and kid for kid in kids), kids
    assert len(set(kids)) == len(kids), kids
    for key in keys:
        assert key.get("kty") in ("RSA", "EC", "OKP"), key
        assert not PRIVATE_JWK_MEMBERS & set(key), sorted(key)
    jwt.PyJWKSet.from_dict(dict(jwks))  # every key parses


@pytest.fixture
async def suite(op: Harness) -> Suite:
    return await Suite.start(op)


# == Config OP ==========================================================================
def check_discovery_document(document: Mapping[str, Any], url: str) -> None:
    """oidcc-discovery-endpoint-verification, every FAILURE-level check."""
    assert url.startswith("https://")
    assert url.endswith("/.well-known/openid-configuration")
    issuer = document.get("issuer")
    assert is_url(issuer, https=True), issuer
    expected = url.removesuffix(".well-known/openid-configuration")
    assert str(issuer).rstrip("/") == expected.rstrip("/")
    offered = document["response_types_supported"]
    assert isinstance(offered, list)
    assert set(offered) & {
        "code", "code id_token", "id_token", "token id_token", "code id_token token", "code token",
    }  # fmt: skip
    assert set(document["subject_types_supported"]) <= {"public", "pairwise"}
    assert document["subject_types_supported"]
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    for name, value in document.items():
        if name.endswith("_endpoint"):
            assert is_url(value, https=True), (name, value)
    assert "userinfo_endpoint" in document  # absent: WARN
    assert is_url(document["jwks_uri"], https=True)
    if "request_object_signing_alg_values_supported" in document:  # WARN
        assert "RS256" in document["request_object_signing_alg_values_supported"]
    assert isinstance(document.get("claims_supported"), list)  # absent: WARN
    if "grant_types_supported" in document:
        grants = document["grant_types_supported"]
        assert isinstance(grants, list)
        assert grants
    scopes = document.get("scopes_supported")
    assert isinstance(scopes, list), document  # absent: WARN
    assert "openid" in scopes
    assert all(isinstance(s, str) and SCOPE_TOKEN.fullmatch(s) for s in scopes), scopes
    if "code_challenge_methods_supported" in document:
        assert isinstance(document["code_challenge_methods_supported"], list)
    for name, value in document.items():
        if name.endswith("_locales_supported"):
            assert isinstance(value, list)
            assert all(isinstance(v, str) for v in value)


@pytest.fixture
async def https_op(anyio_backend: str) -> AsyncIterator[Harness]:
    """The issuer as deployed for certification: https (the harness talks to the app
    in-process; only the URLs it publishes change)."""
    async with running(oidf_config(issuer=HTTPS_ISSUER)) as harness:
        yield harness


async def _discovery(harness: Harness) -> dict[str, Any]:
    response = await harness.client.get(f"{PREFIX}/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


async def test_oidcc_discovery_endpoint_verification(https_op: Harness) -> None:
    document = await _discovery(https_op)
    check_discovery_document(document, f"{HTTPS_ISSUER}/.well-known/openid-configuration")
    keys = await https_op.client.get(urlsplit(document["jwks_uri"]).path)
    assert keys.status_code == 200
    check_jwks(keys.json())
    # What the rest of the plans rely on (checklist §6).
    assert document["response_types_supported"] == ["code"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document.get("request_parameter_supported") is not True


async def test_oidcc_rp_initiated_logout_discovery_endpoint_verification(
    https_op: Harness,
) -> None:
    document = await _discovery(https_op)
    check_discovery_document(document, f"{HTTPS_ISSUER}/.well-known/openid-configuration")
    assert is_url(document.get("end_session_endpoint"), https=True), document


async def test_oidcc_backchannel_logout_discovery_endpoint_verification(
    https_op: Harness,
) -> None:
    document = await _discovery(https_op)
    for name, value in document.items():
        if name.endswith("_endpoint"):
            assert is_url(value, https=True), (name, value)
    assert document.get("backchannel_logout_supported") is True  # a JSON boolean
    assert document.get("backchannel_logout_session_supported") is True
    assert is_url(document.get("end_session_endpoint"), https=True)


# == Basic OP: the plain flow ============================================================
@pytest.mark.parametrize("auth", ["basic", "post"])
async def test_oidcc_server(suite: Suite, auth: str) -> None:
    """oidcc-server: one code flow, client_secret_basic (and the client_secret_post run)."""
    flow = await suite.flow(login=True, auth=auth)
    assert flow.claims["aud"] == CLIENT_ID or CLIENT_ID in flow.claims["aud"]
    # [SPEC] OIDC Core §3.1.3.6: at_hash (optional in the code flow) binds the access token.
    if "at_hash" in flow.claims:
        assert flow.claims["at_hash"] == half_hash(flow.access_token)


async def test_oidcc_idtoken_signature(suite: Suite) -> None:
    """oidcc-idtoken-signature: RS256, verified with the key the header's kid names."""
    flow = await suite.flow()
    header = jwt.get_unverified_header(flow.id_token)
    assert header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in suite.jwks["keys"]}
    # And not with any other key of the set (the kid really names the signer).
    for key in jwt.PyJWKSet.from_dict(suite.jwks).keys:
        if key.key_id != header["kid"]:
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(flow.id_token, key.key, algorithms=["RS256"],
                           options={"verify_aud": False, "verify_exp": False})  # fmt: skip


async def test_oidcc_ensure_request_with_valid_pkce_succeeds(suite: Suite) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    params = suite.request(code_challenge=challenge, code_challenge_method="S256")
    answer = await suite.sign_in(await suite.send(params))
    answer.params["code_verifier"] = verifier
    await suite.redeem(answer)


async def test_oidcc_ensure_post_request_succeeds(suite: Suite) -> None:
    """The authorization request as a form POST."""
    await suite.flow(post=True, login=True)


async def test_oidcc_response_type_missing(suite: Suite) -> None:
    params = suite.request()
    del params["response_type"]
    answer = await suite.send(params)
    if answer.to_client:
        suite.error_callback(answer, "invalid_request", "unsupported_response_type")
    else:  # an error page is the other accepted outcome
        assert_page(answer.response)


# == userinfo ============================================================================
@pytest.mark.parametrize("how", ["get", "post-header"])
async def test_oidcc_userinfo_get_and_post_header(suite: Suite, how: str) -> None:
    """oidcc-userinfo-get / oidcc-userinfo-post-header."""
    flow = await suite.flow()
    suite.check_userinfo(await suite.userinfo(flow.access_token, how=how), flow)


async def test_oidcc_userinfo_post_body(suite: Suite) -> None:
    """oidcc-userinfo-post-body: the access_token form parameter (optional: non-2xx is a
    WARN); Passgate supports it (RFC 6750 §2.2)."""
    flow = await suite.flow()
    suite.check_userinfo(await suite.userinfo(flow.access_token, how="post-body"), flow)


# == nonce, scopes =======================================================================
async def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(suite: Suite) -> None:
    answer = await suite.sign_in(await suite.send(suite.request(nonce=False)))
    assert "nonce" not in answer.params
    suite.callback(answer)  # a code, no error: where the suite stops
    # [SPEC] exchanged anyway, the ID token must not carry a nonce (ValidateIdTokenNonce).
    flow = await suite.redeem(answer)
    assert "nonce" not in flow.claims


async def _scope_module(suite: Suite, scope: str) -> tuple[Flow, dict[str, Any]]:
    """AbstractOIDCCScopesServerTest: a flow with ``scope``, then UserInfo's checks."""
    flow = await suite.flow(scope=scope)
    body = suite.check_userinfo(await suite.userinfo(flow.access_token), flow)
    return flow, body


async def test_oidcc_scope_profile(suite: Suite) -> None:
    assert "profile" in suite.discovery["scopes_supported"]  # else the suite skips
    _, body = await _scope_module(suite, "openid profile")
    # The profile claims Passgate holds come back (the others are a WARN: not held).
    assert body.get("name") == "admin"


@pytest.mark.parametrize("scope", ["openid email", "email openid"])
async def test_oidcc_scope_email_and_ensure_other_scope_order_succeeds(
    suite: Suite, scope: str
) -> None:
    """oidcc-scope-email and oidcc-ensure-other-scope-order-succeeds (reversed order)."""
    assert "email" in suite.discovery["scopes_supported"]
    _, body = await _scope_module(suite, scope)
    # VerifyScopesReturnedInUserInfoClaims (WARN): Passgate returns both email claims.
    assert {"email", "email_verified"} <= set(body), body


@pytest.mark.parametrize(
    ("module", "scope"),
    [
        ("oidcc-scope-address", "openid address"),
        ("oidcc-scope-phone", "openid phone"),
        ("oidcc-scope-all", "openid email phone address profile"),
    ],
)
async def test_oidcc_scope_modules_skipped(suite: Suite, module: str, scope: str) -> None:
    """OIDCCCheckScopesSupportedContainScopeTest: a requested scope missing from
    ``scopes_supported`` ends the module SKIPPED (not FAILED). Passgate has no phone or
    address claims and must therefore not advertise those scopes; it refuses them as
    unknown (invalid_scope), which the suite never sees."""
    supported = set(suite.discovery["scopes_supported"])
    assert not set(scope.split()) <= supported, (module, supported)
    assert not {"address", "phone"} & supported


# == prompt, max_age, id_token_hint (browser sessions) ===================================
async def test_oidcc_prompt_none_not_logged_in(suite: Suite) -> None:
    """A fresh browser (the tester removed the OP's cookies), prompt=none, 128-char state."""
    answer = await suite.send(suite.request(prompt="none", state=secrets.token_hex(64)))
    assert len(answer.params["state"]) == 128
    suite.error_callback(answer, *PROMPT_NONE_ERRORS)


async def test_oidcc_prompt_none_logged_in(suite: Suite) -> None:
    first = await suite.flow(login=True)
    suite.harness.clock.advance(timedelta(seconds=3))
    second = await suite.flow(login=False, prompt="none")  # no login page, no consent page
    assert second.claims["nonce"] == second.params["nonce"] != first.params["nonce"]
    assert second.claims["iat"] == first.claims["iat"] + 3
    if "auth_time" in first.claims and "auth_time" in second.claims:
        assert second.claims["auth_time"] == first.claims["auth_time"]
    assert second.claims["sub"] == first.claims["sub"]


async def test_oidcc_prompt_login(suite: Suite) -> None:
    first = await suite.flow(login=True)
    suite.harness.clock.advance(timedelta(seconds=2))
    second = await suite.flow(login=True, prompt="login")  # the login page, again
    if "auth_time" in first.claims and "auth_time" in second.claims:
        # CheckIdTokenAuthTimeClaimsDifferIfPresent; a second sign-in is necessarily later.
        assert second.claims["auth_time"] > first.claims["auth_time"]


async def test_oidcc_max_age_1(suite: Suite) -> None:
    first = await suite.flow(login=True)
    suite.harness.clock.advance(timedelta(seconds=2))  # WaitForTwoSeconds
    second = await suite.flow(login=True, max_age="1")  # the login page, again
    assert "auth_time" in second.claims  # OIDCC-3.1.2.1: required when max_age was sent
    if "auth_time" in first.claims:
        assert second.claims["auth_time"] > first.claims["auth_time"]
    now = suite.harness.clock().timestamp()
    assert second.claims["auth_time"] >= now - SKEW - 1


async def test_oidcc_max_age_10000(suite: Suite) -> None:
    first = await suite.flow(login=True, max_age="15000")
    assert "auth_time" in first.claims
    suite.harness.clock.advance(timedelta(seconds=5))
    second = await suite.flow(login=False, max_age="10000")  # no login page
    assert "auth_time" in second.claims
    assert second.claims["auth_time"] == first.claims["auth_time"]
    assert second.claims["sub"] == first.claims["sub"]


async def test_oidcc_id_token_hint(suite: Suite) -> None:
    first = await suite.flow(login=True)
    suite.harness.clock.advance(timedelta(seconds=3))
    second = await suite.flow(login=False, prompt="none", id_token_hint=first.id_token)
    if "auth_time" in first.claims and "auth_time" in second.claims:
        assert second.claims["auth_time"] == first.claims["auth_time"]
    assert second.claims["sub"] == first.claims["sub"]


async def test_oidcc_id_token_hint_of_another_person(suite: Suite) -> None:
    """[SPEC] OIDC Core §3.1.2.1: a hint naming somebody other than the signed-in person
    is an error with prompt=none, never a silent switch to that person."""
    harness = suite.harness
    await add_second_user(harness)
    await suite.flow(login=True)  # admin in the suite's browser
    bob = Suite(harness, await harness.browser())
    bob.discovery, bob.jwks = suite.discovery, suite.jwks
    answer = await bob.send(bob.request())
    bobs = await bob.redeem(await bob.sign_in(answer, login=SECOND_EMAIL, password=SECOND_PASSWORD))
    refused = await suite.send(suite.request(prompt="none", id_token_hint=bobs.id_token))
    suite.error_callback(refused, "login_required", "interaction_required")


# == other authorization parameters: "must not cause an error" ===========================
async def _fresh_browser_flow(suite: Suite, **extra: str) -> Flow:
    """The tester cleared the OP's cookies (a fresh browser): the login page, then a
    normal flow."""
    return await suite.flow(login=True, **extra)


async def test_oidcc_display_page(suite: Suite) -> None:
    await _fresh_browser_flow(suite, display="page")


async def test_oidcc_display_popup(suite: Suite) -> None:
    await _fresh_browser_flow(suite, display="popup")


async def test_oidcc_login_hint(suite: Suite) -> None:
    """login_hint = buffy@<issuer host>: an unknown person must not be an error."""
    hint = f"buffy@{urlsplit(suite.discovery['issuer']).hostname}"
    await _fresh_browser_flow(suite, login_hint=hint)


async def test_oidcc_ui_locales(suite: Suite) -> None:
    await _fresh_browser_flow(suite, ui_locales="se")


async def test_oidcc_claims_locales(suite: Suite) -> None:
    await _fresh_browser_flow(suite, claims_locales="se")


async def test_oidcc_ensure_request_with_acr_values_succeeds(suite: Suite) -> None:
    offered = suite.discovery.get("acr_values_supported")
    acr_values = " ".join(offered) if offered else "1 2"
    flow = await _fresh_browser_flow(suite, acr_values=acr_values)
    if "acr" in flow.claims:  # FAIL when malformed; not one of the requested: WARN
        assert isinstance(flow.claims["acr"], str)
        assert flow.claims["acr"]
        if offered:
            assert flow.claims["acr"] in offered


async def test_oidcc_ensure_request_with_unknown_parameter_succeeds(suite: Suite) -> None:
    await _fresh_browser_flow(suite, extra="foobar")


async def test_oidcc_claims_essential(suite: Suite) -> None:
    claims_request = json.dumps({"userinfo": {"name": {"essential": True}}})
    flow = await _fresh_browser_flow(suite, scope="openid profile", claims=claims_request)
    suite.check_userinfo(await suite.userinfo(flow.access_token), flow)


# == codes ===============================================================================
def check_token_error(response: httpx.Response, error: str) -> None:
    """The token endpoint's refusal as the suite checks it (400, JSON, the error code,
    the syntax of error_description and error_uri)."""
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body.get("error") == error, body
    check_error_description(body)


async def test_oidcc_codereuse(suite: Suite) -> None:
    flow = await suite.flow()
    again = await suite.exchange(flow.params, flow.callback["code"])
    # HTTP 200 would be a WARN only; anything else must be a proper invalid_grant.
    check_token_error(again, "invalid_grant")


async def test_oidcc_codereuse_30seconds(suite: Suite) -> None:
    flow = await suite.flow()
    suite.harness.clock.advance(timedelta(seconds=30))
    again = await suite.exchange(flow.params, flow.callback["code"])
    check_token_error(again, "invalid_grant")
    # RFC 6749 §4.1.2 (WARN in the suite): the tokens issued from the code are revoked.
    refused = await suite.userinfo(flow.access_token)
    assert refused.status_code == 401, refused.text


# == redirect_uri and request objects ====================================================
async def test_oidcc_ensure_registered_redirect_uri(suite: Suite) -> None:
    unregistered = f"{SUITE_BASE}/{secrets.token_hex(5)}"
    answer = await suite.send(suite.request(redirect_uri=unregistered))
    assert_page(answer.response)  # an error page; no redirect, not even to /callback
    assert answer.response.status_code == 400


async def test_oidcc_ensure_redirect_uri_in_authorization_request(suite: Suite) -> None:
    """OIDC Core §3.1.2.1: redirect_uri is required (even with one registered URI)."""
    params = suite.request()
    del params["redirect_uri"]
    answer = await suite.send(params)
    assert_page(answer.response)


def _unsigned_request_object(params: Mapping[str, str]) -> str:
    header = _b64(json.dumps({"alg": "none"}).encode())
    payload = _b64(json.dumps({**params, "iss": CLIENT_ID, "aud": ISSUER}).encode())
    return f"{header}.{payload}."


async def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    suite: Suite,
) -> None:
    # The module runs: request_object_signing_alg_values_supported is absent.
    assert "request_object_signing_alg_values_supported" not in suite.discovery
    inner = suite.request()
    query = {k: inner[k] for k in ("response_type", "client_id", "scope", "redirect_uri")}
    answer = await suite.send({**query, "request": _unsigned_request_object(inner)})
    # Refused explicitly (the suite then marks the module SKIPPED); silently ignoring the
    # object would lose the state and FAIL.
    assert answer.to_client, answer.response.text[:300]
    callback = query_of(answer.location)
    assert callback["error"] == "request_not_supported", callback
    assert "code" not in callback
    check_error_description(callback)


async def test_oidcc_request_uri_rejected_as_unsupported(suite: Suite) -> None:
    """[SPEC] OIDC Core §6.2/§3.1.2.6: request_uri unsupported → request_uri_not_supported."""
    params = suite.request(request_uri=f"{SUITE_BASE}/requests/{secrets.token_hex(8)}")
    answer = await suite.send(params)
    suite.error_callback(answer, "request_uri_not_supported")


async def test_oidcc_ensure_request_object_with_redirect_uri(suite: Suite) -> None:
    """The object holds the registered redirect_uri, the query an invalid one: an OP
    without request objects must refuse the query's redirect_uri with a page, never
    redirect request_not_supported to the registered URI."""
    inner = suite.request()
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "scope": "openid",
        "redirect_uri": f"{SUITE_BASE}/callback_invalid",
    }
    answer = await suite.send({**query, "request": _unsigned_request_object(inner)})
    assert_page(answer.response)


# == refresh tokens ======================================================================
async def _refresh_client(suite: Suite, client_id: str) -> Flow:
    """One client's half of oidcc-refresh-token; its flow with the refreshed tokens."""
    scopes = suite.discovery["scopes_supported"]
    assert "offline_access" in scopes
    # AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess
    nonce = secrets.token_urlsafe(32)[:43] if client_id == OTHER_ID else None
    params = suite.request(client_id=client_id, scope="openid offline_access", prompt="consent")
    if nonce:
        params["nonce"] = nonce
    answer = await suite.send(params)
    if answer.to_login_form:
        answer = await sign_in(suite.harness, answer, suite.browser, approve=False)
    assert answer.to_approval  # prompt=consent: the consent page, even when remembered
    answer = await approve_it(suite.harness, answer, suite.browser)
    flow = await suite.redeem(answer)
    refresh_token = flow.tokens.get("refresh_token")
    assert refresh_token, flow.tokens  # none: the module is SKIPPED
    assert re.fullmatch(r"[\x20-\x7e]+", refresh_token)  # RFC 6749 A.17
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client_id == CLIENT_ID:
        data["scope"] = params["scope"]  # AddScopeToTokenEndpointRequest (client 1 only)
    suite.harness.clock.advance(timedelta(seconds=1))  # WaitForOneSecond
    response = await suite.token_request(client_id, data)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    cache_control = [v.strip() for v in response.headers.get("cache-control", "").split(",")]
    assert "no-store" in cache_control  # CheckTokenEndpointCacheHeaders
    if "pragma" in response.headers:
        assert "no-cache" in [v.strip() for v in response.headers["pragma"].split(",")]
    refreshed = suite.check_token_response(response)
    assert len(refreshed["access_token"]) >= 22  # EnsureMinimumAccessTokenEntropy (128 bits)
    if "id_token" in refreshed:  # CompareIdTokenClaims (OIDCC-12.2)
        raw = refreshed["id_token"]
        second: dict[str, Any] = jwt.decode(
            raw, suite.key(raw), algorithms=["RS256"], audience=client_id,
            issuer=suite.discovery["issuer"], options={"verify_exp": False, "verify_iat": False},
        )  # fmt: skip
        first = flow.claims
        for name in ("iss", "sub", "aud"):
            assert second[name] == first[name], name
        assert second["iat"] != first["iat"]
        if "auth_time" in second:
            assert second["auth_time"] == first.get("auth_time")
        assert ("azp" in second) == ("azp" in first)
        assert second.get("azp") == first.get("azp")
    # requestProtectedResource with the new access token
    assert (await suite.userinfo(refreshed["access_token"])).status_code == 200
    return Flow(flow.params, flow.callback, {**flow.tokens, **refreshed}, flow.claims)


async def test_oidcc_refresh_token(suite: Suite) -> None:
    await _refresh_client(suite, CLIENT_ID)
    second = await _refresh_client(suite, OTHER_ID)
    # client2's refresh_token presented with client 1's credentials.
    data = {"grant_type": "refresh_token", "refresh_token": second.tokens["refresh_token"]}
    check_token_error(await suite.token_request(CLIENT_ID, data), "invalid_grant")


# == key rotation ========================================================================
async def test_oidcc_server_rotate_keys(anyio_backend: str) -> None:
    """The tester rotates through the admin API between two JWKS fetches: the new set
    holds a new key at once (VerifyNewJwksHasNewSigningKey) and still the old one
    (VerifyNewJwksStillHasOldSigningKey); tokens signed before still verify against it,
    and once the propagation delay has passed new tokens use the new key (the module
    does not check this; we do)."""
    async with running(oidf_config(extra=ADMIN_SECTION)) as harness:
        suite = await Suite.start(harness)
        before = await suite.flow()
        old_kids = {key["kid"] for key in suite.jwks["keys"]}
        rotated = await harness.client.post(
            f"{PREFIX}/admin/v1/keys/rotate", headers=bearer(ADMIN_TOKEN)
        )
        assert rotated.status_code == 200, rotated.text
        jwks = await suite.fetch_jwks()
        new_kids = {key["kid"] for key in jwks["keys"]}
        assert new_kids - old_kids  # a new signing key (FAIL)
        assert old_kids <= new_kids  # the old one kept (WARN)
        # The old ID token still verifies against the JWKS fetched now.
        suite.check_id_token(
            before.id_token, client_id=CLIENT_ID, nonce=before.params["nonce"], jwks=jwks
        )
        assert (await suite.userinfo(before.access_token)).status_code == 200
        suite.jwks = jwks
        same = await suite.flow()
        assert jwt.get_unverified_header(same.id_token)["kid"] in old_kids  # published first
        harness.clock.advance(harness.runtime.services.keys.propagation_delay)
        after = await suite.flow()
        assert jwt.get_unverified_header(after.id_token)["kid"] in new_kids - old_kids


# == RP-Initiated Logout OP ==============================================================
async def _signed_in(suite: Suite) -> Flow:
    return await suite.flow(login=True)


def _logout_params(flow: Flow | None = None, **params: str) -> dict[str, str]:
    """The suite's end_session request: id_token_hint, post_logout_redirect_uri, state."""
    full = {"post_logout_redirect_uri": POST_LOGOUT, "state": secrets.token_urlsafe(12)}
    if flow is not None:
        full["id_token_hint"] = flow.id_token
    full.update(params)
    return {k: v for k, v in full.items() if v}


def _check_post_logout_redirect(
    response: httpx.Response, state: str | None, uri: str = POST_LOGOUT
) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert without_query(location) == without_query(uri), location
    query = query_of(location)
    if state is None:
        assert "state" not in query, query  # CheckNoPostLogoutState
    else:
        assert query.get("state") == state, query
    # Extra parameters are a WARN in the suite; Passgate sends none.
    registered = query_of(uri)
    assert set(query) - set(registered) <= {"state"}, query
    return query


async def test_oidcc_rp_initiated_logout(suite: Suite) -> None:
    flow = await _signed_in(suite)
    params = _logout_params(flow)
    response = await suite.logout(params)
    _check_post_logout_redirect(response, params["state"])
    await suite.assert_logged_out()


async def test_oidcc_rp_initiated_logout_bad_id_token_hint(suite: Suite) -> None:
    """A hint made by the suite: iss=client_id, aud=issuer, HS256 with the client secret."""
    await _signed_in(suite)
    now = int(suite.harness.clock().timestamp())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"iss": CLIENT_ID, "aud": ISSUER, "sub": "SubjectID", "nonce": "n"}
    payload = _b64(json.dumps({**claims, "iat": now, "exp": now + 300}).encode())
    signature = hmac.new(CLIENT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    forged = f"{header}.{payload}.{_b64(signature.digest())}"
    assert_page(await suite.logout(_logout_params(id_token_hint=forged)))


async def test_oidcc_rp_initiated_logout_modified_id_token_hint(suite: Suite) -> None:
    """The real ID token with its header replaced by {"alg": "none"}, signature gone."""
    flow = await _signed_in(suite)
    _, payload, _ = flow.id_token.split(".")
    modified = f"{_b64(json.dumps({'alg': 'none'}).encode())}.{payload}."
    assert_page(await suite.logout(_logout_params(id_token_hint=modified)))
    # Refused: the session is intact (the alg=none token was not taken as a hint).
    assert (await suite.userinfo(flow.access_token)).status_code == 200


async def test_oidcc_rp_initiated_logout_no_id_token_hint(suite: Suite) -> None:
    flow = await _signed_in(suite)
    response = await suite.logout(_logout_params())
    assert_page(response)
    if response.status_code == 200 and "<form" in response.text:
        # A confirmation: even confirmed, no redirect to the (unauthenticated) URI.
        form = parse_form(response.text)
        confirmed = await suite.browser.post(form.action, data={**form.fields, "confirm": "yes"})
        assert not confirmed.headers.get("location", "").startswith(SUITE_BASE)
    else:
        assert (await suite.userinfo(flow.access_token)).status_code == 200


async def _confirm_logout_page(suite: Suite, response: httpx.Response) -> None:
    """A "you are logged out" page, perhaps after a confirmation the tester clicks."""
    assert_page(response)
    assert response.status_code == 200
    if "<form" in response.text:
        form = parse_form(response.text)
        response = await suite.browser.post(form.action, data={**form.fields, "confirm": "yes"})
        assert_page(response)
        assert response.status_code == 200
    assert "<form" not in response.text


async def test_oidcc_rp_initiated_logout_no_params(suite: Suite) -> None:
    flow = await _signed_in(suite)
    await _confirm_logout_page(suite, await suite.logout({}))
    # The stored module stops at the page; the person did sign out.
    await suite.assert_logged_out()
    assert (await suite.userinfo(flow.access_token)).status_code == 401


async def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(suite: Suite) -> None:
    flow = await _signed_in(suite)
    params = {"id_token_hint": flow.id_token, "state": secrets.token_urlsafe(12)}
    await _confirm_logout_page(suite, await suite.logout(params))
    await suite.assert_logged_out()


async def test_oidcc_rp_initiated_logout_no_state(suite: Suite) -> None:
    flow = await _signed_in(suite)
    response = await suite.logout(_logout_params(flow, state=""))
    _check_post_logout_redirect(response, None)
    await suite.assert_logged_out()


async def test_oidcc_rp_initiated_logout_only_state(suite: Suite) -> None:
    await _signed_in(suite)
    await _confirm_logout_page(suite, await suite.logout({"state": secrets.token_urlsafe(12)}))
    await suite.assert_logged_out()


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(f"{POST_LOGOUT}?foo=bar", id="query-added-to-post-logout-redirect-uri"),
        pytest.param(f"{SUITE_BASE}/bad_post_logout_redirect_uri", id="bad-post-logout-uri"),
    ],
)
async def test_oidcc_rp_initiated_logout_unregistered_uri(suite: Suite, uri: str) -> None:
    """oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri and
    -bad-post-logout-redirect-uri: exact matching; an error page (or a confirmation),
    never a redirect, to that URI or to the registered one."""
    flow = await _signed_in(suite)
    response = await suite.logout(_logout_params(flow, post_logout_redirect_uri=uri))
    assert_page(response)


@pytest.mark.parametrize("uri", [POST_LOGOUT, f"{SUITE_BASE}/bad_post_logout_redirect_uri"])
async def test_oidcc_rp_initiated_logout_no_client_id_bad_post_logout_redirect_uri(
    suite: Suite, uri: str
) -> None:
    """[SPEC] RP-Initiated Logout §3: with neither id_token_hint nor client_id the OP
    cannot tell whose URI it is: no redirect (registered or not)."""
    await _signed_in(suite)
    assert_page(await suite.logout({"post_logout_redirect_uri": uri, "state": "s"}))


async def test_oidcc_rp_initiated_logout_client_id_mismatch(suite: Suite) -> None:
    """[SPEC] RP-Initiated Logout §2: client_id with a hint must be the hint's audience."""
    flow = await _signed_in(suite)
    params = _logout_params(flow, client_id=OTHER_ID, post_logout_redirect_uri=OTHER_POST_LOGOUT)
    assert_page(await suite.logout(params))
    assert (await suite.userinfo(flow.access_token)).status_code == 200
    # The matching client_id is fine.
    matching = _logout_params(flow, client_id=CLIENT_ID)
    _check_post_logout_redirect(await suite.logout(matching), matching["state"])


async def test_spec_rp_initiated_logout_post_and_idempotent(suite: Suite) -> None:
    """[SPEC] RP-Initiated Logout §2: the OP supports POST as well as GET; logging out a
    session that has already ended is no error (the redirect still happens)."""
    flow = await _signed_in(suite)
    first = _logout_params(flow)
    _check_post_logout_redirect(await suite.logout(first, post=True), first["state"])
    await suite.assert_logged_out()
    again = _logout_params(flow)
    _check_post_logout_redirect(await suite.logout(again), again["state"])


async def test_spec_rp_initiated_logout_expired_hint(suite: Suite) -> None:
    """[SPEC] §2: the OP SHOULD accept an expired ID token as id_token_hint."""
    flow = await _signed_in(suite)
    suite.harness.clock.advance(timedelta(hours=2))  # idTokens: 1h
    params = _logout_params(flow)
    _check_post_logout_redirect(await suite.logout(params), params["state"])
    await suite.assert_logged_out()


async def test_spec_rp_initiated_logout_registered_uri_keeps_its_query(suite: Suite) -> None:
    """[SPEC] §3: state is added to the registered URI's own query."""
    flow = await suite.flow(login=True, client_id=OTHER_ID)
    params = _logout_params(flow, post_logout_redirect_uri=OTHER_POST_LOGOUT)
    query = _check_post_logout_redirect(
        await suite.logout(params), params["state"], OTHER_POST_LOGOUT
    )
    assert query == {"tenant": "a", "state": params["state"]}


async def test_spec_rp_initiated_logout_hint_of_another_person_asks_first(suite: Suite) -> None:
    """[SPEC] §2: admin is signed in in one browser; Bob's browser is sent to the logout
    endpoint with admin's ID token. The OP must ask Bob first, and until he confirms,
    admin stays signed in."""
    harness = suite.harness
    await add_second_user(harness)
    admin = await _signed_in(suite)
    bob = Suite(harness, await harness.browser())
    bob.discovery, bob.jwks = suite.discovery, suite.jwks
    answer = await bob.send(bob.request())
    await bob.redeem(await bob.sign_in(answer, login=SECOND_EMAIL, password=SECOND_PASSWORD))
    response = await bob.logout(_logout_params(admin))
    assert_page(response)  # a confirmation, not a redirect
    assert response.status_code == 200
    assert "<form" in response.text
    assert (await suite.userinfo(admin.access_token)).status_code == 200
    await suite.flow(login=False, prompt="none")  # admin's browser is still signed in
    # Bob confirms: his own session ends, admin's does not.
    form = parse_form(response.text)
    done = await bob.browser.post(form.action, data={**form.fields, "confirm": "yes"})
    assert done.status_code in (200, 303)
    await bob.assert_logged_out()
    assert (await suite.userinfo(admin.access_token)).status_code == 200
    await suite.flow(login=False, prompt="none")


# == Back-Channel Logout OP ==============================================================
class SuiteRelyingParty:
    """The suite's ``<base>/backchannel_logout``: 200, empty, Cache-Control: no-store."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []  # content type, form

    async def backchannel_logout(self, request: Request) -> Response:
        form = await request.form()
        values = {name: str(value) for name, value in form.items()}
        self.requests.append((request.headers.get("content-type", ""), values))
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/backchannel_logout", self.backchannel_logout, methods=["POST"])]
        )


@pytest.fixture
def relying_party() -> Iterator[tuple[SuiteRelyingParty, str]]:
    party = SuiteRelyingParty()
    with serve_app(party.app()) as base:
        yield party, base


async def test_oidcc_backchannel_rp_initiated_logout(
    anyio_backend: str, relying_party: tuple[SuiteRelyingParty, str]
) -> None:
    party, base = relying_party
    text = oidf_config(backchannel_uri=f"{base}/backchannel_logout")
    async with running(text) as harness:
        suite = await Suite.start(harness)  # the JWKS is fetched at the start
        flow = await _signed_in(suite)
        assert flow.claims.get("sid"), flow.claims  # sid support is required
        params = _logout_params(flow)
        response = await suite.logout(params)
        await harness.runtime.notifier.drain()  # type: ignore[union-attr]
        # Both, in either order: the back-channel POST and the browser's redirect.
        _check_post_logout_redirect(response, params["state"])
        [(content_type, form)] = party.requests
        assert content_type.startswith("application/x-www-form-urlencoded")
        assert set(form) == {"logout_token"}  # other parameters: WARN
        token = form["logout_token"]
        header = jwt.get_unverified_header(token)
        payload: dict[str, Any] = jwt.decode(
            token, suite.key(token), algorithms=["RS256"], audience=CLIENT_ID,
            issuer=suite.discovery["issuer"],
            options={"verify_exp": False, "verify_iat": False, "require": ["iat", "jti"]},
        )  # fmt: skip
        now = harness.clock().timestamp()
        assert isinstance(payload["iat"], int | float)
        assert payload["iat"] <= now + SKEW
        assert isinstance(payload["jti"], str)
        assert payload["jti"]
        assert payload["events"] == {LOGOUT_EVENT: {}}
        assert "nonce" not in payload
        assert "sub" in payload or "sid" in payload
        if "sub" in payload:
            assert payload["sub"] == flow.claims["sub"]
        if "sid" in payload:
            assert payload["sid"] == flow.claims["sid"]
        # [SPEC] Back-Channel Logout 1.0 §2.4: exp is required, typ logout+jwt recommended.
        assert isinstance(payload.get("exp"), int)
        assert now < payload["exp"] <= now + 300
        assert header.get("typ") == "logout+jwt"
        await suite.assert_logged_out()
