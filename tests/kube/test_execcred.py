"""ExecCredential in (KUBERNETES_EXEC_INFO) and out (stdout), v1 and v1beta1."""

from __future__ import annotations

import json

import pytest

from passgate.kube.execcred import (
    V1,
    V1BETA1,
    ExecInfoError,
    ExecRequest,
    exec_credential,
    parse_exec_info,
    rfc3339,
)


def info(api_version: str, **spec: object) -> str:
    return json.dumps({"kind": "ExecCredential", "apiVersion": api_version, "spec": spec})


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
@pytest.mark.parametrize("interactive", [True, False])
def test_request_keeps_api_version_and_interactive(api_version: str, interactive: bool) -> None:
    raw = info(api_version, interactive=interactive)
    assert parse_exec_info(raw, stdin_is_terminal=not interactive) == ExecRequest(
        api_version, interactive
    )


def test_v1beta1_with_cluster_info_is_accepted() -> None:
    raw = info(V1BETA1, interactive=False, cluster={"server": "https://k8s", "config": None})
    assert parse_exec_info(raw, stdin_is_terminal=True) == ExecRequest(V1BETA1, False)


@pytest.mark.parametrize("raw", [None, "", "  "])
@pytest.mark.parametrize("terminal", [True, False])
def test_without_the_variable_v1_and_the_terminal_decides(raw: str | None, terminal: bool) -> None:
    assert parse_exec_info(raw, stdin_is_terminal=terminal) == ExecRequest(V1, terminal)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        (info("client.authentication.k8s.io/v1alpha1"), "v1alpha1"),
        (json.dumps({"apiVersion": V1, "kind": "Pod"}), "not an ExecCredential"),
        (json.dumps({"apiVersion": V1, "spec": []}), "spec is not an object"),
        (info(V1, interactive="yes"), "not a boolean"),
    ],
)
def test_bad_exec_info_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ExecInfoError, match=message):
        parse_exec_info(raw, stdin_is_terminal=False)


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_credential_answers_in_the_same_api_version(api_version: str) -> None:
    body = json.loads(exec_credential(api_version, "id.token.sig", 1_800_000_000))
    assert body == {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {"token": "id.token.sig", "expirationTimestamp": "2027-01-15T08:00:00Z"},
    }


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
