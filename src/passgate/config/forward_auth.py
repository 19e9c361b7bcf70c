"""``forwardAuth``: Passgate as the auth server of reverse proxies (a Passgate addition,
in place of oauth2-proxy). A new top-level key, so no Dex key changes meaning.

Sites behind nginx ``auth_request``, ingress-nginx ``auth-url``, Traefik ``forwardAuth``
or Caddy ``forward_auth`` ask ``<issuer>/oauth2/auth``; a person signs in once through
``/oauth2/start`` (single sign-on with the browser's session), and a cookie scoped to
``cookieDomain`` then covers every site below it. ``hosts`` restricts sites by group,
email or email domain, matched on the site's host name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from passgate.config.base import DexModel, Loc
from passgate.config.builtin import FORWARD_AUTH_CLIENT_ID
from passgate.config.checks import cross_check
from passgate.config.clients import StaticClient
from passgate.config.fields import COOKIE_PREFIXES, CookieName, NonEmptyStr, PositiveDuration
from passgate.config.sessions import SessionsConfig

__all__ = [
    "FORWARD_AUTH_CLIENT_ID",
    "ForwardAuthConfig",
    "ForwardAuthHost",
    "check_domain",
    "check_path_rule",
]


# A host name (RFC 1123 labels), lower-case ASCII; ports are not part of a rule.
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def check_domain(value: str) -> str:
    """A host (``grafana.apps.example.com``) or every host below a domain
    (``.apps.example.com``, or ``*.apps.example.com`` as oauth2-proxy writes it)."""
    text = value.strip().lower()
    bare = text.removeprefix("*.").removeprefix(".")
    if not _HOST.fullmatch(bare) or ("." not in bare and bare != "localhost"):
        raise ValueError(f"{value!r} is not a host name or .domain")
    return "." + bare if text.startswith((".", "*.")) else bare


def check_path_rule(value: str) -> str:
    """A path (``/healthz``, matching it and what is below it) or, as oauth2-proxy's
    skip-auth-regex, a regular expression starting with ``^``."""
    if value.startswith("^"):
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"is not a regular expression: {error}") from None
        return value
    if not value.startswith("/") or any(ch.isspace() for ch in value):
        raise ValueError("must be a path starting with / (or a regular expression with ^)")
    return value


Domain = Annotated[str, AfterValidator(check_domain)]
PathRule = Annotated[str, AfterValidator(check_path_rule)]


class ForwardAuthHost(DexModel):
    """``forwardAuth.hosts[]``: the rules of one site, by its host name."""

    host: NonEmptyStr
    allowed_groups: list[NonEmptyStr] = Field(default_factory=list, alias="allowedGroups")
    allowed_emails: list[NonEmptyStr] = Field(default_factory=list, alias="allowedEmails")
    allowed_email_domains: list[NonEmptyStr] = Field(
        default_factory=list, alias="allowedEmailDomains"
    )
    skip_auth_paths: list[PathRule] = Field(default_factory=list, alias="skipAuthPaths")
    pass_authorization: bool | None = Field(default=None, alias="passAuthorization")
    pass_access_token: bool | None = Field(default=None, alias="passAccessToken")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_domain(value)

    @field_validator("allowed_email_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        domains = [value.strip().lower().removeprefix("@") for value in values]
        if not all(domains):
            raise ValueError("an email domain must not be just '@'")
        return domains

    @field_validator("allowed_emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        return [value.strip().lower() for value in values]


class ForwardAuthConfig(DexModel):
    """``forwardAuth``."""

    cookie_name: CookieName = Field(default="_passgate_fa", alias="cookieName")
    cookie_domain: str = Field(default="", alias="cookieDomain")
    #: Secure cookies; the default follows the issuer (https: yes).
    cookie_secure: bool | None = Field(default=None, alias="cookieSecure")
    lifetime: PositiveDuration = Field(default=timedelta(hours=12))
    allowed_redirect_domains: list[Domain] = Field(
        default_factory=list, alias="allowedRedirectDomains"
    )
    pass_authorization: bool = Field(default=False, alias="passAuthorization")
    pass_access_token: bool = Field(default=False, alias="passAccessToken")
    #: What X-Auth-Request-User holds (oauth2-proxy ``--user-id-claim``).
    user_claim: Literal["email", "preferred_username", "name", "sub", "user_id"] = Field(
        default="email", alias="userClaim"
    )
    #: How often the connector is asked again about a signed-in person (default
    #: expiry.idTokens): a person disabled upstream loses every site by then.
    refresh_interval: PositiveDuration | None = Field(default=None, alias="refreshInterval")
    hosts: list[ForwardAuthHost] = Field(default_factory=list)
    #: Clients whose ID or access tokens a script may present as ``Authorization:
    #: Bearer`` instead of the cookie (none by default).
    bearer_clients: list[str] = Field(default_factory=list, alias="bearerClients")

    @field_validator("cookie_name")
    @classmethod
    def _cookie_name(cls, value: str) -> str:
        if value.startswith(COOKIE_PREFIXES):
            raise ValueError("must not start with __Host- or __Secure- (the cookie has a Domain)")
        return value

    @field_validator("cookie_domain")
    @classmethod
    def _cookie_domain(cls, value: str) -> str:
        if not value:
            return ""
        domain = check_domain(value).lstrip(".")
        if "." not in domain:
            # Browsers refuse a Domain attribute of one label (RFC 6265 §5.3 step 5).
            raise ValueError(f"{value!r} is too wide a cookie domain: name a domain below one")
        return "." + domain


@cross_check("forward_auth", "sessions", "issuer")
def _forward_auth(
    forward_auth: ForwardAuthConfig | None, sessions: SessionsConfig, issuer: str
) -> Iterator[tuple[Literal["error", "warning"], Loc, str]]:
    if forward_auth is None:
        return
    if forward_auth.cookie_name == sessions.bare_cookie_name:
        message = "must differ from sessions.cookieName (the browser would keep only one)"
        yield "error", ("forwardAuth", "cookieName"), message
    if forward_auth.lifetime > sessions.absolute_lifetime:
        yield (
            "warning",
            ("forwardAuth", "lifetime"),
            "is longer than sessions.absoluteLifetime; the cookie ends with the session",
        )
    if forward_auth.cookie_secure is False and issuer.startswith("https://"):
        message = "is false on an https issuer: the cookie would travel over plain http too"
        yield "warning", ("forwardAuth", "cookieSecure"), message
    if not (forward_auth.cookie_domain or forward_auth.allowed_redirect_domains
            or forward_auth.hosts):  # fmt: skip
        message = (
            "names no site (cookieDomain, allowedRedirectDomains or hosts): "
            "nobody can be sent back to a site after signing in"
        )
        yield "warning", ("forwardAuth",), message
    seen: dict[str, int] = {}
    for index, rule in enumerate(forward_auth.hosts):
        if rule.host in seen:
            message = f"duplicate host {rule.host!r} (also forwardAuth.hosts[{seen[rule.host]}])"
            yield "error", ("forwardAuth", "hosts", index, "host"), message
        seen.setdefault(rule.host, index)


@cross_check("forward_auth", "static_clients")
def _bearer_clients(
    forward_auth: ForwardAuthConfig | None, clients: Sequence[StaticClient | None]
) -> Iterator[tuple[Literal["error", "warning"], Loc, str]]:
    if forward_auth is None or any(client is None for client in clients):
        return
    known = {client.id for client in clients if client is not None}
    for index, client_id in enumerate(forward_auth.bearer_clients):
        if client_id == FORWARD_AUTH_CLIENT_ID:
            message = "forward-auth's own tokens are never accepted as bearer tokens"
            yield "error", ("forwardAuth", "bearerClients", index), message
        elif client_id not in known:
            message = f"{client_id!r} is not in staticClients (fine if the admin API adds it)"
            yield "warning", ("forwardAuth", "bearerClients", index), message


@cross_check("static_clients")
def _reserved_client(clients: Sequence[StaticClient | None]) -> Iterator[
    tuple[Literal["error", "warning"], Loc, str]
]:  # fmt: skip
    for index, client in enumerate(clients):
        if client is not None and client.id == FORWARD_AUTH_CLIENT_ID:
            message = f"{FORWARD_AUTH_CLIENT_ID!r} is reserved for forward-auth"
            yield "error", ("staticClients", index, "id"), message
