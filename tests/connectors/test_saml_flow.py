"""The ``saml`` connector inside Passgate with the real SAML IdP: /auth → the chooser →
the auto-posting page → the IdP → POST /callback → code → tokens, plus the refusal
pages (a forged answer, another browser, a broken ca file) and the SP metadata."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from lxml import etree
from structlog.testing import capture_logs

from connectors.flow import CALLBACK, STATE, claims_of, code_to_tokens, passgate_with
from passgate.storage.models import AuditFilter
from saml_idp.forge import decode, encode, strip_signatures
from saml_idp.idp import IdP, connector_yaml, page_form, require_xmlsec1, running_idp
from server.harness import CLIENT_ID, ISSUER, PREFIX, Harness, assert_error_page

pytestmark = pytest.mark.anyio

ENTITY = f"{ISSUER}/saml/metadata/saml"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdP]:
    require_xmlsec1()
    with running_idp(tmp_path_factory.mktemp("idp")) as running:
        yield running


@asynccontextmanager
async def passgate(idp: IdP, **extra: str) -> AsyncIterator[Harness]:
    async with passgate_with(connector_yaml(idp, ISSUER, **extra)) as harness:
        metadata = await harness.client.get(f"{PREFIX}/saml/metadata/saml")
        assert metadata.status_code == 200, metadata.text
        idp.register_sp(metadata.text)  # the IdP is set up from Passgate's metadata
        yield harness


async def to_idp(harness: Harness, browser: httpx.AsyncClient | None = None) -> httpx.Response:
    """/auth, pick SAML on the chooser: the page that posts the AuthnRequest."""
    browser = browser or harness.client
    page = await browser.get(f"{PREFIX}/auth", params=harness.auth_params(state=STATE))
    assert page.status_code == 200, page.text[:300]
    link = re.search(r'href="([^"]*/auth/saml\?[^"]*)"', page.text)
    assert link is not None, page.text
    return await browser.get(link.group(1).replace("&amp;", "&"))


async def through_idp(idp: IdP, page: httpx.Response, user: str = "jane") -> dict[str, str]:
    assert page.status_code == 200, page.text[:300]
    action, fields = page_form(page.text)
    assert set(fields) == {"SAMLRequest", "RelayState"}
    assert len(fields["RelayState"]) <= 80  # SAML Bindings §3.5.3
    back = await anyio.to_thread.run_sync(lambda: idp.sign_in(action, fields, user))
    assert back.pop("action") == CALLBACK
    return back


async def test_sign_in_with_groups_through_the_idp(idp: IdP) -> None:
    async with passgate(idp) as harness:
        page = await to_idp(harness)
        # The page posts by itself (a script its own CSP allows) and has a button.
        assert 'id="submit-saml"' in page.text
        nonce = re.search(r'<script nonce="([^"]+)"', page.text)
        assert nonce is not None
        assert f"'nonce-{nonce.group(1)}'" in page.headers["content-security-policy"]
        back = await through_idp(idp, page)
        response = await harness.client.post(f"{PREFIX}/callback", data=back)
        tokens = await code_to_tokens(harness, response)
        claims = claims_of(tokens["id_token"])
        assert claims["email"] == "jane@example.com"
        assert claims["email_verified"] is True
        assert claims["name"] == "Jane Doe"
        assert claims["groups"] == ["admins", "devs"]
        # The same answer again: the sign-in is over.
        again = await harness.client.post(f"{PREFIX}/callback", data=back)
        assert_error_page(again, 400)


async def test_the_callback_path_with_the_connector_id_works(idp: IdP) -> None:
    async with passgate(idp) as harness:
        back = await through_idp(idp, await to_idp(harness))
        wrong = await harness.client.post(f"{PREFIX}/callback/other", data=back)
        assert_error_page(wrong, 400)
        response = await harness.client.post(f"{PREFIX}/callback/saml", data=back)
        await code_to_tokens(harness, response)


async def test_a_cross_site_post_without_our_cookie_is_posted_again(idp: IdP) -> None:
    """The IdP's page posts from another site, so a browser leaves our SameSite=Lax
    cookie out: Passgate answers with a page that posts again from its own origin."""
    async with passgate(idp) as harness:
        back = await through_idp(idp, await to_idp(harness))
        cookieless = await harness.browser()
        relay = await cookieless.post(f"{PREFIX}/callback", data=back)
        assert relay.status_code == 200, relay.text[:300]
        action, fields = page_form(relay.text)
        assert action == f"{PREFIX}/callback"
        assert fields["passgate_relayed"] == "1"
        # Another browser gets no further than that...
        other = await cookieless.post(action, data=fields)
        assert_error_page(other, 403)
        # ...and the browser that started the sign-in completes it.
        response = await harness.client.post(action, data=fields)
        await code_to_tokens(harness, response)


async def test_an_unsigned_answer_is_a_502_page(idp: IdP) -> None:
    async with passgate(idp) as harness:
        back = await through_idp(idp, await to_idp(harness))
        back["SAMLResponse"] = encode(strip_signatures(decode(back["SAMLResponse"])))
        response = await harness.client.post(f"{PREFIX}/callback", data=back)
        assert_error_page(response, 502)
        assert "nor its assertion is signed" in response.text
        await assert_login_failure(harness, "signed")


async def test_a_user_outside_the_allowed_groups_gets_a_403_page(idp: IdP) -> None:
    async with passgate(idp, allowedGroups="[finance]") as harness:
        back = await through_idp(idp, await to_idp(harness))
        response = await harness.client.post(f"{PREFIX}/callback", data=back)
        assert_error_page(response, 403)
        assert "not in any group allowed here" in response.text
        await assert_login_failure(harness, "not in any group allowed here")


async def assert_login_failure(harness: Harness, reason: str) -> None:
    """The refused sign-in is in the audit log, with the connector and the client."""
    storage = harness.runtime.services.storage
    [event] = await storage.list_audit_events(AuditFilter(action="login.failure"))
    assert (event.outcome, event.connector_id, event.client_id) == ("failure", "saml", CLIENT_ID)
    assert reason in event.details["reason"]


async def test_a_forged_relay_state_is_refused(idp: IdP) -> None:
    async with passgate(idp) as harness:
        back = await through_idp(idp, await to_idp(harness))
        request_id = back["RelayState"].split(".")[0]
        forged = {**back, "RelayState": f"{request_id}.{'0' * 48}"}
        assert_error_page(await harness.client.post(f"{PREFIX}/callback", data=forged), 403)
        assert_error_page(
            await harness.client.post(f"{PREFIX}/callback", data={"SAMLResponse": "x"}), 400
        )


async def test_a_bad_ca_file_is_a_page_and_a_log_line(idp: IdP, tmp_path: Path) -> None:
    missing = tmp_path / "missing-idp.pem"
    async with passgate_with(connector_yaml(idp, ISSUER, caData="", ca=str(missing))) as harness:
        with capture_logs() as logs:
            page = await to_idp(harness)
        assert_error_page(page, 502)
        assert any(
            entry["event"] == "connector login failed" and "missing-idp.pem" in entry["error"]
            for entry in logs
        ), logs
        assert "missing-idp.pem" in page.text
        assert "cannot be read" in page.text


async def test_the_sp_metadata(idp: IdP) -> None:
    async with passgate(idp) as harness:
        response = await harness.client.get(f"{PREFIX}/saml/metadata/saml")
        assert response.headers["content-type"].startswith("application/samlmetadata+xml")
        root = etree.fromstring(response.content)
        assert root.get("entityID") == ENTITY
        md = "urn:oasis:names:tc:SAML:2.0:metadata"
        service = root.find(f"{{{md}}}SPSSODescriptor/{{{md}}}AssertionConsumerService")
        assert service is not None
        assert service.get("Location") == CALLBACK
        unknown = await harness.client.get(
            f"{PREFIX}/saml/metadata/local", headers={"accept": "text/html"}
        )
        assert_error_page(unknown, 404)
