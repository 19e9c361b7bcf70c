"""Sign-in with the authorization code flow and a loopback redirect (RFC 8252 §7.3).

A one-shot HTTP server on a free loopback port receives the browser's redirect; PKCE S256
(RFC 7636), ``state`` (RFC 6749 §10.12) and ``nonce`` (OIDC Core §3.1.2.1) protect it.
The browser is opened with :mod:`webbrowser` (which honours ``BROWSER``) and the URL is
always printed too, for when no browser opens.
"""

from __future__ import annotations

import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from passgate.kube.cache import CachedTokens
from passgate.kube.errors import OIDCError
from passgate.kube.oidc_client import OIDCClient
from passgate.kube.settings import PluginSettings
from passgate.oauth2.pkce import S256, s256_challenge

Say = Callable[[str], None]
Opener = Callable[[str], bool]

DONE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>
"""


@dataclass
class _Outcome:
    """What the redirect brought back; set once, by the handler thread."""

    code: str = ""
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)


def _handler(state: str, outcome: _Outcome) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "passgate"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            if parts.path not in ("", "/") or "state" not in query or outcome.done.is_set():
                self._answer(404, "Not found", "This is passgate's sign-in listener.")
                return
            # RFC 6749 §10.12: only the redirect of the request we made counts; anything
            # else (another tab, a page probing localhost) is answered and ignored.
            if not secrets.compare_digest(query["state"].encode(), state.encode()):
                self._answer(400, "Sign-in failed", "The state does not match; try again.")
                return
            if "error" in query:  # RFC 6749 §4.1.2.1
                described = query.get("error_description", "")
                outcome.error = query["error"] + (f": {described}" if described else "")
                self._answer(400, "Sign-in failed", f"The issuer answered {outcome.error}.")
            elif query.get("code"):
                outcome.code = query["code"]
                self._answer(
                    200, "Signed in", "You can close this window and return to the terminal."
                )
            else:
                self._answer(400, "Sign-in failed", "The redirect carried no code.")
                return
            outcome.done.set()

        def _answer(self, status: int, title: str, text: str) -> None:
            body = DONE_PAGE.format(title=title, text=text).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the URL holds the code, and stderr is the person's."""

    return Handler


def open_in_browser(url: str) -> bool:
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def login(
    client: OIDCClient, settings: PluginSettings, say: Say, opener: Opener = open_in_browser
) -> CachedTokens:
    provider = client.provider()
    verifier = secrets.token_urlsafe(48)  # RFC 7636 §4.1: 64 unreserved characters
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(24)
    outcome = _Outcome()
    try:
        server = ThreadingHTTPServer(
            (settings.listen_host, settings.listen_port), _handler(state, outcome)
        )
    except OSError as error:
        where = f"{settings.listen_host}:{settings.listen_port}"
        raise OIDCError(f"cannot listen on {where} for the sign-in redirect: {error}") from None
    server.daemon_threads = True
    port = server.server_address[1]
    # The client is registered with a loopback URI; the issuer accepts any port for it.
    redirect_uri = f"http://{settings.redirect_hostname}:{port}"
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": s256_challenge(verifier),
            "code_challenge_method": S256,
        }
    )
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    url = provider.authorization_endpoint + separator + query
    serving = threading.Thread(target=server.serve_forever, name="passgate-loopback", daemon=True)
    serving.start()
    try:
        say(f"Sign in to {settings.issuer} in your browser:\n\n    {url}\n")
        if settings.open_browser:
            threading.Thread(
                target=_open, args=(opener, url, say), name="passgate-browser", daemon=True
            ).start()
        if not outcome.done.wait(settings.login_timeout_s):
            raise OIDCError(
                f"timed out after {settings.login_timeout_s:.0f}s waiting for the sign-in "
                f"redirect to {redirect_uri}"
            )
    finally:
        server.shutdown()
        server.server_close()
    if outcome.error:
        raise OIDCError(f"sign-in failed: {outcome.error}")
    form = {
        "grant_type": "authorization_code",
        "code": outcome.code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,  # RFC 7636 §4.5
    }
    return client.tokens(form, nonce=nonce)


def _open(opener: Opener, url: str, say: Say) -> None:
    if not opener(url):
        say("Could not open a browser: open the URL above yourself.")
