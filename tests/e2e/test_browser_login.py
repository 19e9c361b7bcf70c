"""Acceptance: a browser signs in and an independent OIDC client library (Authlib) gets,
validates, uses and refreshes the tokens against a real ``passgate serve``."""

from __future__ import annotations

import base64
import hashlib
import warnings
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from e2e.browser import Browser, only_form
from e2e.support import Launcher, PassgateServer

with warnings.catch_warnings():
    # Authlib 1.9 deprecates its own JOSE module (for joserfc, which Passgate itself uses,
    # so it is not an independent check) and its httpx integration (for "httpx2"); both
    # still work, and importing authlib.deprecate first lets its "always" filter be undone.
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
    from authlib.jose import JsonWebKey, jwt
    from authlib.oidc.core import CodeIDToken

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SCOPE = "openid email profile groups offline_access"


def expected_subject(user_id: str, connector_id: str) -> str:
    """Dex's ``sub``: protobuf ``{1: user_id, 2: connector_id}``, base64url without padding
    (computed here independently of Passgate's encoder)."""
    raw = bytes([0x0A, len(user_id)]) + user_id.encode()
    raw += bytes([0x12, len(connector_id)]) + connector_id.encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def left_half_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def validate_id_token(
    token: str, jwks: dict[str, Any], server: PassgateServer, *, nonce: str | None, access: str
) -> dict[str, Any]:
    """Authlib's JOSE and OIDC claim rules: signature by a JWKS key, iss, aud, exp, iat,
    nonce, azp and at_hash."""
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": server.issuer},
        "aud": {"essential": True, "value": server.client.id},
        "sub": {"essential": True},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    claims = jwt.decode(
        token,
        JsonWebKey.import_key_set(jwks),
        claims_cls=CodeIDToken,
        claims_options=options,
        claims_params={"nonce": nonce, "client_id": server.client.id, "access_token": access},
    )
    claims.validate(leeway=0)
    assert claims.header["alg"] == "RS256"
    # at_hash by hand as well: OIDC Core §3.1.3.6, the left half of SHA-256 for RS256.
    assert claims["at_hash"] == left_half_sha256(access)
    return dict(claims)


async def browser_login(server: PassgateServer, authorization_url: str) -> str:
    """GET the authorization URL, sign in on the form, approve; returns the redirect to
    the client (its Location), which the browser would follow to the application."""
    async with server.http(follow_redirects=False) as client:
        browser = Browser(client, server.base_url)
        login_page = await browser.get(authorization_url)
        assert urlsplit(str(login_page.url)).path == "/dex/auth/local/login"
        form = only_form(login_page)
        assert "csrf_token" in form.hidden()
        # The CSRF cookie binds the forms to this browser: scripts cannot read it, and
        # other sites' POSTs do not carry it.
        [cookie] = [c for c in client.cookies.jar if c.name == "passgate_csrf"]
        assert cookie.path == "/dex"
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "lax"

        approval_page = await browser.submit(
            login_page, form, login=server.user.email, password=server.user.password
        )
        assert urlsplit(str(approval_page.url)).path == "/dex/approval"
        approval = only_form(approval_page)
        assert ("approval", "approve") in approval.buttons
        assert "csrf_token" in approval.hidden()

        redirect = await browser.submit(approval_page, approval, approval="approve")
        assert redirect.status_code == 303, redirect.text[:300]
        location = redirect.headers["location"]
        assert location.startswith(server.client.redirect_uri + "?")
        return location


async def test_browser_login_with_authlib(launcher: Launcher) -> None:
    server = launcher.new(expiry={"refreshTokens": {"reuseInterval": "0s"}})
    await server.start()
    async with AsyncOAuth2Client(
        client_id=server.client.id,
        client_secret=server.client.secret,
        scope=SCOPE,
        redirect_uri=server.client.redirect_uri,
        code_challenge_method="S256",
        timeout=10.0,
    ) as oauth:
        # Before any token exists: withhold_token, or Authlib insists on one.
        discovery_response = await oauth.request(
            "GET", server.url("/.well-known/openid-configuration"), withhold_token=True
        )
        discovery = discovery_response.json()
        assert discovery["issuer"] == server.issuer
        assert "S256" in discovery["code_challenge_methods_supported"]
        jwks = (await oauth.request("GET", discovery["jwks_uri"], withhold_token=True)).json()

        code_verifier = generate_token(64)
        nonce = generate_token(24)
        url, state = oauth.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
        )
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"]

        location = await browser_login(server, url)
        returned = parse_qs(urlsplit(location).query)
        assert returned["state"] == [state]
        code = returned["code"][0]

        # Authlib checks state itself when given the whole redirect URL.
        token = await oauth.fetch_token(
            discovery["token_endpoint"],
            authorization_response=location,
            state=state,
            code_verifier=code_verifier,
        )
        assert token["token_type"].lower() == "bearer"
        assert token["expires_in"] > 0
        claims = validate_id_token(
            token["id_token"], jwks, server, nonce=nonce, access=token["access_token"]
        )
        assert claims["sub"] == expected_subject(server.user.user_id, "local")
        assert claims["email"] == server.user.email
        assert claims["email_verified"] is True
        assert claims["groups"] == list(server.user.groups)
        assert claims["name"] == server.user.username
        assert claims["c_hash"] == left_half_sha256(code)

        userinfo = await oauth.get(discovery["userinfo_endpoint"])
        assert userinfo.status_code == 200, userinfo.text
        info = userinfo.json()
        assert info["sub"] == claims["sub"]
        assert info["email"] == server.user.email
        assert info["groups"] == list(server.user.groups)
        # An ID token is no access token (it cannot be revoked): userinfo refuses it.
        as_bearer = await oauth.request(
            "GET",
            discovery["userinfo_endpoint"],
            headers={"authorization": f"Bearer {token['id_token']}"},
            withhold_token=True,  # else Authlib puts the access token there
        )
        assert as_bearer.status_code == 401

        first_refresh = token["refresh_token"]
        refreshed = await oauth.refresh_token(
            discovery["token_endpoint"], refresh_token=first_refresh
        )
        assert refreshed["refresh_token"] != first_refresh
        assert refreshed["access_token"] != token["access_token"]
        assert refreshed["id_token"] != token["id_token"]
        again = validate_id_token(
            refreshed["id_token"], jwks, server, nonce=None, access=refreshed["access_token"]
        )
        # OIDC Core §12.2: same iss, sub and aud; auth_time is the original sign-in's.
        for name in ("iss", "sub", "aud", "auth_time", "email", "groups"):
            assert again[name] == claims[name], name
        assert again["iat"] >= claims["iat"]

        # reuseInterval 0s: the replaced refresh token is dead at once, and presenting it
        # is treated as theft (RFC 9700 §4.14.2), which also revokes its successor.
        with pytest.raises(OAuthError) as reused:
            await oauth.refresh_token(discovery["token_endpoint"], refresh_token=first_refresh)
        assert reused.value.error == "invalid_grant"
        with pytest.raises(OAuthError) as successor:
            await oauth.refresh_token(
                discovery["token_endpoint"], refresh_token=refreshed["refresh_token"]
            )
        assert successor.value.error == "invalid_grant"

        # The code is single-use; a replay revokes what it issued (RFC 6749 §4.1.2).
        async with server.http() as plain:
            replay = await server.token(
                plain,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": server.client.redirect_uri,
                    "code_verifier": code_verifier,
                },
            )
            assert replay.status_code == 400
            assert replay.json()["error"] == "invalid_grant"

            revoked = await plain.get(
                discovery["userinfo_endpoint"],
                headers={"authorization": f"Bearer {token['access_token']}"},
            )
        assert revoked.status_code == 401
        assert revoked.json()["error"] == "invalid_token"


async def test_login_page_rejects_a_form_without_its_browser(launcher: Launcher) -> None:
    """The CSRF token is bound to the browser's cookie: the same form posted from another
    client (no cookie) is refused and signs nobody in."""
    server = launcher.new()
    await server.start()
    url = server.url("/auth?") + urlencode(
        {
            "client_id": server.client.id,
            "redirect_uri": server.client.redirect_uri,
            "response_type": "code",
            "scope": "openid email",
            "state": "s1",
        }
    )
    async with server.http() as client, server.http() as attacker:
        page = await Browser(client, server.base_url).get(url)
        form = only_form(page)
        forged = await attacker.post(
            str(page.url),
            data={**form.hidden(), "login": server.user.email, "password": server.user.password},
        )
    assert forged.status_code == 403
    assert "location" not in forged.headers
