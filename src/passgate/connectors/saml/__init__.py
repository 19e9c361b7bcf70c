"""The ``saml`` connector: a SAML 2.0 service provider with the HTTP-POST binding."""

from passgate.connectors.saml.connector import ALLOWED_CLOCK_SKEW, SAMLConnector

__all__ = ["ALLOWED_CLOCK_SKEW", "SAMLConnector"]
