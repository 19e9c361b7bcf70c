"""``google`` connector options (Dex ``connector/google.Config``).

The checks Dex makes when it opens the connector (a service account without an admin to
act for) are made here, so ``passgate check-config`` reports them with their key path.
One check is Passgate's own: ``groups`` without a way to look groups up is refused,
where Dex would silently let everyone in (Google's ID tokens carry no groups).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from passgate.config.base import DexModel, raise_issues
from passgate.config.fields import HTTPURL, NonEmptyStr

__all__ = ["WILDCARD_DOMAIN", "GoogleConfig"]

#: The ``domainToAdminEmail`` key that applies to every domain without its own entry.
WILDCARD_DOMAIN = "*"


def _admin_address(value: str) -> str:
    if "@" not in value or not value.strip():
        raise ValueError("must be the email address of a Google Workspace admin")
    return value


#: Who the service account acts for (domain-wide delegation): a Workspace admin's address.
AdminEmail = Annotated[str, AfterValidator(_admin_address)]


class GoogleConfig(DexModel):
    """``google``: sign in with a Google account (Dex ``connector/google``)."""

    client_id: NonEmptyStr = Field(alias="clientID")
    client_secret: str = Field(default="", alias="clientSecret", repr=False)
    redirect_uri: HTTPURL = Field(alias="redirectURI")
    # Dex: "openid" plus these, or plus "profile" and "email" when empty.
    scopes: list[NonEmptyStr] = Field(default_factory=list)
    hosted_domains: list[NonEmptyStr] = Field(default_factory=list, alias="hostedDomains")
    groups: list[NonEmptyStr] = Field(default_factory=list)
    service_account_file_path: str = Field(default="", alias="serviceAccountFilePath")
    # Dex: deprecated, the same as ``domainToAdminEmail: {"*": ...}``. (Dex's Go fields
    # AdminEmail and DomainToAdminEmail have no JSON tag; any spelling matches.)
    admin_email: str = Field(default="", alias="adminEmail")
    domain_to_admin_email: dict[NonEmptyStr, AdminEmail] = Field(
        default_factory=dict, alias="domainToAdminEmail"
    )
    fetch_transitive_group_membership: bool = Field(
        default=False, alias="fetchTransitiveGroupMembership"
    )
    # Dex: a missing promptType means "consent"; sent only with offline access.
    prompt_type: str = Field(default="consent", alias="promptType")

    @field_validator("admin_email")
    @classmethod
    def _admin_email(cls, value: str) -> str:
        return _admin_address(value) if value else value

    @model_validator(mode="after")
    def _dex_open_checks(self) -> GoogleConfig:
        issues: list[tuple[tuple[str | int, ...], str]] = []
        admins = self.admin_emails()
        if self.service_account_file_path and not admins:
            # Dex: "directory service requires the domainToAdminEmail option to be configured"
            issues.append(
                (
                    ("domainToAdminEmail",),
                    "is required with serviceAccountFilePath: the email of a Google "
                    "Workspace admin the service account acts for, per domain "
                    '(e.g. {"*": admin@example.com})',
                )
            )
        if self.groups and not admins:
            issues.append(
                (
                    ("groups",),
                    "needs domainToAdminEmail and serviceAccountFilePath: Google's tokens "
                    "carry no groups, so they are read from the Admin SDK Directory API",
                )
            )
        raise_issues(type(self).__name__, issues)
        if self.admin_email:
            self.note(
                ("adminEmail",),
                'is deprecated: use domainToAdminEmail: {"*": ' + self.admin_email + "}",
            )
        if admins and not self.service_account_file_path:
            self.note(
                ("serviceAccountFilePath",),
                "is empty: the service account key file is read from "
                "GOOGLE_APPLICATION_CREDENTIALS (the GCE metadata server is not supported)",
            )
        return self

    def admin_emails(self) -> dict[str, str]:
        """Domain → admin email, with the deprecated ``adminEmail`` as the ``*`` entry
        (as in Dex, it replaces one given there)."""
        admins = dict(self.domain_to_admin_email)
        if self.admin_email:
            admins[WILDCARD_DOMAIN] = self.admin_email
        return admins
