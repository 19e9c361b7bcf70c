"""A small in-memory OpenID provider behind ``httpx.MockTransport``, for the plugin's
unit tests: discovery, JWKS, a token endpoint whose answers a test scripts, the device
endpoint (RFC 8628 §3.1) and revocation (RFC 7009). ID tokens are signed with joserfc."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from passgate.kube.oidc_client import OIDCClient

ISSUER = "https://sso.example.com/dex"
CLIENT_ID = "kubectl"

TokenHandler = Callable[[dict[str, str]], httpx.Response]


def json_response(body: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def oauth_error(error: str, status: int = 400) -> httpx.Response:
    return json_response({"error": error, "error_description": f"{error} (test)"}, status)


@dataclass
class FakeIssuer:
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}))
    device: bool = True
    revocation: bool = True
    now: Callable[[], float] = time.time
    token_handler: TokenHandler | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    jwks_fetches: int = 0

    def id_token(self, lifetime: int = 300, **claims: Any) -> str:
        now = int(self.now())
        body = {
            "iss": ISSUER,
            "sub": "jane",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + lifetime,
            "email": "jane@example.com",
        }
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, body, self.key)

    def tokens(self, refresh: str = "refresh-2", **claims: Any) -> httpx.Response:
        body = {"access_token": "at", "token_type": "bearer", "id_token": self.id_token(**claims)}
        if refresh:
            body["refresh_token"] = refresh
        return json_response(body)

    def discovery(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        if self.device:
            document["device_authorization_endpoint"] = f"{ISSUER}/device/code"
        if self.revocation:
            document["revocation_endpoint"] = f"{ISSUER}/token/revoke"
        return document

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/dex")
        form = {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
        self.requests.append((path, form))
        if path == "/.well-known/openid-configuration":
            return json_response(self.discovery())
        if path == "/keys":
            self.jwks_fetches += 1
            return json_response(dict(KeySet([self.key]).as_dict(private=False)))
        if path == "/token":
            assert self.token_handler is not None, f"unexpected token request {form}"
            return self.token_handler(form)
        if path == "/device/code":
            return json_response(
                {
                    "device_code": "dev-code",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": f"{ISSUER}/device",
                    "verification_uri_complete": f"{ISSUER}/device?user_code=WDJB-MJHT",
                    "expires_in": 300,
                    "interval": 5,
                }
            )
        if path == "/token/revoke":
            self.revoked.append(form["token"])
            return httpx.Response(200)
        return httpx.Response(404, text=json.dumps({"error": "not found"}))

    def client(self, secret: str = "") -> OIDCClient:
        http = httpx.Client(transport=httpx.MockTransport(self.handle))
        return OIDCClient(http, ISSUER, CLIENT_ID, secret, now=self.now)

    def token_requests(self) -> list[dict[str, str]]:
        return [form for path, form in self.requests if path == "/token"]
