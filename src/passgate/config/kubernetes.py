"""``kubernetes``: the clusters Passgate hands out kubeconfigs for (a Passgate addition).

A new top-level key, so no Dex key changes meaning. Each cluster names its API server,
how kubectl trusts it, and the static client whose ID tokens the API server accepts
(``--oidc-client-id``). ``certificateAuthority`` (a path) and ``issuerCA`` are read at
load; afterwards ``certificate_authority_data`` and ``issuer_ca_pem`` hold the contents.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from passgate.config.base import (
    DexModel,
    Loc,
    environ_of,
    fold_keys,
    raise_issues,
    with_more_issues,
)
from passgate.config.builtin import KUBECONFIG_CLIENT_ID
from passgate.config.checks import cross_check
from passgate.config.clients import StaticClient
from passgate.config.environ import value_or_env
from passgate.config.fields import decode_root_ca_data, is_loopback_host
from passgate.oauth2.redirect import is_loopback_uri
from passgate.oauth2.scopes import OPENID, classify

__all__ = [
    "KUBECONFIG_CLIENT_ID",
    "KubeCluster",
    "KubernetesConfig",
    "TokenReviewConfig",
    "check_cluster_name",
    "pem_file",
]


# A kubeconfig entry name we also use as a context name and in a file name: DNS-ish.
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?")


def check_cluster_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            "must be 1-63 characters of a-z, 0-9, '.' and '-', starting and ending "
            "with a letter or digit (it becomes the kubeconfig cluster and context name)"
        )
    return value


def _https_server(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError("must be an https URL such as https://k8s.example.com:6443") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https URL such as https://k8s.example.com:6443")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("must not contain a query or fragment")
    return value


def _scope(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError("must be one scope without spaces")
    if value == OPENID:
        raise ValueError("'openid' is always requested; list only extra scopes")
    if classify((value,)).unrecognized:
        raise ValueError(f"{value!r} is not a scope Passgate knows")
    return value


def _claim(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


ClusterName = Annotated[str, AfterValidator(check_cluster_name)]
ClaimName = Annotated[str, AfterValidator(_claim)]


def pem_file(path: str) -> str:
    """The PEM certificates in the file at ``path``; ``ValueError`` when unusable."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    encoded = base64.b64encode(data).decode("ascii")
    return decode_root_ca_data(encoded)


class KubeCluster(DexModel):
    """One cluster: its API server, how kubectl trusts it, and the client id its
    kube-apiserver accepts in ``aud``."""

    name: ClusterName
    server: Annotated[str, AfterValidator(_https_server)]
    certificate_authority_data: str = Field(default="", alias="certificateAuthorityData")
    certificate_authority: str = Field(default="", alias="certificateAuthority")
    insecure_skip_tls_verify: bool = Field(default=False, alias="insecureSkipTLSVerify")
    client_id: str = Field(alias="clientID")
    scopes: list[Annotated[str, AfterValidator(_scope)]] = Field(default_factory=list)
    username_claim: ClaimName = Field(default="email", alias="usernameClaim")
    groups_claim: ClaimName = Field(default="groups", alias="groupsClaim")
    username_prefix: str | None = Field(default=None, alias="usernamePrefix")
    groups_prefix: str | None = Field(default=None, alias="groupsPrefix")

    @model_validator(mode="after")
    def _trust(self) -> KubeCluster:
        issues: list[tuple[Loc, str]] = []
        if not self.client_id.strip():
            issues.append((("clientID",), "must name a staticClients id"))
        if self.certificate_authority and self.certificate_authority_data:
            issues.append(
                (("certificateAuthority",), "set certificateAuthority or ..Data, not both")
            )
        if self.insecure_skip_tls_verify and (
            self.certificate_authority or self.certificate_authority_data
        ):
            issues.append(
                (
                    ("insecureSkipTLSVerify",),
                    "cannot be combined with a certificate authority (kubectl refuses it)",
                )
            )
        data = self.certificate_authority_data
        if self.certificate_authority and data:
            pass  # reported above
        elif self.certificate_authority:
            try:
                pem = pem_file(self.certificate_authority)
            except ValueError as error:
                issues.append((("certificateAuthority",), str(error)))
            else:
                data = base64.b64encode(pem.encode("ascii")).decode("ascii")
        elif data:
            try:
                decode_root_ca_data(data)
            except ValueError as error:
                issues.append((("certificateAuthorityData",), str(error)))
            data = "".join(data.split())
        raise_issues(type(self).__name__, issues)
        self._settle(certificate_authority_data=data)
        if self.insecure_skip_tls_verify:
            self.note(
                ("insecureSkipTLSVerify",),
                "kubectl will not verify this API server's certificate; anyone on the "
                "path can read the tokens it sends",
            )
        return self

    def ca_pem(self) -> str:
        """The API server's CA certificates as PEM text ("" for the system roots)."""
        if not self.certificate_authority_data:
            return ""
        return decode_root_ca_data(self.certificate_authority_data)


def _issuer_ca(path: str, data: str) -> tuple[list[tuple[Loc, str]], str]:
    """issuerCA/issuerCAData rules: the problems and the PEM text."""
    try:
        if path and data:
            return [(("issuerCA",), "set issuerCA or issuerCAData, not both")], ""
        if path:
            return [], pem_file(path)
        return [], decode_root_ca_data(data) if data else ""
    except ValueError as error:
        return [(("issuerCA" if path else "issuerCAData",), str(error))], ""


class TokenReviewConfig(DexModel):
    """``kubernetes.tokenReview``: the TokenReview webhook (``POST /kubernetes/tokenreview``)
    that answers for Passgate's tokens with revocation honoured. ``secret`` (or
    ``secretEnv``): a bearer token the apiserver must send; its webhook kubeconfig
    (``passgate apiserver-config --format webhook``) carries it."""

    enabled: bool = True
    secret: str = ""
    secret_env: str = Field(default="", alias="secretEnv")

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> TokenReviewConfig:
        value, issues = value_or_env(
            environ_of(info), "secret", self.secret, "secretEnv", self.secret_env
        )
        raise_issues(type(self).__name__, issues)
        self._settle(secret=value)
        return self


class KubernetesConfig(DexModel):
    """The ``kubernetes`` section: clusters, and how Passgate's own TLS is trusted."""

    issuer_ca: str = Field(default="", alias="issuerCA")
    issuer_ca_data: str = Field(default="", alias="issuerCAData")
    publish_clusters: bool = Field(default=True, alias="publishClusters")
    clusters: list[KubeCluster] = Field(default_factory=list)
    token_review: TokenReviewConfig = Field(default_factory=TokenReviewConfig, alias="tokenReview")

    _pem: str = PrivateAttr(default="")

    @model_validator(mode="wrap")
    @classmethod
    def _all_problems(
        cls,
        data: Any,
        handler: ModelWrapValidatorHandler[KubernetesConfig],
        info: ValidationInfo,
    ) -> KubernetesConfig:
        # A broken cluster stops the after-validator; still report the issuer CA.
        try:
            return handler(data)
        except ValidationError as exc:
            if not isinstance(data, Mapping):
                raise
            folded = fold_keys(cls, data)
            values = (folded.get("issuerCA") or "", folded.get("issuerCAData") or "")
            if not all(isinstance(value, str) for value in values):
                raise
            issues = _issuer_ca(*values)[0]
            raise with_more_issues(cls.__name__, exc, issues) from None

    @model_validator(mode="after")
    def _resolve(self) -> KubernetesConfig:
        issues, pem = _issuer_ca(self.issuer_ca, self.issuer_ca_data)
        raise_issues(type(self).__name__, issues)
        self._pem = pem
        return self

    @property
    def issuer_ca_pem(self) -> str:
        """The PEM of Passgate's TLS CA ("" when its certificate is publicly trusted)."""
        return self._pem

    def issuer_ca_base64(self) -> str:
        """:attr:`issuer_ca_pem` as one base64 line (kubeconfig ``*-data`` style)."""
        return base64.b64encode(self._pem.encode("ascii")).decode("ascii") if self._pem else ""

    def cluster(self, name: str) -> KubeCluster | None:
        return next((cluster for cluster in self.clusters if cluster.name == name), None)


def _loopback_redirect(client: StaticClient) -> bool:
    """The server's own rule (RFC 8252 §7.3), so the warning matches what sign-in does."""
    return any(is_loopback_uri(uri) for uri in client.redirect_uris)


def _https_issuer(issuer: str) -> Iterator[tuple[Literal["error", "warning"], Loc, str]]:
    """kube-apiserver refuses a non-https issuer (``--oidc-issuer-url``, and ``jwt[].issuer.url``
    of an AuthenticationConfiguration), so clusters cannot use an http one: an error,
    except on a loopback host, where it can only be a demo or a test on this machine."""
    parts = urlsplit(issuer)
    if parts.scheme == "https":
        return
    if is_loopback_host(parts.hostname or ""):
        message = "kube-apiserver accepts only an https issuer; kubernetes.clusters need one"
        yield "warning", ("issuer",), message
    else:
        message = (
            "must be https when kubernetes.clusters are configured: kube-apiserver refuses "
            "an http issuer (http is accepted only on a loopback host, for trying Passgate out)"
        )
        yield "error", ("issuer",), message


@cross_check("kubernetes", "static_clients", "issuer")
def _cluster_clients(
    kubernetes: KubernetesConfig, clients: Sequence[StaticClient | None], issuer: str
) -> Iterator[tuple[Literal["error", "warning"], Loc, str]]:
    """Each cluster's clientID names a static client that kubectl can use."""
    if not kubernetes.clusters:
        return
    yield from _https_issuer(issuer)
    first: dict[str, int] = {}
    for index, cluster in enumerate(kubernetes.clusters):
        if cluster.name in first:
            message = (
                f"duplicate cluster name {cluster.name!r} (also clusters[{first[cluster.name]}])"
            )
            yield "error", ("kubernetes", "clusters", index, "name"), message
        first.setdefault(cluster.name, index)
    for index, client in enumerate(clients):
        if client is not None and client.id == KUBECONFIG_CLIENT_ID:
            message = f"{KUBECONFIG_CLIENT_ID!r} is reserved for the /kubeconfig page"
            yield "error", ("staticClients", index, "id"), message
    if any(client is None for client in clients):
        return  # some client did not validate: nobody can tell which ids exist
    by_id = {client.id: client for client in clients if client is not None}
    for index, cluster in enumerate(kubernetes.clusters):
        loc: Loc = ("kubernetes", "clusters", index, "clientID")
        client = by_id.get(cluster.client_id)
        if client is None:
            choices = ", ".join(repr(key) for key in by_id) or "none configured"
            message = f"no staticClients entry has id {cluster.client_id!r} ({choices})"
            yield "error", loc, message
        elif not client.public and not _loopback_redirect(client):
            message = (
                f"client {client.id!r} is not public and has no http loopback redirect URI: "
                "`passgate get-token` (PKCE, RFC 8252 §7.3) cannot sign in with it"
            )
            yield "warning", loc, message
