"""What the connector learns from the upstream: its discovery document and signing keys.

Both are fetched lazily (the upstream may be down when Passgate starts) and cached. The
key set is fetched again when a token names a key id we do not know (key rollover), at
most once per :data:`JWKS_REFETCH_INTERVAL` so a stream of forged ``kid`` values cannot
make us hammer the upstream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from passgate.connectors.base import ConnectorError
from passgate.connectors.http import fetch_json

JWKS_REFETCH_INTERVAL = 10.0  # seconds between two key-set fetches


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The discovered endpoints, after ``providerDiscoveryOverrides``."""

    authorization: str
    token: str
    jwks: str
    userinfo: str
    scopes_supported: tuple[str, ...]


class Provider:
    """The upstream's metadata and key set, cached."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        issuer: str,
        expected_issuer: str,
        overrides: dict[str, str | None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._issuer = issuer
        self._expected_issuer = expected_issuer
        self._overrides = overrides
        self._monotonic = monotonic
        self._endpoints: Endpoints | None = None
        self._keys: KeySet | None = None
        self._keys_fetched_at = float("-inf")
        self._lock = anyio.Lock()

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            async with self._lock:
                if self._endpoints is None:
                    self._endpoints = await self._discover()
        return self._endpoints

    async def _discover(self) -> Endpoints:
        # OpenID Connect Discovery 1.0 §4
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await fetch_json(
            self._http, "upstream discovery", self._http.build_request("GET", url)
        )
        # Discovery §4.3: the issuer must be identical to the one we were configured with
        # (or to Dex's issuerAlias, for upstreams that name themselves differently).
        if doc.get("issuer") != self._expected_issuer:
            raise ConnectorError(
                f"upstream discovery names issuer {doc.get('issuer')!r}, "
                f"expected {self._expected_issuer!r}"
            )

        def pick(key: str, override: str, required: bool = True) -> str:
            value = self._overrides.get(override) or doc.get(key)
            if value is None and not required:
                return ""
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise ConnectorError(f"upstream discovery has no valid {key}")
            return value

        scopes = doc.get("scopes_supported")
        return Endpoints(
            authorization=pick("authorization_endpoint", "authURL"),
            token=pick("token_endpoint", "tokenURL"),
            jwks=pick("jwks_uri", "jwksURL"),
            userinfo=pick("userinfo_endpoint", "userInfoURL", required=False),
            scopes_supported=tuple(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else (),
        )

    async def keys(self, kid: str | None) -> KeySet:
        """The key set, fetched again if it lacks ``kid`` and the last fetch is not recent."""
        known = self._keys is not None and (kid is None or _has_kid(self._keys, kid))
        if known:
            assert self._keys is not None
            return self._keys
        async with self._lock:
            recent = self._monotonic() - self._keys_fetched_at < JWKS_REFETCH_INTERVAL
            if self._keys is None or (not recent and not _has_kid(self._keys, kid)):
                self._keys = await self._fetch_keys()
                self._keys_fetched_at = self._monotonic()
        assert self._keys is not None
        return self._keys

    async def _fetch_keys(self) -> KeySet:
        endpoints = await self._endpoints_unlocked()
        doc = await fetch_json(
            self._http,
            "upstream key set",
            self._http.build_request("GET", endpoints.jwks),
        )
        try:
            return KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise ConnectorError(f"upstream key set is not usable: {error}") from error

    async def _endpoints_unlocked(self) -> Endpoints:
        if self._endpoints is None:
            self._endpoints = await self._discover()
        return self._endpoints


def _has_kid(keys: KeySet, kid: str | None) -> bool:
    if kid is None:
        return True
    return any(key.kid == kid for key in keys.keys)
