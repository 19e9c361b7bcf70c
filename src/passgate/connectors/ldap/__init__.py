"""The ``ldap`` connector (Dex ``connector/ldap``): see :mod:`.connector`."""

from __future__ import annotations

from passgate.connectors.ldap.connector import DEFAULT_TIMEOUT, LDAPConnector

__all__ = ["DEFAULT_TIMEOUT", "LDAPConnector"]
