"""The forward-auth rules without HTTP: where a person may be sent back to, which callback
URIs the built-in client may use, how a proxied request names its site, and the cookie's
seal. Hypothesis throws URL-shaped garbage at the parsers: nothing may crash, and nothing
accepted may lead off the protected domains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passgate.forwardauth.policy import ForwardAuthPolicy, HostRule, Requirements
from passgate.forwardauth.proxied import AmbiguousSiteError, ProxyHeaders, resolve_site
from passgate.forwardauth.seal import Sealer

POLICY = ForwardAuthPolicy(
    issuer="https://sso.example.com/dex",
    cookie_domain=".apps.example.com",
    redirect_domains=(".apps.example.com", "docs.example.com"),
    hosts=(HostRule("grafana.apps.example.com", skip_auth_paths=("/healthz", "^/api/v1/public")),),
)
PIECES = ["/", "//", "\\", "@", ":", "?", "#", "%2f", "%5c", "%40", "\t", "\n", " ", ".",
          "apps.example.com", "evil.com", "https:", "http:", "javascript:", "sso.example.com",
          "docs.example.com", ":443", ":8443", "user", "x"]  # fmt: skip


def _landing_host(target: str) -> str | None:
    """Where a browser on https://grafana.apps.example.com/ lands following ``target``."""
    joined = urljoin("https://grafana.apps.example.com/page", target)
    return urlsplit(joined).hostname


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=8).map("".join))
def test_an_accepted_redirect_stays_on_the_protected_sites(target: str) -> None:
    accepted = POLICY.safe_redirect(target)
    if accepted is None:
        return
    assert accepted == target
    assert not any(ch in target for ch in "\\\t\n ")
    host = _landing_host(target) or ""
    assert host in ("grafana.apps.example.com", "docs.example.com", "sso.example.com") or (
        host.endswith(".apps.example.com") or host == "apps.example.com"
    ), target


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_handled(target: str) -> None:
    POLICY.safe_redirect(target)
    POLICY.is_callback(target)


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        ("/dashboard?x=1#y", True),
        ("https://wiki.apps.example.com/x", True),
        ("https://apps.example.com/", True),
        ("https://docs.example.com/a", True),
        ("https://sso.example.com/dex/", True),
        ("https://sso.example.com:8443/", False),  # another port of Passgate's host
        ("http://wiki.apps.example.com/", False),  # an https issuer sends nobody to http
        ("https://docs.example.com.evil.com/", False),
        ("https://evilapps.example.com/", False),
        ("https://sub.docs.example.com/", False),  # docs.example.com is one host
        ("//wiki.apps.example.com/", False),
        ("https:/\\evil.com", False),
        ("https://WIKI.APPS.EXAMPLE.COM/", True),
        ("https://wiki.apps.example.com\u3002evil.com/", False),
        ("https://xn--80ak6aa92e.com/", False),
    ],
)
def test_safe_redirect(target: str, ok: bool) -> None:
    assert (POLICY.safe_redirect(target) is not None) is ok


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://grafana.apps.example.com/oauth2/callback", True),
        # Any other path could be a page of the site where somebody reads the code.
        ("https://grafana.apps.example.com/prefix/oauth2/callback", False),
        ("https://grafana.apps.example.com/page/oauth2/callback", False),
        ("https://sso.example.com/oauth2/callback", False),
        ("https://grafana.apps.example.com/dex/oauth2/callback", False),
        ("https://sso.example.com/dex/oauth2/callback", True),
        ("https://grafana.apps.example.com/oauth2/callback?x=1", False),
        ("https://grafana.apps.example.com/oauth2/callbackx", False),
        ("http://grafana.apps.example.com/oauth2/callback", False),
        ("https://evil.com/oauth2/callback", False),
        ("https://a@grafana.apps.example.com/oauth2/callback", False),
    ],
)
def test_callbacks(uri: str, ok: bool) -> None:
    assert POLICY.is_callback(uri) is ok


def test_host_rules_and_skipped_paths() -> None:
    rule = POLICY.rule_for("GRAFANA.apps.example.com")
    assert rule.host == "grafana.apps.example.com"
    assert rule.skips(("/healthz",))
    assert rule.skips(("/healthz/deep", "/api/v1/public/x"))
    assert not rule.skips(("/healthz", "/admin"))  # every path the headers name
    assert not rule.skips(())
    assert not rule.skips(("/healthzz",))
    assert POLICY.rule_for("wiki.apps.example.com") == HostRule("wiki.apps.example.com")


def test_requirements() -> None:
    groups = Requirements(groups=("a", "b"))
    assert groups.allows("x@y.z", ["b"])
    assert not groups.allows("x@y.z", ["c"])
    domains = Requirements(email_domains=(".example.com",))
    assert domains.allows("jo@dev.example.com", [])
    assert not domains.allows("jo@example.com.evil", [])
    assert not domains.allows("no-at-sign", [])
    assert Requirements(email_domains=("*",)).allows("a@b", [])
    query = Requirements.of_query({"allowed_emails": " A@B.c ,", "allowed_groups": "g"})
    assert query == Requirements(groups=("g",), emails=("a@b.c",))


def _site(**headers: str):  # type: ignore[no-untyped-def]
    return resolve_site(ProxyHeaders(**headers), "sso.example.com", "https", POLICY.is_site)


def test_how_each_proxy_names_the_site() -> None:
    nginx = _site(host="grafana.apps.example.com", forwarded_uri="/d?x=1")
    assert (nginx.netloc, nginx.uri, nginx.scheme) == (
        "grafana.apps.example.com",
        "/d?x=1",
        "https",
    )
    ingress = _site(
        host="passgate.passgate.svc:5556", original_url="http://wiki.apps.example.com/p?q",
        original_method="GET",
    )  # fmt: skip
    assert (ingress.netloc, ingress.uri, ingress.scheme) == (
        "wiki.apps.example.com",
        "/p?q",
        "http",
    )
    traefik = _site(
        host="passgate:5556", forwarded_host="wiki.apps.example.com", forwarded_proto="https",
        forwarded_uri="/x", forwarded_method="GET",
    )  # fmt: skip
    assert traefik.url == "https://wiki.apps.example.com/x"
    assert _site(host="sso.example.com").netloc == "sso.example.com"
    with pytest.raises(AmbiguousSiteError):
        _site(host="grafana.apps.example.com", forwarded_host="wiki.apps.example.com")
    with pytest.raises(AmbiguousSiteError):
        _site(host="", forwarded_host="")


HEADER_FIELDS = ("host", "forwarded_host", "forwarded_proto", "forwarded_uri", "original_url",
                 "original_method")  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            name: st.text(max_size=40)
            for name in (
                "host",
                "forwarded_host",
                "forwarded_proto",
                "forwarded_uri",
                "original_url",
                "original_method",
            )
        },
    )
)
def test_any_headers_give_a_site_or_ambiguity(headers: dict[str, str]) -> None:
    try:
        site = resolve_site(ProxyHeaders(**headers), "sso.example.com", "https", POLICY.is_site)
    except AmbiguousSiteError:
        return
    assert site.scheme in ("http", "https")
    assert site.uri == "" or site.uri.startswith("/")


def test_the_cookie_seal() -> None:
    sealer = Sealer(b"k" * 32)
    issued = datetime(2026, 12, 7, tzinfo=UTC)
    value = sealer.seal("sid-1", issued, issued + timedelta(hours=12))
    opened = sealer.open(value)
    assert opened is not None
    assert (opened.sid, opened.issued_at, opened.expires_at) == (
        "sid-1", issued, issued + timedelta(hours=12),
    )  # fmt: skip
    assert Sealer(b"j" * 32).open(value) is None  # another deployment's key
    sid, iat, exp, mac = value.split(".")
    for forged in (f"sid-2.{iat}.{exp}.{mac}", f"{sid}.{iat}.{int(exp) + 1}.{mac}",
                   f"{sid}.{iat}.{exp}.{mac}x", f"{sid}.{iat}.{exp}", value + ".x"):  # fmt: skip
        assert sealer.open(forged) is None
    state = sealer.seal_state("n1", "https://wiki.apps.example.com/ü?x=1")
    assert sealer.open_state(state) == ("n1", "https://wiki.apps.example.com/ü?x=1")
    _, encoded, mac = state.split(".")
    assert sealer.open_state(f"n2.{encoded}.{mac}") is None
    with pytest.raises(ValueError, match="32 bytes"):
        Sealer(b"short")
