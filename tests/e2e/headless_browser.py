"""A "browser" for ``BROWSER``: the plugin's ``webbrowser.open(url)`` runs it with the
authorization URL. It signs in on Passgate's pages over HTTPS (forms parsed like
``e2e.browser``), approves, follows the redirect to the plugin's loopback listener and
records each run in a file, so a test counts sign-ins.

Environment: ``E2E_BROWSER_LOG`` (the count file), ``E2E_BROWSER_EMAIL``,
``E2E_BROWSER_PASSWORD``, ``E2E_BROWSER_CA`` (the issuer's CA file).
"""

from __future__ import annotations

import os
import ssl
import stat
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from e2e.browser import Browser, only_form

TESTS = Path(__file__).resolve().parent.parent


def install(directory: Path) -> Path:
    """An executable for ``BROWSER`` (webbrowser runs one program, no arguments)."""
    script = directory / "headless-browser"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from e2e.headless_browser import main\n"
        "sys.exit(main(sys.argv[1]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


async def sign_in(url: str) -> None:
    issuer = url.split("/auth?", 1)[0]
    verify = ssl.create_default_context(cafile=os.environ["E2E_BROWSER_CA"])
    async with httpx.AsyncClient(verify=verify, timeout=10.0) as client:
        browser = Browser(client, issuer)
        login_page = await browser.get(url)
        approval_page = await browser.submit(
            login_page,
            only_form(login_page),
            login=os.environ["E2E_BROWSER_EMAIL"],
            password=os.environ["E2E_BROWSER_PASSWORD"],
        )
        redirect = await browser.submit(approval_page, only_form(approval_page), approval="approve")
    location = urljoin(str(redirect.url), redirect.headers["location"])
    assert urlsplit(location).hostname == "localhost", location
    async with httpx.AsyncClient(timeout=10.0) as loopback:
        page = await loopback.get(location)
    assert page.status_code == 200, page.text
    assert "close this window" in page.text


def main(url: str) -> int:
    # Real browsers chat on stdout (Firefox: this very line). The plugin's stdout belongs to
    # kubectl, so the plugin must keep it away from there.
    print("Opening in existing browser session.", flush=True)
    # O_APPEND: parallel runs each add one whole line.
    with open(os.environ["E2E_BROWSER_LOG"], "a") as log:
        log.write(f"{os.getpid()}\n")
    anyio.run(sign_in, url)
    return 0
