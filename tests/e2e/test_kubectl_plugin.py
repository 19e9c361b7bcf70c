"""Acceptance: the real kubectl (1.37, from the venv) runs ``passgate get-token`` as its
exec credential plugin against a real ``passgate serve`` over HTTPS, and a kube-apiserver
stand-in (``e2e.apiserver``) that checks the bearer token with the apiserver's OIDC rules.

The "browser" is ``e2e.headless_browser`` set as ``BROWSER``; it counts its runs. kubectl
tells the plugin ``spec.interactive`` from whether its own stdin is a terminal, so the
interactive runs get a pty as stdin.
"""

from __future__ import annotations

import contextlib
import json
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import jwt
import pytest
import yaml

from e2e.apiserver import kube_apiserver
from e2e.browser import Browser, only_form
from e2e.headless_browser import runs
from e2e.kubectl import (
    BIN,
    KUBECTL,
    V1,
    V1BETA1,
    Rig,
    assert_is_jane,
    finish,
    run_all,
    start,
    whoami,
)
from e2e.support import PUBLIC_ID, Launcher

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


@pytest.fixture
def rig_factory(launcher: Launcher, tmp_path: Path) -> Iterator[Any]:
    with contextlib.ExitStack() as stack:

        async def make(**expiry: Any) -> Rig:
            server = launcher.new(tls=True, expiry=expiry)
            await server.start()
            assert server.tls is not None
            api = stack.enter_context(
                kube_apiserver(
                    server.issuer,
                    PUBLIC_ID,
                    directory=tmp_path / "apiserver",
                    issuer_ca=server.tls.ca,
                )
            )
            (tmp_path / "home").mkdir()
            return Rig(server, api, tmp_path, tmp_path / "cache", tmp_path / "browser.log")

        yield make


async def test_kubectl_signs_in_then_refreshes_silently(rig_factory: Any) -> None:
    rig: Rig = await rig_factory(idTokens="6s")
    kubeconfig = rig.kubeconfig()

    first = await whoami(rig, kubeconfig)
    assert_is_jane(rig, first)
    assert runs(rig.browser_log) == 1
    assert rig.api.reviews(201) == 1
    # The cache: directory 0700, file 0600, the tokens and the ID token's exp.
    assert stat.S_IMODE(rig.cache_dir.stat().st_mode) == 0o700
    [cache_file] = rig.cache_files()
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    cached = rig.cached()
    assert cached["refresh_token"]
    claims = jwt.decode(cached["id_token"], options={"verify_signature": False})
    assert cached["expires_at"] == claims["exp"]

    # A second command while the token is fresh: the cached token, unchanged.
    assert_is_jane(rig, await whoami(rig, kubeconfig))
    assert rig.cached()["id_token"] == cached["id_token"]

    # After the ID token expired: a silent refresh (no browser), with a rotated refresh token,
    # even when kubectl runs non-interactively.
    await anyio.sleep(max(0.0, claims["exp"] - time.time()) + 0.5)
    assert_is_jane(rig, await whoami(rig, kubeconfig, tty=False))
    assert runs(rig.browser_log) == 1
    refreshed = rig.cached()
    assert refreshed["id_token"] != cached["id_token"]
    assert refreshed["refresh_token"] != cached["refresh_token"]
    assert refreshed["expires_at"] > claims["exp"]
    # The apiserver saw only good tokens.
    assert rig.api.reviews(401) == 0


async def test_ten_parallel_kubectl_runs_sign_in_once(rig_factory: Any) -> None:
    rig: Rig = await rig_factory()
    kubeconfig = rig.kubeconfig()
    argv = [KUBECTL, "auth", "whoami", "-o", "json"]
    env = rig.env(kubeconfig)
    results = await anyio.to_thread.run_sync(lambda: run_all([argv] * 10, env, tty=True))
    for result in results:
        assert_is_jane(rig, result)
    assert runs(rig.browser_log) == 1
    assert len(rig.cache_files()) == 1
    assert rig.api.reviews(201) == 10


async def test_non_interactive_kubectl_never_opens_a_browser(rig_factory: Any) -> None:
    rig: Rig = await rig_factory()
    kubeconfig = rig.kubeconfig()
    refused = await whoami(rig, kubeconfig, tty=False)
    assert refused.returncode != 0
    assert refused.stdout == ""
    assert "sign-in required" in refused.stderr
    assert f"passgate get-token --issuer-url={rig.server.issuer}" in refused.stderr
    assert runs(rig.browser_log) == 0
    assert rig.cache_files() == []

    # The command it names, run in a terminal, signs in; then kubectl works without one.
    command = [str(Path(BIN) / "passgate"), *rig.plugin_args()]
    [signed_in] = await anyio.to_thread.run_sync(
        lambda: run_all([command], rig.env(kubeconfig), tty=True)
    )
    assert signed_in.returncode == 0, signed_in.stderr
    credential = json.loads(signed_in.stdout)  # stdout: the ExecCredential and nothing else
    assert credential["apiVersion"] == V1
    assert credential["status"]["token"] == rig.cached()["id_token"]
    assert "Sign in to" in signed_in.stderr
    assert_is_jane(rig, await whoami(rig, kubeconfig, tty=False))
    assert runs(rig.browser_log) == 1


async def test_corrupted_cache_and_v1beta1(rig_factory: Any) -> None:
    rig: Rig = await rig_factory()
    kubeconfig = rig.kubeconfig(api_version=V1BETA1)
    assert_is_jane(rig, await whoami(rig, kubeconfig))
    [cache_file] = rig.cache_files()
    cache_file.write_text('{"version": 1, "id_token": ')  # a torn write from elsewhere

    again = await whoami(rig, kubeconfig)
    assert_is_jane(rig, again)
    assert "warning: ignoring corrupted token cache" in again.stderr
    assert runs(rig.browser_log) == 2  # the unusable cache meant a new sign-in
    assert rig.cached()["refresh_token"]


async def test_logout_forgets_the_tokens(rig_factory: Any) -> None:
    rig: Rig = await rig_factory()
    kubeconfig = rig.kubeconfig()
    assert_is_jane(rig, await whoami(rig, kubeconfig))
    refresh_token = rig.cached()["refresh_token"]
    logout = [str(Path(BIN) / "passgate"), "logout", *rig.plugin_args()[1:5]]
    [result] = await anyio.to_thread.run_sync(
        lambda: run_all([logout], rig.env(kubeconfig), tty=False)
    )
    assert result.returncode == 0, result.stderr
    assert "Removed 1 cached token" in result.stderr
    assert rig.cache_files() == []
    # The server advertises revocation_endpoint: the refresh token is dead too (RFC 7009).
    async with rig.server.http() as http:
        again = await http.post(
            rig.server.url("/token"),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                  "client_id": PUBLIC_ID},
        )  # fmt: skip
    assert again.status_code == 400, again.text
    assert again.json()["error"] == "invalid_grant"
    refused = await whoami(rig, kubeconfig, tty=False)
    assert refused.returncode != 0
    assert "sign-in required" in refused.stderr


async def test_apiserver_stand_in_refuses_a_bad_token(rig_factory: Any) -> None:
    rig: Rig = await rig_factory()
    kubeconfig = rig.root / "kubeconfig-static"
    config = yaml.safe_load(rig.kubeconfig().read_text())
    config["users"][0]["user"] = {"token": "not-a-jwt"}
    kubeconfig.write_text(yaml.safe_dump(config))
    refused = await whoami(rig, kubeconfig)
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr or "unauthorized" in refused.stderr
    assert rig.api.reviews(401) >= 1


async def person_approves_device(rig: Rig, url: str) -> str:
    """The person, on another machine: opens the complete verification URI, confirms the
    code, signs in, approves; returns the last page's text."""
    async with rig.server.http(follow_redirects=False) as client:
        browser = Browser(client, rig.server.base_url)
        confirm = await browser.get(url)
        login_page = await browser.submit(confirm, only_form(confirm))
        approval = await browser.submit(
            login_page,
            only_form(login_page),
            login=rig.server.user.email,
            password=rig.server.user.password,
        )
        done = await browser.submit(approval, only_form(approval), approval="approve")
        assert done.status_code == 200, done.text[:500]
        return done.text


async def test_device_flow_on_a_machine_without_a_browser(rig_factory: Any) -> None:
    """No BROWSER and no display: ``--grant-type=auto`` picks the device flow (RFC 8628),
    the code goes to kubectl's stderr, and the person approves it elsewhere."""
    rig: Rig = await rig_factory()
    discovery = rig.server.issuer + "/.well-known/openid-configuration"
    async with rig.server.http() as http:
        assert "device_authorization_endpoint" in (await http.get(discovery)).json()
    kubeconfig = rig.kubeconfig()
    env = {name: value for name, value in rig.env(kubeconfig).items() if name != "BROWSER"}
    process, master = start([KUBECTL, "auth", "whoami", "-o", "json"], env, tty=True)
    assert process.stderr is not None
    told: list[str] = []

    def read_until_the_code() -> str:
        assert process.stderr is not None
        for line in process.stderr:
            told.append(line)
            found = re.search(r"open (https://\S+/device\?user_code=\S+) directly", line)
            if found:
                return found.group(1)
        raise AssertionError(f"no verification URI in {told}")

    url = await anyio.to_thread.run_sync(read_until_the_code)
    assert any(re.search(r"enter the code:\s+\S+", line) for line in told), told
    page = await person_approves_device(rig, url)
    assert "device" in page.lower()
    result = await anyio.to_thread.run_sync(lambda: finish(process, master))
    assert_is_jane(rig, result)
    assert runs(rig.browser_log) == 0
    assert rig.cached()["refresh_token"]
