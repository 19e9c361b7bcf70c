"""``sessions``: browser single sign-on sessions, with Dex's key names (Dex DEP 4560).

Passgate keeps one server-side session per signed-in browser behind an HttpOnly cookie
that holds only ``<session id>.<secret>`` (the secret's hash is stored). Sessions are on
by default. Differences from Dex, each safer or needed for single sign-on by default:
``validIfNotUsedFor`` defaults to 8h (Dex: 1h) and ``ssoSharedWithDefault`` to ``all``
(Dex: ``none``, which makes every client ask for a password again). Passgate's cookie
carries no data, so ``cookieEncryptionKey`` is accepted and not needed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from passgate.config.base import DexModel
from passgate.config.fields import COOKIE_PREFIXES, CookieName, PositiveDuration

__all__ = ["DEFAULT_COOKIE_NAME", "HOST_PREFIX", "SessionsConfig"]

DEFAULT_COOKIE_NAME = "passgate_session"
#: RFC 6265bis §4.1.3.2: a cookie so named is Secure, Path=/ and bound to this host.
HOST_PREFIX = "__Host-"


class SessionsConfig(DexModel):
    """``sessions``."""

    cookie_name: CookieName = Field(default=DEFAULT_COOKIE_NAME, alias="cookieName")
    absolute_lifetime: PositiveDuration = Field(
        default=timedelta(hours=24), alias="absoluteLifetime"
    )
    valid_if_not_used_for: PositiveDuration = Field(
        default=timedelta(hours=8), alias="validIfNotUsedFor"
    )
    remember_me_checked_by_default: bool = Field(default=False, alias="rememberMeCheckedByDefault")
    sso_shared_with_default: Literal["all", "none"] = Field(
        default="all", alias="ssoSharedWithDefault"
    )
    cookie_encryption_key: str = Field(default="", alias="cookieEncryptionKey", repr=False)

    @model_validator(mode="after")
    def _advice(self) -> SessionsConfig:
        idle_set = "valid_if_not_used_for" in self.model_fields_set
        if idle_set and self.valid_if_not_used_for > self.absolute_lifetime:
            self.note(
                ("validIfNotUsedFor",),
                "is longer than absoluteLifetime; sessions end at absoluteLifetime",
            )
        if self.cookie_encryption_key:
            self.note(
                ("cookieEncryptionKey",),
                "is not needed: Passgate's session cookie holds only a random reference",
            )
        return self

    @property
    def bare_cookie_name(self) -> str:
        """The name without a ``__Host-``/``__Secure-`` prefix (Passgate adds its own)."""
        name = self.cookie_name
        for prefix in COOKIE_PREFIXES:
            name = name.removeprefix(prefix)
        return name

    def cookie_name_for(self, https: bool) -> str:
        """The cookie's name: ``__Host-`` prefixed on an https issuer (the browser then
        refuses it from any other host, over http, or with a Domain)."""
        return HOST_PREFIX + self.bare_cookie_name if https else self.bare_cookie_name
