"""What the console's in-process tests share: an issuer with the admin API on (group
``admins``, which the harness's static user is in), signing a browser in as a person
through the portal, and reading the CSRF token of a console page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from passgate.admin.audit import Actor
from passgate.admin.users import NewUser, Secret

from .harness import EMAIL, PASSWORD, PREFIX, Harness, config_text, query_of, running

CONSOLE = f"{PREFIX}/console"
ADMIN = """
admin:
  groups: [admins]
"""
#: A password-database user outside the admin groups.
PLAIN_EMAIL = "sam@example.com"
PLAIN_PASSWORD = "sams-password"

#: Every page of the console (GET) and every action (POST).
PAGES = ("", "/clients", "/clients/example-app", "/users", "/sessions", "/revocations",
         "/keys", "/audit", "/audit.csv")  # fmt: skip
ACTIONS = ("/clients", "/clients/made/secret", "/clients/made/delete", "/clients/made",
           "/users", "/users/password", "/users/disable", "/users/enable", "/revocations",
           "/keys/rotate", "/keys/replace")  # fmt: skip

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def console(anyio_backend: str) -> AsyncIterator[Harness]:
    async with running(config_text(extra=ADMIN)) as harness:
        yield harness


async def add_plain_user(harness: Harness) -> None:
    """Sam, in the password database and in no group."""
    admin = harness.runtime.services.admin
    assert admin is not None
    new = NewUser(PLAIN_EMAIL, Secret(password=PLAIN_PASSWORD))
    await admin.users.create(new, Actor("admin:test"))


async def signed_in(
    harness: Harness, login: str = EMAIL, password: str = PASSWORD, next_path: str = "/console"
) -> httpx.AsyncClient:
    """A new browser signed in to the portal as ``login``, back at ``next_path``."""
    browser = await harness.browser()
    start = await browser.get(f"{PREFIX}/signin", params={"next": next_path})
    assert start.status_code == 303, start.text
    url = await harness.login_url(query_of(start.headers["location"]), browser)
    form = await harness.login_form(url, browser)
    response = await harness.submit_login(form, login=login, password=password, browser=browser)
    assert response.status_code == 303, response.text[:300]
    done = await browser.get(response.headers["location"])
    assert done.status_code == 303, done.text[:300]
    assert done.headers["location"] == PREFIX + next_path
    return browser


async def csrf_of(browser: httpx.AsyncClient, page: str = "/keys") -> str:
    """The CSRF token a console page puts in its forms."""
    response = await browser.get(CONSOLE + page)
    assert response.status_code == 200, response.text[:300]
    found = _CSRF.findall(response.text)
    assert found, "no form on the page"
    return found[-1]


async def post(
    browser: httpx.AsyncClient, path: str, data: dict[str, Any], *, token: str | None = None
) -> httpx.Response:
    """A console form as the browser sends it, with the page's CSRF token."""
    fields = {"csrf_token": token if token is not None else await csrf_of(browser), **data}
    return await browser.post(CONSOLE + path, data=fields)
