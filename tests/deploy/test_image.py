"""The container image that `make image` builds (CI builds it before `make test`): its
settings, nothing to build with inside, and the demo served from it as a locked-down
container (read-only root, another user, no capabilities) through published ports."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from e2e.support import free_port

from .support import REPO, demo_config, demo_sign_in, missing, version, wait_ready

pytestmark = [pytest.mark.slow]

IMAGE = os.environ.get("PASSGATE_TEST_IMAGE") or f"localhost/passgate:{version()}"
UID = 65532
# Room for Debian's python3 and xmlsec1 and the venv (about 240 MB today).
MAX_SIZE = 300_000_000


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "deploy" / "image" / "containers.conf"))
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    """``podman image inspect`` of the image (skipped locally without podman or the image,
    failed under CI)."""
    if shutil.which("podman") is None:
        missing("podman", "apt-get install podman runc (then make image)")
    if podman("image", "exists", IMAGE).returncode != 0:
        missing(f"the image {IMAGE}", "make image")
    done = podman("image", "inspect", IMAGE)
    assert done.returncode == 0, done.stderr
    [inspected] = json.loads(done.stdout)
    result: dict[str, Any] = inspected
    return result


def test_the_image_runs_passgate_serve_as_a_user(image: dict[str, Any]) -> None:
    config = image["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["passgate"]
    assert config["Cmd"] == ["serve", "/etc/passgate/config.yaml"]
    assert {"5556/tcp", "5558/tcp"} <= set(config["ExposedPorts"])
    assert config["Labels"]["org.opencontainers.image.version"] == version()
    assert image["Size"] < MAX_SIZE, f"{image['Size'] / 1e6:.0f} MB"


def test_the_image_has_nothing_to_build_or_install_with(image: dict[str, Any]) -> None:
    script = (
        "for tool in pip pip3 gcc cc make apt-get; do"
        ' command -v "$tool" && exit 1; done;'
        " python3 -c 'import pip' 2>/dev/null && exit 2;"
        " /opt/passgate/bin/python -c 'import pip' 2>/dev/null && exit 3;"
        " /opt/passgate/bin/python -c 'import passgate.server.app' || exit 4;"
        " command -v xmlsec1 >/dev/null || exit 5"  # the SAML connector's verifier
    )
    done = podman("run", "--rm", "--entrypoint", "/bin/sh", IMAGE, "-c", script)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)


@pytest.fixture
def container(image: dict[str, Any], tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """The demo in the image as the Kubernetes manifests run it: read-only root, /tmp a
    tmpfs, the config read-only at /etc/passgate, a data volume for SQLite, every
    capability dropped, no privilege escalation; its name and the published ports."""
    port, telemetry = free_port(), free_port()
    etc, data = tmp_path / "etc", tmp_path / "data"
    etc.mkdir()
    data.mkdir()
    if os.geteuid() == 0:
        os.chown(data, UID, UID)
    else:
        data.chmod(0o777)
    config = demo_config(
        issuer=f"http://127.0.0.1:{port}/dex",
        web="0.0.0.0:5556",
        telemetry="0.0.0.0:5558",
        database="/var/lib/passgate/passgate.db",
    )
    (etc / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    name = f"passgate-test-{secrets.token_hex(4)}"
    done = podman(
        "run", "--detach", "--name", name,
        "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=16m",
        "--cap-drop=ALL", "--security-opt=no-new-privileges",
        "--volume", f"{etc}:/etc/passgate:ro", "--volume", f"{data}:/var/lib/passgate",
        "--publish", f"127.0.0.1:{port}:5556", "--publish", f"127.0.0.1:{telemetry}:5558",
        IMAGE,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    try:
        wait_ready(
            f"http://127.0.0.1:{telemetry}/healthz/ready",
            alive=lambda: running(name),
            log=lambda: logs(name),
        )
        yield name, port, telemetry
    finally:
        podman("rm", "--force", "--time", "0", name)


def running(name: str) -> bool:
    return podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"


def logs(name: str) -> str:
    done = podman("logs", name)
    return done.stdout + done.stderr


@pytest.mark.anyio
async def test_the_image_serves_the_demo_through_published_ports(
    container: tuple[str, int, int],
) -> None:
    name, port, telemetry = container
    issuer = f"http://127.0.0.1:{port}/dex"
    async with httpx.AsyncClient(timeout=10.0) as client:
        discovery = await client.get(f"{issuer}/.well-known/openid-configuration")
        live = await client.get(f"http://127.0.0.1:{telemetry}/healthz/live")
        ready = await client.get(f"http://127.0.0.1:{telemetry}/healthz/ready")
        logo = await client.get(f"{issuer}/static/img/local.svg")
    assert discovery.status_code == 200
    assert discovery.json()["issuer"] == issuer
    assert live.status_code == 200
    assert ready.json() == {"status": "ok"}
    assert logo.status_code == 200
    claims = await demo_sign_in(issuer, issuer)
    assert claims["name"] == "admin"

    # A clean stop on SIGTERM, as when Kubernetes ends the pod.
    stop = await anyio.to_thread.run_sync(lambda: podman("stop", "--time", "20", name))
    assert stop.returncode == 0, stop.stderr
    status = await anyio.to_thread.run_sync(
        lambda: podman("inspect", "--format", "{{.State.ExitCode}}", name)
    )
    assert status.stdout.strip() == "0", logs(name)
