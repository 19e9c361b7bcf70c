"""Sign-in with Microsoft Entra ID and personal Microsoft accounts (Dex ``microsoft``)."""

from passgate.connectors.microsoft.connector import MicrosoftConnector

__all__ = ["MicrosoftConnector"]
