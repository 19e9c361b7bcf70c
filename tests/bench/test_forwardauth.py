import dataclasses
import re

import httpx
import pytest
from bench.forwardauth import (
    COOKIE,
    SITE_GROUP,
    SITE_HOST,
    SiteProxy,
    auth_headers,
    auth_url,
    forward_auth_config,
    sign_in,
)
from bench.target import FlowError
from fakeissuer import ISSUER, TARGET, FakeIssuer


def recording(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    return httpx.MockTransport(answer)


def test_the_section_protects_one_site_by_a_group() -> None:
    assert forward_auth_config() == {
        "cookieDomain": ".apps.bench",
        "allowedRedirectDomains": [".apps.bench"],
        "hosts": [{"host": SITE_HOST, "allowedGroups": [SITE_GROUP]}],
    }


def test_what_nginx_auth_request_sends() -> None:
    assert auth_url("http://127.0.0.1:5556/dex/") == "http://127.0.0.1:5556/dex/oauth2/auth"
    assert auth_headers(SITE_HOST, "c.o.o.k") == {
        "Host": SITE_HOST,
        "Cookie": f"{COOKIE}=c.o.o.k",
        "X-Forwarded-Uri": "/dashboard",
    }


@pytest.mark.anyio
async def test_the_proxy_sends_the_sites_oauth2_to_the_issuer_with_the_sites_host() -> None:
    seen: list[httpx.Request] = []
    proxy = SiteProxy("http://127.0.0.1:5556/dex", SITE_HOST, recording(seen))
    async with httpx.AsyncClient(transport=proxy) as browser:
        response = await browser.get(f"http://{SITE_HOST}/oauth2/callback?code=c&state=s")
        await browser.post("http://127.0.0.1:5556/dex/token", data={"a": "b"})
        with pytest.raises(FlowError, match="no site runs behind"):
            await browser.get(f"http://{SITE_HOST}/dashboard")
    callback, token = seen
    assert str(callback.url) == "http://127.0.0.1:5556/dex/oauth2/callback?code=c&state=s"
    assert callback.headers["host"] == SITE_HOST
    # The browser (and so its cookie jar) still sees the site's own URL.
    assert str(response.url) == f"http://{SITE_HOST}/oauth2/callback?code=c&state=s"
    # Anywhere else: passed on as it is.
    assert str(token.url) == "http://127.0.0.1:5556/dex/token"
    assert token.headers["host"] == "127.0.0.1:5556"
    assert token.content == b"a=b"


def browser_of(issuer: FakeIssuer) -> httpx.AsyncClient:
    inner = httpx.ASGITransport(app=issuer.app)
    return httpx.AsyncClient(transport=SiteProxy(ISSUER, SITE_HOST, inner))


@pytest.mark.anyio
async def test_sign_in_returns_the_cookie_set_for_the_sites_domain() -> None:
    issuer = FakeIssuer()
    async with browser_of(issuer) as browser:
        browser.cookies.set(COOKIE, "stale", domain=".apps.bench")  # a fresh browser
        cookie = await sign_in(browser, TARGET)
    assert issuer.fa_cookies == {cookie}


@pytest.mark.anyio
async def test_sign_in_must_come_back_to_the_page_with_a_cookie() -> None:
    issuer = FakeIssuer()
    async with browser_of(issuer) as browser:
        issuer.fa_back = f"http://{SITE_HOST}/elsewhere"
        with pytest.raises(FlowError, match=r"went back to http://grafana\.apps\.bench/elsewhere"):
            await sign_in(browser, TARGET)
        # A cookie for another domain is one the browser does not keep for the site.
        issuer.fa_back, issuer.fa_cookie_domain = None, ".other.test"
        with pytest.raises(FlowError, match=re.escape(f"set no {COOKIE} cookie for {SITE_HOST}")):
            await sign_in(browser, TARGET)
        with pytest.raises(FlowError, match="no forward_auth_host"):
            await sign_in(browser, dataclasses.replace(TARGET, forward_auth_host=None))
