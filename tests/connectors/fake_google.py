"""A fake Google on loopback, built from Google's documented behaviour: the OpenID
provider (discovery, JWKS, the authorization page, the token endpoint with ID tokens
carrying Google's claims), the service-account JWT bearer grant of domain-wide
delegation, and the Admin SDK Directory API ``groups.list`` with its pagination,
error bodies and rate limits.

    google = FakeGoogle(clock); google.add_user("jane@example.com", admin=False)
    with google.serve() as base_url: ...
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from connectors.fakeoauth import client_credentials, redirect_back, request_params
from connectors.fakeserver import serve_app
from passgate.clock import Clock

CLIENT_ID = "123456789012-passgate.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-fake-client-secret"
SA_EMAIL = "passgate-groups@passgate-test.iam.gserviceaccount.com"
SA_CLIENT_ID = "109876543210987654321"
GROUP_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google's answer when the scope was not delegated to the service account's client id.
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)
_EXPANDED = {  # how Google names the basic scopes back in its answers
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}

# The rest of https://accounts.google.com/.well-known/openid-configuration.
DISCOVERY_METADATA = {
    "response_types_supported": ["code", "token", "id_token", "code token", "code id_token",
                                 "token id_token", "code token id_token", "none"],
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "scopes_supported": ["openid", "email", "profile"],
    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name",
                         "iat", "iss", "name", "picture", "sub"],
    "code_challenge_methods_supported": ["plain", "S256"],
    "grant_types_supported": ["authorization_code", "refresh_token",
                              "urn:ietf:params:oauth:grant-type:device_code", JWT_BEARER],
}  # fmt: skip

Handler = Callable[[Request], Response | None]
Endpoint = Callable[[Request, dict[str, str]], Awaitable[Response]]


@functools.cache
def rsa_key(name: str) -> RSAKey:
    """2048-bit keys are slow to make: one per name for the whole run."""
    return RSAKey.generate_key(2048, parameters={"kid": name}, private=True)


def api_error(status: int, message: str, reason: str, extra: str = "") -> JSONResponse:
    """Google's JSON error body (``{"error": {"code", "message", "errors": [...]}}``)."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
    }
    if extra:
        error["status"] = extra
    return JSONResponse({"error": error}, status_code=status)


def rate_limited(status: int = 429) -> JSONResponse:
    """What the Admin SDK answers when the project's per-minute quota is spent."""
    message = (
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' "
        "of service 'admin.googleapis.com' for consumer 'project_number:123456789012'."
    )
    reason = "rateLimitExceeded" if status == 429 else "userRateLimitExceeded"
    return api_error(status, message, reason, "RESOURCE_EXHAUSTED")


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def error_page(status: int, error: str, detail: str) -> HTMLResponse:
    """Google shows errors of the authorization request on its own page, no redirect."""
    body = f"<html><body><h1>Access blocked</h1><p>Error {status}: {error}</p><p>{detail}</p>"
    return HTMLResponse(body + "</body></html>", status_code=status)


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str) -> int | None:
    """The offset a page token stands for; ``None`` for a token we never gave out."""
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token).decode().partition(":")
        return int(number) if kind == "offset" else None
    except ValueError:
        return None


@dataclass
class Account:
    email: str
    name: str
    sub: str
    hd: str = ""  # Workspace accounts only
    email_verified: bool = True
    admin: bool = False  # may read the directory of its own domain
    disabled: bool = False  # suspended: refresh tokens stop working


@dataclass
class Group:
    email: str
    name: str
    id: str
    members: set[str] = field(default_factory=set)  # users' or groups' addresses


@dataclass
class Grant:
    email: str
    scopes: list[str]
    redirect_uri: str = ""
    nonce: str = ""
    refresh: bool = False


class FakeGoogle:
    """State the tests change between requests, and the app that serves it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.base_url = ""
        self.key = rsa_key("google-1")
        self.accounts: dict[str, Account] = {}
        self.groups: dict[str, Group] = {}
        self.signed_in = ""  # the Google account in the browser
        self.redirect_uris: set[str] = set()
        self.sa_keys: dict[str, RSAKey] = {}  # kid -> public key of SA_EMAIL
        self.delegated: set[str] = {GROUP_SCOPE}  # scopes delegated to SA_CLIENT_ID
        self.page_size = 200
        self.iss = ""  # another issuer spelling in ID tokens ("accounts.google.com")
        self.fail: dict[str, Handler] = {}  # path -> canned answer (or None: go on)
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.consented: set[str] = set()
        self.codes: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.directory_tokens: dict[str, tuple[str, float]] = {}  # token -> (admin, exp)

    # -- set-up ---------------------------------------------------------------------
    def add_user(self, email: str, name: str = "", **fields: Any) -> Account:
        local, _, domain = email.partition("@")
        hd = "" if domain == "gmail.com" else domain
        sub = str(100000000000000000000 + len(self.accounts))
        account = Account(email, name or local.title(), sub, hd, **fields)
        self.accounts[email] = account
        self.signed_in = self.signed_in or email
        return account

    def add_group(self, email: str, *members: str) -> Group:
        group = Group(email, email.partition("@")[0].title(), f"0{secrets.token_hex(7)}")
        group.members.update(members)
        self.groups[email] = group
        return group

    def key_file(self, directory: Path, kid: str = "sa-key-1") -> Path:
        """A service account key file as the Cloud console downloads it."""
        key = rsa_key(kid)
        self.sa_keys[kid] = RSAKey.import_key(key.as_dict(private=False))
        data = {
            "type": "service_account",
            "project_id": "passgate-test",
            "private_key_id": kid,
            "private_key": key.as_pem(private=True).decode(),
            "client_email": SA_EMAIL,
            "client_id": SA_CLIENT_ID,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.base_url}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{SA_EMAIL}",
            "universe_domain": "googleapis.com",
        }
        path = directory / f"{kid}.json"
        path.write_text(json.dumps(data))
        return path

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        with serve_app(self.app()) as url:
            self.base_url = url
            yield url

    def count(self, path: str) -> int:
        return sum(1 for called, _ in self.calls if called == path)

    def now(self) -> int:
        return int(self.clock().timestamp())

    # -- the app --------------------------------------------------------------------
    def app(self) -> Starlette:
        def route(path: str, handler: Endpoint, method: str) -> Route:
            async def endpoint(request: Request) -> Response:
                params = await request_params(request)
                self.calls.append((path, params))
                if path in self.fail and (canned := self.fail[path](request)) is not None:
                    return canned
                return await handler(request, params)

            return Route(path, endpoint, methods=[method])

        return Starlette(
            routes=[
                route("/.well-known/openid-configuration", self.discovery, "GET"),
                route("/oauth2/v3/certs", self.certs, "GET"),
                route("/o/oauth2/v2/auth", self.authorize, "GET"),
                route("/token", self.token, "POST"),
                route("/admin/directory/v1/groups", self.groups_list, "GET"),
            ]
        )

    async def discovery(self, _request: Request, _params: dict[str, str]) -> Response:
        base = self.base_url
        endpoints = {
            "issuer": base,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "device_authorization_endpoint": f"{base}/device/code",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
        }
        return JSONResponse({**endpoints, **DISCOVERY_METADATA})

    async def certs(self, _request: Request, _params: dict[str, str]) -> Response:
        public = {**self.key.as_dict(private=False), "use": "sig", "alg": "RS256"}
        return JSONResponse({"keys": [public]})

    async def authorize(self, _request: Request, q: dict[str, str]) -> Response:
        if q.get("client_id") != CLIENT_ID:
            return error_page(401, "invalid_client", "The OAuth client was not found.")
        if q.get("redirect_uri") not in self.redirect_uris:
            return error_page(400, "redirect_uri_mismatch", "redirect_uri is not registered")
        if q.get("response_type") != "code":
            return error_page(400, "invalid_request", "response_type must be code here")
        scopes = q.get("scope", "").split()
        bad = [s for s in scopes if s not in ("openid", "email", "profile", *_EXPANDED.values())]
        if bad or not scopes:
            detail = f"Some requested scopes were invalid. {{invalid=[{', '.join(bad)}]}}"
            return error_page(400, "invalid_scope", detail)
        prompts = q.get("prompt", "").split()
        if any(p not in ("none", "consent", "select_account") for p in prompts):
            return error_page(400, "invalid_request", f"Invalid prompt: {q['prompt']}")
        if q.get("access_type", "online") not in ("online", "offline"):
            return error_page(400, "invalid_request", "Invalid access_type")
        account = self.accounts[self.signed_in]
        first = account.email not in self.consented
        self.consented.add(account.email)
        # Google hands out a refresh token for offline access on the first consent only,
        # unless the consent screen is shown again (prompt=consent).
        offline = q.get("access_type") == "offline" and (first or "consent" in prompts)
        code = f"4/0A{secrets.token_urlsafe(24)}"
        self.codes[code] = Grant(
            account.email, scopes, q["redirect_uri"], q.get("nonce", ""), offline
        )
        back = {
            "state": q.get("state", ""),
            "code": code,
            "scope": " ".join(_EXPANDED.get(s, s) for s in scopes),
            "authuser": "0",
            **({"hd": account.hd} if account.hd else {}),
            "prompt": "consent" if first or "consent" in prompts else "none",
        }
        return redirect_back(q["redirect_uri"], back)

    async def token(self, request: Request, form: dict[str, str]) -> Response:
        if form.get("grant_type") == JWT_BEARER:
            return self.service_account_token(form.get("assertion", ""))
        client_id, secret = client_credentials(request, form)
        if client_id != CLIENT_ID:
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if not secrets.compare_digest(secret, CLIENT_SECRET):
            return oauth_error(401, "invalid_client", "Unauthorized")
        kind = form.get("grant_type")
        if kind == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return oauth_error(400, "invalid_grant", "Bad Request")
            if form.get("redirect_uri") != grant.redirect_uri:
                return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            return JSONResponse(self.tokens(grant, with_refresh=grant.refresh))
        if kind == "refresh_token":
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            account = self.accounts.get(grant.email) if grant else None
            if grant is None or account is None or account.disabled:
                return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            return JSONResponse(self.tokens(Grant(grant.email, grant.scopes), with_refresh=False))
        return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {kind}")

    def tokens(self, grant: Grant, *, with_refresh: bool) -> dict[str, Any]:
        access = f"ya29.a0{secrets.token_urlsafe(32)}"
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": 3599,
            "scope": " ".join(_EXPANDED.get(s, s) for s in grant.scopes),
            "token_type": "Bearer",
        }
        if "openid" in grant.scopes:
            body["id_token"] = self.id_token(grant, access)
        if with_refresh:
            refresh = f"1//0g{secrets.token_urlsafe(40)}"
            self.refresh_tokens[refresh] = grant
            body["refresh_token"] = refresh
        return body

    def id_token(self, grant: Grant, access_token: str) -> str:
        account = self.accounts[grant.email]
        digest = hashlib.sha256(access_token.encode()).digest()
        claims: dict[str, Any] = {
            "iss": self.iss or self.base_url,
            "azp": CLIENT_ID,
            "aud": CLIENT_ID,
            "sub": account.sub,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
            "iat": self.now(),
            "exp": self.now() + 3599,
        }
        if account.hd:
            claims["hd"] = account.hd
        if "email" in grant.scopes:
            claims.update(email=account.email, email_verified=account.email_verified)
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if "profile" in grant.scopes:
            given, _, family = account.name.partition(" ")
            claims.update(
                name=account.name,
                picture=f"https://lh3.googleusercontent.com/a/{account.sub}=s96-c",
                given_name=given,
                family_name=family,
            )
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=["RS256"])

    # -- domain-wide delegation (RFC 7523 §2.1) -------------------------------------------
    def service_account_token(self, assertion: str) -> Response:
        try:
            kid = jws.extract_compact(assertion.encode()).headers().get("kid", "")
            key = self.sa_keys[kid]
            claims = jwt.decode(assertion, key, algorithms=["RS256"]).claims
        except (JoseError, ValueError, KeyError):
            return oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("iss") != SA_EMAIL:
            return oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        if claims.get("aud") != f"{self.base_url}/token":
            return oauth_error(
                400,
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The right audience is {self.base_url}/token",
            )
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 300 <= self.now() < exp and exp - iat <= 3600):
            return oauth_error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        if not set(str(claims.get("scope", "")).split()) <= self.delegated:
            return oauth_error(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
        subject = self.accounts.get(str(claims.get("sub", "")))
        if subject is None or subject.disabled:
            return oauth_error(400, "invalid_grant", "Invalid email or User ID")
        token = f"ya29.c.b0{secrets.token_urlsafe(32)}"
        self.directory_tokens[token] = (subject.email, self.now() + 3599)
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    # -- Admin SDK Directory API: groups.list ---------------------------------------------
    async def groups_list(self, request: Request, q: dict[str, str]) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        admin, expiry = self.directory_tokens.get(token, ("", 0))
        if expiry <= self.now():
            return api_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                "authError",
                "UNAUTHENTICATED",
            )
        key = q.get("userKey", "")
        if not key:
            return api_error(400, "Bad Request", "badRequest")
        account = self.accounts[admin]
        if not account.admin or key.rpartition("@")[2] != account.hd:
            return api_error(403, "Not Authorized to access this resource/api", "forbidden")
        if key not in self.accounts and key not in self.groups:
            return api_error(404, "Resource Not Found: userKey", "notFound")
        member_of = sorted(
            (g for g in self.groups.values() if key in g.members), key=lambda g: g.email
        )
        start = _offset(q.get("pageToken", ""))
        if start is None or start > len(member_of):
            return api_error(400, "Invalid Input: pageToken", "invalid")
        size = min(self.page_size, int(q.get("maxResults", "200")))
        page = member_of[start : start + size]
        body: dict[str, Any] = {
            "kind": "admin#directory#groups",
            "etag": f'"{secrets.token_hex(8)}"',
        }
        if page:
            body["groups"] = [self.resource(group) for group in page]
        if start + size < len(member_of):
            body["nextPageToken"] = _page_token(start + size)
        return JSONResponse(body)

    @staticmethod
    def resource(group: Group) -> dict[str, Any]:
        local, _, domain = group.email.partition("@")
        return {
            "kind": "admin#directory#group", "id": group.id, "etag": f'"{group.id}/etag"',
            "email": group.email, "name": group.name, "description": "", "adminCreated": True,
            "directMembersCount": str(len(group.members)),
            "nonEditableAliases": [f"{local}@{domain}.test-google-a.com"],
        }  # fmt: skip
