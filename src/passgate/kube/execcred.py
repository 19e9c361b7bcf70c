"""The ExecCredential kubectl hands to a credential plugin and expects back.

kubectl sets ``KUBERNETES_EXEC_INFO`` (``client.authentication.k8s.io/v1`` or ``v1beta1``,
with ``spec.interactive``) and reads one ExecCredential of the same apiVersion from the
plugin's stdout (DESIGN §4). Nothing here touches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
API_VERSIONS = (V1, V1BETA1)
ENV = "KUBERNETES_EXEC_INFO"


class ExecInfoError(Exception):
    """``KUBERNETES_EXEC_INFO`` is not an ExecCredential this plugin understands."""


@dataclass(frozen=True, slots=True)
class ExecRequest:
    api_version: str
    interactive: bool


def parse_exec_info(raw: str | None, *, stdin_is_terminal: bool) -> ExecRequest:
    """What kubectl asked for; without the variable (a person running the plugin by
    hand), v1 and interactive when stdin is a terminal, as kubectl itself decides."""
    if raw is None or not raw.strip():
        return ExecRequest(V1, stdin_is_terminal)
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise ExecInfoError(f"{ENV} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ExecInfoError(f"{ENV} is not a JSON object")
    api_version = document.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise ExecInfoError(
            f"{ENV} has apiVersion {api_version!r}; supported: {', '.join(API_VERSIONS)}"
        )
    if document.get("kind", "ExecCredential") != "ExecCredential":
        raise ExecInfoError(f"{ENV} is a {document.get('kind')!r}, not an ExecCredential")
    spec = document.get("spec")
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise ExecInfoError(f"{ENV} spec is not an object")
    interactive = spec.get("interactive", stdin_is_terminal)
    if not isinstance(interactive, bool):
        raise ExecInfoError(f"{ENV} spec.interactive is not a boolean")
    return ExecRequest(api_version, interactive)


def rfc3339(timestamp: int) -> str:
    """kubectl parses ``expirationTimestamp`` as RFC 3339 (Go's ``metav1.Time``)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exec_credential(api_version: str, token: str, expires_at: int) -> str:
    """The answer: the ID token as a bearer token and when kubectl must ask again."""
    return json.dumps(
        {
            "kind": "ExecCredential",
            "apiVersion": api_version,
            "spec": {},
            "status": {"token": token, "expirationTimestamp": rfc3339(expires_at)},
        }
    )
