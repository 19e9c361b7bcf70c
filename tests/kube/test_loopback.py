"""The authorization code sign-in with a loopback redirect (RFC 8252 §7.3), PKCE, state
and nonce, with a scripted "browser" and an in-memory issuer."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from kube.fake_issuer import ISSUER, FakeIssuer
from passgate.kube import loopback
from passgate.kube.errors import OIDCError
from passgate.kube.settings import PluginSettings
from passgate.oauth2.pkce import s256_challenge

SETTINGS = PluginSettings(ISSUER, "kubectl", cache_dir=Path("/nonexistent"), login_timeout_s=10)


def ignore(message: str) -> None:
    pass


class Browser:
    """Plays the browser: reads the authorization URL and hits the redirect URI."""

    def __init__(self, *, error: str = "") -> None:
        self.error = error
        self.query: dict[str, str] = {}
        self.pages: list[tuple[int, str]] = []

    def __call__(self, url: str) -> bool:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/auth"
        self.query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        redirect = self.query["redirect_uri"]
        with httpx.Client(timeout=5) as client:
            self.pages.append((client.get(f"{redirect}/favicon.ico").status_code, ""))
            for query in (
                {"state": "forged", "code": "stolen"},  # another page probing the port
                {},
                {"state": self.query["state"], "code": "the-code"}
                if not self.error
                else {"state": self.query["state"], "error": self.error},
            ):
                response = client.get(f"{redirect}/?{urlencode(query)}")
                self.pages.append((response.status_code, response.text))
        return True


def issuer_checking_pkce(issuer: FakeIssuer, browser: Browser) -> None:
    def handler(form: dict[str, str]) -> httpx.Response:
        assert form["grant_type"] == "authorization_code"
        assert form["code"] == "the-code"
        assert form["redirect_uri"] == browser.query["redirect_uri"]
        assert s256_challenge(form["code_verifier"]) == browser.query["code_challenge"]
        return issuer.tokens(nonce=browser.query["nonce"])

    issuer.token_handler = handler


def test_sign_in_with_pkce_state_and_nonce() -> None:
    issuer, browser, said = FakeIssuer(), Browser(), list[str]()
    issuer_checking_pkce(issuer, browser)
    tokens = loopback.login(issuer.client(), SETTINGS, said.append, opener=browser)
    assert tokens.refresh_token == "refresh-2"
    query = browser.query
    assert query["response_type"] == "code"
    assert query["client_id"] == "kubectl"
    assert query["code_challenge_method"] == "S256"
    assert query["scope"] == "openid email profile groups offline_access"
    redirect = urlsplit(query["redirect_uri"])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "localhost", "")
    assert redirect.port
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32
    statuses = [status for status, _ in browser.pages]
    assert statuses == [404, 400, 404, 200]  # forged state ignored; then the real one
    assert "close this window" in browser.pages[3][1]
    assert any(query["state"] in line for line in said)  # the URL is always printed


def test_nonce_mismatch_is_refused() -> None:
    issuer, browser = FakeIssuer(), Browser()
    issuer.token_handler = lambda form: issuer.tokens(nonce="replayed")
    with pytest.raises(OIDCError, match="failed verification"):
        loopback.login(issuer.client(), SETTINGS, ignore, opener=browser)


def test_error_redirect_fails_clearly() -> None:
    issuer, browser = FakeIssuer(), Browser(error="access_denied")
    with pytest.raises(OIDCError, match="sign-in failed: access_denied"):
        loopback.login(issuer.client(), SETTINGS, ignore, opener=browser)
    assert browser.pages[3][0] == 400


def test_timeout_and_skip_open_browser() -> None:
    opened: list[str] = []

    def opener(url: str) -> bool:
        opened.append(url)
        return True

    settings = dataclasses.replace(SETTINGS, login_timeout_s=0.2, open_browser=False)
    said: list[str] = []
    with pytest.raises(OIDCError, match="timed out"):
        loopback.login(
            FakeIssuer().client(),
            settings,
            said.append,
            opener=opener,
        )
    assert opened == []
    assert f"{ISSUER}/auth?" in said[0]


def test_opener_failure_is_told() -> None:
    settings = dataclasses.replace(SETTINGS, login_timeout_s=0.3)
    said: list[str] = []
    with pytest.raises(OIDCError, match="timed out"):
        loopback.login(FakeIssuer().client(), settings, said.append, opener=lambda url: False)
    assert any("Could not open a browser" in line for line in said)


def test_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = dataclasses.replace(SETTINGS, listen_port=taken.getsockname()[1])
        with pytest.raises(OIDCError, match="cannot listen"):
            loopback.login(FakeIssuer().client(), settings, ignore, opener=lambda url: True)
