"""The Google upstream connector (Dex ``google``)."""

from passgate.connectors.google.connector import GOOGLE_ISSUER, GoogleConnector
from passgate.connectors.google.directory import DIRECTORY_URL
from passgate.connectors.google.service_account import ServiceAccountError

__all__ = ["DIRECTORY_URL", "GOOGLE_ISSUER", "GoogleConnector", "ServiceAccountError"]
