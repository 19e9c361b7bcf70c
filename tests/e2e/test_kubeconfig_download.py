"""Acceptance, from nothing to a working kubectl: a person signs in on the ``/kubeconfig``
page in Chromium, downloads the kubeconfig for a cluster, and the real kubectl uses that
file as it is: its exec entry runs the real ``passgate get-token``, which signs in (the
``BROWSER`` stand-in, ``e2e.headless_browser``) and hands kubectl an ID token that the
kube-apiserver stand-in (``e2e.apiserver``, the apiserver's OIDC rules) accepts.

Passgate serves HTTPS from a private CA (``kubernetes.issuerCAData``), so the download
carries ``--certificate-authority-data`` for the plugin; the cluster's own CA is the
stand-in's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import stat
from pathlib import Path

import anyio
import pytest
import yaml
from playwright.sync_api import sync_playwright

from e2e.apiserver import kube_apiserver
from e2e.headless_browser import runs
from e2e.kubectl import Rig, assert_is_jane, kubectl, whoami
from e2e.support import PUBLIC_ID, Launcher, PassgateServer
from pages.conftest import CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def download_kubeconfig(server: PassgateServer, chromium: str, target: Path) -> None:
    """The person in Chromium: /kubeconfig → sign in → pick prod → download."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            # The issuer's certificate is from the test's private CA.
            context = browser.new_context(accept_downloads=True, ignore_https_errors=True)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{server.issuer}/kubeconfig")
            page.fill("#login", server.user.email)
            page.fill("#password", server.user.password)
            page.click("#submit-login")
            page.wait_for_url(f"{server.issuer}/kubeconfig")  # no consent for Passgate's pages
            assert server.user.email in page.inner_text("#who")
            page.check("#cluster-prod")
            with page.expect_download() as caught:
                page.click("#download")
            caught.value.save_as(target)
        finally:
            browser.close()


async def test_downloaded_kubeconfig_works_with_kubectl(
    launcher: Launcher, tmp_path: Path, chromium_path: str
) -> None:
    server = launcher.new(tls=True)
    assert server.tls is not None
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(
            kube_apiserver(
                server.issuer, PUBLIC_ID, directory=tmp_path / "api", issuer_ca=server.tls.ca
            )
        )
        server.extra = {
            "kubernetes": {
                "issuerCAData": base64.b64encode(server.tls.ca.read_bytes()).decode(),
                "clusters": [
                    {
                        "name": "prod",
                        "server": api.url,
                        "certificateAuthorityData": base64.b64encode(api.ca_pem).decode(),
                        "clientID": PUBLIC_ID,
                    },
                    {
                        "name": "staging",
                        "server": "https://staging.k8s.example.com:6443",
                        "insecureSkipTLSVerify": True,
                        "clientID": PUBLIC_ID,
                    },
                ],
            }
        }
        server.write_config()
        await server.start()

        saved = tmp_path / "downloaded-kubeconfig"
        await anyio.to_thread.run_sync(lambda: download_kubeconfig(server, chromium_path, saved))
        saved.chmod(0o600)
        document = yaml.safe_load(saved.read_text())
        assert [cluster["name"] for cluster in document["clusters"]] == ["prod"]

        home = tmp_path / "home"
        home.mkdir()
        cache = home / ".kube" / "cache" / "passgate"  # the plugin's default, under HOME
        rig = Rig(server, api, tmp_path, cache, tmp_path / "browser.log")

        view = await kubectl(rig, saved, "config", "view", "-o", "json", tty=False)
        assert view.returncode == 0, view.stderr
        assert json.loads(view.stdout)["current-context"] == "prod"

        # The file as downloaded: kubectl runs its exec entry, the plugin signs in once...
        first = await whoami(rig, saved)
        assert_is_jane(rig, first)
        assert runs(rig.browser_log) == 1
        [cache_file] = rig.cache_files()
        assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
        # ...and the next command uses the cached token, without a browser.
        assert_is_jane(rig, await whoami(rig, saved, tty=False))
        assert runs(rig.browser_log) == 1
        assert api.reviews(201) == 2
