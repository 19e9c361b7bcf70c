"""The admin console in Chromium against a real ``passgate serve``: every page
photographed into the test artefacts and checked with axe-core (labels, names,
contrast); a client made in the console signs a person in through the authorization-code
flow; a user's grants revoked; keys rotated with the keyboard and the new kid in the
JWKS; the audit log filtered and exported; and the refusals (someone outside the admin
groups, a forged form) as pages. Everything runs under the house CSP: a violation fails.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Route, sync_playwright

from .conftest import CHROMIUM_ARGS, CLIENT_ID, EMAIL, PASSWORD, Server, free_port, run_passgate

pytestmark = pytest.mark.slow

ADMIN = """
admin:
  groups: [admins]
"""
SAM, SAM_PASSWORD = "sam@example.com", "sams-password-1"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[Server]:
    """Passgate with the admin API on for the group admins, which jane is in."""
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    with run_passgate(tmp_path, free_port(), redirect, ADMIN, groups=("admins",)) as server:
        yield server


class Visit:
    """One Chromium for a test: pages that fail the test on any CSP violation or
    script error, screenshots into the artefacts, axe-core's verdict on a page."""

    def __init__(self, browser: Browser, server: Server, artifacts: Path) -> None:
        self.browser, self.server, self.artifacts = browser, server, artifacts
        self.problems: list[str] = []
        self.callbacks: list[str] = []

    def page(self) -> Page:
        """A new browser context (a person of their own) and its page."""
        page = self.browser.new_context(accept_downloads=True).new_page()
        page.set_default_timeout(15_000)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.route("http://127.0.0.1:*/callback**", self._callback)
        page.route("http://127.0.0.1:*/made**", self._callback)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        # An answer's status is the test's to check ("Failed to load resource: ... 403").
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def _callback(self, route: Route) -> None:
        self.callbacks.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>client callback</h1>")

    def shot(self, page: Page, name: str) -> None:
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        data = path.read_bytes()
        assert data.startswith(PNG), path
        assert len(data) > 1000, path

    def accessible(self, page: Page) -> None:
        """No axe-core violation of WCAG 2.1 A/AA on the page."""
        options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
        results = Axe().run(page, options=options)
        assert results.violations_count == 0, (page.url, results.generate_report())

    def sign_in(self, page: Page, email: str = EMAIL, password: str = PASSWORD) -> None:
        """Open the console; it sends a stranger to the sign-in and back."""
        page.goto(f"{self.server.issuer}/console")
        page.wait_for_url("**/dex/auth/local/login?**")
        page.fill("#login", email)
        page.fill("#password", password)
        page.click("#submit-login")
        page.wait_for_load_state()


@contextmanager
def chromium(chromium_path: str, server: Server, artifacts: Path) -> Iterator[Visit]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            visit = Visit(browser, server, artifacts)
            yield visit
            assert visit.problems == []  # no CSP violation, no script error
        finally:
            browser.close()


def code_flow(visit: Visit, page: Page, client_id: str, redirect_uri: str) -> tuple[str, str]:
    """The authorization-code flow (PKCE S256) in ``page``, signed in already or not:
    the code the browser carried to the client, and the verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": "openid email profile offline_access", "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    }  # fmt: skip
    page.goto(f"{visit.server.issuer}/auth?{urlencode(params)}")
    page.wait_for_url("**/dex/approval?**")
    page.click("#grant-access")
    page.wait_for_url(f"{redirect_uri}?**")
    landed = urlsplit(visit.callbacks[-1])
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == redirect_uri
    return parse_qs(landed.query)["code"][0], verifier


def token(server: Server, client: tuple[str, str], data: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.issuer}/token", data=data, auth=client, timeout=10)


def redeem(server: Server, client: tuple[str, str], redirect: str, code: str, verifier: str) -> str:
    """The client's half of the flow: the code for tokens; the refresh token."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
            "code_verifier": verifier}  # fmt: skip
    answer = token(server, client, data)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id_token"]
    return str(answer.json()["refresh_token"])


def test_every_console_page_is_accessible_and_photographed(
    console_server: Server, chromium_path: str, artifacts: Path
) -> None:
    with chromium(chromium_path, console_server, artifacts) as visit:
        page = visit.page()
        visit.sign_in(page)
        assert urlsplit(page.url).path == "/dex/console"
        assert page.inner_text("h1") == "Console"
        for area, name in (("overview", "Console"), ("clients", "Clients"),
                           ("users", "Users"), ("sessions", "Sessions"),
                           ("revocations", "Revocations"), ("keys", "Signing keys"),
                           ("audit", "Audit log")):  # fmt: skip
            page.click(f"#area-{area}")
            page.wait_for_load_state()
            assert page.inner_text("h1") == name
            assert page.get_attribute(f"#area-{area}", "aria-current") == "page"
            visit.shot(page, area)
            visit.accessible(page)
        page.goto(f"{console_server.issuer}/console/clients/{CLIENT_ID}")
        assert "lives in git" in page.inner_text("#static-note")
        visit.shot(page, "client-static")
        visit.accessible(page)


def test_a_client_made_in_the_console_signs_a_person_in(
    console_server: Server, chromium_path: str, artifacts: Path
) -> None:
    made = f"http://127.0.0.1:{free_port()}/made"
    with chromium(chromium_path, console_server, artifacts) as visit:
        page = visit.page()
        visit.sign_in(page)
        page.click("#area-clients")
        page.fill("#client-id", "console-app")
        page.fill("#client-name", "Console App")
        page.fill("#client-redirects", made)
        page.click("#create-client-submit")
        page.wait_for_selector("#new-secret")
        secret = page.inner_text("#new-secret").strip()
        assert page.is_visible("button[data-copy]")  # console.js ran under the CSP
        visit.shot(page, "client-created")
        visit.accessible(page)
        page.goto(f"{console_server.issuer}/console/clients/console-app")
        assert secret not in page.content()
        visit.shot(page, "client")

        code, verifier = code_flow(visit, page, "console-app", made)
    redeem(console_server, ("console-app", secret), made, code, verifier)


def test_a_users_grants_are_revoked_and_a_stranger_is_refused(
    console_server: Server, chromium_path: str, artifacts: Path
) -> None:
    with chromium(chromium_path, console_server, artifacts) as visit:
        admin = visit.page()
        visit.sign_in(admin)
        admin.click("#area-users")
        admin.fill("#user-email", SAM)
        admin.fill("#user-name", "Sam")
        admin.fill("#user-password", SAM_PASSWORD)
        admin.click("#create-user-submit")
        admin.wait_for_selector("#notice")

        # Sam signs in at the page app (a grant), and is no admin.
        sam = visit.page()
        code, verifier = code_flow_with_login(visit, sam)
        refresh = redeem(console_server, (CLIENT_ID, "cGFnZS1hcHAtc2VjcmV0"),
                         console_server.redirect_uri, code, verifier)  # fmt: skip
        refused = sam.goto(f"{console_server.issuer}/console/users")
        assert refused is not None
        assert refused.status == 403
        assert sam.inner_text("h1") == "Not an administrator"
        visit.shot(sam, "forbidden")

        admin.click(f"tr[data-email='{SAM}'] >> text=Sessions")
        admin.wait_for_selector("#revoke-user")
        assert SAM in admin.inner_text("#grants")
        visit.shot(admin, "sessions-of-a-user")
        # console.js asks first; saying no sends nothing.
        admin.once("dialog", lambda dialog: dialog.dismiss())
        admin.click("#revoke-user")
        assert admin.query_selector("#notice") is None
        admin.once("dialog", accept)
        admin.click("#revoke-user")
        admin.wait_for_selector("#notice")
        # Sam's sign-in to Passgate's own pages and the page app's grant.
        assert "Sessions ended: 2." in admin.inner_text("#notice")
        assert "No grants match." in admin.inner_text("#grants")
        visit.shot(admin, "sessions-revoked")
        again = token(console_server, (CLIENT_ID, "cGFnZS1hcHAtc2VjcmV0"),
                      {"grant_type": "refresh_token", "refresh_token": refresh})  # fmt: skip
        assert again.status_code == 400

        admin.click("#area-users")
        row = f"tr[data-email='{SAM}']"
        admin.click(f"{row} >> summary:has-text('Disable')")
        admin.fill(f"{row} input[name=reason]", "left the team")
        admin.once("dialog", accept)
        admin.click(f"{row} button.danger")
        admin.wait_for_selector("#notice")
        assert "disabled" in admin.inner_text(row)
        visit.shot(admin, "users")
        visit.accessible(admin)


def accept(dialog: Dialog) -> None:
    dialog.accept()


def code_flow_with_login(visit: Visit, page: Page) -> tuple[str, str]:
    """Sam at the page app: the password form, then the flow to the code."""
    page.goto(f"{visit.server.issuer}/")
    page.click("#sign-in")
    page.wait_for_url("**/dex/auth/local/login?**")
    page.fill("#login", SAM)
    page.fill("#password", SAM_PASSWORD)
    page.click("#submit-login")
    page.wait_for_url(f"{visit.server.issuer}/")
    return code_flow(visit, page, CLIENT_ID, visit.server.redirect_uri)


def jwks_kids(server: Server) -> set[str]:
    keys = httpx.get(f"{server.issuer}/keys", timeout=10).json()["keys"]
    return {str(key["kid"]) for key in keys}


def test_keys_rotate_from_the_keyboard_and_the_new_kid_is_in_the_jwks(
    console_server: Server, chromium_path: str, artifacts: Path
) -> None:
    with chromium(chromium_path, console_server, artifacts) as visit:
        page = visit.page()
        visit.sign_in(page)
        page.click("#area-keys")
        assert "none published yet" in page.inner_text("#next-kid")
        page.focus("#area-keys")
        for _ in range(40):  # Tab through the page to the button, as a keyboard user
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "rotate-submit":
                break
        else:
            pytest.fail("the Rotate button is not reachable with Tab")
        page.keyboard.press("Enter")
        page.wait_for_selector("#notice")
        kid = page.inner_text("#next-kid code")
        assert kid in jwks_kids(console_server)
        visit.shot(page, "keys-rotated")

        page.click("#replace summary")
        page.click("#replace-submit")  # the box is required: the browser does not send
        assert page.query_selector("#replace-confirm:invalid") is not None
        page.check("#replace-confirm")
        visit.shot(page, "keys-replace")
        page.once("dialog", accept)
        page.click("#replace-submit")
        page.wait_for_selector("#notice")
        signing = page.inner_text("#signing-kid code")
        assert signing != kid
        assert signing in jwks_kids(console_server)
        assert kid not in jwks_kids(console_server)


def test_the_audit_log_is_filtered_and_exported(
    console_server: Server, chromium_path: str, artifacts: Path
) -> None:
    with chromium(chromium_path, console_server, artifacts) as visit:
        page = visit.page()
        visit.sign_in(page)
        page.click("#area-keys")
        page.click("#rotate-submit")
        page.wait_for_selector("#notice")
        page.click("#area-audit")
        page.fill("#a-action", "admin.keys")
        page.click("#filter-submit")
        page.wait_for_url("**/console/audit?**action=admin.keys**")
        actions = page.locator("#events tbody td:nth-child(3)").all_inner_texts()
        assert actions
        assert all(action.startswith("admin.keys") for action in actions), actions
        assert "admin.keys.rotate" in actions
        visit.shot(page, "audit-filtered")
        visit.accessible(page)
        with page.expect_download() as download:
            page.click("#export")
        assert download.value.suggested_filename.startswith("passgate-audit-")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert rows
        assert {row["action"] for row in rows} <= {"admin.keys.get", "admin.keys.rotate"}
        assert "admin.keys.rotate" in {row["action"] for row in rows}


def test_a_forged_form_is_refused_with_a_page(
    console_server: Server, chromium_path: str, artifacts: Path
) -> None:
    with chromium(chromium_path, console_server, artifacts) as visit:
        page = visit.page()
        visit.sign_in(page)
        page.click("#area-keys")
        # As a page on another site would have to: a form without the right token.
        page.evaluate("document.querySelector('#rotate input[name=csrf_token]').value = 'forged'")
        with page.expect_navigation():
            page.click("#rotate-submit")
        assert page.inner_text("h1") == "Form expired"
        visit.shot(page, "forged-form")
        visit.accessible(page)
    assert len(jwks_kids(console_server)) == 1  # nothing was rotated: no next key published
