"""Access tokens for the Admin SDK, as a service account acting for a Workspace admin.

Google's domain-wide delegation: the service account signs a JWT whose ``sub`` is the
admin to act for, and trades it at the key file's ``token_uri`` for an access token
(RFC 7523 §2.1, the JWT bearer grant). Tokens are cached per admin until shortly before
they expire, so a sign-in costs one Directory call, not two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from passgate.clock import Clock
from passgate.connectors.base import ConnectorError, UpstreamUnavailableError
from passgate.connectors.http import json_object, send

__all__ = [
    "DIRECTORY_GROUP_SCOPE",
    "JWT_BEARER",
    "DelegatedTokens",
    "ServiceAccount",
    "ServiceAccountError",
    "load_service_account",
]

#: The one scope Dex delegates: read groups and memberships.
DIRECTORY_GROUP_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"
#: RFC 7523 §2.1
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Where Google's key files send the assertion when they name no ``token_uri``.
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: Google accepts assertions that live at most one hour.
ASSERTION_LIFETIME = timedelta(hours=1)
#: A cached access token is renewed this long before it expires.
EXPIRY_MARGIN = timedelta(minutes=1)


class ServiceAccountError(ValueError):
    """The service account key file cannot be used; raised when the connector opens."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """What Passgate uses from a Google service account key file (``type: service_account``)."""

    client_email: str
    token_uri: str
    key: RSAKey = field(repr=False)
    key_id: str = ""


def _text(data: Mapping[str, Any], key: str, source: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ServiceAccountError(f"{source}: has no {key!r}")
    return value


def parse_service_account(raw: bytes, source: str) -> ServiceAccount:
    """The service account in the JSON key file ``raw`` (``source`` names it in errors)."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise ServiceAccountError(f"{source}: is not a JSON service account key file") from None
    if not isinstance(data, dict):
        raise ServiceAccountError(f"{source}: is not a JSON service account key file")
    kind = data.get("type")
    if kind != "service_account":
        raise ServiceAccountError(
            f"{source}: 'type' is {kind!r}, expected 'service_account' "
            "(a key file of a service account with domain-wide delegation)"
        )
    email = _text(data, "client_email", source)
    pem = _text(data, "private_key", source)
    token_uri = data.get("token_uri") or DEFAULT_TOKEN_URI
    if not isinstance(token_uri, str) or not token_uri.startswith(("https://", "http://")):
        raise ServiceAccountError(f"{source}: 'token_uri' is not an http(s) URL")
    try:
        key = RSAKey.import_key(pem)
    except (JoseError, ValueError, TypeError) as error:
        raise ServiceAccountError(
            f"{source}: 'private_key' is not a PEM RSA private key ({error})"
        ) from None
    if not key.is_private:
        raise ServiceAccountError(f"{source}: 'private_key' is a public key")
    key_id = data.get("private_key_id")
    return ServiceAccount(
        client_email=email,
        token_uri=token_uri,
        key=key,
        key_id=key_id if isinstance(key_id, str) else "",
    )


def load_service_account(path: str) -> ServiceAccount:
    """Read and parse the key file at ``path`` (at start-up, once)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise ServiceAccountError(
            f"cannot read the service account key file {path!r}: {error.strerror or error}"
        ) from None
    return parse_service_account(raw, f"service account key file {path!r}")


class DelegatedTokens:
    """Directory API access tokens of one service account, per admin it acts for."""

    def __init__(self, http: httpx.AsyncClient, account: ServiceAccount, clock: Clock) -> None:
        self._http = http
        self._account = account
        self._clock = clock
        self._cache: dict[str, tuple[str, datetime]] = {}
        self._lock = anyio.Lock()

    @property
    def account(self) -> ServiceAccount:
        return self._account

    async def token(self, subject: str) -> str:
        """An access token for acting as ``subject``, fetched again when about to expire."""
        async with self._lock:  # one fetch at a time: concurrent sign-ins share a token
            cached = self._cache.get(subject)
            if cached is not None and cached[1] - EXPIRY_MARGIN > self._clock():
                return cached[0]
            token, expires_at = await self._fetch(subject)
            self._cache[subject] = (token, expires_at)
            return token

    def forget(self, subject: str) -> None:
        """Drop a token the API refused (revoked before it expired)."""
        self._cache.pop(subject, None)

    def assertion(self, subject: str) -> str:
        """The signed JWT of RFC 7523 §2.1, as Google's domain-wide delegation wants it."""
        now = self._clock()
        claims = {
            "iss": self._account.client_email,
            "sub": subject,  # the admin whose rights the service account borrows
            "scope": DIRECTORY_GROUP_SCOPE,
            "aud": self._account.token_uri,
            "iat": int(now.timestamp()),
            "exp": int((now + ASSERTION_LIFETIME).timestamp()),
        }
        header = {"alg": "RS256", "typ": "JWT"}
        if self._account.key_id:
            header["kid"] = self._account.key_id
        return jwt.encode(header, claims, self._account.key, algorithms=["RS256"])

    async def _fetch(self, subject: str) -> tuple[str, datetime]:
        what = f"Google token endpoint (service account {self._account.client_email} for {subject})"
        request = self._http.build_request(
            "POST",
            self._account.token_uri,
            data={"grant_type": JWT_BEARER, "assertion": self.assertion(subject)},
            headers={"Accept": "application/json"},
        )
        response = await send(self._http, what, request)
        try:
            body = json_object(what, response)
        except UpstreamUnavailableError:
            raise
        except ConnectorError as error:
            # Passgate's own credentials were refused: nothing about the person signing
            # in, so a refresh keeps its session until the setup is fixed.
            raise UpstreamUnavailableError(
                f"{error} (check the key file, the domain-wide delegation of "
                f"{DIRECTORY_GROUP_SCOPE} and the admin email in domainToAdminEmail)"
            ) from None
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise UpstreamUnavailableError(f"{what} answered no access_token")
        expires_in = body.get("expires_in", 3600)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            raise UpstreamUnavailableError(f"{what} answered an invalid expires_in")
        return token, self._clock() + timedelta(seconds=expires_in)
