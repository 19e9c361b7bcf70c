"""``saml`` connector options (Dex ``connector/saml.Config``).

Dex checks these when it opens the connector (required fields, ``ca`` or ``caData``,
a known ``nameIDPolicyFormat``, certificates that parse); they are checked here so that
``passgate check-config`` names the key. The ``ca`` file itself is read by the connector
(a missing file is a sign-in error page and a log line, not a start-up failure).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticUseDefault

from passgate.config.base import DexModel, Loc, custom_error, raise_issues
from passgate.config.fields import HTTPURL, NonEmptyStr

__all__ = ["NAME_ID_FORMATS", "SAMLConfig", "parse_pem_certificates"]

# SAML Core §8.3: the NameID formats Dex knows, by full URN and by last component.
_FORMATS = (
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:WindowsDomainQualifiedName",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:encrypted",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:entity",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
)
NAME_ID_FORMATS: dict[str, str] = {
    **{urn.rsplit(":", 1)[1]: urn for urn in _FORMATS},
    **{urn: urn for urn in _FORMATS},
}
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def parse_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every PEM certificate in ``data``; like Dex, anything else (trailing text, a key,
    nothing at all) is an error."""
    text = data.strip()
    if not text:
        raise ValueError("no certificates found")
    try:
        certificates = x509.load_pem_x509_certificates(text)
    except ValueError:
        raise ValueError("is not a list of PEM certificates") from None
    if text.rsplit(b"-----END CERTIFICATE-----", 1)[-1].strip():
        raise ValueError("has data after the last PEM certificate")
    return certificates


class SAMLConfig(DexModel):
    """``saml``: a SAML 2.0 identity provider, HTTP-POST binding (Dex ``connector/saml``)."""

    sso_url: HTTPURL = Field(alias="ssoURL")
    # X.509 certificates (PEM) whose keys may sign the IdP's answers: a file, or inline
    # as base64 of the PEM (Go's []byte in JSON).
    ca: str = ""
    ca_data: bytes = Field(default=b"", alias="caData", repr=False)
    entity_issuer: str = Field(default="", alias="entityIssuer")
    sso_issuer: str = Field(default="", alias="ssoIssuer")
    redirect_uri: HTTPURL = Field(alias="redirectURI")
    username_attr: NonEmptyStr = Field(alias="usernameAttr")
    email_attr: NonEmptyStr = Field(alias="emailAttr")
    groups_attr: str = Field(default="", alias="groupsAttr")
    groups_delim: str = Field(default="", alias="groupsDelim")
    allowed_groups: list[str] = Field(default_factory=list, alias="allowedGroups")
    filter_groups: bool = Field(default=False, alias="filterGroups")
    # Dex: a shorthand ("persistent") or a full URN; missing or empty means persistent.
    name_id_policy_format: str = Field(default=PERSISTENT, alias="nameIDPolicyFormat")
    insecure_skip_signature_validation: bool = Field(
        default=False, alias="insecureSkipSignatureValidation"
    )

    @field_validator("ca_data", mode="before")
    @classmethod
    def _base64_pem(cls, value: Any) -> Any:
        if value == "" or value == b"":
            raise PydanticUseDefault()
        if isinstance(value, bytes):
            pem = value  # already decoded: a validated config dumped and read again
        elif isinstance(value, str):
            # Go decodes []byte with base64.StdEncoding, which skips line breaks.
            try:
                pem = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
            except (binascii.Error, ValueError):
                raise custom_error(
                    "must be base64 (of a PEM file); put a file path in 'ca' instead"
                ) from None
        else:
            raise custom_error("must be the base64 encoding of PEM certificates (a string)")
        try:
            parse_pem_certificates(pem)
        except ValueError as error:
            raise custom_error(f"decodes to something that {error}") from None
        return pem

    @field_validator("name_id_policy_format", mode="before")
    @classmethod
    def _name_id_format(cls, value: Any) -> Any:
        if value == "":
            raise PydanticUseDefault()
        if not isinstance(value, str) or value not in NAME_ID_FORMATS:
            shorthands = ", ".join(sorted({urn.rsplit(":", 1)[1] for urn in _FORMATS}))
            raise custom_error(f"must be one of {shorthands} or a full NameID format URN")
        return NAME_ID_FORMATS[value]

    @model_validator(mode="after")
    def _signature_sources(self) -> SAMLConfig:
        issues: list[tuple[Loc, str]] = []
        if self.insecure_skip_signature_validation:
            self.note(
                ("insecureSkipSignatureValidation",),
                "turns off the check of the identity provider's signatures: anyone can "
                "post a made-up answer and sign in as anybody",
            )
        elif not self.ca and not self.ca_data:
            issues.append((("ca",), "must be set, or 'caData' (the IdP's signing certificate)"))
        elif self.ca and self.ca_data:
            issues.append((("caData",), "give either 'ca' or 'caData', not both"))
        if self.allowed_groups and not self.groups_attr:
            # Dex loads this, then refuses every sign-in: load it too, and say so.
            self.note(
                ("groupsAttr",),
                "is empty, so no one is in 'allowedGroups': every sign-in is refused",
            )
        raise_issues("SAMLConfig", issues)
        return self

    @property
    def audience(self) -> str:
        """Passgate's SAML entity id: ``entityIssuer``, else (as in Dex) ``redirectURI``."""
        return self.entity_issuer or self.redirect_uri
