"""``ldap`` connector options (Dex ``connector/ldap.Config``).

Dex checks these when it opens the connector (required fields, the search scopes, the
CA data); they are checked here so that ``passgate check-config`` names the key. Files
(``rootCA``, ``clientCert``, ``clientKey``) are read by the connector: a missing one is a
sign-in error page and a log line, and a Dex example naming ``/etc/dex/ldap.ca`` still
loads. ``rootCAData`` is a Go ``[]byte``: base64 of the PEM certificates, not PEM.

Where Dex's code and its documentation differ, Passgate follows the documentation:
``idAttr`` defaults to ``uid`` and ``emailAttr`` to ``mail`` (documented defaults that
older Dex code never applied), and a host without a port uses 389 for ``insecureNoSSL``
and ``startTLS``, 636 otherwise. ``kerberos`` (Dex's SPNEGO sign-in) is recognised and
reported as not supported yet.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from passgate.config.base import DexModel, Loc, custom_error, raise_issues
from passgate.config.fields import EMPTY_IS_DEFAULT, NonEmptyStr, RootCAData, decode_root_ca_data

__all__ = [
    "LDAPConfig",
    "LDAPGroupSearch",
    "LDAPKerberos",
    "LDAPUserMatcher",
    "LDAPUserSearch",
]

LDAPS_PORT = 636
LDAP_PORT = 389

# Attribute names are written into search filters: refuse what would change the filter.
# (Not RFC 4512's strict grammar: some directories, eDirectory for one, allow spaces.)
_FILTER_SYNTAX = frozenset("()=*\\\x00")


def _scope(value: Any) -> Any:
    # Dex ``parseScope``: "" and "sub" search the subtree, "one" one level; nothing else.
    if isinstance(value, str) and value in ("", "sub", "one"):
        return value or "sub"
    raise custom_error(f"unknown value {value!r}: use 'sub' (the whole subtree) or 'one'")


def _attribute(value: str) -> str:
    if value and (value != value.strip() or any(c in _FILTER_SYNTAX for c in value)):
        raise ValueError(f"{value!r} is not an LDAP attribute name (e.g. uid, mail, memberOf)")
    return value


def _search_filter(value: str) -> str:
    """A filter is combined as ``(&<filter>(attr=value))``: it must be one parenthesised
    filter, or the combination is a different (or broken) filter."""
    if not value:
        return value
    depth, closed_at = 0, -1
    escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            if depth == 0 and index != 0:
                break
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                break
            if depth == 0:
                closed_at = index
    if not value.startswith("(") or depth != 0 or closed_at != len(value) - 1:
        raise ValueError(
            f"{value!r} is not one LDAP filter in parentheses, e.g. (objectClass=person)"
        )
    return value


Scope = Annotated[Literal["sub", "one"], BeforeValidator(_scope)]
AttributeName = Annotated[str, AfterValidator(_attribute)]
SearchFilter = Annotated[str, AfterValidator(_search_filter)]


class LDAPUserMatcher(DexModel):
    """``groupSearch.userMatchers[]``: groups whose ``groupAttr`` equals the user's
    ``userAttr`` value (``DN`` is the user's own DN)."""

    user_attr: AttributeName = Field(default="", alias="userAttr")
    group_attr: AttributeName = Field(default="", alias="groupAttr")


class LDAPUserSearch(DexModel):
    """``userSearch``: how a username becomes one directory entry, and its claims."""

    base_dn: NonEmptyStr = Field(alias="baseDN")
    filter: SearchFilter = ""
    username: Annotated[NonEmptyStr, AfterValidator(_attribute)]
    scope: Scope = "sub"
    id_attr: Annotated[AttributeName, EMPTY_IS_DEFAULT] = Field(default="uid", alias="idAttr")
    email_attr: Annotated[AttributeName, EMPTY_IS_DEFAULT] = Field(
        default="mail", alias="emailAttr"
    )
    name_attr: AttributeName = Field(default="", alias="nameAttr")
    preferred_username_attr: AttributeName = Field(default="", alias="preferredUsernameAttr")
    # Dex: the email is "<nameAttr value>@<emailSuffix>" instead of emailAttr.
    email_suffix: str = Field(default="", alias="emailSuffix")

    @field_validator("email_suffix")
    @classmethod
    def _suffix(cls, value: str) -> str:
        if value.startswith("@"):
            raise ValueError("must not start with '@' (Dex adds it), e.g. example.com")
        return value

    @model_validator(mode="after")
    def _suffix_needs_a_name(self) -> LDAPUserSearch:
        if self.email_suffix and not self.name_attr:
            self.note(
                ("emailSuffix",),
                "is appended to the nameAttr value (as in Dex), but nameAttr is empty",
            )
        return self


class LDAPGroupSearch(DexModel):
    """``groupSearch``: the groups of an entry; nothing is searched without ``baseDN``."""

    base_dn: str = Field(default="", alias="baseDN")
    filter: SearchFilter = ""
    scope: Scope = "sub"
    # Dex's deprecated single matcher, used when ``userMatchers`` is empty.
    user_attr: AttributeName = Field(default="", alias="userAttr")
    group_attr: AttributeName = Field(default="", alias="groupAttr")
    user_matchers: list[LDAPUserMatcher] = Field(default_factory=list, alias="userMatchers")
    name_attr: AttributeName = Field(default="", alias="nameAttr")

    def matchers(self) -> tuple[LDAPUserMatcher, ...]:
        """Dex ``userMatchers()``: the list when its first item names a user attribute,
        else the legacy ``userAttr``/``groupAttr`` pair."""
        if self.user_matchers and self.user_matchers[0].user_attr:
            return tuple(self.user_matchers)
        legacy = LDAPUserMatcher.model_construct(
            user_attr=self.user_attr, group_attr=self.group_attr
        )
        return (legacy,)

    @model_validator(mode="after")
    def _advice(self) -> LDAPGroupSearch:
        if not self.base_dn:
            return self
        if self.user_matchers and self.user_matchers[0].user_attr:
            if self.user_attr or self.group_attr:
                self.note(("userAttr",), "is ignored because userMatchers is set")
        elif self.user_attr or self.group_attr:
            self.note(("userAttr",), "is deprecated (as in Dex): use userMatchers instead")
        if not any(m.user_attr and m.group_attr for m in self.matchers()):
            self.note(("userMatchers",), "names no userAttr/groupAttr pair: no group matches")
        if not self.name_attr:
            self.note(("nameAttr",), "is empty: every group found will be refused as nameless")
        return self


class LDAPKerberos(DexModel):
    """``kerberos``: Dex's SPNEGO single sign-on in front of the password form."""

    enabled: bool = False
    keytab_path: str = Field(default="", alias="keytabPath")
    expected_realm: str = Field(default="", alias="expectedRealm")
    username_from_principal: str = Field(default="", alias="usernameFromPrincipal")
    fallback_to_password: bool = Field(default=False, alias="fallbackToPassword")
    spn: str = ""
    keytab_principal: str = Field(default="", alias="keytabPrincipal")
    max_clock_skew: int = Field(default=0, alias="maxClockSkew", ge=0)

    @model_validator(mode="after")
    def _unsupported(self) -> LDAPKerberos:
        if self.enabled:
            self.note(
                ("enabled",),
                "Kerberos (SPNEGO) sign-in is recognised but not supported yet; people "
                "sign in with the password form",
            )
        return self


class LDAPConfig(DexModel):
    """``ldap``: sign in with a username and password checked by an LDAP directory
    (OpenLDAP, Active Directory, 389 DS, ...)."""

    host: NonEmptyStr
    insecure_no_ssl: bool = Field(default=False, alias="insecureNoSSL")
    insecure_skip_verify: bool = Field(default=False, alias="insecureSkipVerify")
    start_tls: bool = Field(default=False, alias="startTLS")
    root_ca: str = Field(default="", alias="rootCA")
    root_ca_data: RootCAData = Field(default="", alias="rootCAData")
    client_cert: str = Field(default="", alias="clientCert")
    client_key: str = Field(default="", alias="clientKey")
    bind_dn: str = Field(default="", alias="bindDN")
    bind_pw: str = Field(default="", alias="bindPW", repr=False)
    username_prompt: str = Field(default="", alias="usernamePrompt")
    user_search: LDAPUserSearch = Field(alias="userSearch")
    group_search: LDAPGroupSearch = Field(default_factory=LDAPGroupSearch, alias="groupSearch")
    kerberos: LDAPKerberos = Field(default_factory=LDAPKerberos)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        _split_host(value)
        return value

    @model_validator(mode="after")
    def _rules(self) -> LDAPConfig:
        issues: list[tuple[Loc, str]] = []
        if self.bind_dn and not self.bind_pw:
            # An empty password is an unauthenticated bind (RFC 4513 §5.1.2): Dex's
            # client refuses it, so such a config never worked.
            issues.append((("bindPW",), "must be set when bindDN is set"))
        if self.bind_pw and not self.bind_dn:
            issues.append((("bindDN",), "must be set when bindPW is set"))
        if bool(self.client_cert) != bool(self.client_key):
            missing = "clientKey" if self.client_cert else "clientCert"
            issues.append(((missing,), "must be set: clientCert and clientKey go together"))
        raise_issues("LDAPConfig", issues)
        if self.insecure_no_ssl:
            self.note(("insecureNoSSL",), "sends passwords to the LDAP server unencrypted")
        elif self.insecure_skip_verify:
            self.note(
                ("insecureSkipVerify",),
                "turns off TLS certificate checks of the LDAP server: anyone on the "
                "network path can impersonate it and read passwords",
            )
        return self

    # -- derived ------------------------------------------------------------------------
    def address(self) -> tuple[str, int]:
        """The host and port to dial (Dex: 636, or 389 for a plain connection)."""
        host, port = _split_host(self.host)
        if port is None:
            port = LDAP_PORT if self.insecure_no_ssl or self.start_tls else LDAPS_PORT
        return host, port

    def root_ca_pem(self) -> str:
        """The PEM certificates of ``rootCAData`` ("" when unset)."""
        return decode_root_ca_data(self.root_ca_data) if self.root_ca_data else ""

    @property
    def prompt(self) -> str:
        """The login form's label (Dex: "Username" when ``usernamePrompt`` is unset)."""
        return self.username_prompt or "Username"


def _split_host(value: str) -> tuple[str, int | None]:
    """Go ``net.SplitHostPort`` with the port optional: ``host``, ``host:port``,
    ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    if "://" in value or "/" in value:
        raise ValueError(
            "must be host or host:port, not a URL (insecureNoSSL and startTLS choose "
            "the protocol), e.g. ldap.example.com:636"
        )
    host, port_text = value, ""
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1 :] if end > 0 else "x"
        if end < 0 or (rest and not rest.startswith(":")):
            raise ValueError("must be host, host:port or [IPv6]:port")
        host, port_text = value[1:end], rest[1:]
        if rest and not port_text:
            raise ValueError("has an empty port")
    elif value.count(":") == 1:
        host, port_text = value.split(":")
        if not port_text:
            raise ValueError("has an empty port")
    elif ":" in value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise ValueError("must be host, host:port or [IPv6]:port") from None
    if not host or any(c.isspace() for c in host):
        raise ValueError("must name a host, e.g. ldap.example.com:636")
    if not port_text:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"port {port_text!r} must be a number from 1 to 65535")
    return host, int(port_text)
