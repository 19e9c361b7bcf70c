"""The OAuth 2.0 authorization server skeleton the fake upstreams share (GitHub, GitLab,
Google, Microsoft): reading the client's credentials, checking a PKCE verifier,
sending the browser back to the client, and what every request carried. Each fake keeps
its own upstream's error shapes and token formats; only the protocol mechanics are here."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["NO_STORE", "client_credentials", "pkce_matches", "redirect_back", "request_params"]

#: RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def client_credentials(request: Request, form: Mapping[str, str]) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or else the form (RFC 6749 §2.3.1);
    ``("", "")`` for a Basic header that does not decode."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            pair = base64.b64decode(header[6:]).decode()
        except ValueError:
            return "", ""
        client_id, _, secret = pair.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    """RFC 7636 §4.6: the verifier, transformed by ``method`` (S256 or plain), is the
    challenge the authorization request carried."""
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return bool(verifier) and secrets.compare_digest(verifier, challenge)


def redirect_back(redirect_uri: str, params: Mapping[str, str]) -> Response:
    """The browser sent back to the client with ``params`` added to the redirect URI's
    query (RFC 6749 §4.1.2: a code and state, or §4.1.2.1: an error)."""
    separator = "&" if "?" in redirect_uri else "?"
    location = f"{redirect_uri}{separator}{urlencode(dict(params))}"
    return Response(status_code=302, headers={"Location": location})


async def request_params(request: Request) -> dict[str, str]:
    """The query parameters, and for a POST the form fields too, as a test inspects them."""
    params = dict(request.query_params)
    if request.method == "POST":
        params |= {key: str(value) for key, value in (await request.form()).items()}
    return params
