"""Sign-in with Google (Dex ``google``): OpenID Connect against accounts.google.com, plus
the user's Google groups from the Admin SDK Directory API.

The OIDC part (discovery, ID token validation, nonce, hosted-domain check, upstream
refresh) is the generic :class:`OIDCConnector`, configured the way Dex's Google connector
behaves: ``openid`` plus ``profile email`` by default, ``hd`` when ``hostedDomains`` is
set, ``access_type=offline`` (never the ``offline_access`` scope, which Google refuses)
and ``prompt`` from ``promptType`` for offline access, the user id from ``sub`` and the
username from ``name``. Google sends no groups, so this module adds them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping

import httpx

from passgate.clock import Clock, system_clock
from passgate.config.connectors.google import GoogleConfig
from passgate.config.connectors.oidc import OIDCConfig
from passgate.connectors.base import (
    CallbackConnector,
    ConnectorError,
    Identity,
    RefreshConnector,
    Scopes,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.google.directory import DIRECTORY_URL, GroupDirectory
from passgate.connectors.google.service_account import (
    DelegatedTokens,
    ServiceAccountError,
    load_service_account,
)
from passgate.connectors.http import client
from passgate.connectors.oidc import OIDCConnector

__all__ = ["GOOGLE_ISSUER", "GoogleConnector"]

GOOGLE_ISSUER = "https://accounts.google.com"
#: Application default credentials (Dex's fallback without ``serviceAccountFilePath``).
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"


def _oidc_config(config: GoogleConfig, issuer: str) -> OIDCConfig:
    return OIDCConfig.model_validate(
        {
            "issuer": issuer,
            "clientID": config.client_id,
            "clientSecret": config.client_secret,
            "redirectURI": config.redirect_uri,
            "scopes": config.scopes,
            "hostedDomains": config.hosted_domains,
            "promptType": config.prompt_type,
            # Google's token endpoint takes either; Go's oauth2 sends them in the form.
            "basicAuthUnsupported": True,
            "userIDKey": "sub",
            "userNameKey": "name",
        }
    )


def _issuer_aliases(issuer: str) -> tuple[str, ...]:
    # Google's ID tokens may name their issuer without the scheme ("accounts.google.com").
    bare = issuer.split("://", 1)[-1]
    return (bare,) if bare != issuer else ()


def _key_file(config: GoogleConfig, environ: Mapping[str, str]) -> str:
    if config.service_account_file_path:
        return config.service_account_file_path
    path = environ.get(CREDENTIALS_ENV, "")
    if not path:
        raise ServiceAccountError(
            "domainToAdminEmail is set but serviceAccountFilePath is empty and "
            f"{CREDENTIALS_ENV} names no key file: set serviceAccountFilePath to the "
            "service account's JSON key file (the GCE metadata server is not supported)"
        )
    return path


def _upstream_data(data: bytes) -> bytes:
    """``connector_data`` as the OIDC connector keeps it: Dex stores Google's refresh
    token as the raw bytes, so sessions carried over from Dex still refresh."""
    if not data:
        return data
    try:
        stored = json.loads(data)
    except ValueError:
        stored = None
    if isinstance(stored, dict) and "refreshToken" in stored:
        return data
    return json.dumps({"refreshToken": data.decode("utf-8", "replace")}).encode()


class GoogleConnector(CallbackConnector, RefreshConnector):
    """One configured ``google`` connector. ``issuer`` and ``directory_url`` are for tests
    (a fake Google); the service account's token endpoint comes from its key file."""

    def __init__(
        self,
        config: GoogleConfig,
        connector_id: str = "google",
        http: httpx.AsyncClient | None = None,
        *,
        clock: Clock = system_clock,
        issuer: str = GOOGLE_ISSUER,
        directory_url: str = DIRECTORY_URL,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._config = config
        self._owns_http = http is None
        self._http = http or client()
        self._oidc = OIDCConnector(
            _oidc_config(config, issuer),
            connector_id,
            self._http,
            clock=clock,
            offline_access_scope=False,
            issuer_aliases=_issuer_aliases(issuer),
        )
        self._directory: GroupDirectory | None = None
        admins = config.admin_emails()
        if admins:
            # Read at start-up: a missing or broken key file stops Passgate with a
            # message instead of failing every sign-in later.
            path = _key_file(config, os.environ if environ is None else environ)
            self._directory = GroupDirectory(
                self._http,
                DelegatedTokens(self._http, load_service_account(path), clock),
                admins,
                transitive=config.fetch_transitive_group_membership,
                base_url=directory_url,
            )

    async def close(self) -> None:
        await self._oidc.close()
        if self._owns_http:
            await self._http.aclose()

    async def login_url(self, scopes: Scopes, callback_url: str, state: str) -> str:
        return await self._oidc.login_url(scopes, callback_url, state)

    async def handle_callback(
        self, scopes: Scopes, callback_url: str, query: dict[str, str]
    ) -> Identity:
        identity = await self._oidc.handle_callback(scopes, callback_url, query)
        return await self._with_groups(scopes, identity)

    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        """Google is asked again (its refresh token: a deleted or suspended account, or a
        revoked grant, is refused) and so is the directory (groups may have changed)."""
        upstream = dataclasses.replace(
            identity, connector_data=_upstream_data(identity.connector_data)
        )
        fresh = await self._oidc.refresh(scopes, upstream)
        return await self._with_groups(scopes, fresh)

    async def _with_groups(self, scopes: Scopes, identity: Identity) -> Identity:
        """Dex: groups only for the ``groups`` scope; ``groups`` (required) keeps the
        required ones and refuses a user in none. The check runs without the scope too."""
        required = self._config.groups
        if self._directory is None or not (scopes.groups or required):
            return dataclasses.replace(identity, groups=())
        if not identity.email:
            raise ConnectorError(
                "Google sent no email address, which the group lookup needs "
                "(keep 'email' in the connector's scopes)"
            )
        groups = await self._directory.groups_of(identity.email)
        if required:
            allowed = set(required)
            groups = [group for group in groups if group in allowed]
            if not groups:
                raise UserNotInRequiredGroupsError(
                    f"{identity.email} is not a member of any Google group allowed here "
                    f"({', '.join(required)})"
                )
        return dataclasses.replace(identity, groups=tuple(groups) if scopes.groups else ())
