"""Running the real kubectl (1.37, from the venv) with ``passgate get-token`` as its exec
credential plugin, for the end-to-end tests: a :class:`Rig` (a ``passgate serve`` over
HTTPS, the kube-apiserver stand-in, a cache directory and the headless ``BROWSER``), and
kubectl runs with a pty as stdin (interactive, as kubectl decides ``spec.interactive``) or
without."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import yaml

from e2e.apiserver import FakeAPIServer
from e2e.headless_browser import install
from e2e.support import PUBLIC_ID, PassgateServer

KUBECTL = str(Path(sys.executable).with_name("kubectl"))
BIN = str(Path(sys.executable).parent)
V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"


@dataclass
class Rig:
    server: PassgateServer
    api: FakeAPIServer
    root: Path
    cache_dir: Path
    browser_log: Path

    def plugin_args(self, margin: str = "1s") -> list[str]:
        assert self.server.tls is not None
        ca = base64.b64encode(self.server.tls.ca.read_bytes()).decode()
        return [
            "get-token",
            f"--issuer-url={self.server.issuer}",
            f"--client-id={PUBLIC_ID}",
            f"--certificate-authority-data={ca}",
            f"--cache-dir={self.cache_dir}",
            f"--refresh-margin={margin}",
            "--login-timeout=60s",
        ]

    def kubeconfig(self, *, api_version: str = V1, margin: str = "1s") -> Path:
        path = self.root / f"kubeconfig-{api_version.rsplit('/', 1)[1]}-{margin}"
        exec_entry: dict[str, Any] = {
            "apiVersion": api_version,
            "command": "passgate",
            "args": self.plugin_args(margin),
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": False,
        }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": self.api.url,
                        "certificate-authority-data": base64.b64encode(self.api.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "jane", "user": {"exec": exec_entry}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "jane"}}],
            "current-context": "test",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def env(self, kubeconfig: Path) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("DISPLAY", "WAYLAND_DISPLAY", "KUBERNETES_EXEC_INFO")
        }
        assert self.server.tls is not None
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            HOME=str(self.root / "home"),
            KUBECONFIG=str(kubeconfig),
            BROWSER=str(install(self.root)),
            E2E_BROWSER_LOG=str(self.browser_log),
            E2E_BROWSER_EMAIL=self.server.user.email,
            E2E_BROWSER_PASSWORD=self.server.user.password,
            E2E_BROWSER_CA=str(self.server.tls.ca),
        )
        return env

    def cache_files(self) -> list[Path]:
        return sorted(self.cache_dir.glob("*.json"))

    def cached(self) -> dict[str, Any]:
        [path] = self.cache_files()
        body: dict[str, Any] = json.loads(path.read_text())
        return body


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def whoami(self) -> dict[str, Any]:
        assert self.returncode == 0, self.stderr
        body: dict[str, Any] = json.loads(self.stdout)
        return body


def start(argv: list[str], env: dict[str, str], *, tty: bool) -> tuple[subprocess.Popen[str], int]:
    """kubectl with a pty as stdin (interactive) or /dev/null (not)."""
    if tty:
        master, slave = os.openpty()
        process = subprocess.Popen(
            argv, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
        os.close(slave)
        return process, master
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    return process, -1


def finish(process: subprocess.Popen[str], master: int) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=90)
    finally:
        if master >= 0:
            os.close(master)
    return Run(process.returncode, stdout, stderr)


def run_all(argvs: list[list[str]], env: dict[str, str], *, tty: bool) -> list[Run]:
    started = [start(argv, env, tty=tty) for argv in argvs]
    return [finish(process, master) for process, master in started]


async def kubectl(rig: Rig, kubeconfig: Path, *args: str, tty: bool = True) -> Run:
    argv = [KUBECTL, *args]
    [result] = await anyio.to_thread.run_sync(lambda: run_all([argv], rig.env(kubeconfig), tty=tty))
    return result


async def whoami(rig: Rig, kubeconfig: Path, *, tty: bool = True) -> Run:
    return await kubectl(rig, kubeconfig, "auth", "whoami", "-o", "json", tty=tty)


def assert_is_jane(rig: Rig, run: Run) -> None:
    review = run.whoami()
    assert review["kind"] == "SelfSubjectReview"
    user = review["status"]["userInfo"]
    assert user["username"] == rig.server.user.email
    assert set(rig.server.user.groups) <= set(user["groups"])
