"""An in-process Passgate for endpoint tests: the real app from a config string, driven
through ``httpx.ASGITransport``, with helpers that walk the browser login in a few calls.

Everything the tests do goes through HTTP, exactly as a browser or an OAuth client would;
only time (a :class:`~passgate.clock.FrozenClock`) and storage (memory) are swapped.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
import httpx

from passgate.cli.compose import Runtime, build
from passgate.clock import FrozenClock
from passgate.config import parse_config
from passgate.keys.at_rest import signing_key_sealed_with
from passgate.storage.base import Storage
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Keys

ISSUER = "http://127.0.0.1:5556/dex"
BASE_URL = "http://127.0.0.1:5556"
PREFIX = "/dex"

CLIENT_ID = "example-app"
CLIENT_SECRET = "ZXhhbXBsZS1hcHAtc2VjcmV0"
REDIRECT_URI = "http://127.0.0.1:5555/callback"
OTHER_ID = "other-app"
OTHER_SECRET = "b3RoZXItYXBwLXNlY3JldA"
OTHER_REDIRECT_URI = "http://127.0.0.1:5555/other"
PUBLIC_ID = "kubectl"
SESSION_COOKIE = "passgate_session"  # the browser session cookie (http issuer: no prefix)
PUBLIC_REDIRECT_URI = "http://localhost:8000"

EMAIL = "admin@example.com"
PASSWORD = "password"
USER_ID = "08a8684b-db88-4b73-90a9-3cd1661f5466"

StorageFactory = Callable[[], Storage]  # an unopened backend

# RFC 6749 §4.1.2.1, §5.2 and RFC 6750 §3.1: every error code an endpoint may answer with.
REGISTERED_ERRORS = frozenset(
    {
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
        "unsupported_grant_type", "invalid_scope", "access_denied",
        "unsupported_response_type", "server_error", "temporarily_unavailable",
        "invalid_token", "insufficient_scope", "login_required", "consent_required",
        "interaction_required", "account_selection_required",
        "authorization_pending", "slow_down", "expired_token",
    }
)  # fmt: skip
# RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """bcrypt at the lowest cost: the tests check logic, not hashing speed."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def config_text(oauth2: str = "", expiry: str = "", extra: str = "") -> str:
    """The test issuer's config file; ``oauth2``/``expiry`` are YAML lines for those
    sections (indented by two spaces), ``extra`` more top-level YAML."""
    return f"""
issuer: {ISSUER}
storage:
  type: memory
web:
  http: 127.0.0.1:5556
oauth2:
  passwordConnector: local
{oauth2}
expiry:
  idTokens: 1h
{expiry}
enablePasswordDB: true
staticClients:
- id: {CLIENT_ID}
  name: Example App
  secret: {CLIENT_SECRET}
  redirectURIs: ["{REDIRECT_URI}"]
- id: {OTHER_ID}
  name: Other App
  secret: {OTHER_SECRET}
  redirectURIs: ["{OTHER_REDIRECT_URI}"]
- id: {PUBLIC_ID}
  name: kubectl
  public: true
  redirectURIs: ["{PUBLIC_REDIRECT_URI}"]
staticPasswords:
- email: {EMAIL}
  hash: "{password_hash()}"
  username: admin
  userID: {USER_ID}
  groups: [admins, developers]
{extra}
"""


def basic(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> dict[str, str]:
    """HTTP Basic client authentication (RFC 6749 §2.3.1)."""
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    """The query of a redirect target, single-valued (asserting no parameter repeats)."""
    parsed = parse_qs(urlsplit(location).query, keep_blank_values=True)
    for name, values in parsed.items():
        assert len(values) == 1, f"{name} repeated in {location}"
    return {name: values[0] for name, values in parsed.items()}


def without_query(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def assert_oauth_error(
    response: httpx.Response, *errors: str, status: int | None = None, no_store: bool = True
) -> str:
    """An RFC 6749 §5.2 JSON error: registered ``error`` (one of ``errors`` when given),
    a well-formed optional ``error_description``, and (unless ``no_store`` is false)
    ``Cache-Control: no-store``. Returns the error code."""
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text)
    assert 400 <= response.status_code < 600, response.status_code
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    assert body["error"] in REGISTERED_ERRORS, body
    if errors:
        assert body["error"] in errors, body
    if "error_description" in body:
        assert isinstance(body["error_description"], str), body
        assert DESCRIPTION.fullmatch(body["error_description"]), body
    if no_store:
        assert "no-store" in response.headers.get("cache-control", ""), response.headers
    return str(body["error"])


def assert_error_page(response: httpx.Response, status: int) -> None:
    """A page for the person (never a redirect, never JSON)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert "location" not in response.headers, response.headers
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "<html" in response.text


class _FormParser(HTMLParser):
    """The form with id ``form_id`` (the first form when None): its action, and the
    fields and buttons inside it."""

    def __init__(self, form_id: str | None = None) -> None:
        super().__init__()
        self.form_id = form_id
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, list[str]] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            wanted = self.form_id is None or attributes.get("id") == self.form_id
            self._inside = self.action is None and wanted
            if self._inside:
                self.action = attributes.get("action", "")
        elif not self._inside:
            return
        elif tag == "input" and "name" in attributes:
            unchecked = (
                attributes.get("type") in ("checkbox", "radio") and "checked" not in attributes
            )
            if not unchecked:  # a browser sends a box only when it is ticked
                self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "button" and "name" in attributes:
            self.buttons.setdefault(attributes["name"], []).append(attributes.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


@dataclass(frozen=True)
class Form:
    """A form of a page: where it posts and its pre-filled fields."""

    action: str
    fields: dict[str, str]
    buttons: dict[str, list[str]] = field(default_factory=dict)


def parse_form(html: str, form_id: str | None = None) -> Form:
    parser = _FormParser(form_id)
    parser.feed(html)
    assert parser.action, f"no form {form_id or ''} on the page"
    return Form(parser.action, parser.fields, parser.buttons)


@dataclass(frozen=True)
class CodeResult:
    """The client's view after a browser login: the code, state and PKCE verifier."""

    code: str
    state: str
    verifier: str
    redirect_uri: str
    client_id: str


class Harness:
    """One Passgate app and any number of browsers (cookie jars) talking to it."""

    def __init__(self, runtime: Runtime, clock: FrozenClock, stack: contextlib.AsyncExitStack):
        self.runtime = runtime
        self.clock = clock
        self._stack = stack
        self.client = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.runtime.app)
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL)

    async def browser(self) -> httpx.AsyncClient:
        """Another browser: a cookie jar of its own."""
        client = self._new_client()
        await self._stack.enter_async_context(client)
        return client

    # -- the authorization endpoint and the pages ----------------------------------
    @staticmethod
    def auth_params(
        *,
        client_id: str = CLIENT_ID,
        redirect_uri: str = REDIRECT_URI,
        scope: str = "openid email profile groups offline_access",
        state: str = "",
        verifier: str = "",
        **extra: str,
    ) -> dict[str, str]:
        params = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state or secrets.token_urlsafe(8),
            "nonce": "n-" + secrets.token_urlsafe(8),
        }
        if verifier:
            params["code_challenge"] = s256(verifier)
            params["code_challenge_method"] = "S256"
        params.update(extra)
        return params

    async def login_url(
        self, params: Mapping[str, str], browser: httpx.AsyncClient | None = None
    ) -> str:
        """GET /auth and follow Passgate's own redirects to the password form's URL. A
        sign-in from scratch: the browser's single sign-on cookie is dropped first, so a
        session from an earlier sign-in does not skip the form (tests of single sign-on
        keep it and call /auth themselves)."""
        browser = browser or self.client
        browser.cookies.delete(SESSION_COOKIE)
        response = await browser.get(f"{PREFIX}/auth", params=params)
        for _ in range(3):
            assert response.status_code == 302, (response.status_code, response.text[:300])
            location = response.headers["location"]
            if location.startswith(f"{PREFIX}/auth/") and "/login?" in location:
                return location
            response = await browser.get(location)
        raise AssertionError("no password form reached")

    async def login_form(self, url: str, browser: httpx.AsyncClient | None = None) -> Form:
        response = await (browser or self.client).get(url)
        assert response.status_code == 200, response.text[:300]
        return parse_form(response.text)

    async def submit_login(
        self,
        form: Form,
        *,
        login: str = EMAIL,
        password: str = PASSWORD,
        browser: httpx.AsyncClient | None = None,
        **overrides: str,
    ) -> httpx.Response:
        data = {**form.fields, "login": login, "password": password, **overrides}
        return await (browser or self.client).post(form.action, data=data)

    async def approval_form(self, url: str, browser: httpx.AsyncClient | None = None) -> Form:
        response = await (browser or self.client).get(url)
        assert response.status_code == 200, response.text[:300]
        return parse_form(response.text)

    async def submit_approval(
        self,
        form: Form,
        *,
        approval: str = "approve",
        browser: httpx.AsyncClient | None = None,
        **overrides: str,
    ) -> httpx.Response:
        data = {**form.fields, "approval": approval, **overrides}
        return await (browser or self.client).post(form.action, data=data)

    async def approval_url(
        self, params: Mapping[str, str], browser: httpx.AsyncClient | None = None
    ) -> str:
        """Sign in through the password form; the approval page's URL."""
        form = await self.login_form(await self.login_url(params, browser), browser)
        response = await self.submit_login(form, browser=browser)
        assert response.status_code == 303, (response.status_code, response.text[:300])
        location = response.headers["location"]
        assert location.startswith(f"{PREFIX}/approval?"), location
        return location

    async def get_code(
        self,
        *,
        client_id: str = CLIENT_ID,
        redirect_uri: str = REDIRECT_URI,
        scope: str = "openid email profile groups offline_access",
        pkce: bool = True,
        browser: httpx.AsyncClient | None = None,
        **extra: str,
    ) -> CodeResult:
        """A whole browser login (auth → password form → approval) up to the code."""
        verifier = new_verifier() if pkce else ""
        params = self.auth_params(
            client_id=client_id, redirect_uri=redirect_uri, scope=scope, verifier=verifier, **extra
        )
        url = await self.approval_url(params, browser)
        response = await self.submit_approval(
            await self.approval_form(url, browser), browser=browser
        )
        assert response.status_code == 303, (response.status_code, response.text[:300])
        location = response.headers["location"]
        assert without_query(location) == redirect_uri, location
        query = query_of(location)
        assert query["state"] == params["state"]
        return CodeResult(query["code"], query["state"], verifier, redirect_uri, client_id)

    # -- the token endpoint ---------------------------------------------------------
    async def token(
        self, data: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(f"{PREFIX}/token", data=dict(data), headers=headers)

    async def exchange(
        self,
        result: CodeResult,
        *,
        auth: Mapping[str, str] | None = None,
        **overrides: str,
    ) -> httpx.Response:
        """POST /token with the code (Basic auth for confidential clients)."""
        data = {
            "grant_type": "authorization_code",
            "code": result.code,
            "redirect_uri": result.redirect_uri,
        }
        if result.verifier:
            data["code_verifier"] = result.verifier
        headers: Mapping[str, str]
        if auth is not None:
            headers = auth
        elif result.client_id == PUBLIC_ID:
            data["client_id"] = PUBLIC_ID
            headers = {}
        else:
            secret = OTHER_SECRET if result.client_id == OTHER_ID else CLIENT_SECRET
            headers = basic(result.client_id, secret)
        data.update(overrides)
        return await self.token({k: v for k, v in data.items() if v is not None}, headers)

    async def tokens(self, **kwargs: Any) -> dict[str, Any]:
        """Log in and redeem the code: the token response (with a refresh token)."""
        response = await self.exchange(await self.get_code(**kwargs))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh(
        self, refresh_token: str, *, headers: Mapping[str, str] | None = None, **extra: str
    ) -> httpx.Response:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        return await self.token(data, basic() if headers is None else headers)

    async def userinfo(self, access_token: str) -> httpx.Response:
        return await self.client.get(f"{PREFIX}/userinfo", headers=bearer(access_token))


_KEYS: dict[datetime, Keys] = {}


@contextlib.asynccontextmanager
async def running(
    text: str | None = None, *, clock: FrozenClock | None = None, storage: Storage | None = None
) -> AsyncIterator[Harness]:
    """Build the app from a config string (default :func:`config_text`) on ``storage``
    (default a fresh :class:`MemoryStorage`; an opened one is closed afterwards)."""
    frozen = clock or FrozenClock()
    config = parse_config(text or config_text(), environ={})
    storage = storage or MemoryStorage()
    # An RSA key costs ~0.1 s to generate: reuse the first one made for this start time.
    start, cached = frozen(), _KEYS.get(frozen())
    if cached is not None:
        await storage.update_keys(lambda _old: cached)
    runtime = await build(config, clock=frozen, storage=storage)
    made = await storage.get_keys()
    if cached is None and not signing_key_sealed_with(made.signing_key):
        _KEYS[start] = made  # in the clear: a config with an encryptionKey seals it
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(runtime.close)
        harness = Harness(runtime, frozen, stack)
        await stack.enter_async_context(harness.client)
        yield harness
