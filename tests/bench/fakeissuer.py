"""A small in-process issuer that behaves like Passgate's pages, for the benchmark's tests."""

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import secrets
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlencode

import uvicorn
from bench.forwardauth import COOKIE, SITE_DOMAIN, SITE_HOST
from bench.launcher import free_port
from bench.target import Target
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

ISSUER = "http://idp.test/dex"
TARGET = Target(
    issuer=ISSUER,
    client_id="app",
    client_secret="s3cret/+",
    redirect_uri="http://127.0.0.1:9/callback",
    username="me@example.com",
    password="pw",
    forward_auth_host=SITE_HOST,
)


#: A public client (kubectl's): PKCE and a loopback redirect, no secret.
PUBLIC_CLIENT = "kubectl"


def id_token(client_id: str) -> str:
    """The fake's "ID token" for a client: "it" for the confidential one."""
    return "it" if client_id == "app" else f"it-{client_id}"


class FakeIssuer:
    """Just enough of an issuer: auth request → login (CSRF) → approval → code → tokens,
    and forward-auth's /oauth2/ endpoints as a site's proxy reaches them (the site's Host)."""

    def __init__(
        self,
        issuer: str = ISSUER,
        chooser: bool = False,
        deny: bool = False,
        auth_page: str | None = None,
        clusters: list[dict[str, str]] | None = None,
    ) -> None:
        self.issuer = issuer
        # kubernetes.clusters as /kubeconfig/clusters lists them (None: no such path); the
        # webhook then authenticates only tokens of their clients, as Passgate's does.
        self.clusters = clusters
        self.target = dataclasses.replace(TARGET, issuer=issuer)
        self.chooser = chooser
        self.deny = deny  # the approval ends in error=access_denied
        self.auth_page = auth_page  # what /auth shows instead of the flow
        self.requests: dict[str, dict[str, str]] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.refresh_tokens: set[str] = set()
        self.grants: list[str] = []
        self.fa_returns: dict[str, str] = {}  # sign-in state -> where to go back
        self.fa_cookies: set[str] = set()  # forward-auth cookies handed out
        self.fa_email = TARGET.username  # what X-Auth-Request-Email says
        self.fa_cookie_domain = f".{SITE_DOMAIN}"  # forwardAuth.cookieDomain
        self.fa_back: str | None = None  # where the callback sends back to, instead of rd
        self.fa_seen: list[tuple[str, str, str]] = []  # (path, Host, X-Forwarded-Uri)
        self.app = Starlette(
            routes=[
                Route("/dex/.well-known/openid-configuration", self.discovery),
                Route("/dex/keys", self.keys),
                Route("/dex/auth", self.auth),
                Route("/dex/auth/local", self.connector),
                Route("/dex/auth/local/login", self.login, methods=["GET", "POST"]),
                Route("/dex/approval", self.approval, methods=["GET", "POST"]),
                Route("/dex/token", self.token, methods=["POST"]),
                Route("/dex/kubernetes/tokenreview", self.tokenreview, methods=["POST"]),
                Route("/dex/kubeconfig/clusters", self.cluster_listing),
                Route("/dex/oauth2/start", self.fa_start),
                Route("/dex/oauth2/callback", self.fa_callback),
                Route("/dex/oauth2/auth", self.fa_auth),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/keys",
            }
        )

    async def keys(self, request: Request) -> Response:
        return JSONResponse({"keys": []})

    async def auth(self, request: Request) -> Response:
        if self.auth_page is not None:
            return HTMLResponse(self.auth_page)
        req = secrets.token_hex(4)
        self.requests[req] = dict(request.query_params)
        if self.chooser:
            return HTMLResponse(f'<ul><li><a href="/dex/auth/local?req={req}">Local</a></ul>')
        return RedirectResponse(f"/dex/auth/local/login?state={req}", status_code=303)

    async def connector(self, request: Request) -> Response:
        return RedirectResponse(f"local/login?state={request.query_params['req']}", status_code=302)

    def login_form(self, error: str = "") -> Response:
        csrf = secrets.token_hex(4)
        response = HTMLResponse(
            f"<p>{error}</p><form method=post action=''>"
            f'<input type=hidden name=csrf_token value="{csrf}">'
            "<input name=login><input name=password type=password>"
            "<button type=submit>Sign in</button></form>"
        )
        response.set_cookie("csrf", csrf)
        return response

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.login_form()
        form = await request.form()
        if form["csrf_token"] != request.cookies.get("csrf"):
            return Response("csrf", status_code=403)
        if (form["login"], form["password"]) != (TARGET.username, TARGET.password):
            return self.login_form("wrong password")
        req = request.query_params["state"]
        return RedirectResponse(f"/dex/approval?req={req}", status_code=303)

    async def approval(self, request: Request) -> Response:
        if request.method == "GET":
            req = request.query_params["req"]
            return HTMLResponse(
                f"<form method=post><input type=hidden name=req value={req}>"
                '<button name=approval value="rejected">No</button>'
                '<button name=approval value="approve">Yes</button></form>'
            )
        form = await request.form()
        params = self.requests.pop(str(form["req"]))
        if self.deny or form["approval"] != "approve":
            query = urlencode({"error": "access_denied", "state": params["state"]})
        else:
            code = secrets.token_hex(4)
            self.codes[code] = params
            query = urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=303)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        kind, _, encoded = request.headers.get("authorization", "").partition(" ")
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        public = not kind and form.get("client_id") == PUBLIC_CLIENT
        if public:
            client_id = PUBLIC_CLIENT
        elif kind != "Basic" or (unquote(client_id), unquote(secret)) != ("app", "s3cret/+"):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = str(form["grant_type"])
        self.grants.append(grant)
        if grant == "authorization_code":
            params = self.codes.pop(str(form["code"]))
            digest = hashlib.sha256(str(form["code_verifier"]).encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != params["code_challenge"] or params["client_id"] != client_id:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
        elif grant == "refresh_token":
            token = str(form["refresh_token"])
            if token not in self.refresh_tokens:  # rotation: each token works once
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            self.refresh_tokens.remove(token)
        body = {"access_token": "at", "token_type": "bearer", "id_token": id_token(client_id)}
        if grant != "client_credentials":
            body["refresh_token"] = secrets.token_hex(8)
            self.refresh_tokens.add(body["refresh_token"])
        return JSONResponse(body)

    async def cluster_listing(self, request: Request) -> Response:
        if self.clusters is None:
            return Response("not found", status_code=404)
        if not self.clusters:
            return JSONResponse({"error": "no_clusters"}, status_code=404)
        return JSONResponse(self.clusters)

    async def tokenreview(self, request: Request) -> Response:
        """kube-apiserver's TokenReview: authenticated for an ID token handed out (to a
        cluster's client, when there are clusters)."""
        review = await request.json()
        clients = ["app"] if self.clusters is None else [c["clientID"] for c in self.clusters]
        tokens = {id_token(client) for client in clients}
        status: dict[str, object] = {"authenticated": review["spec"]["token"] in tokens}
        if status["authenticated"]:
            status["user"] = {"username": "bench@example.com", "groups": []}
        return JSONResponse({**review, "status": status})

    def _fa_seen(self, request: Request) -> str:
        host = request.headers.get("host", "")
        path = request.url.path
        self.fa_seen.append((path, host, request.headers.get("x-forwarded-uri", "")))
        return host

    async def fa_start(self, request: Request) -> Response:
        """Sign in as the built-in client, back to ``rd``; the callback is at the site."""
        host = self._fa_seen(request)
        if host != SITE_HOST:
            return Response("not a protected site", status_code=400)
        state = secrets.token_hex(4)
        self.fa_returns[state] = request.query_params["rd"]
        query = urlencode(
            {
                "client_id": "passgate-forward-auth",
                "redirect_uri": f"http://{host}/oauth2/callback",
                "response_type": "code",
                "scope": "openid email groups",
                "state": state,
            }
        )
        response = RedirectResponse(f"{self.issuer}/auth?{query}", status_code=302)
        response.set_cookie(f"{COOKIE}_csrf", state)  # host-only: the site's
        return response

    async def fa_callback(self, request: Request) -> Response:
        host = self._fa_seen(request)
        state = request.query_params["state"]
        if request.cookies.get(f"{COOKIE}_csrf") != state:
            return Response("started in another browser", status_code=403)
        if "error" in request.query_params:
            return Response("the sign-in did not complete", status_code=403)
        params = self.codes.pop(request.query_params["code"])
        if params["redirect_uri"] != f"http://{host}/oauth2/callback":
            return Response("callback on the wrong host", status_code=400)
        cookie = secrets.token_hex(8)
        self.fa_cookies.add(cookie)
        back = self.fa_returns.pop(state)
        response = RedirectResponse(self.fa_back or back, status_code=302)
        response.set_cookie(COOKIE, cookie, domain=self.fa_cookie_domain)
        response.delete_cookie(f"{COOKIE}_csrf")
        return response

    async def fa_auth(self, request: Request) -> Response:
        """nginx auth_request: 202 and who it is for a cookie of ours at the site, else 401."""
        host = self._fa_seen(request)
        known = request.cookies.get(COOKIE) in self.fa_cookies
        if host != SITE_HOST or not known or "x-forwarded-uri" not in request.headers:
            return Response(status_code=401)
        return Response(status_code=202, headers={"X-Auth-Request-Email": self.fa_email})


@contextlib.asynccontextmanager
async def serve_app(
    app: Starlette, port: int, what: str = "the fake issuer"
) -> AsyncIterator[None]:
    """``app`` on a real loopback port (uvicorn) until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, f"{what} did not start"
        yield
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serve_live(
    chooser: bool = False, clusters: list[dict[str, str]] | None = None
) -> AsyncIterator[FakeIssuer]:
    """The fake issuer on a real loopback port, for clients that open sockets."""
    port = free_port()
    issuer = FakeIssuer(f"http://127.0.0.1:{port}/dex", chooser=chooser, clusters=clusters)
    async with serve_app(issuer.app, port):
        yield issuer
