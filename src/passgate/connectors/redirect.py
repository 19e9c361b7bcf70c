"""The browser half of an OAuth 2.0 authorization code flow towards an upstream, shared by
every redirect connector: the callback URL check, the authorization URL, PKCE, reading
the callback and the code-for-token form."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from passgate.connectors.base import ConnectorError
from passgate.oauth2.pkce import s256_challenge

__all__ = ["authorization_url", "check_callback_url", "code_form", "code_of", "new_pkce"]


def check_callback_url(redirect_uri: str, callback_url: str) -> None:
    """As Dex: the upstream must send the person back to where Passgate listens."""
    if callback_url != redirect_uri:
        raise ConnectorError(
            f"redirectURI {redirect_uri!r} does not match this server's callback URL "
            f"{callback_url!r}"
        )


def authorization_url(endpoint: str, params: dict[str, str]) -> str:
    """``endpoint`` with ``params`` added to any query it already has (RFC 6749 §3.1)."""
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


def new_pkce(method: str = "S256") -> tuple[str, dict[str, str]]:
    """A fresh verifier (RFC 7636 §4.1, kept server-side) and the authorization request
    parameters carrying its challenge (§4.3)."""
    verifier = secrets.token_urlsafe(48)
    challenge = s256_challenge(verifier) if method == "S256" else verifier
    return verifier, {"code_challenge": challenge, "code_challenge_method": method}


def code_of(query: dict[str, str], upstream: str) -> str:
    """The authorization code of the callback, or the upstream's refusal as an error."""
    if error := query.get("error"):
        # RFC 6749 §4.1.2.1: the upstream refused (access_denied when the person said no).
        # Only the first line: Microsoft appends "Trace ID: ..." and "Correlation ID: ...".
        description = query.get("error_description", "").strip().splitlines()
        detail = f": {description[0]}" if description else ""
        raise ConnectorError(f"{upstream} refused the sign-in: {error}{detail}")
    code = query.get("code", "")
    if not code:
        raise ConnectorError(f"the {upstream} callback has no code")
    return code


def code_form(code: str, redirect_uri: str, verifier: str = "") -> dict[str, str]:
    """The access token request (RFC 6749 §4.1.3), with the PKCE verifier (RFC 7636 §4.5)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        form["code_verifier"] = verifier
    return form
