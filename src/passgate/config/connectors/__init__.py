"""``connectors[]``: upstream identity sources, with a typed options model per type.

Every connector type Dex knows is recognised. The ones this version implements map to
their options model in :data:`CONNECTOR_CONFIG_MODELS`; the others map to ``None`` and
are refused with a clear message, never silently ignored (DESIGN §3). Implementing a
type means giving it a model here and an implementation in ``passgate.connectors``.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault

from passgate.config.base import DexModel, collect_notes, custom_error
from passgate.config.fields import NonEmptyStr
from passgate.config.oauth2 import GrantType

__all__ = [
    "CONNECTOR_CONFIG_MODELS",
    "PASSWORD_CONNECTOR_TYPES",
    "ConnectorConfig",
    "MockPasswordConfig",
    "NoOptions",
    "OIDCClaimMapping",
    "OIDCConfig",
    "OIDCDiscoveryOverrides",
]


class NoOptions(DexModel):
    """Connector types that take no options (``local``, ``mockCallback``)."""


class MockPasswordConfig(DexModel):
    """``mockPassword``: one fixed username and password, for development and tests."""

    username: NonEmptyStr
    password: NonEmptyStr = Field(repr=False)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


HTTPURL = Annotated[str, AfterValidator(_http_url)]


class OIDCDiscoveryOverrides(DexModel):
    """``providerDiscoveryOverrides``: endpoints used instead of the discovered ones."""

    token_url: HTTPURL | None = Field(default=None, alias="tokenURL")
    auth_url: HTTPURL | None = Field(default=None, alias="authURL")
    jwks_url: HTTPURL | None = Field(default=None, alias="jwksURL")
    user_info_url: HTTPURL | None = Field(default=None, alias="userInfoURL")
    device_auth_url: str | None = Field(default=None, alias="deviceAuthURL")
    end_session_url: str | None = Field(default=None, alias="endSessionURL")

    @model_validator(mode="after")
    def _unsupported(self) -> OIDCDiscoveryOverrides:
        for key in ("deviceAuthURL", "endSessionURL"):
            if getattr(self, _FIELD_OF[key]) is not None:
                self.note((key,), "is recognised but not supported yet; ignored")
        return self


_FIELD_OF = {"deviceAuthURL": "device_auth_url", "endSessionURL": "end_session_url"}


class OIDCClaimMapping(DexModel):
    """``claimMapping``: which upstream claims hold these standard ones."""

    preferred_username: NonEmptyStr = "preferred_username"
    email: NonEmptyStr = "email"
    groups: NonEmptyStr = "groups"


class OIDCConfig(DexModel):
    """``oidc``: a generic OpenID Connect upstream (Dex ``connector/oidc``)."""

    issuer: HTTPURL
    client_id: NonEmptyStr = Field(alias="clientID")
    client_secret: str = Field(default="", alias="clientSecret", repr=False)
    redirect_uri: HTTPURL = Field(alias="redirectURI")
    issuer_alias: str | None = Field(default=None, alias="issuerAlias")
    provider_discovery_overrides: OIDCDiscoveryOverrides = Field(
        default_factory=OIDCDiscoveryOverrides, alias="providerDiscoveryOverrides"
    )
    basic_auth_unsupported: bool | None = Field(default=None, alias="basicAuthUnsupported")
    scopes: list[str] = Field(default_factory=list)
    hosted_domains: list[str] = Field(default_factory=list, alias="hostedDomains")
    root_cas: list[NonEmptyStr] = Field(default_factory=list, alias="rootCAs")
    insecure_skip_email_verified: bool = Field(default=False, alias="insecureSkipEmailVerified")
    insecure_enable_groups: bool = Field(default=False, alias="insecureEnableGroups")
    allowed_groups: list[str] = Field(default_factory=list, alias="allowedGroups")
    acr_values: list[str] = Field(default_factory=list, alias="acrValues")
    insecure_skip_verify: bool = Field(default=False, alias="insecureSkipVerify")
    get_user_info: bool = Field(default=False, alias="getUserInfo")
    user_id_key: NonEmptyStr = Field(default="sub", alias="userIDKey")
    user_name_key: NonEmptyStr = Field(default="name", alias="userNameKey")
    # Dex: a missing promptType means "consent"; an empty one sends no prompt.
    prompt_type: str = Field(default="consent", alias="promptType")
    pkce_challenge: str | None = Field(default=None, alias="pkceChallenge")
    override_claim_mapping: bool = Field(default=False, alias="overrideClaimMapping")
    claim_mapping: OIDCClaimMapping = Field(default_factory=OIDCClaimMapping, alias="claimMapping")
    claim_modifications: dict[str, Any] | None = Field(default=None, alias="claimModifications")

    @field_validator("user_id_key", "user_name_key", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        if value == "":
            raise PydanticUseDefault()
        return value

    @model_validator(mode="after")
    def _unsupported(self) -> OIDCConfig:
        unsupported = {
            "issuerAlias": self.issuer_alias,
            "pkceChallenge": self.pkce_challenge,
            "claimModifications": self.claim_modifications,
            "insecureSkipVerify": self.insecure_skip_verify or None,
        }
        for key, value in unsupported.items():
            if value is not None:
                self.note((key,), "is recognised but not supported yet; ignored")
        return self


#: connector type → options model; ``None``: recognised (a Dex type) but not supported yet.
CONNECTOR_CONFIG_MODELS: dict[str, type[BaseModel] | None] = {
    "local": NoOptions,
    "mockCallback": NoOptions,
    "mockPassword": MockPasswordConfig,
    "oidc": OIDCConfig,
    "google": None,
    "github": None,
    "gitlab": None,
    "microsoft": None,
    "ldap": None,
    "saml": None,
    "samlExperimental": None,  # Dex keeps this old name of "saml" for compatibility
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
    config: dict[str, Any] = Field(default_factory=dict, validate_default=True)
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
