"""kube-apiserver settings that accept Passgate's ID tokens for one cluster.

Two equivalent forms (DESIGN §4): the ``--oidc-*`` flags, and a structured
``AuthenticationConfiguration`` (``apiserver.config.k8s.io/v1beta1`` from 1.30, ``v1``
from 1.34, passed with ``--authentication-config``; the two forms exclude each other).

A third form asks Passgate itself about every token: the webhook token authenticator
(``--authentication-token-webhook-config-file``), a kubeconfig whose server is Passgate's
``/kubernetes/tokenreview``. It honours revocation (within the webhook cache TTL, kept
short here) and can be used alongside the OIDC flags or instead of them.

Username prefix, as kube-apiserver applies it to the flags: unset means no prefix for
the ``email`` claim and ``<issuer>#`` for any other claim; ``-`` means no prefix. The
structured config has no defaults, so the same effective prefix is written out. With
the ``email`` claim the apiserver also requires ``email_verified``, when present, to be
``true``; the structured form states that rule explicitly as the CEL expression the
apiserver documents (``claims.?email_verified.orValue(true) == true``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from passgate.config import Config

__all__ = [
    "AUTHENTICATION_API_VERSIONS",
    "DEFAULT_CA_FILE",
    "ApiserverSettings",
    "UnknownClusterError",
    "authentication_configuration",
    "flags",
    "refusals",
    "settings_for",
    "webhook_flags",
    "webhook_kubeconfig",
]

AuthVersion = Literal["v1beta1", "v1"]
AUTHENTICATION_API_VERSIONS: tuple[AuthVersion, ...] = ("v1beta1", "v1")
#: Where ``--oidc-ca-file`` points when the config holds the CA as data, not as a path.
DEFAULT_CA_FILE = "/etc/kubernetes/pki/passgate-ca.crt"
EMAIL_VERIFIED_RULE = "claims.?email_verified.orValue(true) == true"
WEBHOOK_PATH = "/kubernetes/tokenreview"
#: Where ``--authentication-token-webhook-config-file`` points by default.
DEFAULT_WEBHOOK_FILE = "/etc/kubernetes/passgate-webhook.kubeconfig"
#: The apiserver caches webhook answers, refusals included (default 2m): a revocation
#: takes effect at Passgate within a second, at the apiserver within this TTL.
WEBHOOK_CACHE_TTL = "10s"
#: What ``--oidc-signing-algs`` accepts (the asymmetric JOSE algorithms, RFC 7518 §3.1).
APISERVER_SIGNING_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}
)


class UnknownClusterError(LookupError):
    """The config has no ``kubernetes.clusters`` entry of that name."""


@dataclass(frozen=True, slots=True)
class ApiserverSettings:
    """What one cluster's kube-apiserver needs to know about Passgate."""

    issuer: str
    client_id: str
    username_claim: str = "email"
    groups_claim: str = "groups"
    username_prefix: str | None = None  # None: kube's default; "-": none
    groups_prefix: str | None = None
    signing_algorithm: str = "RS256"
    ca_pem: str = ""  # Passgate's TLS CA, when private
    ca_file: str = ""  # where the apiserver host keeps ca_pem

    def effective_username_prefix(self) -> str:
        """The prefix kube-apiserver really prepends (see the module docstring)."""
        if self.username_prefix is None:
            return "" if self.username_claim == "email" else f"{self.issuer}#"
        return "" if self.username_prefix == "-" else self.username_prefix


def settings_for(config: Config, cluster: str, *, ca_file: str | None = None) -> ApiserverSettings:
    """The settings of ``cluster`` (a ``kubernetes.clusters`` name). ``ca_file`` is the
    path of Passgate's CA on the apiserver host (default: ``issuerCA`` as configured, or
    :data:`DEFAULT_CA_FILE` when the CA was given as data)."""
    kube = config.kubernetes
    entry = kube.cluster(cluster)
    if entry is None:
        known = ", ".join(item.name for item in kube.clusters) or "none configured"
        raise UnknownClusterError(f"no cluster named {cluster!r} in kubernetes.clusters ({known})")
    pem = kube.issuer_ca_pem
    if ca_file is None:
        ca_file = (kube.issuer_ca or DEFAULT_CA_FILE) if pem else ""
    return ApiserverSettings(
        issuer=config.issuer,
        client_id=entry.client_id,
        username_claim=entry.username_claim,
        groups_claim=entry.groups_claim,
        username_prefix=entry.username_prefix,
        groups_prefix=entry.groups_prefix,
        signing_algorithm=config.signing_algorithm(),
        ca_pem=pem,
        ca_file=ca_file if pem else "",
    )


def refusals(settings: ApiserverSettings) -> list[str]:
    """What kube-apiserver would refuse in ``settings``, so it would not start: the rules
    its ``--oidc-*`` flags and ``AuthenticationConfiguration`` share (the apiserver's
    ``validateURL`` for the issuer, ``validateAudiences``, the claim mappings, and the
    algorithms ``--oidc-signing-algs`` knows). Empty when the settings are usable."""
    found: list[str] = []
    issuer = settings.issuer
    try:
        parts = urlsplit(issuer)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return [f"the issuer URL {issuer!r} does not parse"]
    if parts.scheme != "https":
        found.append(f"the issuer URL must be https, not {parts.scheme or 'schemeless'}")
    if not parts.hostname:
        found.append("the issuer URL has no host")
    if parts.username is not None or parts.password is not None:
        found.append("the issuer URL must not contain a user name or password")
    if parts.query:
        found.append("the issuer URL must not contain a query")
    if parts.fragment:
        found.append("the issuer URL must not contain a fragment")
    if not settings.client_id:
        found.append("the client id (the audience) must not be empty")
    if not settings.username_claim:
        found.append("the username claim must not be empty")
    if settings.signing_algorithm not in APISERVER_SIGNING_ALGS:
        found.append(f"the signing algorithm {settings.signing_algorithm} is not one it accepts")
    return found


def flags(settings: ApiserverSettings) -> list[str]:
    """The kube-apiserver ``--oidc-*`` flags, one ``--name=value`` string each."""
    out = [
        f"--oidc-issuer-url={settings.issuer}",
        f"--oidc-client-id={settings.client_id}",
        f"--oidc-username-claim={settings.username_claim}",
        f"--oidc-groups-claim={settings.groups_claim}",
        f"--oidc-signing-algs={settings.signing_algorithm}",
    ]
    if settings.ca_file:
        out.append(f"--oidc-ca-file={settings.ca_file}")
    if settings.username_prefix is not None:
        out.append(f"--oidc-username-prefix={settings.username_prefix}")
    if settings.groups_prefix is not None:
        out.append(f"--oidc-groups-prefix={settings.groups_prefix}")
    return out


def authentication_configuration(
    settings: ApiserverSettings, version: AuthVersion = "v1"
) -> dict[str, Any]:
    """An ``AuthenticationConfiguration`` equivalent to :func:`flags`."""
    if version not in AUTHENTICATION_API_VERSIONS:
        raise ValueError(f"unknown AuthenticationConfiguration version {version!r}")
    issuer: dict[str, Any] = {"url": settings.issuer, "audiences": [settings.client_id]}
    if settings.ca_pem:
        issuer["certificateAuthority"] = settings.ca_pem  # PEM text, not a path
    authenticator: dict[str, Any] = {"issuer": issuer}
    if settings.username_claim == "email":
        # Also applied automatically for username.claim: email; stated for the reader.
        authenticator["claimValidationRules"] = [
            {"expression": EMAIL_VERIFIED_RULE, "message": "email_verified must be true"}
        ]
    authenticator["claimMappings"] = {
        "username": {
            "claim": settings.username_claim,
            "prefix": settings.effective_username_prefix(),
        },
        "groups": {"claim": settings.groups_claim, "prefix": settings.groups_prefix or ""},
        # Passgate's sub is stable per user and connector (DESIGN §3).
        "uid": {"claim": "sub"},
    }
    return {
        "apiVersion": f"apiserver.config.k8s.io/{version}",
        "kind": "AuthenticationConfiguration",
        "jwt": [authenticator],
    }


def webhook_kubeconfig(settings: ApiserverSettings, *, secret: str = "") -> dict[str, Any]:
    """The kubeconfig kube-apiserver reads to call Passgate's TokenReview webhook."""
    cluster: dict[str, Any] = {"server": settings.issuer.rstrip("/") + WEBHOOK_PATH}
    if settings.ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(
            settings.ca_pem.encode("ascii")
        ).decode("ascii")
    user: dict[str, Any] = {"token": secret} if secret else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "passgate", "cluster": cluster}],
        "users": [{"name": "kube-apiserver", "user": user}],
        "contexts": [
            {"name": "webhook", "context": {"cluster": "passgate", "user": "kube-apiserver"}}
        ],
        "current-context": "webhook",
    }


def webhook_flags(config_file: str = DEFAULT_WEBHOOK_FILE) -> list[str]:
    """The kube-apiserver flags that enable the webhook with that kubeconfig."""
    return [
        f"--authentication-token-webhook-config-file={config_file}",
        "--authentication-token-webhook-version=v1",
        f"--authentication-token-webhook-cache-ttl={WEBHOOK_CACHE_TTL}",
    ]
