"""Client authentication at the token endpoint (RFC 6749 §2.3)."""

from __future__ import annotations

import binascii
import secrets
from base64 import b64decode
from dataclasses import dataclass
from urllib.parse import unquote_plus

from passgate.oauth2.errors import InvalidClientError, InvalidRequestError
from passgate.oauth2.params import Params

BASIC = "client_secret_basic"
POST = "client_secret_post"
NONE = "none"
SUPPORTED_METHODS = (BASIC, POST)


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What the request presented: the id, the secret (if any) and how."""

    client_id: str
    secret: str
    method: str


def _basic_challenge() -> dict[str, str]:
    # RFC 6749 §5.2: 401 with WWW-Authenticate when the client used the Authorization header.
    return {"WWW-Authenticate": 'Basic realm="passgate", charset="UTF-8"'}


def read_credentials(authorization: str | None, form: Params) -> ClientCredentials:
    """Extract the client's credentials from HTTP Basic or the form body.

    RFC 6749 §2.3: a client MUST NOT use more than one authentication method in a request.
    RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
    """
    form_id = form.optional("client_id")
    form_secret = form.optional("client_secret")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClientError("unsupported authorization scheme", headers=_basic_challenge())
        if form_secret:
            raise InvalidRequestError("client authenticated with more than one method")
        try:
            decoded = b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidClientError(
                "malformed basic credentials", headers=_basic_challenge()
            ) from None
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            raise InvalidClientError("malformed basic credentials", headers=_basic_challenge())
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if "\x00" in client_id or "\x00" in secret:
            # Form values get this check in Params; PostgreSQL text cannot hold NUL.
            raise InvalidClientError("malformed basic credentials", headers=_basic_challenge())
        if form_id and form_id != client_id:
            raise InvalidRequestError("client_id does not match the authenticated client")
        return ClientCredentials(client_id, secret, BASIC)
    if not form_id:
        raise InvalidClientError("client authentication is required")
    return ClientCredentials(form_id, form_secret, POST if form_secret else NONE)


def check_secret(expected: str, presented: str, method: str) -> None:
    """Constant-time comparison; a 401 challenge when Basic was used (RFC 6749 §5.2)."""
    headers = _basic_challenge() if method == BASIC else None
    if not expected or not secrets.compare_digest(
        expected.encode("utf-8"), presented.encode("utf-8")
    ):
        raise InvalidClientError("invalid client credentials", headers=headers)


def unknown_client(method: str) -> InvalidClientError:
    headers = _basic_challenge() if method == BASIC else None
    return InvalidClientError("invalid client credentials", headers=headers)
