"""``kubernetes``: Passgate's own section (clusters for kubeconfigs and kube-apiserver)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from e2e.tls import make_tls_files
from passgate.cli.main import cli
from passgate.config import check_config, load_config

from .helpers import document, load, problems

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KUBECTL = {"id": "kubectl", "public": True, "redirectURIs": ["http://localhost:8000"]}
HTTP_ISSUER_ERROR = (
    "must be https when kubernetes.clusters are configured: kube-apiserver refuses an http "
    "issuer (http is accepted only on a loopback host, for trying Passgate out)"
)
HTTP_ISSUER_WARNING = (
    "issuer: kube-apiserver accepts only an https issuer; kubernetes.clusters need one"
)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tls_files(tmp_path_factory.mktemp("tls")).ca


def data(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def cluster(**fields: Any) -> dict[str, Any]:
    base = {"name": "prod", "server": "https://k8s.example.com:6443", "clientID": "kubectl"}
    merged = base | fields
    return {key: value for key, value in merged.items() if value is not None}


def with_kube(kubernetes: dict[str, Any], clients: list[dict[str, Any]] | None = None) -> Any:
    return document(
        staticClients=[KUBECTL] if clients is None else clients,
        enablePasswordDB=True,
        kubernetes=kubernetes,
    )


def test_defaults_and_absent_section() -> None:
    config = load(document(enablePasswordDB=True))
    assert config.kubernetes.clusters == []
    assert config.kubernetes.publish_clusters is True
    assert config.kubernetes.issuer_ca_pem == ""


def test_cluster_fields_and_ca_sources(ca: Path) -> None:
    config = load(
        with_kube(
            {
                "issuerCA": str(ca),
                "publishClusters": False,
                "clusters": [
                    cluster(certificateAuthorityData=data(ca), scopes=["groups"]),
                    cluster(name="staging", certificateAuthority=str(ca), usernamePrefix="-"),
                    cluster(name="lab.1", insecureSkipTLSVerify=True, usernameClaim="sub"),
                ],
            }
        )
    )
    kube = config.kubernetes
    prod, staging, lab = kube.clusters
    assert kube.issuer_ca_pem == ca.read_text()
    assert kube.issuer_ca_base64() == data(ca)
    assert kube.publish_clusters is False
    assert (prod.username_claim, prod.groups_claim, prod.scopes) == ("email", "groups", ["groups"])
    # certificateAuthority (a path) is read at load into certificateAuthorityData.
    assert staging.certificate_authority_data == prod.certificate_authority_data == data(ca)
    assert staging.ca_pem() == ca.read_text()
    assert staging.username_prefix == "-"
    assert lab.ca_pem() == ""
    assert kube.cluster("lab.1") is lab
    assert kube.cluster("nope") is None
    assert config.warnings == [
        "kubernetes.clusters[2].insecureSkipTLSVerify: kubectl will not verify this API "
        "server's certificate; anyone on the path can read the tokens it sends"
    ]


def test_keys_match_case_insensitively(ca: Path) -> None:
    config = load(
        with_kube(
            {
                "ISSUERCADATA": data(ca),
                "Clusters": [{**cluster(clientID=None), "clientId": "kubectl"}],
            }
        )
    )
    assert config.kubernetes.issuer_ca_pem == ca.read_text()


def test_every_problem_with_its_key_path(ca: Path, tmp_path: Path) -> None:
    found = problems(
        with_kube(
            {
                "issuerCA": str(tmp_path / "missing.pem"),
                "unknownKey": 1,
                "clusters": [
                    cluster(name="Prod_1", server="http://k8s.example.com", scopes=["openid"]),
                    cluster(certificateAuthorityData="not base64!", clientID=""),
                    cluster(name="b", certificateAuthority=str(ca), certificateAuthorityData="x"),
                    cluster(name="c", insecureSkipTLSVerify=True, certificateAuthority=str(ca)),
                    cluster(name="d", scopes=["nope", "two words"], colour="blue"),
                    cluster(name="e", certificateAuthority=str(tmp_path)),
                ],
            }
        )
    )
    assert set(found) == {
        "kubernetes.issuerCA",
        "kubernetes.unknownKey",
        "kubernetes.clusters[0].name",
        "kubernetes.clusters[0].server",
        "kubernetes.clusters[0].scopes[0]",
        "kubernetes.clusters[1].certificateAuthorityData",
        "kubernetes.clusters[1].clientID",
        "kubernetes.clusters[2].certificateAuthority",
        "kubernetes.clusters[3].insecureSkipTLSVerify",
        "kubernetes.clusters[4].scopes[0]",
        "kubernetes.clusters[4].scopes[1]",
        "kubernetes.clusters[4].colour",
        "kubernetes.clusters[5].certificateAuthority",
    }, found
    assert found["kubernetes.issuerCA"].startswith("cannot read")
    assert "https" in found["kubernetes.clusters[0].server"]
    assert "always requested" in found["kubernetes.clusters[0].scopes[0]"]
    assert found["kubernetes.unknownKey"] == "unknown key"
    assert "kubectl refuses" in found["kubernetes.clusters[3].insecureSkipTLSVerify"]


def test_duplicates_and_client_references(ca: Path) -> None:
    web = {"id": "web", "secret": "s", "redirectURIs": ["https://app.example.com/cb"]}
    reserved = {"id": "passgate-kubeconfig", "public": True, "redirectURIs": ["http://x/cb"]}
    found = problems(
        with_kube(
            {"clusters": [cluster(), cluster(), cluster(name="x", clientID="nobody")]},
            [KUBECTL, web, reserved],
        )
    )
    assert found == {
        "kubernetes.clusters[1].name": "duplicate cluster name 'prod' (also clusters[0])",
        "kubernetes.clusters[2].clientID": (
            "no staticClients entry has id 'nobody' ('kubectl', 'web', 'passgate-kubeconfig')"
        ),
        "staticClients[2].id": "'passgate-kubeconfig' is reserved for the /kubeconfig page",
    }


def test_confidential_client_without_loopback_is_a_warning() -> None:
    web = {"id": "web", "secret": "s", "redirectURIs": ["https://app.example.com/cb"]}
    loopback = {"id": "cli", "secret": "s", "redirectURIs": ["http://127.0.0.1:8000"]}
    doc = with_kube(
        {"clusters": [cluster(clientID="web"), cluster(name="b", clientID="cli")]},
        [web, loopback],
    )
    doc["issuer"] = "http://127.0.0.1:5556/dex"
    config = load(doc)
    assert config.warnings == [
        HTTP_ISSUER_WARNING,
        "kubernetes.clusters[0].clientID: client 'web' is not public and has no http "
        "loopback redirect URI: `passgate get-token` (PKCE, RFC 8252 §7.3) cannot sign in "
        "with it",
    ]


@pytest.mark.parametrize(
    "host", ["sso.example.com", "10.0.0.7", "[2001:db8::1]", "localhost.example.com", "0.0.0.0"]
)
def test_http_issuer_with_clusters_off_loopback_is_an_error(host: str) -> None:
    """kube-apiserver refuses an http --oidc-issuer-url: the config would hand out
    kubeconfigs no cluster accepts."""
    doc = with_kube({"clusters": [cluster()]})
    doc["issuer"] = f"http://{host}:5556/dex"
    assert problems(doc) == {"issuer": HTTP_ISSUER_ERROR}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.10.20.30", "[::1]", "localhost"])
def test_http_issuer_with_clusters_on_loopback_is_a_warning(host: str) -> None:
    doc = with_kube({"clusters": [cluster()]})
    doc["issuer"] = f"http://{host}:5556/dex"
    assert load(doc).warnings == [HTTP_ISSUER_WARNING]


def test_http_issuer_without_clusters_is_not_kubernetes_business() -> None:
    doc = with_kube({"publishClusters": False})
    doc["issuer"] = "http://sso.internal/dex"
    assert load(doc).warnings == [
        "issuer: uses http on a host that is not loopback; kube-apiserver and most clients "
        "require an https issuer"
    ]
    doc["issuer"] = "https://sso.internal/dex"
    assert load(with_kube({"clusters": [cluster()]})).warnings == []


def test_check_config_reports_the_http_issuer_as_an_error(tmp_path: Path) -> None:
    doc = with_kube({"clusters": [cluster()]})
    doc["issuer"] = "http://sso.example.com/dex"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    config, lines = check_config(path, {})
    assert config is None
    assert lines == [f"{path}: 1 problem", f"  issuer: {HTTP_ISSUER_ERROR} (line 1)"]
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 1
    assert f"issuer: {HTTP_ISSUER_ERROR}" in result.stderr
    doc["issuer"] = "http://127.0.0.1:5556/dex"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"warning: {HTTP_ISSUER_WARNING}\n{path}: configuration is valid\n"


def test_no_reference_check_while_clients_are_broken() -> None:
    found = problems(with_kube({"clusters": [cluster(clientID="x")]}, [{"id": "y"}]))
    assert set(found) == {"staticClients[0].secret"}


def test_kubernetes_example_loads_cleanly() -> None:
    config, lines = check_config(EXAMPLES / "config-kubernetes.yaml", {})
    assert config is not None, lines
    assert lines == []
    config = load_config(EXAMPLES / "config-kubernetes.yaml", {})
    assert [item.name for item in config.kubernetes.clusters] == ["prod", "staging"]
    assert config.kubernetes.clusters[0].groups_prefix == "oidc:"
    assert config.kubernetes.clusters[0].ca_pem().startswith("-----BEGIN CERTIFICATE-----")
