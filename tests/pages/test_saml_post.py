"""The SAML HTTP-POST binding in a real browser: Passgate's page posts the AuthnRequest to
the IdP by itself (a script its CSP allows by nonce, a form-action that allows the IdP),
the IdP (samlify, on another site) posts the signed answer back, and Passgate, whose
SameSite=Lax cookie Chromium leaves out of that cross-site POST, posts it again from its
own origin to finish the sign-in.

The in-process tests show each step with httpx; only a browser shows that the CSP, the
script and the cookie rules let the steps happen by themselves.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Request, Route, sync_playwright

from saml_idp.idp import IdP, connector_yaml, require_xmlsec1, running_idp

from .conftest import CHROMIUM_ARGS, CLIENT_ID, Server, free_port, redeem, run_passgate

pytestmark = pytest.mark.slow

#: The IdP's name in the browser: another site than Passgate's 127.0.0.1.
IDP_HOST = "idp.test"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdP]:
    require_xmlsec1()
    with running_idp(tmp_path_factory.mktemp("idp")) as running:
        yield running


@pytest.fixture
def saml_server(idp: IdP, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/dex"
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    with run_passgate(
        tmp_path,
        port,
        redirect_uri,
        connector_yaml(idp, issuer, sso_url=idp.sso_url.replace("127.0.0.1", IDP_HOST)),
    ) as server:
        metadata = httpx.get(f"{issuer}/saml/metadata/saml", timeout=10)
        assert metadata.status_code == 200, metadata.text
        idp.register_sp(metadata.text)
        yield server


def test_sign_in_through_the_idp_in_chromium(
    saml_server: Server, idp: IdP, chromium_path: str
) -> None:
    state = secrets.token_urlsafe(12)
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": saml_server.redirect_uri,
        "response_type": "code",
        "scope": "openid email profile groups",
        "state": state,
        "connector_id": "saml",
    }
    landed: list[str] = []
    posts: list[tuple[str, str]] = []  # (URL, the page that sent it) of every form POST
    violations: list[str] = []

    def callback(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>client callback</h1>")

    def record(request: Request) -> None:
        if request.method == "POST" and request.is_navigation_request():
            posts.append((request.url, request.headers.get("origin", "")))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {IDP_HOST} 127.0.0.1"],
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.route(f"{saml_server.redirect_uri}**", callback)
            page.on("request", record)
            page.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            page.goto(f"{saml_server.issuer}/auth?{urlencode(params)}")
            # Passgate's page posted the AuthnRequest by itself: the IdP's sign-in form.
            page.wait_for_selector("input[name=user]")
            assert urlsplit(page.url).hostname == IDP_HOST
            page.fill("input[name=user]", "jane")
            page.click("button")
            # The IdP's page: its Continue button posts the signed answer across sites.
            page.wait_for_selector("input[name=SAMLResponse]", state="attached")
            page.click("button")
            # Passgate's re-post and the approval screen follow by themselves.
            page.wait_for_url("**/dex/approval?**")
            assert "Page App" in page.inner_text("h1")
            page.click("#grant-access")
            page.wait_for_url(f"{saml_server.redirect_uri}?**")
        finally:
            browser.close()

    assert violations == [], violations
    idp_origin = f"http://{IDP_HOST}:{urlsplit(idp.base).port}"
    sso = idp.sso_url.replace("127.0.0.1", IDP_HOST)
    acs = f"{saml_server.issuer}/callback"
    # Passgate's pages send no referrer, so their posts carry Origin "null" (Fetch §3.2.5).
    assert posts == [
        (sso, "null"),  # Passgate's page posted the AuthnRequest by itself
        (f"{sso}/login", idp_origin),
        (acs, idp_origin),  # the IdP's cross-site POST, without our cookie...
        (acs, "null"),  # ...posted again by Passgate's page, with it
        (f"{saml_server.issuer}/approval", "null"),
    ], posts

    assert len(landed) == 1, landed
    query = parse_qs(urlsplit(landed[0]).query)
    assert query["state"] == [state]
    token = redeem(saml_server, query["code"][0])
    claims = token.json()["id_token"].split(".")[1]
    payload = httpx.Response(200, content=base64.urlsafe_b64decode(claims + "==")).json()
    assert payload["email"] == "jane@example.com"
    assert payload["groups"] == ["admins", "devs"]
