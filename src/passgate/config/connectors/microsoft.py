"""``microsoft`` connector options (Dex ``connector/microsoft.Config``).

Dex's checks at start-up (an unknown ``groupNameFormat``) are made here so ``passgate
check-config`` reports them with their key path. One more is Passgate's: required
``groups`` with a multi-tenant ``tenant`` is refused, because Microsoft lists no groups
there and Dex silently lets everyone in (the check is skipped).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticUseDefault

from passgate.config.base import DexModel, custom_error, raise_issues
from passgate.config.fields import HTTPURL, NonEmptyStr

__all__ = ["MULTI_TENANTS", "MicrosoftConfig"]

#: Tenants that accept accounts of many organisations (Microsoft identity platform).
MULTI_TENANTS = frozenset({"common", "organizations", "consumers"})

# A tenant ID (GUID) or a verified domain name: both go into the endpoint URL's path.
_TENANT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def _empty_is_default(value: Any) -> Any:
    if value == "" or value is None:
        raise PydanticUseDefault()  # Go's zero value: Dex applies its default
    return value


class MicrosoftConfig(DexModel):
    """``microsoft``: sign in with Microsoft Entra ID or a personal Microsoft account."""

    client_id: NonEmptyStr = Field(alias="clientID")
    client_secret: NonEmptyStr = Field(alias="clientSecret", repr=False)
    redirect_uri: HTTPURL = Field(alias="redirectURI")
    # Dex: "common" (work, school and personal accounts) unless set.
    tenant: str = "common"
    only_security_groups: bool = Field(default=False, alias="onlySecurityGroups")
    groups: list[NonEmptyStr] = Field(default_factory=list)
    group_name_format: Literal["name", "id"] = Field(default="name", alias="groupNameFormat")
    use_groups_as_whitelist: bool = Field(default=False, alias="useGroupsAsWhitelist")
    email_to_lowercase: bool = Field(default=False, alias="emailToLowercase")
    # Sovereign clouds (Azure Government, China) have other login and Graph hosts.
    api_url: HTTPURL = Field(default="https://login.microsoftonline.com", alias="apiURL")
    graph_url: HTTPURL = Field(default="https://graph.microsoft.com", alias="graphURL")
    # Dex: no prompt parameter unless set (unlike the oidc connector's "consent").
    prompt_type: str = Field(default="", alias="promptType")
    domain_hint: str = Field(default="", alias="domainHint")
    # Dex: ["user.read"] unless set; the groups and offline scopes are added as needed.
    scopes: list[NonEmptyStr] = Field(default_factory=list)

    @field_validator("tenant", "api_url", "graph_url", mode="before")
    @classmethod
    def _defaults(cls, value: Any) -> Any:
        return _empty_is_default(value)

    @field_validator("group_name_format", mode="before")
    @classmethod
    def _group_name_format(cls, value: Any) -> Any:
        value = _empty_is_default(value)
        if value not in ("name", "id"):
            raise custom_error("must be name or id")  # Dex: "invalid groupNameFormat"
        return value

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not _TENANT.fullmatch(value):
            raise ValueError(
                "must be common, organizations, consumers, a tenant ID or a domain such "
                "as contoso.onmicrosoft.com"
            )
        return value

    @field_validator("api_url", "graph_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.removesuffix("/")  # Dex trims it before appending paths

    @model_validator(mode="after")
    def _groups_need_a_tenant(self) -> MicrosoftConfig:
        if self.groups and not self.is_org_tenant:
            raise_issues(
                type(self).__name__,
                [
                    (
                        ("groups",),
                        f"needs tenant set to your organisation's tenant ID or domain: "
                        f"Microsoft lists no groups for the {self.tenant!r} tenant, so "
                        "this membership check could not be made",
                    )
                ],
            )
        if self.use_groups_as_whitelist and not self.groups:
            self.note(
                ("useGroupsAsWhitelist",),
                "without groups keeps no group at all in the groups claim",
            )
        return self

    @property
    def is_org_tenant(self) -> bool:
        """Dex ``isOrgTenant``: one organisation's tenant, whose groups Graph can list."""
        return self.tenant.lower() not in MULTI_TENANTS
