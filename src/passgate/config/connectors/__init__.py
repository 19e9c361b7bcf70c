"""``connectors[]``: upstream identity sources, with a typed options model per type.

Every connector type Dex knows is recognised. The ones this version implements map to
their options model in :data:`CONNECTOR_CONFIG_MODELS`; the others map to ``None`` and
are refused with a clear message, never silently ignored (DESIGN §3). Implementing a
type means giving it a model (a module of this package) and an implementation in
``passgate.connectors``.
"""

from __future__ import annotations

import builtins
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from passgate.config.base import DexModel, collect_notes, custom_error
from passgate.config.connectors.github import GitHubConfig, GitHubOrg
from passgate.config.connectors.gitlab import GitLabConfig
from passgate.config.connectors.google import GoogleConfig
from passgate.config.connectors.ldap import LDAPConfig
from passgate.config.connectors.microsoft import MicrosoftConfig
from passgate.config.connectors.oidc import OIDCClaimMapping, OIDCConfig, OIDCDiscoveryOverrides
from passgate.config.connectors.saml import SAMLConfig
from passgate.config.fields import NonEmptyStr
from passgate.config.oauth2 import GrantType

__all__ = [
    "CONNECTOR_CONFIG_MODELS",
    "PASSWORD_CONNECTOR_TYPES",
    "ConnectorConfig",
    "GitHubConfig",
    "GitHubOrg",
    "GitLabConfig",
    "GoogleConfig",
    "LDAPConfig",
    "MicrosoftConfig",
    "MockPasswordConfig",
    "NoOptions",
    "OIDCClaimMapping",
    "OIDCConfig",
    "OIDCDiscoveryOverrides",
    "SAMLConfig",
]


class NoOptions(DexModel):
    """Connector types that take no options (``local``, ``mockCallback``)."""


class MockPasswordConfig(DexModel):
    """``mockPassword``: one fixed username and password, for development and tests."""

    username: NonEmptyStr
    password: NonEmptyStr = Field(repr=False)


#: connector type → options model; ``None``: recognised (a Dex type) but not supported yet.
CONNECTOR_CONFIG_MODELS: dict[str, type[BaseModel] | None] = {
    "local": NoOptions,
    "mockCallback": NoOptions,
    "mockPassword": MockPasswordConfig,
    "oidc": OIDCConfig,
    "google": GoogleConfig,
    "github": GitHubConfig,
    "gitlab": GitLabConfig,
    "microsoft": MicrosoftConfig,
    "ldap": LDAPConfig,
    "saml": SAMLConfig,
    "samlExperimental": SAMLConfig,  # Dex keeps this old name of "saml" for compatibility
    "bitbucket-cloud": None,
    "openshift": None,
    "keystone": None,
    "linkedin": None,
    "authproxy": None,
    "gitea": None,
    "atlassian-crowd": None,
    "oauth": None,
}

#: Types that check a username and password themselves (usable as oauth2.passwordConnector).
PASSWORD_CONNECTOR_TYPES = frozenset(
    {"local", "mockPassword", "ldap", "keystone", "atlassian-crowd"}
)

# Characters that would break /auth/{id} and /callback/{id} routing.
_BAD_ID_CHARS = frozenset("/?#%\\")


class ConnectorConfig(DexModel):
    """One ``connectors[]`` item. After validation ``config`` holds the typed options in
    Dex's spelling (defaults filled in); ``typed_config()`` returns the model itself."""

    type: str
    id: NonEmptyStr
    name: NonEmptyStr
    # repr=False: the options hold passwords and client secrets once validated.
    config: dict[str, Any] = Field(default_factory=dict, validate_default=True, repr=False)
    grant_types: list[GrantType] | None = Field(default=None, alias="grantTypes")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in CONNECTOR_CONFIG_MODELS:
            known = ", ".join(sorted(CONNECTOR_CONFIG_MODELS, key=str.lower))
            raise custom_error(f"unknown connector type {value!r} (known types: {known})")
        if CONNECTOR_CONFIG_MODELS[value] is None:
            # The loader rewrites this message to name the connector's position.
            raise custom_error(
                f"connector type {value!r} is recognised but not supported yet by this "
                "Passgate version",
                kind="connector_unsupported",
            )
        return value

    @field_validator("id")
    @classmethod
    def _routable_id(cls, value: str) -> str:
        if any(c in _BAD_ID_CHARS or c.isspace() for c in value):
            raise ValueError("must not contain spaces or any of / ? # % \\ (it is part of URLs)")
        return value

    @field_validator("config")
    @classmethod
    def _typed_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        model = cls.config_model_for(info.data.get("type"))
        if model is None:
            return value
        typed = model.model_validate(value, context=info.context)
        return typed.model_dump(by_alias=True)

    @model_validator(mode="after")
    def _options_notes(self) -> ConnectorConfig:
        # The options are kept as a dict: carry their model's warnings over.
        if CONNECTOR_CONFIG_MODELS.get(self.type) is not None:
            for loc, message in collect_notes(self.typed_config()):
                self.note(("config", *loc), message)
        return self

    @classmethod
    def config_model_for(cls, kind: object) -> builtins.type[BaseModel] | None:
        return CONNECTOR_CONFIG_MODELS.get(kind) if isinstance(kind, str) else None

    def typed_config(self) -> BaseModel:
        """The options as their model (``MockPasswordConfig``, ``NoOptions``, ...)."""
        model = CONNECTOR_CONFIG_MODELS[self.type]
        assert model is not None  # validation refuses unsupported types
        return model.model_validate(self.config)
