"""``gitlab`` connector options (Dex ``connector/gitlab.Config``).

``rootCAData`` is a Go ``[]byte``, which Dex's JSON decoding reads as *base64* text: the
value is base64 of the PEM certificates (as in a Kubernetes Secret), not PEM itself. It
is checked here, so ``passgate check-config`` names the key instead of a start-up error.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from passgate.config.base import DexModel
from passgate.config.fields import (
    EMPTY_IS_DEFAULT,
    HTTPURL,
    NonEmptyStr,
    RootCAData,
    decode_root_ca_data,
)

__all__ = ["DEFAULT_BASE_URL", "GitLabConfig"]

DEFAULT_BASE_URL = "https://gitlab.com"


class GitLabConfig(DexModel):
    """``gitlab``: sign in with gitlab.com or a self-managed GitLab (Dex ``connector/gitlab``)."""

    base_url: Annotated[HTTPURL, EMPTY_IS_DEFAULT] = Field(
        default=DEFAULT_BASE_URL, alias="baseURL"
    )
    client_id: NonEmptyStr = Field(alias="clientID")
    client_secret: NonEmptyStr = Field(alias="clientSecret", repr=False)
    redirect_uri: HTTPURL = Field(alias="redirectURI")
    # Required groups: only these are kept in the groups claim, and a user in none of
    # them cannot sign in.
    groups: list[NonEmptyStr] = Field(default_factory=list)
    use_login_as_id: bool = Field(default=False, alias="useLoginAsID")
    get_groups_permission: bool = Field(default=False, alias="getGroupsPermission")
    inherited_groups: bool = Field(default=False, alias="inheritedGroups")
    root_ca_data: RootCAData = Field(default="", alias="rootCAData")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.query or parts.fragment or "?" in value or "#" in value:
            raise ValueError("must be the GitLab root URL, without a query or fragment")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain a user name or password")
        return value

    # -- derived ------------------------------------------------------------------------
    @property
    def root(self) -> str:
        """``baseURL`` without a trailing slash: endpoints are appended to it, as in Dex."""
        return self.base_url.rstrip("/")

    def root_ca_pem(self) -> str:
        """The PEM certificates of ``rootCAData`` ("" when unset)."""
        return decode_root_ca_data(self.root_ca_data) if self.root_ca_data else ""
