"""Helpers for the single sign-on tests: one call to /auth from a browser that keeps its
session cookie, and what came back (a code, an error redirect, a page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from passgate.storage.models import Password

from .harness import (
    CLIENT_ID,
    EMAIL,
    OTHER_ID,
    OTHER_REDIRECT_URI,
    PASSWORD,
    PREFIX,
    REDIRECT_URI,
    CodeResult,
    Harness,
    parse_form,
    password_hash,
    query_of,
    without_query,
)

REDIRECTS = {CLIENT_ID: REDIRECT_URI, OTHER_ID: OTHER_REDIRECT_URI}
SECOND_EMAIL = "bob@example.com"
SECOND_PASSWORD = "bobs-password"
SECOND_ID = "4b1a1d1e-7c5f-4d0e-9f44-5b0ad0a3b6c2"


def claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (the tests verify signatures elsewhere)."""
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


@dataclass
class AuthAnswer:
    """What GET /auth answered, after following Passgate's own redirects."""

    response: httpx.Response
    params: dict[str, str]

    @property
    def location(self) -> str:
        return self.response.headers.get("location", "")

    @property
    def to_client(self) -> bool:
        return self.response.status_code in (302, 303) and self.location.startswith(
            REDIRECTS[self.params["client_id"]]
        )

    @property
    def query(self) -> dict[str, str]:
        assert self.to_client, (self.response.status_code, self.location)
        return query_of(self.location)

    @property
    def to_login_form(self) -> bool:
        return self.response.status_code == 200 and 'name="password"' in self.response.text

    @property
    def to_approval(self) -> bool:
        return self.response.status_code == 200 and 'id="grant-access"' in self.response.text


async def authorize(
    harness: Harness,
    browser: httpx.AsyncClient | None = None,
    *,
    client_id: str = CLIENT_ID,
    **extra: str,
) -> AuthAnswer:
    """GET /auth from ``browser`` (its cookies kept) and follow redirects that stay
    inside Passgate (the connector, the password form, approval)."""
    browser = browser or harness.client
    params = harness.auth_params(client_id=client_id, redirect_uri=REDIRECTS[client_id], **extra)
    response = await browser.get(f"{PREFIX}/auth", params=params)
    return await follow(harness, browser, response, params)


async def code_of(harness: Harness, answer: AuthAnswer) -> CodeResult:
    assert answer.to_client, (answer.response.status_code, answer.location)
    assert without_query(answer.location) == REDIRECTS[answer.params["client_id"]]
    query = answer.query
    assert query["state"] == answer.params["state"], query
    client_id = answer.params["client_id"]
    return CodeResult(query["code"], query["state"], "", REDIRECTS[client_id], client_id)


async def tokens_of(harness: Harness, answer: AuthAnswer) -> dict[str, Any]:
    """Redeem the code the answer carries (as its client)."""
    response = await harness.exchange(await code_of(harness, answer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_second_user(harness: Harness) -> None:
    await harness.runtime.services.storage.create_password(
        Password(
            email=SECOND_EMAIL,
            hash=password_hash(SECOND_PASSWORD).encode(),
            username="bob",
            user_id=SECOND_ID,
        )
    )


async def follow(
    harness: Harness, browser: httpx.AsyncClient, response: httpx.Response, params: dict[str, str]
) -> AuthAnswer:
    """Follow Passgate's own redirects from ``response``."""
    for _ in range(5):
        location = response.headers.get("location", "")
        if response.status_code not in (302, 303) or not location.startswith(PREFIX):
            break
        response = await browser.get(location)
    return AuthAnswer(response, params)


async def sign_in(
    harness: Harness,
    answer: AuthAnswer,
    browser: httpx.AsyncClient | None = None,
    *,
    login: str = EMAIL,
    password: str = PASSWORD,
    approve: bool = True,
    **fields: str,
) -> AuthAnswer:
    """Fill in the password form ``answer`` shows; then approve if asked."""
    browser = browser or harness.client
    assert answer.to_login_form, (answer.response.status_code, answer.response.text[:300])
    form = parse_form(answer.response.text)
    response = await harness.submit_login(
        form, login=login, password=password, browser=browser, **fields
    )
    after = await follow(harness, browser, response, answer.params)
    if approve and after.to_approval:
        return await approve_it(harness, after, browser)
    return after


async def approve_it(
    harness: Harness, answer: AuthAnswer, browser: httpx.AsyncClient | None = None, **fields: str
) -> AuthAnswer:
    browser = browser or harness.client
    assert answer.to_approval, (answer.response.status_code, answer.response.text[:300])
    response = await harness.submit_approval(
        parse_form(answer.response.text), browser=browser, **fields
    )
    return await follow(harness, browser, response, answer.params)
