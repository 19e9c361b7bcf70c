"""What the config file declares that Passgate serves from memory: static clients and
passwords, and the connectors. Read at start-up and again on SIGHUP (``cli.reload``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel

from passgate.cli.forward_auth import forward_auth_client
from passgate.config import Config
from passgate.config.connectors import (
    GitHubConfig,
    GitLabConfig,
    GoogleConfig,
    LDAPConfig,
    MicrosoftConfig,
    OIDCConfig,
    SAMLConfig,
)
from passgate.connectors.base import Connector
from passgate.connectors.github import GitHubConnector
from passgate.connectors.gitlab import GitLabConnector
from passgate.connectors.google import GoogleConnector
from passgate.connectors.ldap import LDAPConnector
from passgate.connectors.local import LocalConnector
from passgate.connectors.microsoft import MicrosoftConnector
from passgate.connectors.mock import MockCallbackConnector, MockPasswordConnector
from passgate.connectors.oidc import OIDCConnector
from passgate.connectors.saml import SAMLConnector
from passgate.provider.connectors import ConnectorEntry, ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.server.portal.home import portal_client
from passgate.storage.models import Client, Password

__all__ = ["CONNECTOR_FACTORIES", "open_connectors", "static_clients", "static_passwords"]


def static_clients(config: Config) -> list[Client]:
    return (
        [
            Client(
                id=client.id,
                secret=client.secret or "",
                redirect_uris=tuple(client.redirect_uris),
                trusted_peers=tuple(client.trusted_peers),
                public=client.public,
                name=client.name or "",
                logo_url=client.logo_url or "",
                post_logout_redirect_uris=tuple(client.post_logout_redirect_uris),
                allowed_connectors=tuple(client.allowed_connectors),
                backchannel_logout_uri=client.backchannel_logout_uri or "",
                sso_shared_with=(
                    None if client.sso_shared_with is None else tuple(client.sso_shared_with)
                ),
            )
            for client in config.static_clients
        ]
        + [portal_client(config.issuer)]
        + ([forward_auth_client()] if config.forward_auth is not None else [])
    )


def static_passwords(config: Config) -> list[Password]:
    return [
        Password(
            email=entry.email.lower(),
            hash=entry.hash_bytes(),
            username=entry.username,
            user_id=entry.user_id,
            name=entry.name or "",
            preferred_username=entry.preferred_username or "",
            email_verified=entry.email_verified,
            groups=tuple(entry.groups),
        )
        for entry in config.static_passwords
    ]


# (connector id, its validated ``config`` options, the directory) -> an opened connector.
ConnectorFactory = Callable[[str, Mapping[str, Any], Directory], Connector]


class _Upstream(Protocol):
    """The constructor shape of the redirect connectors: typed options and an id."""

    def __call__(self, config: Any, connector_id: str, /) -> Connector: ...


def _upstream(connector: _Upstream, model: type[BaseModel]) -> ConnectorFactory:
    """A factory that validates the options into ``model`` and opens ``connector``."""

    def factory(connector_id: str, options: Mapping[str, Any], _directory: Directory) -> Connector:
        return connector(model.model_validate(options), connector_id)

    return factory


# Connector type -> factory (Dex ``server.ConnectorsConfig``). Config validation already
# refuses types missing here, with a clear message.
CONNECTOR_FACTORIES: dict[str, ConnectorFactory] = {
    "local": lambda _id, _options, directory: LocalConnector(directory.get_password),
    "mockCallback": lambda _id, _options, _directory: MockCallbackConnector(),
    "mockPassword": lambda _id, options, _directory: MockPasswordConnector(
        str(options.get("username", "")), str(options.get("password", ""))
    ),
    "oidc": _upstream(OIDCConnector, OIDCConfig),
    "google": _upstream(GoogleConnector, GoogleConfig),
    "github": _upstream(GitHubConnector, GitHubConfig),
    "gitlab": _upstream(GitLabConnector, GitLabConfig),
    "microsoft": _upstream(MicrosoftConnector, MicrosoftConfig),
    "ldap": _upstream(LDAPConnector, LDAPConfig),
    "saml": _upstream(SAMLConnector, SAMLConfig),
    "samlExperimental": _upstream(SAMLConnector, SAMLConfig),
}


def open_connectors(config: Config, directory: Directory) -> ConnectorRegistry:
    entries: list[ConnectorEntry] = []
    for item in config.connectors:
        factory = CONNECTOR_FACTORIES.get(item.type)
        if factory is None:
            raise ValueError(f"connector type {item.type!r} is not supported yet")
        connector = factory(item.id, item.config or {}, directory)
        grants = tuple(item.grant_types or ())
        entries.append(ConnectorEntry(item.id, item.type, item.name, connector, grants))
    if config.enable_password_db and not any(entry.id == "local" for entry in entries):
        # Dex: enablePasswordDB adds a connector with id "local", named "Email".
        local = LocalConnector(directory.get_password)
        entries.append(ConnectorEntry("local", "local", "Email", local))
    return ConnectorRegistry(entries)
