"""Kubeconfig entries that run ``passgate get-token``, and merging them into a file.

Per cluster ``<name>`` three entries are written (kubeconfig v1, as ``kubectl config``
writes them): a cluster ``<name>`` (server and its CA), a user ``<name>-passgate`` whose
``exec`` runs the plugin, and a context ``<name>`` joining the two. Merging replaces
entries of the same name where they stand, appends new ones, and leaves every other
entry and key alone; ``current-context`` changes only when asked or when it is empty.
Files are written atomically (temporary file, ``fsync``, rename) with mode 0600: they
hold no secret, but kubectl warns about group/world-readable kubeconfigs.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from passgate.config import Config
from passgate.config.kubernetes import KubeCluster, check_cluster_name
from passgate.kube.files import atomic_write
from passgate.kube.settings import PluginSettings, TLSOptions

__all__ = [
    "EXEC_API_VERSION",
    "NOT_PUBLISHED",
    "NO_CLUSTERS",
    "PLUGIN_COMMAND",
    "ClusterEntry",
    "Entries",
    "KubeconfigError",
    "build",
    "clusters_from_config",
    "clusters_from_listing",
    "default_path",
    "dump",
    "exec_args",
    "listing_of",
    "merge",
    "read",
    "select",
    "user_name",
    "write",
]

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
PLUGIN_COMMAND = "passgate"
_SECTIONS = ("clusters", "users", "contexts")
#: The ``error`` of ``GET <issuer>/kubeconfig/clusters``'s 404: nothing to list, or a list
#: kept private (``publishClusters: false``). Two codes, so each points at its own setting.
NO_CLUSTERS = "no_clusters"
NOT_PUBLISHED = "not_published"


class KubeconfigError(ValueError):
    """A kubeconfig (or a cluster listing) that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class ClusterEntry:
    """What one cluster's kubeconfig entries are made from."""

    name: str
    server: str
    client_id: str
    issuer: str
    certificate_authority_data: str = ""  # base64 PEM of the API server's CA
    insecure_skip_tls_verify: bool = False
    scopes: tuple[str, ...] = ()
    issuer_ca_data: str = ""  # base64 PEM of Passgate's own TLS CA, when private


@dataclass(frozen=True, slots=True)
class Entries:
    clusters: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[dict[str, Any]] = field(default_factory=list)


def user_name(cluster: str) -> str:
    """The kubeconfig user of a cluster: ``<cluster>-passgate``."""
    return f"{cluster}-passgate"


def exec_args(entry: ClusterEntry) -> list[str]:
    """``passgate get-token`` arguments, as the plugin's own settings spell them."""
    plugin = PluginSettings(
        entry.issuer,
        entry.client_id,
        extra_scopes=tuple(entry.scopes),
        tls=TLSOptions(ca_data=entry.issuer_ca_data),
    )
    return plugin.get_token_args()


def build(entries: Iterable[ClusterEntry]) -> Entries:
    """The cluster, user and context entries for ``entries``, in order."""
    out = Entries()
    for entry in entries:
        cluster: dict[str, Any] = {"server": entry.server}
        if entry.certificate_authority_data:
            cluster["certificate-authority-data"] = entry.certificate_authority_data
        if entry.insecure_skip_tls_verify:
            cluster["insecure-skip-tls-verify"] = True
        out.clusters.append({"name": entry.name, "cluster": cluster})
        exec_config = {
            # kubeconfig v1 exec: interactiveMode is required (DESIGN §4).
            "apiVersion": EXEC_API_VERSION,
            "command": PLUGIN_COMMAND,
            "args": exec_args(entry),
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": False,
        }
        out.users.append({"name": user_name(entry.name), "user": {"exec": exec_config}})
        context = {"cluster": entry.name, "user": user_name(entry.name)}
        out.contexts.append({"name": entry.name, "context": context})
    return out


def _named_list(document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in value
    ):
        raise KubeconfigError(f"{key!r} must be a list of entries that each have a name")
    return list(value)


def merge(
    document: Mapping[str, Any] | None,
    entries: Entries,
    *,
    current_context: str | None = None,
) -> dict[str, Any]:
    """``document`` (a parsed kubeconfig, ``None`` for none) with ``entries`` merged in.
    ``current_context`` is set when given; otherwise the first new context becomes
    current only when the document had none."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", **(document or {})}
    for key in _SECTIONS:
        existing = _named_list(merged, key)
        position = {item["name"]: index for index, item in enumerate(existing)}
        for item in getattr(entries, key):
            if item["name"] in position:
                existing[position[item["name"]]] = item
            else:
                position[item["name"]] = len(existing)
                existing.append(item)
        merged[key] = existing
    if current_context is not None:
        names = {item["name"] for item in merged["contexts"]}
        if current_context not in names:
            raise KubeconfigError(f"no context named {current_context!r} to make current")
        merged["current-context"] = current_context
    elif not merged.get("current-context") and entries.contexts:
        merged["current-context"] = entries.contexts[0]["name"]
    return merged


def dump(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where kubectl looks first: the first entry of ``$KUBECONFIG``, else ~/.kube/config."""
    env = os.environ if environ is None else environ
    for item in env.get("KUBECONFIG", "").split(os.pathsep):
        if item:
            return Path(item).expanduser()
    return Path.home() / ".kube" / "config"


def read(path: Path) -> dict[str, Any] | None:
    """The kubeconfig at ``path``, ``None`` when there is none (or it is empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise KubeconfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KubeconfigError(f"{path} is not YAML: {error}") from None
    if document is None:
        return None
    if not isinstance(document, dict):
        raise KubeconfigError(f"{path} is not a kubeconfig (expected a mapping)")
    return document


def write(path: Path, document: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with ``document``, mode 0600 (a symlink's target is
    replaced, not the link)."""
    target = path.expanduser().resolve()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(target, dump(document).encode("utf-8"), prefix=".kubeconfig-")


# -- where the clusters come from -----------------------------------------------------------
def _entry(cluster: KubeCluster, issuer: str, issuer_ca_data: str) -> ClusterEntry:
    return ClusterEntry(
        name=cluster.name,
        server=cluster.server,
        client_id=cluster.client_id,
        issuer=issuer,
        certificate_authority_data=cluster.certificate_authority_data,
        insecure_skip_tls_verify=cluster.insecure_skip_tls_verify,
        scopes=tuple(cluster.scopes),
        issuer_ca_data=issuer_ca_data,
    )


def clusters_from_config(config: Config) -> list[ClusterEntry]:
    """Every ``kubernetes.clusters`` entry of a validated config, in order."""
    kube = config.kubernetes
    return [_entry(item, config.issuer, kube.issuer_ca_base64()) for item in kube.clusters]


def listing_of(entries: Iterable[ClusterEntry]) -> list[dict[str, Any]]:
    """``GET <issuer>/kubeconfig/clusters``: what ``passgate kubeconfig --issuer-url``
    reads. Public data only (servers, CAs, client ids): no secret is ever listed."""
    listing: list[dict[str, Any]] = []
    for entry in entries:
        item: dict[str, Any] = {
            "name": entry.name,
            "server": entry.server,
            "certificateAuthorityData": entry.certificate_authority_data,
            "clientID": entry.client_id,
            "issuer": entry.issuer,
            "scopes": list(entry.scopes),
        }
        if entry.insecure_skip_tls_verify:
            item["insecureSkipTLSVerify"] = True
        if entry.issuer_ca_data:
            item["issuerCAData"] = entry.issuer_ca_data
        listing.append(item)
    return listing


def _text(item: Mapping[str, Any], key: str, index: int, *, required: bool = True) -> str:
    value = item.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise KubeconfigError(f"cluster listing [{index}].{key} must be a non-empty string")
    return value


def _base64(value: str, where: str) -> str:
    if value:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise KubeconfigError(f"{where} is not base64") from None
    return value


def clusters_from_listing(
    listing: Any, issuer: str, issuer_ca_data: str = ""
) -> list[ClusterEntry]:
    """Validate a ``/kubeconfig/clusters`` answer fetched from ``issuer``. Each item must
    name that same issuer: a listing cannot send kubectl to sign in elsewhere."""
    if not isinstance(listing, list):
        raise KubeconfigError("the cluster listing is not a JSON list")
    entries: list[ClusterEntry] = []
    for index, item in enumerate(listing):
        if not isinstance(item, dict):
            raise KubeconfigError(f"cluster listing [{index}] is not an object")
        named = _text(item, "issuer", index)  # kept byte for byte: it must equal ``iss``
        if named.rstrip("/") != issuer.rstrip("/"):
            raise KubeconfigError(f"cluster listing [{index}] names another issuer")
        server = _text(item, "server", index)
        if urlsplit(server).scheme != "https":
            raise KubeconfigError(f"cluster listing [{index}].server is not https")
        scopes = item.get("scopes") or []
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise KubeconfigError(f"cluster listing [{index}].scopes must be strings")
        ca = _text(item, "certificateAuthorityData", index, required=False)
        own_ca = _text(item, "issuerCAData", index, required=False) or issuer_ca_data
        name = _text(item, "name", index)
        try:
            check_cluster_name(name)
        except ValueError as error:
            raise KubeconfigError(f"cluster listing [{index}].name {error}") from None
        entries.append(
            ClusterEntry(
                name=name,
                server=server,
                client_id=_text(item, "clientID", index),
                issuer=named,
                certificate_authority_data=_base64(ca, f"[{index}].certificateAuthorityData"),
                insecure_skip_tls_verify=item.get("insecureSkipTLSVerify") is True,
                scopes=tuple(scopes),
                issuer_ca_data=_base64(own_ca, f"[{index}].issuerCAData"),
            )
        )
    return entries


def select(entries: Sequence[ClusterEntry], names: Sequence[str]) -> list[ClusterEntry]:
    """The entries named in ``names`` (in that order; all when empty). Unknown names
    raise :class:`KubeconfigError` listing the known ones."""
    if not names:
        return list(entries)
    by_name = {entry.name: entry for entry in entries}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        known = ", ".join(by_name) or "none"
        raise KubeconfigError(f"unknown cluster(s): {', '.join(unknown)} (known: {known})")
    return [by_name[name] for name in dict.fromkeys(names)]
