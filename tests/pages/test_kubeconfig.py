"""The kubeconfig page in Chromium: sign in through /auth, pick clusters, download, and
the downloaded file works with the real kubectl, whose exec entry runs ``passgate
get-token`` with the kubeconfig contract's arguments."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import sync_playwright

from e2e.tls import make_tls_files

from .conftest import (
    CHROMIUM_ARGS,
    DEVICE_CLIENT_ID,
    EMAIL,
    PASSWORD,
    Server,
    free_port,
    run_passgate,
)

pytestmark = pytest.mark.slow

KUBECTL = Path(sys.executable).with_name("kubectl")


@pytest.fixture
def kube_server(tmp_path: Path) -> Iterator[Server]:
    ca = make_tls_files(tmp_path / "tls").ca
    data = base64.b64encode(ca.read_bytes()).decode()
    extra = f"""
kubernetes:
  clusters:
  - name: prod
    server: https://127.0.0.1:{free_port()}
    certificateAuthorityData: {data}
    clientID: {DEVICE_CLIENT_ID}
  - name: staging
    server: https://127.0.0.1:{free_port()}
    certificateAuthorityData: {data}
    clientID: {DEVICE_CLIENT_ID}
    scopes: [offline_access]
  - name: lab
    server: https://127.0.0.1:{free_port()}
    insecureSkipTLSVerify: true
    clientID: {DEVICE_CLIENT_ID}
"""
    with run_passgate(
        tmp_path, free_port(), f"http://127.0.0.1:{free_port()}/callback", extra
    ) as server:
        yield server


def kubectl(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(config), *args],
        capture_output=True, text=True, timeout=60, check=False, env={**base, **(env or {})},
    )  # fmt: skip


def test_sign_in_pick_clusters_and_download(
    kube_server: Server, chromium_path: str, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{kube_server.issuer}/kubeconfig")
            # Not signed in: the normal sign-in pages, as the portal's built-in client.
            assert urlsplit(page.url).path == "/dex/auth/local/login"
            page.fill("#login", EMAIL)
            page.fill("#password", PASSWORD)
            page.click("#submit-login")
            # Passgate's own pages ask no consent: straight back to the page.
            page.wait_for_url(f"{kube_server.issuer}/kubeconfig")
            assert EMAIL in page.inner_text("#who")
            cookies = {cookie["name"]: cookie for cookie in context.cookies()}
            session = cookies["passgate_portal"]
            assert session["httpOnly"]
            assert session["sameSite"] == "Lax"
            assert session["path"] == "/dex"
            assert "passgate_portal_login" not in cookies

            page.check("#cluster-prod")
            page.check("#cluster-staging")
            page.click("#show")
            text = page.input_value("#kubeconfig-text")
            assert "staging-passgate" in text
            assert "lab" not in yaml.safe_load(text)["clusters"][-1]["name"]
            assert "kubectl --context prod get ns" in page.inner_text("#commands-unix")
            assert '$Env:KUBECONFIG = "$HOME\\.kube\\passgate.yaml"' in page.inner_text(
                "#commands-windows"
            )
            # The selection is kept; download the same two clusters.
            with page.expect_download() as caught:
                page.click("#download")
            download = caught.value
            assert download.suggested_filename == "kubeconfig"
            saved = tmp_path / "kubeconfig"
            download.save_as(saved)
        finally:
            browser.close()

    saved.chmod(0o600)
    assert yaml.safe_load(saved.read_text()) == yaml.safe_load(text)
    view = kubectl(saved, "config", "view", "--raw", "-o", "json")
    assert view.returncode == 0, view.stderr
    seen = json.loads(view.stdout)
    assert sorted(item["name"] for item in seen["contexts"]) == ["prod", "staging"]
    assert seen["current-context"] == "prod"
    contexts = kubectl(saved, "config", "get-contexts", "-o", "name")
    assert sorted(contexts.stdout.split()) == ["prod", "staging"]

    # kubectl runs the exec entry: a recording `passgate` first on PATH answers with an
    # ExecCredential (the real plugin would open a browser to sign in).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "args.json"
    stub = bin_dir / "passgate"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "                  'status': {'token': 'stub-token'}}))\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = kubectl(saved, "--context", "staging", "get", "ns", "--request-timeout=3s", env=env)
    assert run.returncode != 0  # nothing listens at the cluster address
    assert json.loads(record.read_text()) == [
        "get-token",
        f"--issuer-url={kube_server.issuer}",
        f"--client-id={DEVICE_CLIENT_ID}",
        "--scope=offline_access",
    ]


def test_no_session_no_download(kube_server: Server, chromium_path: str) -> None:
    """A form posted from another page without the session: back to sign-in, no file."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            response = page.request.post(
                f"{kube_server.issuer}/kubeconfig",
                form={"cluster": "prod", "action": "download"},
                max_redirects=0,
            )
            assert response.status == 303
            assert response.headers["location"] == "/dex/kubeconfig"
            assert "content-disposition" not in response.headers
        finally:
            browser.close()
