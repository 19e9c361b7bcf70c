"""What forward-auth allows: the cookie's scope, where a person may be sent back to after
signing in (no open redirect), which callback URIs the built-in client may use, and each
site's rules, as oauth2-proxy's ``allowed_groups``/``allowed_emails``/
``allowed_email_domains`` and ``skip_auth_routes`` mean them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import SplitResult, urlsplit

__all__ = ["CALLBACK_PATH", "ForwardAuthPolicy", "HostRule", "Requirements", "domain_matches"]

#: Where the proxy forwards the callback, below the site's own origin (oauth2-proxy's).
CALLBACK_PATH = "/oauth2/callback"
_MAX_REDIRECT = 2048
# Anything a browser would drop or reinterpret in a URL: controls, whitespace, "\".
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def domain_matches(host: str, domain: str) -> bool:
    """``host`` is ``domain``, or below it when the domain starts with a dot."""
    host = host.lower()
    if domain.startswith("."):
        return host == domain[1:] or host.endswith(domain)
    return host == domain


def _split(value: str) -> tuple[str, ...]:
    """A comma-separated query parameter (oauth2-proxy's form) as its items."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Requirements:
    """Who a site lets in: every set list must have a match (oauth2-proxy ANDs its
    ``allowed_*`` checks; each list is any-of). A site's rule and the query of its
    auth URL are two such requirements, and both must allow."""

    groups: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()

    @classmethod
    def of_query(cls, query: Mapping[str, str]) -> Requirements:
        """``?allowed_groups=a,b&allowed_emails=...&allowed_email_domains=...``."""
        return cls(
            _split(query.get("allowed_groups", "")),
            tuple(e.lower() for e in _split(query.get("allowed_emails", ""))),
            tuple(
                d.lower().removeprefix("@") for d in _split(query.get("allowed_email_domains", ""))
            ),
        )

    def allows(self, email: str, groups: Sequence[str]) -> bool:
        if self.groups and not set(self.groups) & set(groups):
            return False
        email = email.lower()
        if self.emails and email not in self.emails:
            return False
        if self.email_domains:
            domain = email.rpartition("@")[2] if "@" in email else ""
            if not domain or not any(_email_domain(domain, d) for d in self.email_domains):
                return False
        return True


def _email_domain(domain: str, allowed: str) -> bool:
    if allowed == "*":
        return True
    if allowed.startswith("*."):
        allowed = allowed[1:]
    if allowed.startswith("."):
        return domain.endswith(allowed)
    return domain == allowed


@dataclass(frozen=True, slots=True)
class HostRule:
    """``forwardAuth.hosts[]``: one site's rules, by host name (or ``.domain``)."""

    host: str
    requirements: Requirements = field(default_factory=Requirements)
    skip_auth_paths: tuple[str, ...] = ()
    pass_authorization: bool | None = None
    pass_access_token: bool | None = None

    def skips(self, paths: Sequence[str]) -> bool:
        """The request needs no sign-in: it names a path, and each one it names is a
        plain one (see :func:`plain_path`) and a skipped one (``/healthz``, below it, or
        matching a ``^regex``)."""
        return bool(paths) and all(plain_path(p) and self._skips(p) for p in paths)

    def _skips(self, path: str) -> bool:
        for rule in self.skip_auth_paths:
            if rule.startswith("^"):
                if re.match(rule, path):
                    return True
            elif path == rule or path.startswith(rule.rstrip("/") + "/"):
                return True
        return False


# A path a server could read as another one: dot segments, encoded dots, slashes or
# backslashes, matrix parameters, empty segments.
_TRICKY = re.compile(r"(^|/)\.\.?(/|$)|%2e|%2f|%5c|\\|;|//", re.IGNORECASE)


def plain_path(path: str) -> bool:
    """A path that means what it says: no ``..``/``.`` segment, no percent-encoded dot,
    slash or backslash, no ``\\``, ``;`` or ``//``. Only such a path may skip the
    sign-in: ``/healthz/../admin`` is the admin page to the site behind the proxy."""
    return path.startswith("/") and not _TRICKY.search(path)


@dataclass(frozen=True, slots=True)
class ForwardAuthPolicy:
    """``forwardAuth``, resolved: what the endpoints need to decide."""

    issuer: str
    cookie_name: str = "_passgate_fa"
    cookie_domain: str = ""  # ".apps.example.com", or "" for the answering host only
    cookie_secure: bool = True
    lifetime: timedelta = timedelta(hours=12)
    redirect_domains: tuple[str, ...] = ()
    pass_authorization: bool = False
    pass_access_token: bool = False
    user_claim: str = "email"
    refresh_interval: timedelta = timedelta(hours=24)
    hosts: tuple[HostRule, ...] = ()
    #: Clients whose tokens a script may present instead of the cookie (none by default:
    #: a token handed to one site must not open another).
    bearer_clients: tuple[str, ...] = ()

    @property
    def issuer_host(self) -> str:
        return (urlsplit(self.issuer).hostname or "").lower()

    @property
    def issuer_path(self) -> str:
        return urlsplit(self.issuer).path.rstrip("/")

    @property
    def https_only(self) -> bool:
        return urlsplit(self.issuer).scheme == "https"

    def rule_for(self, host: str) -> HostRule:
        """The site's rule: its exact host, else the longest ``.domain`` above it."""
        host = host.lower()
        best: HostRule | None = None
        for rule in self.hosts:
            if rule.host == host:
                return rule
            if domain_matches(host, rule.host) and (
                best is None or len(rule.host) > len(best.host)
            ):
                best = rule
        return best or HostRule(host)

    def _callback_path(self, parts: SplitResult) -> str:
        own = (parts.hostname or "").lower() == self.issuer_host
        return (self.issuer_path if own else "") + CALLBACK_PATH

    def is_site(self, host: str) -> bool:
        """One of the protected sites: below the cookie or a redirect domain, or a host
        with rules of its own."""
        domains = (
            *self.redirect_domains,
            *((self.cookie_domain,) if self.cookie_domain else ()),
            *(rule.host for rule in self.hosts),
        )
        return any(domain_matches(host, domain) for domain in domains)

    def _allowed(self, parts: SplitResult) -> bool:
        """A protected site (any port), or Passgate's own origin exactly."""
        host = (parts.hostname or "").lower()
        if host == self.issuer_host:
            issuer = urlsplit(self.issuer)
            return (parts.scheme, parts.netloc.lower()) == (issuer.scheme, issuer.netloc.lower())
        return self.is_site(host)

    def safe_redirect(self, target: str) -> str | None:
        """``target`` if a person may be sent there after signing in: a path on the site
        (``/x``, never ``//host`` or ``/\\host``), or an http(s) URL on an allowed host
        with no userinfo; None otherwise (an open redirect refused)."""
        if not target or len(target) > _MAX_REDIRECT or _UNSAFE.search(target):
            return None
        if target.startswith("/"):
            return None if target.startswith("//") else target
        try:
            parts = urlsplit(target)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or "@" in parts.netloc or not parts.hostname:
            return None
        if parts.scheme == "http" and self.https_only:
            return None
        if not parts.hostname.isascii() or "%" in parts.netloc:
            return None
        return target if self._allowed(parts) else None

    def is_callback(self, uri: str) -> bool:
        """A callback the built-in forward-auth client may receive codes at: exactly
        ``/oauth2/callback`` on a protected site (where its proxy forwards ``/oauth2/`` to
        Passgate), or ``<issuer path>/oauth2/callback`` on Passgate's own origin; no
        query, userinfo or fragment. Any other path could be a page of the site where
        somebody else reads the code."""
        if len(uri) > _MAX_REDIRECT or _UNSAFE.search(uri):
            return False
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018
        except ValueError:
            return False
        scheme_ok = parts.scheme == "https" or (parts.scheme == "http" and not self.https_only)
        return (
            scheme_ok
            and parts.hostname is not None
            and "@" not in parts.netloc
            and not parts.query
            and not parts.fragment
            and parts.path == self._callback_path(parts)
            and self._allowed(parts)
        )
