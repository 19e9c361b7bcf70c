"""The ``ldap`` connector inside Passgate, against a real slapd: the password form at
/auth/ldap/login, the ``password`` grant (``oauth2.passwordConnector: ldap``), refresh
after the person is deleted, and the pages shown when the directory cannot be used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import structlog
import yaml

from connectors.flow import claims_of
from ldap.layouts import openldap
from ldap.server import Slapd, free_port, shared_slapd, start_slapd
from passgate.connectors.ldap import LDAPConnector
from passgate.tokens.subject import decode_subject
from server.harness import (
    REDIRECT_URI,
    Harness,
    assert_error_page,
    assert_oauth_error,
    basic,
    config_text,
    query_of,
    running,
)

pytestmark = pytest.mark.anyio

SCOPE = "openid email profile groups offline_access"


@pytest.fixture(scope="module")
def slapd() -> Slapd:
    """The test session's OpenLDAP server (started on first use)."""
    return shared_slapd()


@asynccontextmanager
async def passgate(options: dict[str, Any]) -> AsyncIterator[Harness]:
    """Passgate from a config file with the ``ldap`` connector (id ``ldap``) as its
    password connector, no approval screen."""
    connectors = yaml.safe_dump(
        {"connectors": [{"type": "ldap", "id": "ldap", "name": "Corp LDAP", "config": options}]}
    )
    text = config_text(oauth2="  skipApprovalScreen: true", extra=connectors).replace(
        "  passwordConnector: local\n", "  passwordConnector: ldap\n"
    )
    async with running(text) as harness:
        yield harness


async def password_form(harness: Harness) -> tuple[str, dict[str, str], str]:
    """/auth straight to the LDAP connector: the form's action, fields, and the page."""
    params = harness.auth_params(scope=SCOPE, connector_id="ldap", state="client-state")
    url = await harness.login_url(params)
    assert url.startswith("/dex/auth/ldap/login?")
    page = await harness.client.get(url)
    assert page.status_code == 200, page.text[:300]
    form = await harness.login_form(url)
    return form.action, form.fields, page.text


async def browser_sign_in(harness: Harness, username: str, password: str) -> Any:
    action, fields, _page = await password_form(harness)
    return await harness.client.post(
        action, data={**fields, "login": username, "password": password}
    )


async def code_to_tokens(harness: Harness, response: Any) -> dict[str, Any]:
    assert response.status_code == 303, response.text[:300]
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI), location
    query = query_of(location)
    assert query["state"] == "client-state"
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT_URI}
    tokens = await harness.token(data, basic())
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def password_grant(username: str, password: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password, "scope": SCOPE}


async def test_browser_sign_in_then_refresh_until_the_user_is_deleted(slapd: Slapd) -> None:
    dn = slapd.add_user("flora", "flora-password")
    slapd.add_group("florists", [dn])
    async with passgate(openldap(slapd, usernamePrompt="Corp ID")) as harness:
        _action, _fields, page = await password_form(harness)
        assert "Corp ID" in page  # usernamePrompt labels the field
        tokens = await code_to_tokens(
            harness, await browser_sign_in(harness, "flora", "flora-password")
        )
        claims = claims_of(tokens["id_token"])
        assert decode_subject(claims["sub"]) == ("flora", "ldap")
        assert (claims["email"], claims["email_verified"]) == ("flora@example.org", True)
        assert claims["name"] == "Flora"
        assert claims["groups"] == ["florists"]

        refreshed = await harness.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text

        slapd.delete("cn=florists,ou=groups,dc=example,dc=org")
        slapd.delete(dn)
        refused = await harness.refresh(refreshed.json()["refresh_token"])
        assert_oauth_error(refused, "invalid_grant", status=400)
        assert "no longer exists" in refused.json()["error_description"]


async def test_a_wrong_password_shows_the_form_again(slapd: Slapd) -> None:
    async with passgate(openldap(slapd)) as harness:
        response = await browser_sign_in(harness, "jane", "not-her-password")
        assert response.status_code == 200
        assert "Invalid username or password." in response.text
        injected = await browser_sign_in(harness, "*)(uid=*", "jane-password")
        assert injected.status_code == 200
        assert "Invalid username or password." in injected.text


async def test_an_unreachable_directory_is_an_error_page_and_a_log_line(slapd: Slapd) -> None:
    port = free_port()
    async with passgate(openldap(slapd, host=f"127.0.0.1:{port}")) as harness:
        with structlog.testing.capture_logs() as logs:
            response = await browser_sign_in(harness, "jane", "jane-password")
        assert_error_page(response, 502)
        assert f"cannot connect to the LDAP server (127.0.0.1:{port})" in response.text
        assert any(
            entry["event"] == "password login failed" and entry["connector"] == "ldap"
            for entry in logs
        ), logs


async def test_a_connector_bug_is_an_error_page_not_a_500(
    slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(LDAPConnector, "login", broken)
    async with passgate(openldap(slapd)) as harness:
        with structlog.testing.capture_logs() as logs:
            response = await browser_sign_in(harness, "jane", "jane-password")
        assert_error_page(response, 502)
        assert "unforeseen" not in response.text
        assert any(entry["event"] == "password connector failed unexpectedly" for entry in logs)


async def test_a_refused_service_account_is_an_error_page(slapd: Slapd) -> None:
    async with passgate(openldap(slapd, bindPW="wrong-service-secret")) as harness:
        response = await browser_sign_in(harness, "jane", "jane-password")
        assert_error_page(response, 502)
        assert "check bindDN and bindPW" in response.text
        assert "wrong-service-secret" not in response.text


async def test_password_grant_then_refresh_after_deletion(slapd: Slapd) -> None:
    dn = slapd.add_user("pat", "pat-password")
    async with passgate(openldap(slapd)) as harness:
        response = await harness.token(password_grant("pat", "pat-password"), basic())
        assert response.status_code == 200, response.text
        body = response.json()
        claims = claims_of(body["id_token"])
        assert (claims["email"], claims["groups"]) == ("pat@example.org", [])
        assert decode_subject(claims["sub"]) == ("pat", "ldap")

        jane = await harness.token(password_grant("jane", "jane-password"), basic())
        assert claims_of(jane.json()["id_token"])["groups"] == ["admins", "developers", "ops"]

        ok = await harness.refresh(body["refresh_token"])
        assert ok.status_code == 200, ok.text
        slapd.delete(dn)
        gone = await harness.refresh(ok.json()["refresh_token"])
        assert_oauth_error(gone, "invalid_grant", status=400)


@pytest.mark.parametrize(
    ("username", "password"),
    [("jane", "wrong"), ("nobody", "jane-password"), ("*", "jane-password"),
     ("jane)(uid=*", "jane-password")],
)  # fmt: skip
async def test_password_grant_refusals(slapd: Slapd, username: str, password: str) -> None:
    async with passgate(openldap(slapd)) as harness:
        response = await harness.token(password_grant(username, password), basic())
        assert_oauth_error(response, "invalid_grant", status=400)


async def test_password_grant_with_the_directory_down_is_a_503(slapd: Slapd) -> None:
    """The directory said nothing about the person: try again later, not a wrong
    password (RFC 6749 §5.2 has no code for it; temporarily_unavailable as on refresh)."""
    async with passgate(openldap(slapd, host=f"127.0.0.1:{free_port()}")) as harness:
        response = await harness.token(password_grant("jane", "jane-password"), basic())
        assert_oauth_error(response, "temporarily_unavailable", status=503)
        assert int(response.headers["retry-after"]) > 0


async def test_a_refresh_while_the_directory_is_down_keeps_the_session() -> None:
    own = start_slapd()  # a directory of its own, to stop in the middle
    try:
        async with passgate(openldap(own)) as harness:
            response = await harness.token(password_grant("john", "john-password"), basic())
            assert response.status_code == 200, response.text
            refresh_token = response.json()["refresh_token"]
            own.stop()
            down = await harness.refresh(refresh_token)
            assert_oauth_error(down, "temporarily_unavailable", status=503)
            assert "retry-after" in down.headers
    finally:
        own.stop()
