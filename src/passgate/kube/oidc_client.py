"""The plugin's OpenID Connect client: discovery, the token endpoint, revocation, and
verification of the ID tokens it caches.

Only the sign-in, refresh and logout paths import this module (it pulls in httpx and
joserfc); a cache hit never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from passgate.kube.cache import CachedTokens
from passgate.kube.errors import OIDCError, TokenEndpointError
from passgate.kube.settings import TLSOptions

DEFAULT_TIMEOUT_S = 10.0
# ID token algorithms we accept when discovery names them (no "none", no HMAC).
ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
# OIDC Core §3.1.3.7: allow a little clock skew between the issuer and this machine.
LEEWAY_S = 60


def http_client(tls: TLSOptions, timeout_s: float = DEFAULT_TIMEOUT_S) -> httpx.Client:
    return httpx.Client(
        verify=tls.verify(),
        timeout=timeout_s,
        headers={"user-agent": "passgate-kubectl-plugin"},
        follow_redirects=False,
    )


@dataclass(frozen=True, slots=True)
class Provider:
    """The parts of the discovery document (OpenID Connect Discovery 1.0 §3) we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...] = ("RS256",)
    device_authorization_endpoint: str = ""  # RFC 8628 §4
    revocation_endpoint: str = ""  # RFC 8414 §2 / RFC 7009


class OIDCClient:
    def __init__(
        self,
        http: httpx.Client,
        issuer: str,
        client_id: str,
        client_secret: str = "",
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self._now = now
        self._provider: Provider | None = None
        self._keys: KeySet | None = None

    # -- discovery --------------------------------------------------------------------
    def provider(self) -> Provider:
        if self._provider is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = self._get_json(url, "discovery")
            # OIDC Discovery §4.3: the issuer in the document must equal the one we asked.
            if document.get("issuer") != self.issuer:
                raise OIDCError(
                    f"discovery at {url} names issuer {document.get('issuer')!r}, "
                    f"not {self.issuer!r}"
                )
            try:
                self._provider = Provider(
                    issuer=self.issuer,
                    authorization_endpoint=_string(document, "authorization_endpoint"),
                    token_endpoint=_string(document, "token_endpoint"),
                    jwks_uri=_string(document, "jwks_uri"),
                    algorithms=_algorithms(document),
                    device_authorization_endpoint=_string(
                        document, "device_authorization_endpoint", required=False
                    ),
                    revocation_endpoint=_string(document, "revocation_endpoint", required=False),
                )
            except (KeyError, TypeError) as error:
                raise OIDCError(f"discovery at {url} is incomplete: {error}") from None
        return self._provider

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self.http.get(url)
        except httpx.HTTPError as error:
            raise OIDCError(f"cannot reach the issuer ({what}, {url}): {error}") from None
        if response.status_code != 200:
            raise OIDCError(f"{what} at {url} answered HTTP {response.status_code}")
        return _json_object(response, what)

    # -- token endpoint ---------------------------------------------------------------
    def client_form(self, form: Mapping[str, str]) -> tuple[dict[str, str], httpx.Auth | None]:
        """RFC 6749 §2.3.1: a confidential client authenticates with HTTP Basic (each part
        form-urlencoded); a public one only names itself (§3.2.1)."""
        if self.client_secret:
            auth = httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self.client_secret))
            return dict(form), auth
        return {**form, "client_id": self.client_id}, None

    def post_form(
        self, url: str, form: Mapping[str, str], what: str, *, answer: bool = True
    ) -> dict[str, Any]:
        """POST with client authentication; an RFC 6749 §5.2 error raises TokenEndpointError.
        ``answer=False``: any 200 will do (RFC 7009 §2.2 revocation has no body)."""
        data, auth = self.client_form(form)
        try:
            response = self.http.post(url, data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as error:
            raise OIDCError(f"cannot reach the issuer ({what}, {url}): {error}") from None
        if response.status_code == 200:
            return _json_object(response, what) if answer else {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            description = body.get("error_description")
            raise TokenEndpointError(
                body["error"], description if isinstance(description, str) else ""
            )
        raise OIDCError(f"{what} at {url} answered HTTP {response.status_code}")

    def tokens(self, form: Mapping[str, str], *, nonce: str | None) -> CachedTokens:
        """POST the token endpoint and verify the ID token in its answer."""
        body = self.post_form(self.provider().token_endpoint, form, "token request")
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OIDCError("the token response carries no id_token (was 'openid' asked?)")
        claims = self.verify_id_token(id_token, nonce=nonce)
        refresh = body.get("refresh_token")
        return CachedTokens(
            id_token, int(claims["exp"]), refresh if isinstance(refresh, str) else ""
        )

    def refresh(self, previous: CachedTokens) -> CachedTokens:
        """RFC 6749 §6; OIDC Core §12.2 (a new ID token, no nonce). A server that does not
        rotate refresh tokens returns none, and the old one stays valid."""
        form = {"grant_type": "refresh_token", "refresh_token": previous.refresh_token}
        tokens = self.tokens(form, nonce=None)
        if not tokens.refresh_token:
            return CachedTokens(tokens.id_token, tokens.expires_at, previous.refresh_token)
        return tokens

    def revoke(self, refresh_token: str) -> bool:
        """RFC 7009 §2.1; False when the issuer advertises no revocation endpoint."""
        endpoint = self.provider().revocation_endpoint
        if not endpoint:
            return False
        form = {"token": refresh_token, "token_type_hint": "refresh_token"}
        self.post_form(endpoint, form, "revocation", answer=False)
        return True

    # -- ID token verification ---------------------------------------------------------
    def verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        """OIDC Core §3.1.3.7: signature by a key of the issuer's JWKS, iss, aud contains
        our client id, exp, and the nonce we sent at sign-in."""
        provider = self.provider()
        try:
            header = jws.extract_compact(id_token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError) as error:
            raise OIDCError(f"the ID token is malformed: {error}") from None
        keys = self._key_set(refresh=False)
        kid = header.get("kid")
        if isinstance(kid, str) and not any(key.kid == kid for key in keys.keys):
            keys = self._key_set(refresh=True)  # the issuer may have rotated its keys
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(now=lambda: int(self._now()), leeway=LEEWAY_S, **options)
        try:
            token = jwt.decode(id_token, keys, algorithms=list(provider.algorithms))
            registry.validate(token.claims)
        except (JoseError, ValueError) as error:
            raise OIDCError(f"the ID token failed verification: {error}") from None
        exp = token.claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise OIDCError("the ID token's exp is not a number")
        return token.claims

    def _key_set(self, *, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            document = self._get_json(self.provider().jwks_uri, "JWKS")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as error:
                raise OIDCError(f"the issuer's JWKS is unusable: {error}") from None
        return self._keys


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OIDCError(f"{what} at {response.url} did not answer a JSON object")
    return body


def _string(document: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = document.get(name)
    if isinstance(value, str) and value:
        return value
    if required:
        raise KeyError(name)
    return ""


def _algorithms(document: Mapping[str, Any]) -> tuple[str, ...]:
    # OIDC Discovery §3: RS256 MUST be supported; keep only signature algorithms we trust.
    named = document.get("id_token_signing_alg_values_supported")
    if not isinstance(named, list):
        return ("RS256",)
    chosen = tuple(alg for alg in named if alg in ACCEPTED_ALGORITHMS)
    return chosen or ("RS256",)
