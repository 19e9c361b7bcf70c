"""What the deployment tests share: where things are, the demo's config and sign-in, and
the CI rule for tools (a missing tool skips a test locally and fails it under CI)."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import yaml
from joserfc import jwt
from joserfc.jwk import KeySet

import testenv
from e2e.browser import Browser, only_form
from e2e.support import free_port

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "examples" / "config-demo.yaml"
WHEELHOUSE = REPO / "dist" / "wheelhouse"

# examples/config-demo.yaml's client and person (the README's `make run`).
DEMO_CLIENT_ID = "example-app"
DEMO_CLIENT_SECRET = "ZXhhbXBsZS1hcHAtc2VjcmV0"
DEMO_REDIRECT_URI = "http://127.0.0.1:5555/callback"
DEMO_EMAIL = "admin@example.com"
DEMO_PASSWORD = "password"


def missing(what: str, remedy: str) -> NoReturn:
    """Skip the test because ``what`` is missing, or fail it under CI, where every
    deployment check must run (testenv's rule, PASSGATE_REQUIRE_DEPLOY outside CI)."""
    testenv.missing("DEPLOY", f"{what} is missing: {remedy}")


def version() -> str:
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise AssertionError("pyproject.toml has no version")


def demo_config(*, issuer: str, web: str, telemetry: str, database: str) -> dict[str, Any]:
    """examples/config-demo.yaml with its addresses and SQLite file replaced."""
    config: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text())
    config["issuer"] = issuer
    config["web"]["http"] = web
    config["telemetry"]["http"] = telemetry
    config["storage"]["config"]["file"] = database
    return config


@contextlib.contextmanager
def serving_demo(
    directory: Path, passgate: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``passgate serve`` (the executable ``passgate``) on the demo's config with free
    ports, run in ``directory`` (its SQLite file under var/ there), ready: its issuer and
    process, killed at the end."""
    port, telemetry = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}/dex"
    config = demo_config(
        issuer=issuer,
        web=f"127.0.0.1:{port}",
        telemetry=f"127.0.0.1:{telemetry}",
        database="var/passgate.db",
    )
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (directory / "var").mkdir(exist_ok=True)
    log = directory / "passgate.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(passgate), "serve", "config.yaml"],
            cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(
            f"http://127.0.0.1:{telemetry}/healthz/ready",
            alive=lambda: server.poll() is None,
            log=lambda: log.read_text(errors="replace"),
        )
        yield issuer, server
    finally:
        server.kill()
        server.wait(timeout=30)


def wait_ready(url: str, alive: Callable[[], bool], log: Callable[[], str]) -> None:
    """Poll ``url`` (a ``/healthz/ready``) until it answers 200, for 60 seconds at most,
    while ``alive()``; the failure shows ``log()``."""
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise AssertionError(f"the server exited:\n{log()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within 60 s:\n{log()}")


async def demo_sign_in(base_url: str, issuer: str) -> dict[str, Any]:
    """The demo's sign-in as a browser does it: /auth, the password form, the approval
    form, the code at /token; the ID token's claims, its signature checked with /keys."""
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    query = urlencode(
        {
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": DEMO_REDIRECT_URI,
            "response_type": "code",
            "scope": "openid email profile groups",
            "state": state,
            "nonce": nonce,
        }
    )
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        browser = Browser(client, base_url)
        login = await browser.get(f"{base_url}/auth?{query}")
        approval = await browser.submit(
            login, only_form(login), login=DEMO_EMAIL, password=DEMO_PASSWORD
        )
        redirect = await browser.submit(approval, only_form(approval), approval="approve")
        assert redirect.status_code == 303, redirect.text[:300]
        location = redirect.headers["location"]
        assert location.startswith(DEMO_REDIRECT_URI + "?"), location
        answer = parse_qs(urlsplit(location).query)
        assert answer["state"] == [state]
        tokens = await client.post(
            f"{base_url}/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["code"][0],
                "redirect_uri": DEMO_REDIRECT_URI,
            },
            auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        )
        assert tokens.status_code == 200, tokens.text
        keys = KeySet.import_key_set((await client.get(f"{base_url}/keys")).json())
    token = jwt.decode(tokens.json()["id_token"], keys, algorithms=["RS256"])
    claims: dict[str, Any] = dict(token.claims)
    assert claims["iss"] == issuer
    assert claims["aud"] == DEMO_CLIENT_ID
    assert claims["nonce"] == nonce
    assert claims["email"] == DEMO_EMAIL
    assert claims["email_verified"] is True
    return claims
