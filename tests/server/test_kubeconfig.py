"""``/kubeconfig`` in-process: the sign-in through /auth as the built-in client, the
cluster form, the download, and every refusal as a page (never a 500)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from e2e.tls import make_tls_files
from passgate.cli.main import cli
from passgate.config.builtin import PORTAL_CLIENT_ID

from .harness import (
    EMAIL,
    ISSUER,
    PREFIX,
    PUBLIC_ID,
    USER_ID,
    Harness,
    assert_error_page,
    config_text,
    parse_form,
    query_of,
    running,
)

pytestmark = pytest.mark.anyio

PAGE = f"{PREFIX}/kubeconfig"


def kubernetes_yaml(ca: Path, *, publish: bool = True) -> str:
    data = base64.b64encode(ca.read_bytes()).decode()
    return f"""
kubernetes:
  publishClusters: {str(publish).lower()}
  clusters:
  - name: prod
    server: https://prod.k8s.example.com:6443
    certificateAuthorityData: {data}
    clientID: {PUBLIC_ID}
  - name: staging
    server: https://staging.k8s.example.com:6443
    certificateAuthority: {ca}
    clientID: {PUBLIC_ID}
    scopes: [offline_access]
"""


@pytest.fixture
async def kube(tmp_path: Path, anyio_backend: str) -> AsyncIterator[Harness]:
    ca = make_tls_files(tmp_path / "tls").ca
    async with running(config_text(extra=kubernetes_yaml(ca))) as harness:
        yield harness


async def sign_in(harness: Harness, browser: httpx.AsyncClient) -> str:
    """GET /kubeconfig → /auth as the portal's client → password → the portal's callback
    (Passgate's own pages ask no consent); the callback URL."""
    start = await browser.get(PAGE)
    assert start.status_code == 303, start.text
    auth = start.headers["location"]
    assert auth.startswith(f"{PREFIX}/auth?")
    params = query_of(auth)
    assert params["client_id"] == PORTAL_CLIENT_ID
    assert params["redirect_uri"] == f"http://127.0.0.1:5556{PREFIX}/signin/callback"
    assert params["code_challenge_method"] == "S256"
    cookie = start.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    url = await harness.login_url(params, browser)
    form = await harness.login_form(url, browser)
    response = await harness.submit_login(form, browser=browser)
    assert response.status_code == 303, response.text
    callback = response.headers["location"]
    assert urlsplit(callback).path == f"{PREFIX}/signin/callback"
    return callback


async def signed_in(harness: Harness) -> httpx.AsyncClient:
    browser = await harness.browser()
    response = await browser.get(await sign_in(harness, browser))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == PAGE
    return browser


async def test_sign_in_pick_and_download(kube: Harness) -> None:
    browser = await signed_in(kube)
    page = await browser.get(PAGE)
    assert page.status_code == 200, page.text
    assert EMAIL in page.text
    assert "admins" in page.text
    assert "developers" in page.text
    form = parse_form(page.text, "clusters-form")
    assert form.action == PAGE
    data = {"csrf_token": form.fields["csrf_token"], "action": "download"}
    response = await browser.post(PAGE, data={**data, "cluster": ["prod", "staging"]})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == 'attachment; filename="kubeconfig"'
    assert "no-store" in response.headers["cache-control"]
    document = yaml.safe_load(response.text)
    assert [item["name"] for item in document["contexts"]] == ["prod", "staging"]
    assert document["current-context"] == "prod"
    staging = document["users"][1]["user"]["exec"]
    assert staging["args"] == [
        "get-token",
        "--issuer-url=http://127.0.0.1:5556/dex",
        f"--client-id={PUBLIC_ID}",
        "--scope=offline_access",
    ]
    # "show" renders the same text on the page; "all" picks every cluster.
    shown = await browser.post(PAGE, data={**data, "action": "show", "all": "1"})
    assert shown.status_code == 200
    assert "certificate-authority-data" in shown.text
    assert "staging-passgate" in shown.text


async def test_not_signed_in_goes_to_sign_in(kube: Harness) -> None:
    browser = await kube.browser()
    response = await browser.post(PAGE, data={"cluster": "prod", "action": "download"})
    assert response.status_code == 303
    assert response.headers["location"] == PAGE
    response = await browser.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{PREFIX}/auth?")


async def test_forged_or_foreign_session_cookie_is_not_a_session(kube: Harness) -> None:
    browser = await kube.browser()
    browser.cookies.set("passgate_portal", "x.y.z", path=PREFIX)
    assert (await browser.get(PAGE)).status_code == 303
    # A genuine ID token of another client (aud kubectl) is no session either.
    tokens = await kube.tokens(client_id=PUBLIC_ID, redirect_uri="http://localhost:8000")
    browser.cookies.set("passgate_portal", tokens["id_token"], path=PREFIX)
    assert (await browser.get(PAGE)).status_code == 303


async def test_session_expires(kube: Harness) -> None:
    browser = await signed_in(kube)
    assert (await browser.get(PAGE)).status_code == 200
    kube.clock.advance(timedelta(minutes=61))
    assert (await browser.get(PAGE)).status_code == 303


async def test_revoking_the_user_ends_the_page_session(kube: Harness) -> None:
    browser = await signed_in(kube)
    assert (await browser.get(PAGE)).status_code == 200
    await kube.runtime.services.revoker.revoke_user(USER_ID, actor="admin:test")
    response = await browser.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{PREFIX}/auth?")


async def test_csrf_token_is_required(kube: Harness) -> None:
    browser = await signed_in(kube)
    for token in ("", "0" * 64):
        response = await browser.post(
            PAGE, data={"csrf_token": token, "cluster": "prod", "action": "download"}
        )
        assert_error_page(response, 403)


async def test_unknown_or_no_cluster(kube: Harness) -> None:
    browser = await signed_in(kube)
    token = parse_form((await browser.get(PAGE)).text, "clusters-form").fields["csrf_token"]
    for clusters in (["nope"], ["prod", "../etc"], []):
        data = {"csrf_token": token, "action": "download", "cluster": clusters}
        response = await browser.post(PAGE, data=data)
        assert response.status_code == 400, response.text
        assert "content-disposition" not in response.headers
        assert 'role="alert"' in response.text
    repeated = await browser.post(
        PAGE, content=f"csrf_token={token}&action=show&action=download&cluster=prod",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert_error_page(repeated, 400)
    wrong_type = await browser.post(PAGE, content=b"{}", headers={"content-type": "text/json"})
    assert_error_page(wrong_type, 400)


async def test_cluster_listing(kube: Harness) -> None:
    response = await kube.client.get(f"{PREFIX}/kubeconfig/clusters")
    assert response.status_code == 200
    listing = response.json()
    assert [item["name"] for item in listing] == ["prod", "staging"]
    assert set(listing[1]) == {
        "name", "server", "certificateAuthorityData", "clientID", "issuer", "scopes",
    }  # fmt: skip
    assert listing[1]["scopes"] == ["offline_access"]
    assert listing[0]["certificateAuthorityData"] == listing[1]["certificateAuthorityData"]


def kubeconfig_cli(listing: httpx.Response, monkeypatch: pytest.MonkeyPatch) -> Result:
    """``passgate kubeconfig --issuer-url`` given ``listing`` as the server's answer."""
    asked: list[str] = []

    def get(url: str, **_options: object) -> httpx.Response:
        asked.append(url)
        return listing

    monkeypatch.setattr(httpx, "get", get)
    argv = ["kubeconfig", "--issuer-url", ISSUER, "--all", "--output", "-"]
    result = CliRunner().invoke(cli, argv)
    assert asked == [f"{ISSUER}/kubeconfig/clusters"]
    return result


async def test_no_listing_when_not_published(
    tmp_path: Path, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_tls_files(tmp_path / "tls").ca
    async with running(config_text(extra=kubernetes_yaml(ca, publish=False))) as harness:
        response = await harness.client.get(f"{PREFIX}/kubeconfig/clusters")
        assert response.status_code == 404
        assert response.json() == {
            "error": "not_published",
            "error_description": "the clusters are configured but not published "
            "(kubernetes.publishClusters is false): download a kubeconfig at "
            f"{ISSUER}/kubeconfig",
        }
        assert (await harness.client.get(PAGE)).status_code == 303  # the page still exists
        # The page says why the command cannot list them, instead of offering it.
        page = await (await signed_in(harness)).get(PAGE)
        assert "kubernetes.publishClusters: false" in page.text
        assert f"passgate kubeconfig --issuer-url {ISSUER} --all" not in page.text
    result = kubeconfig_cli(response, monkeypatch)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"passgate: {ISSUER} has clusters but does not publish them "
        "(kubernetes.publishClusters is false): download a kubeconfig at "
        f"{ISSUER}/kubeconfig, or use --config with its config file\n"
    )


async def test_published_clusters_are_offered_to_the_command(kube: Harness) -> None:
    page = await (await signed_in(kube)).get(PAGE)
    assert f"passgate kubeconfig --issuer-url {ISSUER} --all" in page.text
    assert "publishClusters" not in page.text


async def test_the_command_without_clusters_or_a_passgate(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = await harness.client.get(f"{PREFIX}/kubeconfig/clusters")
    result = kubeconfig_cli(response, monkeypatch)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"passgate: {ISSUER} has no clusters configured (kubernetes.clusters is empty)\n"
    )
    # Any other 404 (another issuer, a wrong URL) blames neither setting.
    other = httpx.Response(404, text="404 page not found")
    result = kubeconfig_cli(other, monkeypatch)
    assert result.stderr == (
        f"passgate: {ISSUER}/kubeconfig/clusters answered 404: is {ISSUER} a Passgate issuer?\n"
    )


async def test_no_clusters_no_page(harness: Harness) -> None:
    for path in ("", "/callback", "/clusters"):
        response = await harness.client.get(PAGE + path, headers={"accept": "text/html"})
        assert response.status_code == 404, path
    page = await harness.client.get(PAGE, headers={"accept": "text/html"})
    assert "No clusters configured" in page.text
    assert "kubernetes.clusters is empty" in page.text
    listing = await harness.client.get(f"{PAGE}/clusters")
    assert listing.json() == {
        "error": "no_clusters",
        "error_description": "no clusters are configured (kubernetes.clusters is empty)",
    }
    assert (await harness.client.post(PAGE, data={"cluster": "x"})).status_code == 404
    # The page's former client is no client at all.
    response = await harness.client.get(
        f"{PREFIX}/auth",
        params={
            "client_id": "passgate-kubeconfig",
            "redirect_uri": f"http://127.0.0.1:5556{PREFIX}/kubeconfig/callback",
            "response_type": "code",
            "scope": "openid",
        },
    )
    assert_error_page(response, 400)
