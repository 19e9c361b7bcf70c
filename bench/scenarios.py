"""The measured scenarios, written against any Dex-compatible issuer.

Each scenario is a worker whose ``step`` is one measured operation; every worker is one
client with its own connection. Hot loops use the lean :mod:`bench.rawhttp` client unless
``client="httpx"``; logins always use httpx, which keeps cookies and reads pages.

``tokenreview`` and ``forward_auth`` call Passgate's own endpoints; ``forward_auth`` also
needs the ``forwardAuth`` section the bench writes, so it runs only against the Passgate
the bench starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

import httpx

from bench import forwardauth
from bench.loadgen import Worker, WorkerFactory
from bench.loginflow import authorization_code_login
from bench.rawhttp import Connection
from bench.target import Endpoints, FlowError, Target, basic_auth, need, token_response

ClientKind = Literal["raw", "httpx"]
#: Passgate's TokenReview webhook, below the issuer (not in discovery).
TOKENREVIEW_PATH = "/kubernetes/tokenreview"


class _HttpWorker:
    """One client: an httpx client for pages, and a raw connection for hot loops."""

    def __init__(
        self,
        target: Target,
        endpoints: Endpoints,
        timeout: float,
        client: ClientKind = "raw",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target = target
        self.endpoints = endpoints
        # The last token answer (the peer comparison counts the tokens it signed).
        self.answer: Mapping[str, object] = {}
        self.browser = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=1),
            follow_redirects=False,
            transport=self._transport(transport),
        )
        self.raw = Connection(timeout) if client == "raw" else None

    def _transport(
        self, transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncBaseTransport | None:
        """The browser's transport (``None``: httpx's network)."""
        return transport

    async def setup(self) -> None:
        pass

    async def step(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        await self.browser.aclose()
        if self.raw is not None:
            await self.raw.close()

    async def _send(
        self,
        url: str,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """GET, or POST ``form``; the status and body."""
        headers = headers or {}
        if self.raw is not None:
            if form is None:
                raw = await self.raw.get(url, headers)
            else:
                raw = await self.raw.post_form(url, form, headers)
            return raw.status, raw.body
        if form is None:
            response = await self.browser.get(url, headers=headers)
        else:
            response = await self.browser.post(url, data=form, headers=headers)
        return response.status_code, response.content

    async def _get_ok(self, url: str) -> None:
        status, _ = await self._send(url)
        if status != 200:
            raise FlowError(f"GET {url}: {status}")

    async def _token(self, form: Mapping[str, str]) -> dict[str, object]:
        client_id = need(self.target.client_id, "client_id")
        auth = basic_auth(client_id, need(self.target.client_secret, "client_secret"))
        status, body = await self._send(self.endpoints.token, form, {"Authorization": auth})
        tokens = self.answer = token_response(status, body)
        return tokens


class DiscoveryWorker(_HttpWorker):
    async def step(self) -> None:
        await self._get_ok(self.endpoints.discovery)


class JwksWorker(_HttpWorker):
    async def step(self) -> None:
        await self._get_ok(self.endpoints.jwks)


class ClientCredentialsWorker(_HttpWorker):
    scope = "openid"  # Passgate then adds an ID token to the access token: two signatures

    async def step(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        await self._token(form)


class AccessTokenWorker(ClientCredentialsWorker):
    """``client_credentials`` without a scope: one signed access token and no ID token,
    as the peer answers it (shared/peers/README.md), so both sign once."""

    scope = ""


class RefreshWorker(_HttpWorker):
    """Chains its own refresh token: each response's new token is the next request's."""

    refresh_token = ""

    async def setup(self) -> None:
        tokens = await authorization_code_login(self.browser, self.endpoints, self.target)
        if "refresh_token" not in tokens:
            raise FlowError("login gave no refresh_token (offline_access refused?)")
        self.refresh_token = tokens["refresh_token"]

    async def step(self) -> None:
        tokens = await self._token(
            {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        )
        # Without rotation the server may keep the old token and send none back.
        new = tokens.get("refresh_token", self.refresh_token)
        if not isinstance(new, str):
            raise FlowError("refresh_token in the response is not a string")
        self.refresh_token = new


class TokenReviewWorker(_HttpWorker):
    """kube-apiserver's webhook call: POST a TokenReview (authentication.k8s.io/v1) with
    one ID token, signed in once at setup; every answer must authenticate."""

    body = b""

    async def setup(self) -> None:
        tokens = await authorization_code_login(self.browser, self.endpoints, self.target)
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "metadata": {"creationTimestamp": None},
            "spec": {"token": tokens["id_token"]},
            "status": {"user": {}},
        }
        self.body = json.dumps(review).encode()

    async def step(self) -> None:
        url = self.target.issuer.rstrip("/") + TOKENREVIEW_PATH
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.raw is not None:
            raw = await self.raw.request("POST", url, headers, self.body)
            status, body = raw.status, raw.body
        else:
            response = await self.browser.post(url, content=self.body, headers=headers)
            status, body = response.status_code, response.content
        if status != 200:
            raise FlowError(f"POST {url}: {status}")
        if not json.loads(body).get("status", {}).get("authenticated"):
            raise FlowError(f"TokenReview not authenticated: {body[:200]!r}")


class ForwardAuthWorker(_HttpWorker):
    """nginx ``auth_request`` for a person signed in to a protected site: the person signs
    in once at setup, through the site's proxy; each step is the subrequest nginx makes
    before serving one page, and must let the person in with their identity headers."""

    url = ""
    headers: Mapping[str, str] = {}

    def _transport(
        self, transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncBaseTransport | None:
        host = need(self.target.forward_auth_host, "forward_auth_host")
        inner = transport or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1))
        return forwardauth.SiteProxy(self.target.issuer, host, inner)

    async def setup(self) -> None:
        cookie = await forwardauth.sign_in(self.browser, self.target)
        host = need(self.target.forward_auth_host, "forward_auth_host")
        self.url = forwardauth.auth_url(self.target.issuer)
        self.headers = forwardauth.auth_headers(host, cookie)

    async def step(self) -> None:
        if self.raw is not None:
            raw = await self.raw.get(self.url, self.headers)
            status, email = raw.status, raw.headers.get("x-auth-request-email", "")
        else:
            response = await self.browser.get(self.url, headers=self.headers)
            status = response.status_code
            email = response.headers.get("x-auth-request-email", "")
        if status != 202:
            raise FlowError(f"GET {self.url} for {self.headers['Host']}: {status}, not 202")
        if email != self.target.username:
            raise FlowError(f"X-Auth-Request-Email is {email!r}, not {self.target.username!r}")


class LoginWorker(_HttpWorker):
    async def step(self) -> None:
        self.answer = await authorization_code_login(self.browser, self.endpoints, self.target)


_WORKERS: dict[str, type[_HttpWorker]] = {
    "discovery": DiscoveryWorker,
    "jwks": JwksWorker,
    "client_credentials": ClientCredentialsWorker,
    "refresh_token": RefreshWorker,
    "login": LoginWorker,
    "tokenreview": TokenReviewWorker,
    "forward_auth": ForwardAuthWorker,
}
SCENARIOS = tuple(_WORKERS)
# What both Passgate and the peer serve, asked the same way of both (bench/compare.py).
_COMPARED: dict[str, type[_HttpWorker]] = {
    "discovery": DiscoveryWorker,
    "jwks": JwksWorker,
    "client_credentials": AccessTokenWorker,
    "refresh_token": RefreshWorker,
    "login": LoginWorker,
}
COMPARED = tuple(_COMPARED)


def missing_inputs(scenario: str, target: Target) -> list[str]:
    """What the target lacks for ``scenario`` (empty: it can run)."""
    if scenario in ("discovery", "jwks"):
        return []
    if scenario == "forward_auth":
        # The built-in client signs in; the site is the one the bench configured.
        needs = {
            "username": target.username,
            "password": target.password,
            "forward_auth_host": target.forward_auth_host,
        }
        return [name for name, value in needs.items() if value is None]
    needs = {"client_id": target.client_id, "client_secret": target.client_secret}
    if scenario in ("refresh_token", "login", "tokenreview"):
        needs |= {
            "redirect_uri": target.redirect_uri,
            "username": target.username,
            "password": target.password,
        }
    return [name for name, value in needs.items() if value is None]


def skip_reason(scenario: str, target: Target) -> str | None:
    """Why ``scenario`` cannot run against ``target``, for the person running the bench
    (None: it can)."""
    missing = missing_inputs(scenario, target)
    if "forward_auth_host" in missing:
        return (
            "needs the forwardAuth section the bench writes into the config of the "
            "Passgate it starts (not available with --issuer)"
        )
    if missing:
        return "needs " + " ".join("--" + m.replace("_", "-") for m in missing)
    return None


def worker_factory(
    scenario: str,
    target: Target,
    endpoints: Endpoints,
    timeout: float = 10.0,
    client: ClientKind = "raw",
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    compared: bool = False,
) -> WorkerFactory:
    """Workers for ``scenario``, as the peer comparison asks it when ``compared``;
    ``transport`` (tests) replaces httpx's network."""
    cls = _COMPARED[scenario] if compared else _WORKERS[scenario]

    def make(_index: int) -> Worker:
        return cls(target, endpoints, timeout, client, transport)

    return make
