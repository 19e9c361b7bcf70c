"""``gitlab`` connector options (Dex ``connector/gitlab.Config``).

``rootCAData`` is a Go ``[]byte``, which Dex's JSON decoding reads as *base64* text: the
value is base64 of the PEM certificates (as in a Kubernetes Secret), not PEM itself. It
is checked here, so ``passgate check-config`` names the key instead of a start-up error.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import PydanticUseDefault

from passgate.config.base import DexModel
from passgate.config.fields import HTTPURL, NonEmptyStr

__all__ = ["DEFAULT_BASE_URL", "GitLabConfig"]

DEFAULT_BASE_URL = "https://gitlab.com"


def _empty_is_default(value: Any) -> Any:
    if isinstance(value, str) and value == "":
        raise PydanticUseDefault()  # Go's zero value: Dex uses https://gitlab.com
    return value


def _decode_root_ca_data(value: str) -> str:
    """The PEM text inside ``rootCAData``; ``ValueError`` when it is not usable."""
    # Go's base64.StdEncoding (what encoding/json uses for []byte) skips CR and LF.
    compact = value.replace("\r", "").replace("\n", "")
    try:
        pem = base64.b64decode(compact, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise ValueError(
            "must be base64 of PEM-encoded CA certificates (Dex reads it as Go []byte), "
            "e.g. the output of `base64 -w0 ca.pem`"
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("does not hold a PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise ValueError("holds a PEM certificate that cannot be loaded") from None
    return pem


class GitLabConfig(DexModel):
    """``gitlab``: sign in with gitlab.com or a self-managed GitLab (Dex ``connector/gitlab``)."""

    base_url: Annotated[HTTPURL, BeforeValidator(_empty_is_default)] = Field(
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
    root_ca_data: str = Field(default="", alias="rootCAData")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.query or parts.fragment or "?" in value or "#" in value:
            raise ValueError("must be the GitLab root URL, without a query or fragment")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain a user name or password")
        return value

    @field_validator("root_ca_data")
    @classmethod
    def _root_ca_data(cls, value: str) -> str:
        if value:
            _decode_root_ca_data(value)
        return value  # kept as written: the options round-trip through model_dump

    # -- derived ------------------------------------------------------------------------
    @property
    def root(self) -> str:
        """``baseURL`` without a trailing slash: endpoints are appended to it, as in Dex."""
        return self.base_url.rstrip("/")

    def root_ca_pem(self) -> str:
        """The PEM certificates of ``rootCAData`` ("" when unset)."""
        return _decode_root_ca_data(self.root_ca_data) if self.root_ca_data else ""
