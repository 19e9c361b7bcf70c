"""A whole browser login, driven through whatever pages the issuer shows: the connector
chooser, the login form, the approval screen (RFC 6749 §4.1 with PKCE, RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from bench.formparse import Form, parse_page
from bench.target import Endpoints, FlowError, Target, basic_auth, need, token_response

LOGIN_SCOPE = "openid email offline_access"
MAX_FLOW_STEPS = 12


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1-4.2: a verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pick_form(forms: tuple[Form, ...]) -> Form | None:
    for form in forms:
        if form.has_password:
            return form
    for form in forms:
        button = form.submit_button("approve")
        if button is not None and button.value.lower() == "approve":
            return form
    return forms[0] if forms else None


async def _next_page(
    client: httpx.AsyncClient, page: httpx.Response, target: Target, tried_password: bool
) -> tuple[httpx.Response, bool]:
    """Act on an HTML page like a person would: sign in, approve, or pick the connector."""
    parsed = parse_page(page.text)
    form = _pick_form(parsed.forms)
    here = str(page.url)
    if form is None:
        # A connector chooser is a list of links to {issuer}/auth/{connector}.
        links = [urljoin(here, h) for h in parsed.links if "/auth/" in urlsplit(h).path]
        if not links:
            raise FlowError(f"no form and no connector link at {here}")
        return await client.get(links[0]), tried_password
    fill: dict[str, str] = {}
    if form.has_password:
        if tried_password:
            raise FlowError(f"login form shown again after signing in at {here}")
        fill = {
            "login": need(target.username, "username"),
            "password": need(target.password, "password"),
        }
        tried_password = True
    entries = form.submission(fill, prefer="approve")
    action = urljoin(here, form.action) if form.action else here
    if form.method == "post":
        body = urlencode(entries)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await client.post(action, content=body, headers=headers), tried_password
    return await client.get(action, params=tuple(entries)), tried_password


async def walk(
    client: httpx.AsyncClient,
    response: httpx.Response,
    target: Target,
    arrived: Callable[[str], bool],
    where: str,
) -> str:
    """Follow redirects and act on pages, as a person and their browser would, from
    ``response`` until a redirect to a URL ``arrived`` accepts: that URL. ``where`` names
    the destination in the error when it is never reached."""
    tried_password = False
    for _ in range(MAX_FLOW_STEPS):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if arrived(location):
                return location
            response = await client.get(location)
        elif response.status_code == 200:
            response, tried_password = await _next_page(client, response, target, tried_password)
        else:
            raise FlowError(f"{response.status_code} at {response.url}: {response.text[:200]}")
    raise FlowError(f"no redirect to {where} after {MAX_FLOW_STEPS} steps")


async def authorization_code_login(
    client: httpx.AsyncClient, endpoints: Endpoints, target: Target
) -> dict[str, Any]:
    """A whole browser login with PKCE, ending in the token response (RFC 6749 §4.1);
    a target without a client secret is a public client (kubectl's)."""
    client_id = need(target.client_id, "client_id")
    redirect_uri = need(target.redirect_uri, "redirect_uri")
    client.cookies.clear()  # a fresh browser each time: no session to skip the login
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    response = await client.get(
        endpoints.authorization,
        params={
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": LOGIN_SCOPE,
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    location = await walk(
        client, response, target, lambda url: url.split("?", 1)[0] == redirect_uri, "the client"
    )
    code = _code_from(location, state)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    headers = {}
    if target.client_secret is None:  # a public client (RFC 6749 §2.1): PKCE, no secret
        form["client_id"] = client_id
    else:
        headers["Authorization"] = basic_auth(client_id, target.client_secret)
    response = await client.post(endpoints.token, data=form, headers=headers)
    return token_response(response.status_code, response.content)


def _code_from(location: str, state: str) -> str:
    query = parse_qs(urlsplit(location).query)
    if "error" in query:
        raise FlowError(f"authorization error: {query['error'][0]}")
    if query.get("state") != [state]:
        raise FlowError("state mismatch in the redirect")
    codes = query.get("code")
    if not codes:
        raise FlowError("redirect without a code")
    return codes[0]
