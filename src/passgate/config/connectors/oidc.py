"""``oidc`` connector options (Dex ``connector/oidc.Config``)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticUseDefault

from passgate.config.base import DexModel
from passgate.config.fields import HTTPURL, NonEmptyStr

__all__ = [
    "ClaimModifications",
    "NewGroupFromClaims",
    "OIDCClaimMapping",
    "OIDCConfig",
    "OIDCDiscoveryOverrides",
]


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


class NewGroupFromClaims(DexModel):
    """``claimModifications.newGroupFromClaims[]``: one group made of several claims."""

    claims: list[NonEmptyStr] = Field(default_factory=list)
    delimiter: str = ""
    clear_delimiter: bool = Field(default=False, alias="clearDelimiter")
    prefix: str = ""


class FilterGroupClaims(DexModel):
    """``claimModifications.filterGroupClaims``: keep only the groups this regex matches."""

    groups_filter: str = Field(default="", alias="groupsFilter")

    @field_validator("groups_filter")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"is not a valid regular expression: {error}") from None
        return value


class ModifyGroupNames(DexModel):
    """``claimModifications.modifyGroupNames``: text around every group name."""

    prefix: str = ""
    suffix: str = ""


class ClaimModifications(DexModel):
    """``claimModifications``: Dex's groups post-processing, applied in this order."""

    new_group_from_claims: list[NewGroupFromClaims] = Field(
        default_factory=list, alias="newGroupFromClaims"
    )
    filter_group_claims: FilterGroupClaims = Field(
        default_factory=FilterGroupClaims, alias="filterGroupClaims"
    )
    modify_group_names: ModifyGroupNames = Field(
        default_factory=ModifyGroupNames, alias="modifyGroupNames"
    )


class OIDCConfig(DexModel):
    """``oidc``: a generic OpenID Connect upstream (Dex ``connector/oidc``)."""

    issuer: HTTPURL
    client_id: NonEmptyStr = Field(alias="clientID")
    client_secret: str = Field(default="", alias="clientSecret", repr=False)
    redirect_uri: HTTPURL = Field(alias="redirectURI")
    # Dex: the issuer the upstream names in discovery and tokens, when not ``issuer``.
    issuer_alias: str = Field(default="", alias="issuerAlias")
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
    # RFC 7636 towards the upstream: "S256" or "plain"; empty sends no challenge.
    pkce_challenge: Literal["", "S256", "plain"] = Field(default="", alias="pkceChallenge")
    override_claim_mapping: bool = Field(default=False, alias="overrideClaimMapping")
    claim_mapping: OIDCClaimMapping = Field(default_factory=OIDCClaimMapping, alias="claimMapping")
    claim_modifications: ClaimModifications = Field(
        default_factory=ClaimModifications, alias="claimModifications"
    )

    @field_validator("user_id_key", "user_name_key", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        if value == "":
            raise PydanticUseDefault()
        return value

    @model_validator(mode="after")
    def _insecure(self) -> OIDCConfig:
        if self.insecure_skip_verify:
            self.note(
                ("insecureSkipVerify",),
                "turns off TLS certificate checks of the upstream: anyone on the network "
                "path can impersonate it",
            )
        return self
