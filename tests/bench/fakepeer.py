"""A stand-in for the performance peer (oidc-provider with devInteractions), for the
comparison's tests: its discovery at the issuer's root, its interaction pages (a login
form taking any name, then a consent form), and a token endpoint that writes down every
form it was sent."""

import base64
import contextlib
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from bench.launcher import free_port
from fakeissuer import serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

BASIC = "Basic " + base64.b64encode(b"bench:bench-secret").decode()


def jws(alg: str = "RS256") -> str:
    """A token shaped like a compact JWS (the signature is not one)."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'kid': 'k'})}.{part({'sub': 'x'})}.c2ln"


class FakePeer:
    def __init__(self, issuer: str = "http://127.0.0.1:9999", auto_consent: bool = False) -> None:
        self.issuer = issuer
        self.auto_consent = auto_consent
        self.interactions: dict[str, dict[str, str]] = {}  # uid -> authorization request
        self.signed_in: set[str] = set()
        self.codes: dict[str, dict[str, str]] = {}
        self.refresh_tokens: set[str] = set()
        self.forms: list[dict[str, str]] = []  # every token request's form, in order
        self.pages: list[str] = []  # interaction prompts shown: "login", "consent"
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/auth", self.auth),
                Route("/auth/{uid}", self.resume),
                Route("/interaction/{uid}", self.interaction),
                Route("/interaction/{uid}/login", self.login, methods=["POST"]),
                Route("/interaction/{uid}/confirm", self.confirm, methods=["POST"]),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [{"kty": "RSA", "kid": "k"}]})

    async def auth(self, request: Request) -> Response:
        uid = secrets.token_hex(4)
        self.interactions[uid] = dict(request.query_params)
        return RedirectResponse(f"/interaction/{uid}", status_code=303)

    async def interaction(self, request: Request) -> Response:
        uid = request.path_params["uid"]
        prompt = "consent" if uid in self.signed_in else "login"
        self.pages.append(prompt)
        fields = '<input required type="text" name="login"><input type="password" name="password">'
        return HTMLResponse(
            f'<form autocomplete="off" action="/interaction/{uid}/'
            f'{"confirm" if prompt == "consent" else "login"}" method="post">'
            f'<input type="hidden" name="prompt" value="{prompt}"/>'
            f"{fields if prompt == 'login' else ''}"
            '<button type="submit" class="login login-submit">Continue</button></form>'
            f'<a href="/interaction/{uid}/abort">[ Cancel ]</a>'
        )

    async def login(self, request: Request) -> Response:
        form = await request.form()
        uid = request.path_params["uid"]
        if form.get("prompt") != "login" or not form.get("login") or not form.get("password"):
            return Response("bad login post", status_code=400)
        self.signed_in.add(uid)
        return RedirectResponse(f"/auth/{uid}", status_code=303)

    async def confirm(self, request: Request) -> Response:
        form = await request.form()
        if form.get("prompt") != "consent":
            return Response("bad consent post", status_code=400)
        return self.finish(request.path_params["uid"])

    async def resume(self, request: Request) -> Response:
        uid = request.path_params["uid"]
        if self.auto_consent:
            return self.finish(uid)
        return RedirectResponse(f"/interaction/{uid}", status_code=303)

    def finish(self, uid: str) -> Response:
        params = self.interactions.pop(uid)
        code = secrets.token_hex(4)
        self.codes[code] = params
        query = urlencode({"code": code, "state": params["state"], "iss": self.issuer})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=303)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.forms.append(form)
        if request.headers.get("authorization") != BASIC:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return JSONResponse({"access_token": jws(), "token_type": "Bearer"})
        if grant == "authorization_code":
            params = self.codes.pop(form["code"])
            digest = hashlib.sha256(form["code_verifier"].encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != params["code_challenge"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
        elif grant == "refresh_token":
            if form["refresh_token"] not in self.refresh_tokens:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            self.refresh_tokens.remove(form["refresh_token"])  # rotated on every use
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        refresh = secrets.token_urlsafe(8)
        self.refresh_tokens.add(refresh)
        opaque = secrets.token_urlsafe(8)
        return JSONResponse(
            {
                "access_token": opaque,
                "id_token": jws(),
                "refresh_token": refresh,
                "token_type": "Bearer",
            }
        )


@contextlib.asynccontextmanager
async def serve_peer(auto_consent: bool = False) -> AsyncIterator[FakePeer]:
    """The fake peer on a real loopback port, its issuer at the root like the peer's."""
    port = free_port()
    peer = FakePeer(f"http://127.0.0.1:{port}", auto_consent)
    async with serve_app(peer.app, port, "the fake peer"):
        yield peer
