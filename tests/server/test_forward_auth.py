"""Forward-auth (oauth2-proxy's ``/oauth2/*`` contract) in process: sign in once, every
site below the cookie domain opens; per-site rules and oauth2-proxy's query rules give
403; sign-out, an admin, or the upstream end it at once; nothing a client can send (a
tampered cookie, an open redirect, headers naming another site) gets through or a 500."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from passgate.storage.models import BrowserSessionFilter

from .forward_auth_support import (
    DOMAIN,
    GRAFANA,
    SECRET,
    WIKI,
    ask,
    forward_auth_config,
    sign_in_at,
    site_url,
)
from .harness import EMAIL, ISSUER, PREFIX, USER_ID, Harness, running
from .sso_support import SECOND_EMAIL, SECOND_PASSWORD, add_second_user, authorize, tokens_of
from .sso_support import sign_in as sso_sign_in

pytestmark = pytest.mark.anyio
COOKIE = "_passgate_fa"


@pytest.fixture
async def fa(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(forward_auth_config()) as harness:
        yield harness


async def signed_in(harness: Harness) -> httpx.AsyncClient:
    browser = await harness.browser()
    back = await sign_in_at(harness, browser, GRAFANA)
    assert back.status_code == 302, back.text[:300]
    assert back.headers["location"] == site_url(GRAFANA, "/dashboard")
    return browser


async def test_one_sign_in_opens_every_site_with_the_identity_headers(fa: Harness) -> None:
    browser = await fa.browser()
    assert (await ask(fa, browser, GRAFANA, "/dashboard")).status_code == 401
    back = await sign_in_at(fa, browser, GRAFANA)
    assert back.headers["location"] == site_url(GRAFANA, "/dashboard")
    [cookie] = [c for c in browser.cookies.jar if c.name == COOKIE]
    assert cookie.domain == f".{DOMAIN}"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.path == "/"
    assert EMAIL not in cookie.value  # no readable identity
    assert USER_ID not in cookie.value
    answer = await ask(fa, browser, GRAFANA, "/dashboard")
    assert answer.status_code == 202
    assert answer.headers["X-Auth-Request-User"] == EMAIL
    assert answer.headers["X-Auth-Request-Email"] == EMAIL
    assert answer.headers["X-Auth-Request-Groups"] == "admins,developers"
    assert answer.headers["X-Auth-Request-Preferred-Username"] == "admin"
    assert "authorization" not in answer.headers  # passAuthorization is off by default
    assert answer.headers["X-Auth-Request-Access-Token"] == ""  # so is passAccessToken
    assert "no-store" in answer.headers["cache-control"]
    # Another site below the domain: the same cookie, no second sign-in.
    assert (await ask(fa, browser, WIKI, "/page")).status_code == 202
    # The forward-auth sign-in is a browser session like any: an OIDC client now signs
    # in without a password too.
    assert (await authorize(fa, browser)).to_client


async def test_rules_of_the_site_and_of_the_query(fa: Harness) -> None:
    browser = await signed_in(fa)
    assert (await ask(fa, browser, SECRET)).status_code == 403  # needs group auditors
    cases = {
        "allowed_groups=admins": 202,
        "allowed_groups=nope,developers": 202,
        "allowed_groups=nope": 403,
        "allowed_emails=admin@example.com": 202,
        "allowed_emails=ADMIN@example.com,x@y.z": 202,
        "allowed_emails=other@example.com": 403,
        "allowed_email_domains=example.com": 202,
        "allowed_email_domains=*.example.com": 403,
        "allowed_email_domains=other.com": 403,
        "allowed_groups=admins&allowed_email_domains=other.com": 403,  # both must hold
    }
    for query, status in cases.items():
        params = {k: v[0] for k, v in parse_qs(query).items()}
        answer = await ask(fa, browser, WIKI, query=params)
        assert answer.status_code == status, query
    # The site's rule and the query both apply.
    assert (await ask(fa, browser, SECRET, query={"allowed_groups": "admins"})).status_code == 403


async def test_skipped_paths_need_no_sign_in_but_only_when_every_header_agrees(
    fa: Harness,
) -> None:
    anonymous = await fa.browser()
    assert (await ask(fa, anonymous, GRAFANA, "/healthz")).status_code == 202
    assert (await ask(fa, anonymous, GRAFANA, "/public/logo.png")).status_code == 202
    assert (await ask(fa, anonymous, GRAFANA, "/healthzz")).status_code == 401
    assert (await ask(fa, anonymous, GRAFANA, "/admin")).status_code == 401
    # A header the client added cannot claim a skipped path for another one.
    forged = {"X-Original-URL": f"http://{GRAFANA}/healthz"}
    assert (await ask(fa, anonymous, GRAFANA, "/admin", headers=forged)).status_code == 401


async def test_headers_naming_another_site_are_refused(fa: Harness) -> None:
    browser = await signed_in(fa)
    # nginx passes the client's own X-Forwarded-Host on: claiming to be the wiki while
    # asking for the secret site is refused, never judged by the wiki's rules.
    claim = {"X-Forwarded-Host": WIKI}
    assert (await ask(fa, browser, SECRET, headers=claim)).status_code == 403  # nginx relays 403
    # A proxy that sets them consistently (Caddy: Host and X-Forwarded-Host) is fine.
    same = {"X-Forwarded-Host": WIKI, "X-Forwarded-Method": "GET"}
    assert (await ask(fa, browser, WIKI, headers=same)).status_code == 202


async def test_browsers_behind_traefik_or_caddy_get_a_redirect(fa: Harness) -> None:
    anonymous = await fa.browser()
    traefik = {
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": GRAFANA,
        "X-Forwarded-Uri": "/dash?x=1",
        "Accept": "text/html,application/xhtml+xml",
    }
    answer = await anonymous.get(f"{ISSUER}/oauth2/auth", headers=traefik)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", GRAFANA, "/oauth2/start")
    assert parse_qs(location.query)["rd"] == [f"https://{GRAFANA}/dash?x=1"]
    # An API client, a script, or ingress-nginx (which turns a 302 into a 500) gets 401.
    for change in (
        {"Accept": "application/json"},
        {"X-Requested-With": "XMLHttpRequest"},
        {"X-Forwarded-Method": "POST"},
    ):
        assert (await anonymous.get(f"{ISSUER}/oauth2/auth",
                                    headers={**traefik, **change})).status_code == 401  # fmt: skip
    ingress = {
        "X-Original-URL": f"https://{GRAFANA}/dash",
        "X-Original-Method": "GET",
        "X-Sent-From": "nginx-ingress-controller",
        "Accept": "text/html",
    }
    assert (await anonymous.get(f"{ISSUER}/oauth2/auth", headers=ingress)).status_code == 401


async def test_sign_out_ends_every_site_and_the_browser_session(fa: Harness) -> None:
    browser = await signed_in(fa)
    assert (await ask(fa, browser, WIKI)).status_code == 202
    out = await browser.get(  # a "Sign out" link on the wiki, as a browser sends it
        site_url(WIKI, f"{PREFIX}/oauth2/sign_out"),
        params={"rd": site_url(WIKI, "/bye")},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert out.status_code == 302
    assert out.headers["location"] == site_url(WIKI, "/bye")
    assert f"Domain=.{DOMAIN}" in out.headers["set-cookie"]
    # Even a copy of the cookie kept elsewhere no longer works: the session ended.
    assert (await ask(fa, browser, GRAFANA)).status_code == 401
    sessions = fa.runtime.services.storage
    [ended] = await sessions.list_browser_sessions(
        BrowserSessionFilter(include_revoked=True), fa.clock()
    )
    assert ended.revoked_by == "logout"
    assert (await authorize(fa, browser, prompt="none")).query["error"] == "login_required"


async def test_a_copied_cookie_dies_with_its_session(fa: Harness) -> None:
    browser = await signed_in(fa)
    value = browser.cookies.get(COOKIE, domain=f".{DOMAIN}")
    thief = await fa.browser()
    thief.cookies.set(COOKIE, value, domain=f".{DOMAIN}")
    assert (await ask(fa, thief, WIKI)).status_code == 202
    sid = value.split(".")[0]
    await fa.runtime.services.revoker.end_browser_session(sid, actor="admin:ops")
    assert (await ask(fa, thief, WIKI)).status_code == 401
    assert (await ask(fa, browser, WIKI)).status_code == 401


async def test_bad_cookies_are_401_never_500(fa: Harness) -> None:
    browser = await signed_in(fa)
    good = browser.cookies.get(COOKIE, domain=f".{DOMAIN}")
    sid, iat, exp, mac = good.split(".")
    bad_values = [
        f"{sid}.{iat}.{int(exp) + 3600}.{mac}",  # a longer life
        f"other.{iat}.{exp}.{mac}",  # another session
        f"{sid}.{iat}.{exp}.{mac[:-2]}AA",
        "x" * 3000,
        "....",
        "a.b.c.d",
        "",
        "\u00e9\u00e9.1.2.3",
    ]
    anonymous = await fa.browser()
    for bad in bad_values:
        # As raw bytes: a browser may send anything, UTF-8 included.
        raw = [(b"cookie", f"{COOKIE}={bad}".encode()), (b"x-forwarded-uri", b"/")]
        answer = await anonymous.get(site_url(WIKI, f"{PREFIX}/oauth2/auth"), headers=raw)
        assert answer.status_code == 401, bad[:40]
    # Huge and repeated headers: a good cookie among bad ones of its name still counts.
    huge = {"Cookie": f"{COOKIE}=" + "y" * 20000, "X-Forwarded-Uri": "/"}
    answer = await anonymous.get(site_url(WIKI, f"{PREFIX}/oauth2/auth"), headers=huge)
    assert answer.status_code == 401
    repeated = httpx.Headers([("Cookie", f"{COOKIE}=a"), ("Cookie", f"{COOKIE}={good}"),
                              ("X-Forwarded-Uri", "/")])  # fmt: skip
    answer = await anonymous.get(site_url(WIKI, f"{PREFIX}/oauth2/auth"), headers=repeated)
    assert answer.status_code == 202
    # Expired: the cookie's own end.
    fa.clock.advance(timedelta(hours=13))
    assert (await ask(fa, browser, WIKI)).status_code == 401


async def test_a_second_cookie_of_the_same_name_does_not_hide_the_good_one(fa: Harness) -> None:
    browser = await signed_in(fa)
    good = browser.cookies.get(COOKIE, domain=f".{DOMAIN}")
    anonymous = await fa.browser()
    both = {"Cookie": f"{COOKIE}=stale; {COOKIE}={good}", "X-Forwarded-Uri": "/"}
    answer = await anonymous.get(site_url(WIKI, f"{PREFIX}/oauth2/auth"), headers=both)
    assert answer.status_code == 202


@pytest.mark.parametrize(
    "rd",
    [
        "//evil.example.com/",
        "/\\evil.example.com",
        "https://evil.example.com",
        f"https://{DOMAIN}.attacker.example/",
        f"https://evil.com\\@{GRAFANA}/",
        f"https://user:pw@{GRAFANA}/",
        f"https://evil.com@{GRAFANA}/",
        f"javascript://{GRAFANA}/%0aalert(1)",
        "/\t/evil.example.com",
        f"https://{GRAFANA}%2eevil.com/",
        "http://127.0.0.1:9/",
        "data:text/html,hi",
    ],
)
async def test_open_redirects_are_refused_with_a_page(fa: Harness, rd: str) -> None:
    browser = await fa.browser()
    answer = await browser.get(site_url(GRAFANA, f"{PREFIX}/oauth2/start"), params={"rd": rd})
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "does not send people to" in answer.text


async def test_allowed_redirects(fa: Harness) -> None:
    browser = await fa.browser()
    for rd in ("/dashboard?x=1", site_url(WIKI, "/x"), f"http://{DOMAIN}/", ""):
        answer = await browser.get(site_url(GRAFANA, f"{PREFIX}/oauth2/start"), params={"rd": rd})
        assert answer.status_code == 302, rd
        assert answer.headers["location"].startswith(f"{ISSUER}/auth?")


async def test_a_forged_or_replayed_callback_is_refused(fa: Harness) -> None:
    browser = await fa.browser()
    start = await browser.get(
        site_url(GRAFANA, f"{PREFIX}/oauth2/start"), params={"rd": "/dashboard"}
    )
    query = parse_qs(urlsplit(start.headers["location"]).query)
    state = query["state"][0]
    stranger = await fa.browser()
    for params in ({"state": state, "code": "x"}, {"state": state + "x", "code": "x"}, {}):
        refused = await stranger.get(site_url(GRAFANA, f"{PREFIX}/oauth2/callback"), params=params)
        assert refused.status_code == 400
    refused = await browser.get(
        site_url(GRAFANA, f"{PREFIX}/oauth2/callback"), params={"state": state, "code": "nope"}
    )
    assert refused.status_code == 400
    assert "could not be completed" in refused.text


async def test_a_person_disabled_upstream_loses_every_site(anyio_backend: str) -> None:
    text = forward_auth_config(extra="  refreshInterval: 5m\n")
    async with running(text) as harness:
        await add_second_user(harness)
        browser = await harness.browser()
        back = await sign_in_at(
            harness, browser, WIKI, login=SECOND_EMAIL, password=SECOND_PASSWORD
        )
        assert back.status_code == 302
        assert (await ask(harness, browser, WIKI)).status_code == 202
        await harness.runtime.services.storage.delete_password(SECOND_EMAIL)
        harness.clock.advance(timedelta(minutes=4))
        assert (await ask(harness, browser, WIKI)).status_code == 202  # not asked yet
        harness.clock.advance(timedelta(minutes=2))
        assert (await ask(harness, browser, WIKI)).status_code == 401


async def test_tokens_for_the_site_and_bearer_callers(fa: Harness) -> None:
    browser = await signed_in(fa)
    answer = await ask(fa, browser, f"tokens.{DOMAIN}")
    assert answer.status_code == 202
    id_token = answer.headers["authorization"].removeprefix("Bearer ")
    keys = jwt.PyJWKSet.from_dict((await fa.client.get(f"{PREFIX}/keys")).json())
    header = jwt.get_unverified_header(id_token)
    claims = jwt.decode(
        id_token, keys[header["kid"]].key, algorithms=["RS256"], audience="passgate-forward-auth",
        issuer=ISSUER, options={"verify_exp": False, "verify_iat": False},
    )  # fmt: skip
    assert claims["email"] == EMAIL
    assert claims["sid"] == browser.cookies.get(COOKIE, domain=f".{DOMAIN}").split(".")[0]
    access = answer.headers["x-auth-request-access-token"]
    # The same tokens for the next request (minted once, not per request).
    again = await ask(fa, browser, f"tokens.{DOMAIN}")
    assert again.headers["authorization"] == answer.headers["authorization"]
    # A token one site was handed opens no other site (forward-auth's own tokens are no
    # bearer credential), nor does a token some client got: not unless bearerClients.
    script = await fa.browser()
    bearer = {"Authorization": f"Bearer {access}"}
    assert (await ask(fa, script, WIKI, headers=bearer)).status_code == 401
    other = await client_tokens(fa)
    assert (await ask(fa, script, WIKI, headers=bearer_of(other))).status_code == 401


async def client_tokens(harness: Harness) -> dict[str, str]:
    """example-app's tokens, from a sign-in in a browser of their own."""
    browser = await harness.browser()
    return await tokens_of(
        harness, await sso_sign_in(harness, await authorize(harness, browser), browser)
    )


def bearer_of(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_bearer_clients_are_accepted_when_listed(anyio_backend: str) -> None:
    """A script with a token of a listed client and no cookie (oauth2-proxy's
    skip-jwt-bearer-tokens, which checks the audience as well)."""
    text = forward_auth_config().replace(
        "forwardAuth:\n", "forwardAuth:\n  bearerClients: [example-app]\n"
    )
    async with running(text) as fa:
        script = await fa.browser()
        tokens = await client_tokens(fa)
        answer = await ask(fa, script, WIKI, headers=bearer_of(tokens))
        assert answer.status_code == 202
        assert answer.headers["x-auth-request-email"] == EMAIL
        info = await script.get(site_url(WIKI, f"{PREFIX}/oauth2/userinfo"),
                                headers=bearer_of(tokens))  # fmt: skip
        assert info.json()["email"] == EMAIL
        forged = {"Authorization": "Bearer " + tokens["access_token"][:-3] + "AAA"}
        assert (await ask(fa, script, WIKI, headers=forged)).status_code == 401
        assert (await ask(fa, script, SECRET, headers=bearer_of(tokens))).status_code == 403


async def test_userinfo(fa: Harness) -> None:
    browser = await signed_in(fa)
    info = await browser.get(site_url(WIKI, f"{PREFIX}/oauth2/userinfo"))
    assert info.status_code == 200
    assert info.json() == {
        "user": USER_ID,
        "email": EMAIL,
        "groups": ["admins", "developers"],
        "preferredUsername": "admin",
    }
    anonymous = await fa.browser()
    assert (await anonymous.get(site_url(WIKI, f"{PREFIX}/oauth2/userinfo"))).status_code == 401


async def test_names_that_are_not_ascii_reach_the_site_as_utf8(anyio_backend: str) -> None:
    text = forward_auth_config().replace(
        "  username: admin\n", '  username: "Zo\u00eb\\nX-Evil: 1"\n'
    )
    async with running(text) as harness:
        browser = await signed_in(harness)
        answer = await ask(harness, browser, WIKI)
        assert answer.status_code == 202
        raw = dict(answer.headers.raw)
        assert raw[b"x-auth-request-preferred-username"] == "Zo\u00eb X-Evil: 1".encode()
        assert b"x-evil" not in raw


async def test_without_the_section_the_endpoints_are_absent(harness: Harness) -> None:
    assert (await harness.client.get(f"{PREFIX}/oauth2/auth")).status_code == 404
    assert (await harness.client.get(f"{PREFIX}/oauth2/start")).status_code == 404


async def test_envoy_ext_authz_asks_with_the_sites_path_and_method(fa: Harness) -> None:
    """Envoy's HTTP ext_authz appends the request's path to ``path_prefix``, keeps its
    method and Host, lets it through on 200 only, and hands anything else to the client."""
    browser = await signed_in(fa)
    prefix = site_url(GRAFANA, f"{PREFIX}/oauth2/auth")
    allowed = await browser.post(f"{prefix}/api/dashboards?x=1", headers={"Accept": "*/*"})
    assert allowed.status_code == 200
    assert allowed.headers["x-auth-request-email"] == EMAIL
    assert (await browser.get(site_url(SECRET, f"{PREFIX}/oauth2/auth/x"))).status_code == 403
    anonymous = await fa.browser()
    page = await anonymous.get(f"{prefix}/dash", headers={"Accept": "text/html"})
    assert page.status_code == 302
    assert page.headers["location"] == (
        f"http://{GRAFANA}/oauth2/start?rd=http%3A%2F%2F{GRAFANA}%2Fdash"
    )
    api = await anonymous.post(f"{prefix}/api", headers={"Accept": "text/html"})
    assert api.status_code == 401  # not a page load
    assert (await anonymous.get(f"{prefix}/healthz")).status_code == 200  # a skipped path
    assert (await anonymous.get(f"{prefix}/healthz/../admin")).status_code in (302, 401)


def _token_of(page: str) -> str:
    """The confirmation form posts to the page's own URL (the site's), with this token."""
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found is not None, page[:300]
    return found.group(1)


async def test_a_sign_out_not_asked_for_here_is_confirmed_first(fa: Harness) -> None:
    """Another page (even another site below the same domain, so same-site), or a client
    that does not say where the request came from, cannot sign a person out of every
    site: they are asked, with a form only their own cookie can make the token of."""
    browser = await signed_in(fa)
    url = site_url(WIKI, f"{PREFIX}/oauth2/sign_out")
    others = (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another site below the same domain
        {},  # nothing said
        {"Referer": site_url(GRAFANA, "/page")},  # plain http: another origin's page
        {"Referer": site_url(WIKI, "/page"), "Sec-Fetch-Site": "same-site"},
    )
    for headers in others:
        asked = await browser.get(url, headers=headers)
        assert asked.status_code == 200, headers
        assert "Sign out of every site?" in asked.text
        token = _token_of(asked.text)
        assert token
        assert (await browser.post(url, headers=headers)).status_code == 200  # no token
        forged = await browser.post(url, data={"token": "x" * 43}, headers=headers)
        assert forged.status_code == 200
    assert (await ask(fa, browser, WIKI)).status_code == 202  # still signed in
    # Another person's token does not work for this one.
    other = await signed_in(fa)
    theirs = _token_of((await other.get(url)).text)
    assert theirs != token
    assert (await browser.post(url, data={"token": theirs})).status_code == 200
    # The person's own confirmation signs out.
    confirmed = await browser.post(url, data={"token": token, "confirm": "yes"})
    assert confirmed.status_code == 302
    assert (await ask(fa, browser, WIKI)).status_code == 401
    # On plain http a browser sends no Fetch Metadata: the wiki's own page as Referer.
    again = await signed_in(fa)
    link = await again.get(url, headers={"Referer": site_url(WIKI, "/page")})
    assert link.status_code == 302
    assert (await ask(fa, again, WIKI)).status_code == 401
    # Nobody signed in: nothing to end, straight back.
    assert (await (await fa.browser()).get(url)).status_code == 302


async def test_any_method_is_asked_about(fa: Harness) -> None:
    """A proxy may ask with the site request's own method (Envoy does)."""
    browser = await signed_in(fa)
    url = site_url(WIKI, f"{PREFIX}/oauth2/auth")
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        answer = await browser.request(method, url, headers={"X-Forwarded-Uri": "/x"})
        assert answer.status_code == 202, method


async def test_headers_no_proxy_sends_are_refused_not_a_500(fa: Harness) -> None:
    """What a client can add through a proxy that passes its headers on: an unparseable
    X-Original-URL, a Host that a URL parser reads as another host, a second
    X-Forwarded-Host; and paths that mean another one to the site behind the proxy."""
    browser = await signed_in(fa)
    anonymous = await fa.browser()
    cases = [
        {"X-Original-URL": "http://[::1"},
        {"X-Original-URL": "http://x:99999999/"},
        {"X-Forwarded-Host": f"evil.com\\\\.{DOMAIN}"},
    ]
    for headers in cases:
        answer = await ask(fa, browser, WIKI, headers=headers)
        assert answer.status_code == 403, headers
    repeated = httpx.Headers([("X-Forwarded-Host", WIKI), ("X-Forwarded-Host", SECRET),
                              ("X-Forwarded-Uri", "/")])  # fmt: skip
    assert (await browser.get(site_url(WIKI, f"{PREFIX}/oauth2/auth"),
                              headers=repeated)).status_code == 403  # fmt: skip
    tricky = ("/healthz/../admin", "/healthz/%2e%2e/admin", "/healthz%2F..%2Fadmin",
              "/public/..;/admin", "/healthz//admin", "/healthz/./x", "/healthz\\\\..")  # fmt: skip
    for path in tricky:
        assert (await ask(fa, anonymous, GRAFANA, path)).status_code == 401, path
    # A browser behind Traefik naming a host that is no protected site gets no redirect.
    traefik = {"X-Forwarded-Method": "GET", "X-Forwarded-Host": "elsewhere.example.org",
               "X-Forwarded-Uri": "/", "Accept": "text/html"}  # fmt: skip
    assert (await anonymous.get(f"{ISSUER}/oauth2/auth", headers=traefik)).status_code == 401


async def test_the_cookie_key_is_encrypted_at_rest_and_cookies_outlive_a_key_rotation() -> None:
    """With signer.config.encryptionKey the cookie key in storage is sealed (a database
    dump cannot forge a cookie for a session it lists); rotating the encryption key
    re-seals it, and cookies made before still open every site."""
    from passgate.forwardauth.seal import KEY_NAME
    from passgate.keys.encryption import KeyRing, sealed_with
    from passgate.storage.memory import MemoryStorage

    old, new = "old-" + "o" * 40, "new-" + "n" * 40

    def signer(*keys: str) -> str:
        current, *previous = keys
        return (
            f"signer: {{type: local, config: {{encryptionKey: {current}, "
            f"previousEncryptionKeys: {previous}}}}}\n"
        )

    storage = MemoryStorage()
    async with running(forward_auth_config(signer(old)), storage=storage) as first:
        sealed = (await storage.get_secret(KEY_NAME)).value
        assert sealed_with(sealed.decode()) == KeyRing(old).current_id
        browser = await signed_in(first)
        assert (await ask(first, browser, GRAFANA)).status_code == 202
    async with running(forward_auth_config(signer(new, old)), storage=storage) as second:
        resealed = (await storage.get_secret(KEY_NAME)).value
        assert sealed_with(resealed.decode()) == KeyRing(new).current_id
        again = await second.browser()
        again.cookies = browser.cookies
        assert (await ask(second, again, GRAFANA)).status_code == 202
