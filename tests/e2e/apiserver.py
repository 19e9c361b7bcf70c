"""A stand-in for kube-apiserver: HTTPS with its own throwaway CA, bearer tokens checked
with the apiserver's OIDC rules (``e2e.kube``), and just enough API for
``kubectl auth whoami`` (a SelfSubjectReview) and kubectl's discovery.

    with kube_apiserver(issuer_url, "kubectl", issuer_ca=ca_path, directory=tmp) as api:
        api.url, api.ca_pem  # for a kubeconfig's cluster entry
        api.requests         # (method, path, status) of every request it answered

It runs uvicorn in a thread of the test process.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from e2e.kube import KubeOIDCAuthenticator, Rejected
from e2e.support import free_port
from e2e.tls import make_tls_files

START_TIMEOUT_S = 10.0
AUTH_GROUP = "authentication.k8s.io"


@dataclass
class FakeAPIServer:
    url: str
    ca_pem: bytes
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def reviews(self, status: int) -> int:
        """How many SelfSubjectReviews were answered with ``status``."""
        return sum(
            1 for _, path, code in self.requests if "selfsubjectreviews" in path and code == status
        )


def status(code: int, reason: str, message: str) -> JSONResponse:
    """A ``meta/v1`` Status, as the apiserver answers errors."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return JSONResponse(body, status_code=code)


def _app(
    state: FakeAPIServer, issuer_url: str, client_id: str, issuer_ca: Path | None
) -> Starlette:
    verify: ssl.SSLContext | bool = True
    if issuer_ca is not None:
        verify = ssl.create_default_context(cafile=str(issuer_ca))
    checker: dict[str, KubeOIDCAuthenticator] = {}
    discovered = False

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(verify=verify, timeout=10.0) as http:
            checker["oidc"] = KubeOIDCAuthenticator(http, issuer_url, client_id)
            yield

    async def authenticate(request: Request) -> Any:
        nonlocal discovered
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return status(401, "Unauthorized", "Unauthorized")
        authenticator = checker["oidc"]
        try:
            if not discovered:  # lazily, as the apiserver retries discovery
                await authenticator.discover()
                discovered = True
            return await authenticator.authenticate(header[7:].strip())
        except Rejected:
            return status(401, "Unauthorized", "Unauthorized")

    def recorded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            user = await authenticate(request)
            response = user if isinstance(user, Response) else await handler(request, user)
            state.requests.append((request.method, request.url.path, response.status_code))
            return response

        return endpoint

    async def review(request: Request, user: Any) -> Response:
        version = request.path_params["version"]
        body = {
            "kind": "SelfSubjectReview",
            "apiVersion": f"{AUTH_GROUP}/{version}",
            "metadata": {"creationTimestamp": None},
            "status": {
                "userInfo": {
                    "username": user.username,
                    "groups": [*user.groups, "system:authenticated"],
                }
            },
        }
        return JSONResponse(body, status_code=201)

    async def api_versions(request: Request, user: Any) -> Response:
        return JSONResponse(
            {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        )

    async def api_groups(request: Request, user: Any) -> Response:
        version = {"groupVersion": f"{AUTH_GROUP}/v1", "version": "v1"}
        group = {"name": AUTH_GROUP, "versions": [version], "preferredVersion": version}
        return JSONResponse({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})

    async def not_found(request: Request, user: Any) -> Response:
        return status(404, "NotFound", "the server could not find the requested resource")

    routes = [
        Route(
            "/apis/authentication.k8s.io/{version}/selfsubjectreviews",
            recorded(review),
            methods=["POST"],
        ),
        Route("/api", recorded(api_versions)),
        Route("/apis", recorded(api_groups)),
        Route("/{path:path}", recorded(not_found), methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


@contextlib.contextmanager
def kube_apiserver(
    issuer_url: str, client_id: str, *, directory: Path, issuer_ca: Path | None = None
) -> Iterator[FakeAPIServer]:
    """Serve the stand-in until the block ends; ``issuer_ca`` verifies the issuer's TLS."""
    tls = make_tls_files(directory)
    port = free_port()
    state = FakeAPIServer(f"https://127.0.0.1:{port}", tls.ca.read_bytes())
    config = uvicorn.Config(
        _app(state, issuer_url, client_id, issuer_ca),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
        log_level="warning",
        access_log=False,
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-kube-apiserver", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the kube-apiserver stand-in did not start")
        time.sleep(0.01)
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
