"""Rules that span sections: duplicates, references between sections, and warnings.

Each check names the top-level sections it reads. The loader runs them on whatever
validated, so a typo in one place does not hide a duplicate client id in another: every
problem is reported in one go. In that partial run a list section may hold ``None`` for
an item that did not validate; checks skip those, and reference checks (does
``passwordConnector`` name a connector?) skip entirely when the list is incomplete. The
same checks run in ``Config``'s own validator when the whole file is valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from passgate.config.base import Loc
from passgate.config.builtin import BUILT_IN_CLIENTS
from passgate.config.clients import StaticClient, StaticPassword
from passgate.config.connectors import PASSWORD_CONNECTOR_TYPES, ConnectorConfig
from passgate.config.expiry import ExpiryConfig, LocalSignerConfig, SignerConfig
from passgate.config.fields import is_loopback_host
from passgate.config.oauth2 import OAuth2Config
from passgate.config.server import WebConfig
from passgate.durations import format_duration

__all__ = ["Finding", "Findings", "cross_check", "run_checks"]

Kind = Literal["error", "warning"]
Finding = tuple[Kind, Loc, str]
_Check = Callable[..., Iterable[Finding]]
_CHECKS: list[tuple[tuple[str, ...], _Check]] = []

LOCAL_CONNECTOR_ID = "local"  # Dex: enablePasswordDB adds {id: local, type: local, name: Email}


@dataclass
class Findings:
    errors: list[tuple[Loc, str]] = field(default_factory=list)
    warnings: list[tuple[Loc, str]] = field(default_factory=list)


def cross_check(*sections: str) -> Callable[[_Check], _Check]:
    """Register a rule across config sections: it runs with the named sections once they
    validated, so a section's own module can add rules without editing this one."""

    def register(function: _Check) -> _Check:
        _CHECKS.append((sections, function))
        return function

    return register


def run_checks(sections: Mapping[str, Any]) -> Findings:
    """Run every check whose sections are all present (validated) in ``sections``."""
    findings = Findings()
    for needs, function in _CHECKS:
        if all(name in sections for name in needs):
            for kind, loc, message in function(*(sections[name] for name in needs)):
                target = findings.errors if kind == "error" else findings.warnings
                target.append((loc, message))
    return findings


def _connector_ids(
    connectors: Sequence[ConnectorConfig | None], enable_password_db: bool
) -> dict[str, str] | None:
    """Configured connector id → type, with the password database's ``local``; ``None``
    when some connector did not validate (then nobody can tell what is configured)."""
    if any(item is None for item in connectors):
        return None
    ids = {item.id: item.type for item in connectors if item is not None}
    if enable_password_db:
        ids.setdefault(LOCAL_CONNECTOR_ID, "local")
    return ids


def _duplicates(
    values: Iterable[str | None], section: str, key: str, what: str
) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        if value in first:
            message = f"duplicate {what} {value!r} (also {section}[{first[value]}])"
            yield "error", (section, index, key), message
        else:
            first[value] = index


@cross_check("issuer")
def _issuer_scheme(issuer: str) -> Iterator[Finding]:
    parts = urlsplit(issuer)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        yield (
            "warning",
            ("issuer",),
            "uses http on a host that is not loopback; kube-apiserver and most clients "
            "require an https issuer",
        )


@cross_check("web")
def _listeners(web: WebConfig) -> Iterator[Finding]:
    if not web.http and not web.https:
        yield "error", ("web",), "set web.http or web.https: there is no address to listen on"


@cross_check("static_passwords", "enable_password_db")
def _passwords_need_db(
    passwords: Sequence[StaticPassword | None], enabled: bool
) -> Iterator[Finding]:
    if passwords and not enabled:
        yield "error", ("staticPasswords",), "static passwords need enablePasswordDB: true"


@cross_check("static_clients")
def _client_ids(clients: Sequence[StaticClient | None]) -> Iterator[Finding]:
    ids = (client.id if client else None for client in clients)
    for kind, loc, message in _duplicates(ids, "staticClients", "id", "client id"):
        client = clients[int(loc[1])]
        key = "idEnv" if client is not None and client.id_env else "id"
        yield kind, ("staticClients", loc[1], key), message


@cross_check("static_passwords")
def _password_users(passwords: Sequence[StaticPassword | None]) -> Iterator[Finding]:
    # Emails are the login name and are compared case-insensitively, as in Dex.
    emails = (entry.email.lower() if entry else None for entry in passwords)
    yield from _duplicates(emails, "staticPasswords", "email", "email")
    user_ids = (entry.user_id if entry else None for entry in passwords)
    for kind, loc, message in _duplicates(user_ids, "staticPasswords", "userID", "userID"):
        yield kind, loc, message + ": two users would share one subject (sub)"


@cross_check("connectors", "enable_password_db")
def _connector_set(
    connectors: Sequence[ConnectorConfig | None], enabled: bool
) -> Iterator[Finding]:
    ids = (item.id if item else None for item in connectors)
    yield from _duplicates(ids, "connectors", "id", "connector id")
    for index, item in enumerate(connectors):
        if item is None:
            continue
        if enabled and item.id == LOCAL_CONNECTOR_ID and item.type != "local":
            yield (
                "error",
                ("connectors", index, "id"),
                "the id 'local' is the password database's when enablePasswordDB is true",
            )
    if not connectors and not enabled:
        yield (
            "warning",
            ("connectors",),
            "no connectors and enablePasswordDB is false: nobody can log in",
        )


@cross_check("oauth2", "connectors", "enable_password_db")
def _password_connector(
    oauth2: OAuth2Config, connectors: Sequence[ConnectorConfig | None], enabled: bool
) -> Iterator[Finding]:
    name = oauth2.password_connector
    ids = _connector_ids(connectors, enabled)
    if not name or ids is None:
        return
    usable = sorted(key for key, kind in ids.items() if kind in PASSWORD_CONNECTOR_TYPES)
    choices = ", ".join(repr(key) for key in usable) or "none configured"
    loc: Loc = ("oauth2", "passwordConnector")
    if name not in ids:
        hint = " (enablePasswordDB: true provides 'local')" if name == LOCAL_CONNECTOR_ID else ""
        yield "error", loc, f"no connector has id {name!r}{hint}; password connectors: {choices}"
    elif ids[name] not in PASSWORD_CONNECTOR_TYPES:
        yield (
            "error",
            loc,
            f"connector {name!r} (type {ids[name]!r}) cannot check passwords; "
            f"password connectors: {choices}",
        )


@cross_check("static_clients", "connectors", "enable_password_db")
def _allowed_connectors(
    clients: Sequence[StaticClient | None],
    connectors: Sequence[ConnectorConfig | None],
    enabled: bool,
) -> Iterator[Finding]:
    ids = _connector_ids(connectors, enabled)
    if ids is None:
        return
    for index, client in enumerate(clients):
        if client is None:
            continue
        for position, name in enumerate(client.allowed_connectors):
            if name not in ids:
                yield (
                    "warning",
                    ("staticClients", index, "allowedConnectors", position),
                    f"{name!r} is not a configured connector",
                )


@cross_check("signer", "expiry")
def _signer(signer: SignerConfig | None, expiry: ExpiryConfig) -> Iterator[Finding]:
    local = signer.local() if signer is not None else LocalSignerConfig()
    period = local.keys_rotation_period or expiry.signing_keys
    delay = local.effective_propagation_delay()
    if period < delay:
        yield (
            "warning",
            ("signer", "config", "keysRotationPeriod")
            if local.keys_rotation_period is not None
            else ("expiry", "signingKeys"),
            f"is shorter than the propagation delay ({format_duration(delay)}): a new key "
            "is published that long before it signs, so keys rotate that often at most",
        )
    if signer is None:
        return
    if local.keys_rotation_period is not None and "signing_keys" in expiry.model_fields_set:
        yield (
            "warning",
            ("expiry", "signingKeys"),
            "is ignored: signer.config.keysRotationPeriod is set and takes precedence",
        )
    if local.algorithm != "RS256":
        yield (
            "warning",
            ("signer", "config", "algorithm"),
            f"kube-apiserver accepts only RS256 unless configured for {local.algorithm}",
        )


@cross_check("static_clients")
def _sso_shared_with(clients: Sequence[StaticClient | None]) -> Iterator[Finding]:
    """``ssoSharedWith`` names clients; a name that is none of them is a typo."""
    if any(client is None for client in clients):
        return
    # The built-in clients (the kubeconfig page, forward-auth) are real clients too.
    ids = {client.id for client in clients if client is not None} | BUILT_IN_CLIENTS
    for index, client in enumerate(clients):
        assert client is not None
        for position, peer in enumerate(client.sso_shared_with or ()):
            if peer != "*" and peer not in ids:
                loc = ("staticClients", index, "ssoSharedWith", position)
                yield "warning", loc, f"{peer!r} is not a static client"


@cross_check("mfa")
def _mfa(mfa: dict[str, Any] | None) -> Iterator[Finding]:
    if mfa is not None:
        yield "warning", ("mfa",), "is recognised but not implemented yet; ignored"
