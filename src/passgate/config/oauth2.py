"""``oauth2``: response types, grant types, approval and login screens, PKCE.

Defaults follow Dex's server: with no ``grantTypes`` every supported grant is on
(``authorization_code``, ``client_credentials``, ``refresh_token``, device code and token
exchange), plus ``password`` when ``passwordConnector`` is set and ``implicit`` when a
``token`` response type is enabled; the list is sorted, as Dex sorts it. A listed
``password`` grant without ``passwordConnector`` is dropped with a warning (Dex drops it
silently).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from passgate.config.base import DexModel

__all__ = [
    "AUTHORIZATION_CODE",
    "CLIENT_CREDENTIALS",
    "DEVICE_CODE",
    "IMPLICIT",
    "KNOWN_GRANT_TYPES",
    "KNOWN_RESPONSE_TYPES",
    "PASSWORD",
    "REFRESH_TOKEN",
    "TOKEN_EXCHANGE",
    "GrantType",
    "OAuth2Config",
    "PKCEConfig",
]

AUTHORIZATION_CODE = "authorization_code"  # RFC 6749 §4.1
REFRESH_TOKEN = "refresh_token"  # RFC 6749 §6
PASSWORD = "password"  # RFC 6749 §4.3
CLIENT_CREDENTIALS = "client_credentials"  # RFC 6749 §4.4
IMPLICIT = "implicit"  # RFC 6749 §4.2 (Dex advertises it with a "token" response type)
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 §2.1

KNOWN_GRANT_TYPES = (
    AUTHORIZATION_CODE,
    REFRESH_TOKEN,
    PASSWORD,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
    TOKEN_EXCHANGE,
    IMPLICIT,
)
# Dex's server: always on unless grantTypes narrows them.
_ALWAYS = (AUTHORIZATION_CODE, REFRESH_TOKEN, DEVICE_CODE, TOKEN_EXCHANGE, CLIENT_CREDENTIALS)

# OIDC Core §3: the response types Dex accepts (code flow, implicit and hybrid).
KNOWN_RESPONSE_TYPES = (
    "code",
    "token",
    "id_token",
    "code id_token",
    "code token",
    "id_token token",
    "code id_token token",
)


def _grant_type(value: str) -> str:
    if value not in KNOWN_GRANT_TYPES:
        raise ValueError(f"unknown grant type {value!r} (known: {', '.join(KNOWN_GRANT_TYPES)})")
    return value


def _response_type(value: str) -> str:
    if value not in KNOWN_RESPONSE_TYPES:
        known = ", ".join(repr(item) for item in KNOWN_RESPONSE_TYPES)
        raise ValueError(f"unknown response type {value!r} (known: {known})")
    return value


GrantType = Annotated[str, AfterValidator(_grant_type)]
ResponseType = Annotated[str, AfterValidator(_response_type)]


def default_grant_types(password_connector: str = "", implicit: bool = False) -> list[str]:
    grants = set(_ALWAYS)
    if password_connector:
        grants.add(PASSWORD)
    if implicit:
        grants.add(IMPLICIT)
    return sorted(grants)


PKCEMethod = Literal["S256", "plain"]


def _default_pkce_methods() -> list[PKCEMethod]:
    return ["S256", "plain"]


class PKCEConfig(DexModel):
    """``oauth2.pkce`` (RFC 7636). ``enforce`` requires PKCE of every client."""

    enforce: bool = False
    code_challenge_methods_supported: list[PKCEMethod] = Field(
        default_factory=_default_pkce_methods, alias="codeChallengeMethodsSupported"
    )

    @model_validator(mode="after")
    def _default_methods(self) -> PKCEConfig:
        if not self.code_challenge_methods_supported:  # Dex: empty means the default
            self._settle(code_challenge_methods_supported=_default_pkce_methods())
        return self


class OAuth2Config(DexModel):
    """``oauth2``."""

    response_types: list[ResponseType] = Field(
        default_factory=lambda: ["code"], alias="responseTypes"
    )
    grant_types: list[GrantType] = Field(default_factory=default_grant_types, alias="grantTypes")
    skip_approval_screen: bool = Field(default=False, alias="skipApprovalScreen")
    always_show_login_screen: bool = Field(default=False, alias="alwaysShowLoginScreen")
    password_connector: str = Field(default="", alias="passwordConnector")
    pkce: PKCEConfig = Field(default_factory=PKCEConfig)

    @model_validator(mode="after")
    def _effective_grants(self) -> OAuth2Config:
        response_types = self.response_types or ["code"]
        implicit = any("token" in item.split() for item in response_types)
        if "grant_types" not in self.model_fields_set or not self.grant_types:
            grants = default_grant_types(self.password_connector, implicit)
        else:
            grants = sorted(set(self.grant_types))
        dropped: list[tuple[str, str]] = []
        if PASSWORD in grants and not self.password_connector:
            dropped.append((PASSWORD, "oauth2.passwordConnector is not set"))
        if IMPLICIT in grants and not implicit:
            dropped.append((IMPLICIT, "no 'token' response type is enabled"))
        grants = [grant for grant in grants if grant not in {name for name, _ in dropped}]
        self._settle(response_types=response_types, grant_types=grants)
        for name, reason in dropped:
            self.note(("grantTypes",), f"the {name!r} grant is disabled because {reason}")
        for index, item in enumerate(response_types):
            if item != "code":
                self.note(
                    ("responseTypes", index),
                    f"response type {item!r} is recognised but not supported yet; "
                    "only 'code' is served",
                )
        return self
