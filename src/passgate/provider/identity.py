"""Asking a connector again about a person it vouched for (Dex ``RefreshConnector``):
the refresh grant, a browser session that is reused, and forward-auth all do it, so a
change upstream (groups, a disabled account) reaches every place the person is signed in.
"""

from __future__ import annotations

from passgate.connectors.base import Identity, RefreshConnector, Scopes
from passgate.provider.connectors import ConnectorEntry
from passgate.storage.models import Claims

__all__ = ["claims_of", "identity_of", "refresh_identity"]


def claims_of(identity: Identity) -> Claims:
    return Claims(
        user_id=identity.user_id,
        username=identity.username,
        preferred_username=identity.preferred_username,
        email=identity.email,
        email_verified=identity.email_verified,
        groups=identity.groups,
    )


def identity_of(claims: Claims, connector_data: bytes) -> Identity:
    return Identity(
        user_id=claims.user_id,
        username=claims.username,
        preferred_username=claims.preferred_username,
        email=claims.email,
        email_verified=claims.email_verified,
        groups=claims.groups,
        connector_data=connector_data,
    )


async def refresh_identity(
    entry: ConnectorEntry, scopes: Scopes, claims: Claims, connector_data: bytes
) -> tuple[Claims, bytes]:
    """The up-to-date claims and connector data; unchanged when the connector cannot be
    asked again. Raises what the connector raises: ``ConnectorError`` when the upstream
    no longer vouches for the person, ``UpstreamUnavailableError`` when it cannot say."""
    connector = entry.connector
    if not isinstance(connector, RefreshConnector):
        return claims, connector_data
    if not connector_data and connector.needs_stored_data:
        return claims, connector_data  # as Dex: nothing to ask the upstream with
    fresh = await connector.refresh(scopes, identity_of(claims, connector_data))
    return claims_of(fresh), fresh.connector_data or connector_data
