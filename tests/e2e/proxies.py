"""Real reverse proxies in front of test sites, for the forward-auth end-to-end tests.

Debian's ``nginx`` (with ``auth_request``) and ``caddy`` (``forward_auth``) run as
subprocesses on a free loopback port, with one server/site block per host name such as
``grafana.apps.test`` (every ``*.apps.test`` name means 127.0.0.1 here: httpx clients use
:class:`LoopbackTransport` or send the ``Host`` header themselves, Chromium runs with
``--host-resolver-rules=MAP *.apps.test 127.0.0.1``). Behind them sits an
:class:`EchoSite`, a protected site that answers with what it received, and in front of
the site the proxy asks the auth endpoints served under the issuer path
(``<issuer>/oauth2/auth``, ``/oauth2/start``, ...: Passgate, or a stub standing in for it).

The configs are the documented ones, adapted only where a loopback rig must be:

* :class:`NginxProxy` flavour ``"auth_request"``: oauth2-proxy's documented nginx
  configuration (``docs/docs/configuration/integrations/nginx.md``), with ``/oauth2/`` proxied
  to ``<issuer path>/oauth2/``.
* :class:`NginxProxy` flavour ``"ingress-nginx"``: what ingress-nginx's ``nginx.tmpl``
  generates for the ``auth-url`` / ``auth-signin`` / ``auth-response-headers`` annotations,
  without its Lua (balancer, monitoring) parts.
* :class:`CaddyProxy`: Caddy's ``forward_auth`` (``reverse_proxy`` to the auth endpoint)
  in front of ``reverse_proxy`` to the site, the shape of oauth2-proxy's Caddy page.

The rig listens on a random port, not 80, and every URL a browser is sent to must keep that
port. So where the documents write ``$host`` (nginx) or ``{host}`` (Caddy), which drop the
port, the rig writes ``$http_host`` / ``{hostport}``: on port 80/443 browsers send no port,
and both forms are the same there. ingress-nginx's template already uses ``$http_host``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from e2e.support import free_port
from testenv import missing

__all__ = [
    "DEFAULT_RESPONSE_HEADERS",
    "AsyncLoopbackTransport",
    "CaddyProxy",
    "EchoSite",
    "Flavour",
    "LoopbackTransport",
    "NginxProxy",
    "On401",
    "ReceivedRequest",
    "ServerThread",
    "Site",
    "require_binary",
]

NGINX = "/usr/sbin/nginx"
CADDY = "/usr/bin/caddy"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
APPS_DOMAIN = ".apps.test"

#: The auth answer's headers a site gets as request headers (nginx ``auth_request_set`` +
#: ``proxy_set_header``, ingress-nginx ``auth-response-headers``, Caddy ``copy_headers``).
DEFAULT_RESPONSE_HEADERS: tuple[str, ...] = (
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
    "Authorization",
)

Flavour = Literal["auth_request", "ingress-nginx"]
#: What a 401 from the auth endpoint turns into (``None``: the flavour's default):
#:
#: * ``"sign_in"``: nginx ``auth_request`` (default): oauth2-proxy's recommended
#:   ``error_page 401 = @oauth2_signin`` → 302 to ``/oauth2/sign_in?rd=<scheme://host/uri>``;
#:   ingress-nginx (default): the ``auth-signin`` annotation is set (a 302 there, with
#:   ``rd=``); Caddy: oauth2-proxy's ``handle_response`` → 302 to ``/oauth2/sign_in?rd=...``.
#: * ``"sign_in_403"``: nginx ``auth_request`` only: the older documented
#:   ``error_page 401 =403 /oauth2/sign_in;`` (the sign-in page, with status 403).
#: * ``"pass"``: no sign-in handling. nginx: the 401 (nginx's own page) reaches the client;
#:   Caddy (default): plain ``forward_auth``, the auth answer reaches the client as it is.
On401 = Literal["sign_in", "sign_in_403", "pass"]


def require_binary(path: str, package: str) -> str:
    """``path`` when it is an executable; otherwise skip the test, or fail it under CI
    (``CI`` set), where the proxy tests must run (like ``chromium_path``)."""
    if os.access(path, os.X_OK):
        return path
    missing("PROXIES", f"{path} is missing: apt-get install -y {package} (make setup)")


# -- in-process HTTP servers ----------------------------------------------------------------
class ServerThread:
    """An ASGI app served by uvicorn from a daemon thread on a free loopback port."""

    def __init__(self, app: ASGIApp, name: str = "asgi") -> None:
        self.app = app
        self.name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Serve until :meth:`stop`; returns once uvicorn accepts connections."""
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = self._thread = None
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as a server received it (header names lower-cased, in order)."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, request: Request) -> ReceivedRequest:
        raw = request.scope["headers"]
        return cls(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw),
        )

    def header(self, name: str) -> str | None:
        """The value of ``name`` (several of them joined with ``", "``), or ``None``."""
        values = self.all(name)
        return ", ".join(values) if values else None

    def all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        return [v for k, v in self.headers if k == name.lower()]

    @property
    def header_names(self) -> list[str]:
        """The header names, lower-cased, in the order received."""
        return [k for k, _ in self.headers]

    def as_json(self) -> dict[str, object]:
        """The JSON an :class:`EchoSite` answers with."""
        merged: dict[str, str] = {}
        for name, value in self.headers:
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": merged,
            "raw_headers": [list(pair) for pair in self.headers],
        }


class EchoSite(ServerThread):
    """The protected site: every method and path answers 200 with JSON of what it received,

        {"method": "GET", "path": "/x", "query": "a=1",
         "headers": {"x-auth-request-user": "jane", ...},   # lower-case, repeats joined
         "raw_headers": [["host", "..."], ...]}

    and :attr:`requests` keeps them, so tests see what the proxy passed on.
    """

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []

        async def echo(request: Request) -> Response:
            received = ReceivedRequest.of(request)
            self.requests.append(received)
            return JSONResponse(received.as_json())

        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        app = Starlette(routes=[Route("/{path:path}", echo, methods=methods)])
        super().__init__(app, name="echo-site")


def _escape_request_uri(value: str) -> str:
    """``$escaped_request_uri`` as ingress-nginx computes it: ``set_escape_uri`` of OpenResty's
    set-misc module, which leaves letters, digits and ``!$'()*,-.@_`|~`` as they are."""
    return quote(value, safe="!$'()*,@`|~")


_ESCAPED_MARK = "@@escaped_request_uri@@"


def _escaper_app() -> Starlette:
    """Answers what ingress-nginx's sign-in location answers, ``return 302 <auth-signin>``,
    with ``$escaped_request_uri`` filled in: Debian's nginx has no ``set_escape_uri``."""

    async def redirect(request: Request) -> Response:
        template = request.headers["x-rig-location"]
        escaped = _escape_request_uri(request.headers["x-rig-request-uri"])
        return Response(
            status_code=302, headers={"location": template.replace(_ESCAPED_MARK, escaped)}
        )

    return Starlette(routes=[Route("/{path:path}", redirect)])


# -- httpx: *.apps.test is 127.0.0.1 --------------------------------------------------------
def _loopback(request: httpx.Request, domain: str) -> httpx.Request:
    if not request.url.host.endswith(domain):
        return request
    # The Host header (built from the original URL) stays; only the connection changes.
    # httpx keeps the original request on the response, so cookies stay with the host name.
    return httpx.Request(
        request.method,
        request.url.copy_with(host="127.0.0.1"),
        headers=request.headers,
        stream=request.stream,
        extensions=request.extensions,
    )


class LoopbackTransport(httpx.HTTPTransport):
    """An httpx transport that connects to 127.0.0.1 for every ``*.apps.test`` URL, so
    ``httpx.Client(transport=LoopbackTransport())`` behaves like the rig's browser."""

    def __init__(self, domain: str = APPS_DOMAIN, **options: Any) -> None:
        super().__init__(**options)
        self.domain = domain

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return super().handle_request(_loopback(request, self.domain))


class AsyncLoopbackTransport(httpx.AsyncHTTPTransport):
    """:class:`LoopbackTransport` for ``httpx.AsyncClient``."""

    def __init__(self, domain: str = APPS_DOMAIN, **options: Any) -> None:
        super().__init__(**options)
        self.domain = domain

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await super().handle_async_request(_loopback(request, self.domain))


# -- sites and proxies ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Site:
    """One protected host name behind a proxy.

    ``upstream``: the site's base URL (``EchoSite.url``). ``flavour``: which nginx config
    (Caddy has one). ``auth_query``: the auth URL's query, such as ``"allowed_groups=admins"``
    (a leading ``?`` is optional). ``response_headers``: the auth answer's headers passed to
    the site. ``on_401``: see :data:`On401`. ``signin_url``: ingress-nginx's ``auth-signin``,
    nginx variables allowed; ``None`` means ``http://<host>:<port>/oauth2/start?rd=$escaped_request_uri``.
    """

    host: str
    upstream: str
    flavour: Flavour = "auth_request"
    auth_query: str = ""
    response_headers: tuple[str, ...] = DEFAULT_RESPONSE_HEADERS
    on_401: On401 | None = None
    signin_url: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", self.host):
            raise ValueError(f"not a host name: {self.host!r}")
        if urlsplit(self.upstream).path not in ("", "/"):
            raise ValueError(f"the upstream is an origin, without a path: {self.upstream!r}")

    @property
    def query(self) -> str:
        """``auth_query`` with its ``?`` (or ``""``)."""
        query = self.auth_query.removeprefix("?")
        return f"?{query}" if query else ""


def _issuer_parts(issuer: str) -> tuple[str, str]:
    parts = urlsplit(issuer)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the rig proxies to a plain-http loopback issuer, not {issuer!r}")
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} does not exist)"


class _ProxyProcess:
    """What both proxies share: a subprocess on one loopback port and its log."""

    name = "proxy"

    def __init__(self, directory: Path, issuer: str, sites: Sequence[Site], binary: str) -> None:
        if not sites:
            raise ValueError("a proxy needs at least one site")
        hosts = [site.host for site in sites]
        if len(set(hosts)) != len(hosts):
            raise ValueError(f"duplicate host names: {hosts}")
        self.directory = directory
        self.issuer = issuer.rstrip("/")
        self.auth_origin, self.issuer_path = _issuer_parts(self.issuer)
        self.sites: tuple[Site, ...] = tuple(sites)
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    # -- what tests use -------------------------------------------------------------------
    def site(self, host: str) -> Site:
        """The site of ``host``."""
        for site in self.sites:
            if site.host == host:
                return site
        raise KeyError(host)

    def origin(self, host: str) -> str:
        """``http://<host>:<port>``, what a browser has in its address bar."""
        return f"http://{host}:{self.port}"

    def url(self, host: str, path: str = "/") -> str:
        """``http://<host>:<port><path>`` (use it with :class:`LoopbackTransport`)."""
        return f"{self.origin(host)}/{path.lstrip('/')}"

    def host_header(self, host: str) -> str:
        """The ``Host`` header a browser sends for ``host`` on this proxy."""
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: with ``headers={"Host": proxy.host_header(h)}``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def log_tail(self, lines: int = 60) -> str:
        """The end of the proxy's error log."""
        return _tail(self.log_path, lines)

    # -- lifecycle ------------------------------------------------------------------------
    def write_config(self) -> Path:
        raise NotImplementedError

    def _spawn(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def start(self) -> Self:
        """Write the config, start the proxy, return once its port accepts connections.

        Raises ``RuntimeError`` with the error log when it exits or does not listen.
        """
        if self.process is not None:
            raise RuntimeError(f"{self.name} is already running")
        self.write_config()
        self.process = self._spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} does not listen on {self.port}:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            # Its own session (start_new_session): the group is the proxy and its workers.
            os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        """Stop the proxy: SIGTERM (nginx's master waits for its workers), then SIGKILL of
        its process group if it is still there after a few seconds; idempotent."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NginxProxy(_ProxyProcess):
    """Debian's nginx on ``127.0.0.1:<port>``, one ``server`` block per :class:`Site`.

    ``directory`` is its prefix (config, pid file, logs, temp paths); ``issuer`` is where
    the auth endpoints live (``http://127.0.0.1:PORT/dex``: ``/dex/oauth2/auth``, ...).
    ``error.log`` (level info) and ``access.log`` are in ``directory``.
    """

    name = "nginx"

    def __init__(
        self, directory: Path, issuer: str, sites: Sequence[Site], *, binary: str = NGINX
    ) -> None:
        super().__init__(directory, issuer, sites, binary)
        self._escaper: ServerThread | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "nginx.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "error.log"

    @property
    def access_log_path(self) -> Path:
        return self.directory / "access.log"

    def start(self) -> Self:
        if any(site.flavour == "ingress-nginx" for site in self.sites) and self._escaper is None:
            self._escaper = ServerThread(_escaper_app(), name="nginx-escaper").start()
        try:
            return super().start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        super().stop()
        if self._escaper is not None:
            self._escaper.stop()
            self._escaper = None

    def write_config(self) -> Path:
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.directory / "temp" / sub).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        return self.config_path

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [self.binary, "-p", f"{self.directory}/", "-c", str(self.config_path)]
        command += ["-e", str(self.log_path), "-g", "daemon off;"]
        with self.log_path.open("ab") as log:  # nginx's stderr, before -e takes over
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )

    # -- the config -----------------------------------------------------------------------
    def config(self) -> str:
        """The whole ``nginx.conf``."""
        d = self.directory
        # Started by root, nginx would run its workers as "nobody", who cannot use tmp_path.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        servers = "\n".join(self._server(site) for site in self.sites)
        return f"""# Generated by tests/e2e/proxies.py (NginxProxy).
{user}worker_processes 1;
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {self.log_path} info;

events {{
    worker_connections 256;
}}

http {{
    access_log {self.access_log_path};
    client_body_temp_path {d}/temp/client_body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;

    # From ingress-nginx's http block (used by its locations).
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    map $http_x_request_id $req_id {{
        default $http_x_request_id;
        ""      $request_id;
    }}

    # A Host no site claims.
    server {{
        listen 127.0.0.1:{self.port} default_server;
        return 404;
    }}

{servers}
}}
"""

    def _server(self, site: Site) -> str:
        if site.flavour == "auth_request":
            return self._auth_request_server(site)
        if site.flavour == "ingress-nginx":
            return self._ingress_server(site)
        raise ValueError(f"unknown nginx flavour {site.flavour!r}")

    @staticmethod
    def _response_headers(site: Site, proxy_set_header: str = "proxy_set_header") -> str:
        # ingress-nginx's buildAuthResponseHeaders, line for line.
        lines = []
        for i, name in enumerate(site.response_headers):
            variable = name.lower().replace("-", "_")
            lines.append(f"auth_request_set $authHeader{i} $upstream_http_{variable};")
            lines.append(f"{proxy_set_header} '{name}' $authHeader{i};")
        return "\n            ".join(lines)

    def _auth_request_server(self, site: Site) -> str:
        """oauth2-proxy's documented ``auth_request`` config (``nginx.md``), adapted only in:
        the ``/oauth2/`` URLs go to ``<issuer path>/oauth2/`` on the auth origin, ``$host``
        is ``$http_host`` (see the module docstring), the TLS lines are gone, the site's
        ``response_headers`` are passed under their own names (after the documented
        ``X-User`` / ``X-Email`` / ``X-Access-Token``), and ``on_401`` picks the 401 handling.
        """
        on_401 = site.on_401 or "sign_in"
        auth = f"{self.auth_origin}{self.issuer_path}/oauth2"
        if on_401 == "sign_in":
            # The documented (recommended) form: a real 302 to the sign-in page.
            error_page = "error_page 401 = @oauth2_signin;"
            named = """
        # Named location for handling OAuth2 sign-in redirects
        # This ensures the browser receives a proper 302 redirect that it will follow
        location @oauth2_signin {
            return 302 /oauth2/sign_in?rd=$scheme://$http_host$request_uri;
        }"""
        elif on_401 == "sign_in_403":
            # The older documented form: the sign-in page with status 403.
            error_page = "error_page 401 =403 /oauth2/sign_in;"
            named = ""
        else:
            error_page = "# on_401=pass: no error_page, the 401 reaches the client"
            named = ""
        return f"""    # {site.host}: oauth2-proxy's nginx auth_request configuration.
    server {{
        listen 127.0.0.1:{self.port};
        server_name {site.host};

        location /oauth2/ {{
            proxy_pass       {auth}/;
            proxy_set_header Host                    $http_host;
            proxy_set_header X-Real-IP               $remote_addr;
            proxy_set_header X-Auth-Request-Redirect $request_uri;
            # or, if you are handling multiple domains:
            # proxy_set_header X-Auth-Request-Redirect $scheme://$http_host$request_uri;
        }}
        location = /oauth2/auth {{
            proxy_pass       {auth}/auth{site.query};
            proxy_set_header Host             $http_host;
            proxy_set_header X-Real-IP        $remote_addr;
            proxy_set_header X-Forwarded-Uri  $request_uri;
            # nginx auth_request includes headers but not body
            proxy_set_header Content-Length   "";
            proxy_pass_request_body           off;
        }}

        location / {{
            auth_request /oauth2/auth;
            {error_page}

            # pass information via X-User and X-Email headers to backend,
            # requires running with --set-xauthrequest flag
            auth_request_set $user   $upstream_http_x_auth_request_user;
            auth_request_set $email  $upstream_http_x_auth_request_email;
            proxy_set_header X-User  $user;
            proxy_set_header X-Email $email;

            # if you enabled --pass-access-token, this will pass the token to the backend
            auth_request_set $token  $upstream_http_x_auth_request_access_token;
            proxy_set_header X-Access-Token $token;

            # if you enabled --cookie-refresh, this is needed for it to work with auth_request
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            add_header Set-Cookie $auth_cookie;

            # Large OIDC tokens can make the session cookie exceed the 4KB limit,
            # causing OAuth2 Proxy to split the cookie into multiple parts.
            # Nginx normally only copies the first `Set-Cookie` header from the auth_request to the
            # response,
            # so extract the second part when using the default cookie name, `_oauth2_proxy`.
            auth_request_set $auth_cookie_upstream_1 $upstream_cookie__oauth2_proxy_1;

            # Extract the Cookie attributes from the first Set-Cookie header and append them
            # to the second part ($upstream_cookie_* variables only contain the raw cookie content)
            if ($auth_cookie ~* "(; .*)") {{
                set $auth_cookie_0 $auth_cookie;
                set $auth_cookie_1 "_oauth2_proxy_1=$auth_cookie_upstream_1$1";
            }}

            # Send both Set-Cookie headers now if there was a second part
            if ($auth_cookie_upstream_1) {{
                add_header Set-Cookie $auth_cookie_0;
                add_header Set-Cookie $auth_cookie_1;
            }}

            # rig: the site's response headers under their own names
            {self._response_headers(site)}

            proxy_pass {site.upstream}/;
        }}
{named}
    }}
"""

    def _ingress_server(self, site: Site) -> str:
        """ingress-nginx's ``nginx.tmpl`` for one Ingress (host ``site.host``, path ``/``,
        ``pathType: Prefix``) with ``auth-url: <issuer>/oauth2/auth<auth_query>``,
        ``auth-signin: <signin_url>`` and ``auth-response-headers: <response_headers>``, plus
        a second, unauthenticated Ingress for ``/oauth2/`` on the same host (the usual
        oauth2-proxy setup) whose backend is the auth origin, rewritten to the issuer path.

        Simplified: no Lua (``rewrite_by_lua``: balancer, plugins, monitoring), no
        opentracing/modsecurity/CORS/rate limits; ``proxy_pass`` goes to the site itself, not
        to ``upstream_balancer``; default proxy timeouts and buffers. The one real deviation:
        ``set_escape_uri`` (OpenResty's set-misc module) is not in Debian's nginx, so the
        sign-in location proxies to a small escaper that answers the very ``302`` the
        template's ``return 302`` would, with ``$escaped_request_uri`` escaped the same way.
        """
        on_401 = site.on_401 or "sign_in"
        if on_401 not in ("sign_in", "pass"):
            raise ValueError(f"ingress-nginx has no on_401={on_401!r}")
        auth_url = f"{self.auth_origin}{self.issuer_path}/oauth2/auth{site.query}"
        auth_host = urlsplit(auth_url).hostname  # ExternalAuth.Host = authURL.Hostname()
        # buildAuthLocation: base64url(path) without "=", then the path type.
        auth_path = "/_external-auth-{}-Prefix".format(
            base64.urlsafe_b64encode(b"/").decode().replace("=", "")
        )
        signin_block = error_page = ""
        if on_401 == "sign_in":
            signin = site.signin_url or (
                f"{self.origin(site.host)}/oauth2/start?rd=$escaped_request_uri"
            )
            location = _build_auth_sign_url(signin)
            template = location.replace("$escaped_request_uri", _ESCAPED_MARK)
            # buildAuthSignURLLocation: "@" + sha1(location path + signin URL).
            named = "@" + hashlib.sha1(("/" + signin).encode()).hexdigest()
            assert self._escaper is not None, "start() runs the escaper first"
            signin_block = f"""
        location {named} {{
            internal;

            add_header Set-Cookie $auth_cookie;

            # ingress-nginx: return 302 {location};
            # rig: the escaper answers that 302 ($escaped_request_uri needs set_escape_uri).
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_pass_request_headers off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Rig-Location "{template}";
            proxy_set_header X-Rig-Request-URI $request_uri;
            proxy_redirect off;
            proxy_pass {self._escaper.url};
        }}
"""
            error_page = f"""# rig, the escaper's: set_escape_uri $escaped_request_uri $request_uri;
            error_page 401 = {named};"""
        auth = f"{self.auth_origin}{self.issuer_path}/oauth2"
        forwarded = """proxy_set_header X-Request-ID           $req_id;
            proxy_set_header X-Real-IP              $remote_addr;
            proxy_set_header X-Forwarded-For        $remote_addr;
            proxy_set_header X-Forwarded-Host       $best_http_host;
            proxy_set_header X-Forwarded-Port       $pass_port;
            proxy_set_header X-Forwarded-Proto      $pass_access_scheme;
            proxy_set_header X-Forwarded-Scheme     $pass_access_scheme;
            proxy_set_header X-Scheme               $pass_access_scheme;

            # Pass the original X-Forwarded-For
            proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;

            # mitigate HTTPoxy Vulnerability
            proxy_set_header Proxy                  "";

            proxy_http_version                      1.1;"""
        variables = """set $pass_access_scheme  $scheme;
            set $pass_server_port    $server_port;
            set $best_http_host      $http_host;
            set $pass_port           $pass_server_port;"""
        return f"""    # {site.host}: ingress-nginx (nginx.tmpl), auth-url and auth-signin.
    server {{
        server_name {site.host} ;
        listen 127.0.0.1:{self.port};

        location = {auth_path} {{
            internal;

            access_log off;

            proxy_pass_request_body     off;
            proxy_set_header            Content-Length          "";
            proxy_set_header            X-Forwarded-Proto       "";
            proxy_set_header            X-Request-ID            $req_id;

            proxy_set_header            Host                    {auth_host};
            proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
            proxy_set_header            X-Original-Method       $request_method;
            proxy_set_header            X-Sent-From             "nginx-ingress-controller";
            proxy_set_header            X-Real-IP               $remote_addr;
            proxy_set_header            X-Forwarded-For        $remote_addr;

            proxy_set_header            X-Auth-Request-Redirect $request_uri;

            proxy_buffering                         off;
            proxy_buffer_size                       4k;
            proxy_buffers                           4 4k;
            proxy_request_buffering                 on;

            proxy_ssl_server_name       on;
            proxy_pass_request_headers  on;
            client_max_body_size        1m;

            proxy_http_version 1.1;
            set $target {auth_url};
            proxy_pass $target;
        }}
{signin_block}
        # The oauth2-proxy Ingress (path /oauth2, no auth annotations) on the same host.
        location /oauth2/ {{
            {variables}

            proxy_set_header Host                   $best_http_host;
            proxy_set_header                        Upgrade           $http_upgrade;
            proxy_set_header                        Connection        $connection_upgrade;
            {forwarded}

            proxy_pass {auth}/;
        }}

        location / {{
            {variables}

            # this location requires authentication
            auth_request        {auth_path};
            auth_request_set    $auth_cookie $upstream_http_set_cookie;
            add_header          Set-Cookie $auth_cookie;
            {self._response_headers(site)}

            {error_page}

            proxy_set_header Host                   $best_http_host;

            # Allow websocket connections
            proxy_set_header                        Upgrade           $http_upgrade;
            proxy_set_header                        Connection        $connection_upgrade;

            {forwarded}

            proxy_pass {site.upstream};
        }}
    }}
"""


def _build_auth_sign_url(signin: str) -> str:
    """ingress-nginx's ``buildAuthSignURL``: add ``rd=$pass_access_scheme://$http_host
    $escaped_request_uri`` unless the URL already has an ``rd`` parameter."""
    query = urlsplit(signin).query
    if not query:
        return f"{signin}?rd=$pass_access_scheme://$http_host$escaped_request_uri"
    if parse_qs(query).get("rd"):
        return signin
    return f"{signin}&rd=$pass_access_scheme://$http_host$escaped_request_uri"


class CaddyProxy(_ProxyProcess):
    """Debian's Caddy (``caddy run --adapter caddyfile``) on ``127.0.0.1:<port>``.

    Global options: ``admin off``, ``auto_https off``, ``http_port <port>``, storage and
    ``HOME`` / ``XDG_*`` inside ``directory``. Per :class:`Site`: ``handle /oauth2/*`` →
    ``reverse_proxy`` to ``<issuer path>/oauth2/*`` (Host kept, as Caddy does by default),
    and ``forward_auth`` to ``<issuer path>/oauth2/auth`` with ``copy_headers`` of the
    site's ``response_headers`` in front of ``reverse_proxy`` to the site. ``on_401``
    (default ``"pass"``: the auth answer goes to the client as it is) or ``"sign_in"``:
    oauth2-proxy's ``handle_response`` redirect to ``/oauth2/sign_in?rd=...``.
    ``flavour`` is ignored. Caddy's own log (stderr, JSON) is ``caddy.log``.
    """

    name = "caddy"

    def __init__(
        self, directory: Path, issuer: str, sites: Sequence[Site], *, binary: str = CADDY
    ) -> None:
        super().__init__(directory, issuer, sites, binary)

    @property
    def config_path(self) -> Path:
        return self.directory / "Caddyfile"

    @property
    def log_path(self) -> Path:
        return self.directory / "caddy.log"

    def write_config(self) -> Path:
        self.config_path.write_text(self.config())
        return self.config_path

    def environment(self) -> dict[str, str]:
        """The subprocess's environment: nothing of Caddy's lands outside ``directory``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CADDY"))}
        for name in ("home", "data", "config"):
            (self.directory / name).mkdir(exist_ok=True)
        env["HOME"] = str(self.directory / "home")
        env["XDG_DATA_HOME"] = str(self.directory / "data")
        env["XDG_CONFIG_HOME"] = str(self.directory / "config")
        return env

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [self.binary, "run", "--config", str(self.config_path), "--adapter", "caddyfile"]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.environment(),
                cwd=self.directory,
                start_new_session=True,
            )

    def config(self) -> str:
        """The whole Caddyfile."""
        sites = "\n".join(self._site(site) for site in self.sites)
        return f"""# Generated by tests/e2e/proxies.py (CaddyProxy).
{{
	admin off
	auto_https off
	http_port {self.port}
	grace_period 1s
	storage file_system {{
		root {self.directory / "data" / "caddy"}
	}}
}}

{sites}"""

    def _site(self, site: Site) -> str:
        on_401 = site.on_401 or "pass"
        if on_401 not in ("sign_in", "pass"):
            raise ValueError(f"Caddy has no on_401={on_401!r}")
        auth = self.auth_origin.removeprefix("http://")
        copy = " ".join(site.response_headers)
        sign_in = ""
        if on_401 == "sign_in":
            sign_in = """
			# If oauth2-proxy returns a 401 status, redirect the client to the sign-in page.
			@error status 401
			handle_response @error {
				redir * /oauth2/sign_in?rd={scheme}://{hostport}{uri}
			}"""
        return f"""{self.origin(site.host)} {{
	bind 127.0.0.1

	# Requests to /oauth2/* are proxied to the auth server without authentication.
	handle /oauth2/* {{
		reverse_proxy {auth} {{
			# rig: Passgate serves them under the issuer path.
			rewrite {self.issuer_path}{{uri}}
			# oauth2-proxy requires the X-Real-IP and X-Forwarded-{{Proto,Host,Uri}} headers.
			# The reverse_proxy directive automatically sets X-Forwarded-{{For,Proto,Host}} headers.
			header_up X-Real-IP {{remote_host}}
			header_up X-Forwarded-Uri {{uri}}
		}}
	}}

	# Requests to other paths are first processed by the auth server.
	handle {{
		forward_auth {auth} {{
			uri {self.issuer_path}/oauth2/auth{site.query}
			# The forward_auth directive automatically sets the
			# X-Forwarded-{{For,Proto,Host,Method,Uri}} headers.
			header_up X-Real-IP {{remote_host}}
			copy_headers {copy}{sign_in}
		}}

		reverse_proxy {site.upstream.removeprefix("http://")}
	}}
}}
"""
