"""``github`` connector options (Dex ``connector/github.Config``).

The checks Dex makes when it opens the connector (``org`` with ``orgs``, a ``hostName``
that is not a host, ``rootCA`` without ``hostName``, an unknown ``teamNameField``, a
``preferredEmailDomain`` ending in ``*``) are made here, so ``passgate check-config``
reports them with their key path instead of failing at start-up.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticUseDefault

from passgate.config.base import DexModel, custom_error, raise_issues
from passgate.config.fields import HTTPURL, NonEmptyStr

__all__ = ["GitHubConfig", "GitHubOrg"]

TeamNameField = Literal["name", "slug", "both"]


class GitHubOrg(DexModel):
    """One ``orgs[]`` entry: a user must be in this organisation (and, when ``teams`` is
    given, in one of those teams) to sign in."""

    name: NonEmptyStr
    teams: list[NonEmptyStr] = Field(default_factory=list)


class GitHubConfig(DexModel):
    """``github``: sign in with GitHub or GitHub Enterprise (Dex ``connector/github``)."""

    client_id: NonEmptyStr = Field(alias="clientID")
    client_secret: NonEmptyStr = Field(alias="clientSecret", repr=False)
    redirect_uri: HTTPURL = Field(alias="redirectURI")
    # Dex's legacy single organisation; superseded by ``orgs``.
    org: str = ""
    orgs: list[GitHubOrg] = Field(default_factory=list)
    host_name: str = Field(default="", alias="hostName")
    root_ca: str = Field(default="", alias="rootCA")
    team_name_field: TeamNameField = Field(default="name", alias="teamNameField")
    load_all_groups: bool = Field(default=False, alias="loadAllGroups")
    use_login_as_id: bool = Field(default=False, alias="useLoginAsID")
    preferred_email_domain: str = Field(default="", alias="preferredEmailDomain")

    @field_validator("team_name_field", mode="before")
    @classmethod
    def _team_name_field(cls, value: Any) -> Any:
        if value == "":
            raise PydanticUseDefault()  # Dex: an empty value means "name"
        if value not in ("name", "slug", "both"):
            raise custom_error("must be one of name, slug or both")
        return value

    @field_validator("host_name")
    @classmethod
    def _host_name(cls, value: str) -> str:
        if not value:
            return value
        if "/" in value:
            # Dex: "hostname cannot contain `/`" (a URL or a path is a common mistake).
            raise ValueError(
                "must be a host name such as git.example.com (or host:port), not a URL or path"
            )
        try:
            parts = urlsplit(f"//{value}")
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            raise ValueError("must be a host name such as git.example.com or host:port") from None
        if not parts.hostname or parts.username is not None or any(c.isspace() for c in value):
            raise ValueError("must be a host name such as git.example.com or host:port")
        return value

    @field_validator("preferred_email_domain")
    @classmethod
    def _preferred_email_domain(cls, value: str) -> str:
        if value.endswith("*"):
            raise ValueError('a glob pattern cannot end with "*" (use e.g. *.example.com)')
        return value

    @model_validator(mode="after")
    def _dex_open_checks(self) -> GitHubConfig:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        if self.org and self.orgs:
            issues.append((("org",), "cannot be used together with orgs; move it into orgs"))
        if self.root_ca and not self.host_name:
            issues.append(
                (("rootCA",), "needs hostName: it is only used for a GitHub Enterprise host")
            )
        raise_issues(type(self).__name__, issues)
        if self.org:
            self.note(
                ("org",),
                "is deprecated (as in Dex): use orgs: [{name: ...}]; with org, the groups "
                "are bare team names instead of org:team",
            )
        return self

    # -- derived endpoints ----------------------------------------------------------
    @property
    def api_url(self) -> str:
        """REST API base: api.github.com, or ``/api/v3`` on an Enterprise host."""
        if self.host_name:
            return f"https://{self.host_name}/api/v3"
        return "https://api.github.com"

    @property
    def oauth_url(self) -> str:
        """Where ``/login/oauth/authorize`` and ``/login/oauth/access_token`` live."""
        if self.host_name:
            return f"https://{self.host_name}"
        return "https://github.com"
