"""The newcomer's first minutes, as `make run` serves them (examples/config-demo.yaml with
only its ports and file paths changed), in Chromium: open the printed URL, sign in as the
demo user, see who you are, open the kubeconfig page and download a kubeconfig for the demo
cluster. Screenshots of each page go to test-artifacts/newcomer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import sync_playwright

from deploy.support import serving_demo

from .conftest import CHROMIUM_ARGS

pytestmark = pytest.mark.slow

PASSGATE = Path(sys.executable).with_name("passgate")
DEMO_EMAIL, DEMO_PASSWORD = "admin@example.com", "password"  # what the banner prints


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    with serving_demo(tmp_path, PASSGATE) as (issuer, _server):
        yield issuer


def test_the_printed_url_signs_a_newcomer_in_and_hands_out_a_kubeconfig(
    demo: str, chromium_path: str, tmp_path: Path, artifacts: Path
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(demo)  # the banner's URL, without the trailing slash
            assert urlsplit(page.url).path == "/dex/"
            assert page.is_visible("#sign-in")
            page.screenshot(path=str(artifacts / "home-signed-out.png"), full_page=True)

            page.click("#sign-in")
            assert urlsplit(page.url).path == "/dex/auth/local/login"
            page.fill("#login", DEMO_EMAIL)
            page.fill("#password", DEMO_PASSWORD)
            page.click("#submit-login")
            page.wait_for_url(f"{demo}/")  # no consent page for Passgate's own pages
            assert page.inner_text("#who-email") == DEMO_EMAIL
            assert "admins" in page.inner_text("#who-groups")
            assert page.inner_text("#who-connector")
            for place in ("#go-kubeconfig", "#go-account", "#go-console"):
                assert page.is_visible(place), place
            page.screenshot(path=str(artifacts / "home.png"), full_page=True)

            page.click("#go-kubeconfig")
            page.wait_for_url(f"{demo}/kubeconfig")  # already signed in: no second sign-in
            assert DEMO_EMAIL in page.inner_text("#who")
            page.check("#cluster-demo")
            with page.expect_download() as caught:
                page.click("#download")
            saved = tmp_path / "kubeconfig"
            caught.value.save_as(saved)
            page.screenshot(path=str(artifacts / "kubeconfig.png"), full_page=True)
        finally:
            browser.close()

    document = yaml.safe_load(saved.read_text())
    assert document["current-context"] == "demo"
    (user,) = document["users"]
    assert user["user"]["exec"]["args"][:3] == [
        "get-token", f"--issuer-url={demo}", "--client-id=kubectl",
    ]  # fmt: skip
