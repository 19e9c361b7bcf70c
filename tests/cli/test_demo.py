"""The demo (examples/config-demo.yaml, `make run`) lets a newcomer try the Kubernetes
commands: its demo cluster comes out of the kubeconfig page's listing and `passgate
kubeconfig`, and `passgate apiserver-config` explains why its http issuer is no use to a
real kube-apiserver."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from deploy.support import serving_demo

pytestmark = pytest.mark.slow

PASSGATE = Path(sys.executable).with_name("passgate")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("demo")
    with serving_demo(directory, PASSGATE) as (issuer, _server):
        yield issuer, directory / "config.yaml"


def passgate(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PASSGATE), *argv], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_passgate_kubeconfig_from_the_demo_issuer(demo: tuple[str, Path]) -> None:
    issuer, _config = demo
    done = passgate("kubeconfig", "--issuer-url", issuer, "--all", "--output", "-")
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(done.stdout)
    [cluster] = document["clusters"]
    assert cluster == {"name": "demo", "cluster": {"server": "https://127.0.0.1:6443"}}
    [user] = document["users"]
    assert user["name"] == "demo-passgate"
    assert user["user"]["exec"]["args"][:3] == [
        "get-token", f"--issuer-url={issuer}", "--client-id=kubectl",
    ]  # fmt: skip
    assert document["current-context"] == "demo"


def test_the_demo_kubeconfig_page_is_there(demo: tuple[str, Path]) -> None:
    issuer, _config = demo
    page = httpx.get(f"{issuer}/kubeconfig", follow_redirects=False, timeout=10)
    assert page.status_code == 303  # to sign in, then the cluster form
    assert page.headers["location"].startswith("/dex/auth?client_id=passgate-portal")


def test_apiserver_config_of_the_demo_says_why_not(demo: tuple[str, Path]) -> None:
    issuer, config = demo
    done = passgate("apiserver-config", str(config), "--cluster", "demo")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"passgate: not printing settings kube-apiserver would refuse for {issuer}: "
        "the issuer URL must be https, not http\n"
    )
    checked = passgate("check-config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("warning: issuer: kube-apiserver accepts only an https")
