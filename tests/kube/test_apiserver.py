"""kube-apiserver settings: the documented ``--oidc-*`` flags, an AuthenticationConfiguration
that validates against a schema written from the Go API types, and a real ``passgate
serve`` whose tokens pass kube-apiserver's rules configured only from the printed flags."""

from __future__ import annotations

import dataclasses
import ssl
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from e2e.kube import KubeOIDCAuthenticator, KubeUser
from e2e.support import PUBLIC_ID, Launcher, kubectl_tokens
from e2e.tls import make_tls_files
from passgate.cli.main import cli
from passgate.kube import apiserver
from passgate.kube.apiserver import ApiserverSettings

from .passgate_config import ISSUER, write_config

# kube-apiserver's OIDC flags (kubernetes.io kube-apiserver reference, "--oidc-*").
DOCUMENTED_FLAGS = {
    "--oidc-issuer-url", "--oidc-client-id", "--oidc-username-claim", "--oidc-username-prefix",
    "--oidc-groups-claim", "--oidc-groups-prefix", "--oidc-signing-algs", "--oidc-ca-file",
    "--oidc-required-claim",
}  # fmt: skip


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


STRING = {"type": "string"}
STRINGS = {"type": "array", "items": STRING}
# apiserver.config.k8s.io v1beta1/v1 (staging/src/k8s.io/apiserver/pkg/apis/apiserver/*/types.go):
# PrefixedClaimOrExpression, ClaimOrExpression, ClaimValidationRule, ExtraMapping, Issuer.
PREFIXED = {
    **_object({"claim": STRING, "prefix": STRING, "expression": STRING}, []),
    "oneOf": [{"required": ["claim", "prefix"]}, {"required": ["expression"]}],
}
ISSUER_SCHEMA = _object(
    {
        "url": {"type": "string", "pattern": "^https://[^?#]+$"},
        "discoveryURL": STRING,
        "certificateAuthority": {"type": "string", "pattern": "-----BEGIN CERTIFICATE-----"},
        "audiences": {**STRINGS, "minItems": 1},
        "audienceMatchPolicy": {"enum": ["MatchAny"]},
        "egressSelectorType": STRING,
    },
    ["url", "audiences"],
)
JWT_AUTHENTICATOR = _object(
    {
        "issuer": ISSUER_SCHEMA,
        "claimValidationRules": {
            "type": "array",
            "items": _object(
                {"claim": STRING, "requiredValue": STRING, "expression": STRING, "message": STRING},
                [],
            ),
        },
        "claimMappings": _object(
            {
                "username": PREFIXED,
                "groups": PREFIXED,
                "uid": _object({"claim": STRING, "expression": STRING}, []),
                "extra": {
                    "type": "array",
                    "items": _object({"key": STRING, "valueExpression": STRING},
                                     ["key", "valueExpression"]),
                },
            },
            ["username"],
        ),
        "userValidationRules": {
            "type": "array",
            "items": _object({"expression": STRING, "message": STRING}, ["expression"]),
        },
    },
    ["issuer", "claimMappings"],
)  # fmt: skip


def schema(version: str) -> dict[str, Any]:
    return _object(
        {
            "apiVersion": {"const": f"apiserver.config.k8s.io/{version}"},
            "kind": {"const": "AuthenticationConfiguration"},
            "jwt": {"type": "array", "items": JWT_AUTHENTICATOR, "maxItems": 64},
            "anonymous": {"type": "object"},
        },
        ["apiVersion", "kind"],
    )


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_tls_files(tmp_path_factory.mktemp("tls")).ca.read_text()


def split_flags(lines: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition("=")
        assert sep, line
        assert name in DOCUMENTED_FLAGS, name
        assert name not in parsed, name
        parsed[name] = value
    return parsed


def test_flags_are_documented_names_with_sane_values() -> None:
    base = ApiserverSettings(issuer=ISSUER, client_id="kubectl")
    assert split_flags(apiserver.flags(base)) == {
        "--oidc-issuer-url": ISSUER,
        "--oidc-client-id": "kubectl",
        "--oidc-username-claim": "email",
        "--oidc-groups-claim": "groups",
        "--oidc-signing-algs": "RS256",
    }
    full = ApiserverSettings(
        issuer=ISSUER, client_id="k", username_claim="sub", username_prefix="-",
        groups_prefix="oidc:", ca_pem="PEM", ca_file="/etc/ca.pem",
    )  # fmt: skip
    flags = split_flags(apiserver.flags(full))
    assert flags["--oidc-ca-file"] == "/etc/ca.pem"
    assert flags["--oidc-username-prefix"] == "-"
    assert flags["--oidc-groups-prefix"] == "oidc:"


@pytest.mark.parametrize(
    ("claim", "prefix", "effective"),
    [
        ("email", None, ""),  # kube: no prefix for email
        ("sub", None, f"{ISSUER}#"),  # kube: "<issuer>#" for other claims
        ("sub", "-", ""),  # "-" disables the prefix
        ("email", "corp:", "corp:"),
    ],
)
def test_username_prefix_semantics(claim: str, prefix: str | None, effective: str) -> None:
    settings = ApiserverSettings(ISSUER, "kubectl", username_claim=claim, username_prefix=prefix)
    assert settings.effective_username_prefix() == effective
    document = apiserver.authentication_configuration(settings)
    assert document["jwt"][0]["claimMappings"]["username"] == {"claim": claim, "prefix": effective}
    rules = document["jwt"][0].get("claimValidationRules", [])
    # The email_verified rule the apiserver applies for username.claim: email.
    expected = ["claims.?email_verified.orValue(true) == true"] if claim == "email" else []
    assert [rule["expression"] for rule in rules] == expected


@pytest.mark.parametrize("version", ["v1beta1", "v1"])
def test_authentication_configuration_validates(version: str, ca_pem: str) -> None:
    settings = ApiserverSettings(ISSUER, "kubectl", groups_prefix="oidc:", ca_pem=ca_pem,
                                 ca_file="/x")  # fmt: skip
    document = apiserver.authentication_configuration(settings, version)  # type: ignore[arg-type]
    jsonschema.validate(document, schema(version))
    issuer = document["jwt"][0]["issuer"]
    assert issuer == {"url": ISSUER, "audiences": ["kubectl"], "certificateAuthority": ca_pem}
    mappings = document["jwt"][0]["claimMappings"]
    assert mappings["groups"] == {"claim": "groups", "prefix": "oidc:"}
    assert mappings["uid"] == {"claim": "sub"}
    # The schema does refuse what the API types refuse.
    broken = yaml.safe_load(yaml.safe_dump(document))
    broken["jwt"][0]["issuer"]["audience"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema(version))
    del broken["jwt"][0]["issuer"]["audience"]
    del broken["jwt"][0]["claimMappings"]["groups"]["prefix"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema(version))
    with pytest.raises(ValueError, match="unknown"):
        apiserver.authentication_configuration(settings, "v2")  # type: ignore[arg-type]


def test_cli_formats_and_refusals(tmp_path: Path, ca_pem: str) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(ca_pem)
    kubernetes = {
        "issuerCA": str(ca),
        "clusters": [{"name": "prod", "server": "https://k:6443", "clientID": "kubectl"}],
    }
    config = write_config(tmp_path / "passgate.yaml", kubernetes)
    runner = CliRunner()
    base = ["apiserver-config", str(config), "--cluster", "prod"]
    flags = runner.invoke(cli, [*base, "--format", "flags"])
    assert flags.exit_code == 0, flags.output
    assert split_flags(flags.stdout.split())["--oidc-ca-file"] == str(ca)
    for version in ("v1beta1", "v1"):
        printed = runner.invoke(cli, [*base, "--format", version])
        assert printed.exit_code == 0, printed.output
        jsonschema.validate(yaml.safe_load(printed.stdout), schema(version))
    everything = runner.invoke(cli, base)
    assert everything.exit_code == 0
    documents = [d for d in yaml.safe_load_all(everything.stdout.split("\n---\n", 1)[1]) if d]
    assert [d["apiVersion"] for d in documents] == [
        "apiserver.config.k8s.io/v1beta1", "apiserver.config.k8s.io/v1",
    ]  # fmt: skip
    assert "# kube-apiserver flags for cluster prod" in everything.stdout
    other = runner.invoke(cli, [*base, "--format", "flags", "--oidc-ca-file", "/etc/p.pem"])
    assert "--oidc-ca-file=/etc/p.pem" in other.stdout
    unknown = runner.invoke(cli, ["apiserver-config", str(config), "--cluster", "nope"])
    assert unknown.exit_code == 1
    assert "no cluster named 'nope'" in unknown.output


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({}, []),
        ({"issuer": "http://sso.example.com/dex"}, ["the issuer URL must be https, not http"]),
        (
            {"issuer": "https://user:pw@sso.example.com/dex?x=1#f"},
            [
                "the issuer URL must not contain a user name or password",
                "the issuer URL must not contain a query",
                "the issuer URL must not contain a fragment",
            ],
        ),
        (
            {"issuer": "sso.example.com/dex"},
            [
                "the issuer URL must be https, not schemeless",
                "the issuer URL has no host",
            ],
        ),
        (
            {"issuer": "https://sso.example.com:x/"},
            ["the issuer URL 'https://sso.example.com:x/' does not parse"],
        ),
        ({"client_id": ""}, ["the client id (the audience) must not be empty"]),
        ({"username_claim": ""}, ["the username claim must not be empty"]),
        ({"signing_algorithm": "HS256"}, ["the signing algorithm HS256 is not one it accepts"]),
        ({"signing_algorithm": "ES256"}, []),
    ],
)
def test_refusals_are_kube_apiservers(changes: dict[str, str], refused: list[str]) -> None:
    """kube-apiserver's validateURL (https, no userinfo, query or fragment), audiences,
    claim mappings and --oidc-signing-algs: what it would refuse to start with."""
    settings = dataclasses.replace(ApiserverSettings(ISSUER, "kubectl"), **changes)
    assert apiserver.refusals(settings) == refused


@pytest.mark.parametrize("fmt", ["flags", "v1beta1", "v1", "all"])
def test_cli_refuses_to_print_what_the_apiserver_refuses(tmp_path: Path, fmt: str) -> None:
    """An http issuer is allowed on loopback (a demo), but kube-apiserver refuses it: no
    flags or AuthenticationConfiguration, one line on stderr, exit 1."""
    issuer = "http://127.0.0.1:5556/dex"
    cluster = {"name": "prod", "server": "https://k:6443", "clientID": "kubectl"}
    config = write_config(tmp_path / "passgate.yaml", {"clusters": [cluster]}, issuer=issuer)
    argv = ["apiserver-config", str(config), "--cluster", "prod", "--format", fmt]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"passgate: not printing settings kube-apiserver would refuse for {issuer}: "
        "the issuer URL must be https, not http\n"
    )
    # The webhook's kubeconfig may name an http server (the apiserver takes it); it says so.
    webhook = CliRunner().invoke(cli, [*argv[:-1], "webhook"])
    assert webhook.exit_code == 0, webhook.output
    assert yaml.safe_load(webhook.stdout)["clusters"][0]["cluster"]["server"] == (
        f"{issuer}/kubernetes/tokenreview"
    )
    assert webhook.stderr.startswith(f"passgate: warning: the webhook is at {issuer} (not https)")


# -- describe the running issuer ---------------------------------------------------------
@pytest.mark.slow
@pytest.mark.anyio
async def test_flags_describe_the_running_issuer(launcher: Launcher) -> None:
    server = launcher.new(tls=True)
    assert server.tls is not None
    document = yaml.safe_load(server.config_path.read_text())
    document["kubernetes"] = {
        "issuerCA": str(server.tls.ca),
        "clusters": [{"name": "prod", "server": "https://k8s.example.com", "clientID": PUBLIC_ID}],
    }
    server.config_path.write_text(yaml.safe_dump(document))
    await server.start()

    done = await anyio.run_process(
        [str(Path(sys.executable).with_name("passgate")), "apiserver-config",
         str(server.config_path), "--cluster", "prod", "--format", "flags"],
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    flags = split_flags(done.stdout.decode().split())
    # kube-apiserver configured purely from the printed flags.
    verify = ssl.create_default_context(cafile=flags["--oidc-ca-file"])
    async with httpx.AsyncClient(verify=verify, timeout=10) as http:
        authenticator = KubeOIDCAuthenticator(
            http,
            flags["--oidc-issuer-url"],
            flags["--oidc-client-id"],
            username_claim=flags["--oidc-username-claim"],
            groups_claim=flags["--oidc-groups-claim"],
            signing_algs=tuple(flags["--oidc-signing-algs"].split(",")),
        )
        await authenticator.discover()
        tokens = await kubectl_tokens(server, http)
        user = await authenticator.authenticate(tokens["id_token"])
    assert user == KubeUser(server.user.email, server.user.groups)
