"""Sign-in through any OpenID Connect provider (Dex ``oidc``): authorization code flow,
full ID token validation, optional userinfo, and refresh against the upstream.

The ``nonce`` sent upstream is derived from the browser-bound ``state`` Passgate gives us,
so a code obtained for one browser's sign-in cannot be replayed into another's.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.util import urlsafe_b64encode

from passgate.clock import Clock, system_clock
from passgate.config.connectors.oidc import OIDCConfig
from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    Identity,
    RefreshConnector,
    Scopes,
)
from passgate.connectors.http import OAuth2Client, client, fetch_json
from passgate.connectors.oidc.claims import identity_from_claims
from passgate.connectors.oidc.provider import Provider
from passgate.connectors.redirect import (
    authorization_url,
    check_callback_url,
    code_form,
    code_of,
    new_pkce,
)

#: Asymmetric algorithms only: "none" and HS* (keyed with the client secret) are refused.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: Tolerated clock skew between us and the upstream when checking exp/iat/nbf.
LEEWAY_SECONDS = 60


def nonce_for(state: str) -> str:
    """base64url(SHA-256(state)): binds the ID token to the browser-bound state."""
    digest = hashlib.sha256(state.encode()).digest()
    return urlsafe_b64encode(digest).decode("ascii")


class OIDCConnector(CallbackConnector, RefreshConnector):
    """One configured ``oidc`` upstream."""

    def __init__(
        self,
        config: OIDCConfig,
        connector_id: str = "oidc",
        http: httpx.AsyncClient | None = None,
        *,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        offline_access_scope: bool = True,
        issuer_aliases: tuple[str, ...] = (),
    ) -> None:
        """``offline_access_scope=False``: ask for offline access with ``access_type``
        only (Google refuses the scope); ``issuer_aliases``: other ``iss`` values the
        upstream's ID tokens may carry (Google's ``accounts.google.com``)."""
        self._config = config
        self._id = connector_id
        self._offline_access_scope = offline_access_scope
        # Dex ``issuerAlias``: the issuer the upstream names in discovery and tokens.
        expected_issuer = config.issuer_alias or config.issuer
        self._issuers = [expected_issuer, *issuer_aliases]
        self._owns_http = http is None
        self._http = http or client(
            config.root_cas, insecure_skip_verify=config.insecure_skip_verify
        )
        self._client = OAuth2Client(
            config.client_id,
            config.client_secret,
            credentials_in_body=bool(config.basic_auth_unsupported),
        )
        self._clock = clock
        overrides = config.provider_discovery_overrides
        self._provider = Provider(
            self._http,
            config.issuer,
            expected_issuer,
            {
                "authURL": overrides.auth_url,
                "tokenURL": overrides.token_url,
                "jwksURL": overrides.jwks_url,
                "userInfoURL": overrides.user_info_url,
            },
            monotonic,
        )

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- the login redirect -------------------------------------------------------
    async def _scopes(self, scopes: Scopes) -> list[str]:
        wanted = ["openid", *(self._config.scopes or ["profile", "email"])]
        if self._config.insecure_enable_groups and "groups" not in wanted:
            supported = (await self._provider.endpoints()).scopes_supported
            if "groups" in supported:
                wanted.append("groups")
        if scopes.offline_access and self._offline_access_scope and "offline_access" not in wanted:
            wanted.append("offline_access")
        return list(dict.fromkeys(wanted))

    async def begin(self, scopes: Scopes, callback_url: str, state: str) -> tuple[str, bytes]:
        method = self._config.pkce_challenge
        if not method:
            return await self.login_url(scopes, callback_url, state), b""
        verifier, pkce = new_pkce(method)
        return await self._authorize_url(scopes, callback_url, state, pkce), verifier.encode()

    async def finish(
        self, scopes: Scopes, callback_url: str, query: dict[str, str], saved: bytes
    ) -> Identity:
        verifier = saved.decode("ascii", "replace") if self._config.pkce_challenge else ""
        return await self._callback(query, verifier)

    async def login_url(self, scopes: Scopes, callback_url: str, state: str) -> str:
        return await self._authorize_url(scopes, callback_url, state, {})

    async def _authorize_url(
        self, scopes: Scopes, callback_url: str, state: str, extra: dict[str, str]
    ) -> str:
        check_callback_url(self._config.redirect_uri, callback_url)
        endpoints = await self._provider.endpoints()
        params = {
            "client_id": self._config.client_id,
            "redirect_uri": self._config.redirect_uri,
            "response_type": "code",
            "scope": " ".join(await self._scopes(scopes)),
            "state": state,
            "nonce": nonce_for(state),
        }
        if self._config.acr_values:
            params["acr_values"] = " ".join(self._config.acr_values)
        if scopes.offline_access:
            # Dex: prompt (default "consent") and access_type only with offline access.
            params["access_type"] = "offline"
            if self._config.prompt_type:
                params["prompt"] = self._config.prompt_type
        domains = self._config.hosted_domains
        if domains:
            params["hd"] = domains[0] if len(domains) == 1 else "*"
        params.update(extra)
        return authorization_url(endpoints.authorization, params)

    # -- the callback ---------------------------------------------------------------
    async def handle_callback(
        self, scopes: Scopes, callback_url: str, query: dict[str, str]
    ) -> Identity:
        return await self._callback(query, "")

    async def _callback(self, query: dict[str, str], verifier: str) -> Identity:
        code = code_of(query, "upstream")
        form = code_form(code, self._config.redirect_uri, verifier)
        tokens = await self._token_request(form)
        raw = tokens.get("id_token")
        if not isinstance(raw, str):
            raise ConnectorError("upstream token response has no id_token")
        claims = await self._verify(raw, nonce_for(query.get("state", "")))
        return await self._identity(claims, tokens, refresh_token="")

    # -- refresh ----------------------------------------------------------------------
    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        refresh_token = _stored_refresh_token(identity.connector_data)
        if not refresh_token:
            return identity  # as Dex: nothing to ask the upstream with
        tokens = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        raw = tokens.get("id_token")
        if isinstance(raw, str):
            # OIDC Core §12.2: no nonce on a refreshed ID token.
            claims = await self._verify(raw, None)
        elif self._config.get_user_info:
            claims = {}
        else:
            raise ConnectorError("upstream refresh answered no id_token")
        fresh = await self._identity(claims, tokens, refresh_token=refresh_token)
        if fresh.user_id != identity.user_id:
            # OIDC Core §12.2: a refreshed ID token is about the same subject.
            raise ConnectorError("upstream refresh answered for another user")
        return fresh

    # -- helpers ----------------------------------------------------------------------
    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        endpoints = await self._provider.endpoints()
        return await self._client.token_request(self._http, endpoints.token, form)

    async def _verify(self, raw: str, nonce: str | None) -> dict[str, Any]:
        """Validate the ID token (OIDC Core §3.1.3.7) and return its claims."""
        try:
            header = jws.extract_compact(raw.encode()).headers()
        except (JoseError, ValueError) as error:
            raise ConnectorError(f"upstream id_token is malformed: {error}") from error
        if header.get("alg") not in ALGORITHMS:
            raise ConnectorError(
                f"upstream id_token uses a refused algorithm {header.get('alg')!r}"
            )
        kid = header.get("kid")
        keys = await self._provider.keys(kid if isinstance(kid, str) else None)
        try:
            token = jwt.decode(raw, keys, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError) as error:
            raise ConnectorError(f"upstream id_token signature is not valid: {error}") from error
        options: dict[str, Any] = {
            "iss": {"essential": True, "values": self._issuers},
            "aud": {"essential": True, "value": self._config.client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock().timestamp()), leeway=LEEWAY_SECONDS, **options
        )
        try:
            registry.validate(token.claims)
        except JoseError as error:
            raise ConnectorError(f"upstream id_token is not valid: {error}") from error
        return dict(token.claims)

    async def _identity(
        self, claims: dict[str, Any], tokens: dict[str, Any], refresh_token: str
    ) -> Identity:
        if self._config.get_user_info:
            claims = {**claims, **await self._userinfo(tokens, claims.get("sub"))}
        new_refresh = tokens.get("refresh_token")
        if isinstance(new_refresh, str) and new_refresh:
            refresh_token = new_refresh  # RFC 6749 §6: the upstream may rotate it
        data = json.dumps({"refreshToken": refresh_token}).encode() if refresh_token else b""
        return identity_from_claims(self._config, claims, data)

    async def _userinfo(self, tokens: dict[str, Any], subject: object) -> dict[str, Any]:
        endpoints = await self._provider.endpoints()
        access_token = tokens.get("access_token")
        if not endpoints.userinfo or not isinstance(access_token, str):
            raise ConnectorError("getUserInfo is set but the upstream has no userinfo to ask")
        request = self._http.build_request(
            "GET",
            endpoints.userinfo,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        info = await fetch_json(self._http, "upstream userinfo", request)
        # OIDC Core §5.3.2: the userinfo sub must match the ID token's.
        if subject is not None and not (
            isinstance(info.get("sub"), str)
            and secrets.compare_digest(str(info["sub"]).encode(), str(subject).encode())
        ):
            raise ConnectorError("upstream userinfo is about another subject")
        return info


def _stored_refresh_token(data: bytes) -> str:
    if not data:
        return ""
    try:
        stored = json.loads(data)
    except ValueError:
        return ""
    token = stored.get("refreshToken") if isinstance(stored, dict) else None
    return token if isinstance(token, str) else ""
