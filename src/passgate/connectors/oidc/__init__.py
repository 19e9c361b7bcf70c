"""The generic OpenID Connect upstream connector (Dex ``oidc``)."""

from passgate.connectors.oidc.connector import OIDCConnector

__all__ = ["OIDCConnector"]
