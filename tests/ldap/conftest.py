"""The ``slapd`` fixture for the tests in this folder (other folders import it from
``ldap.server``)."""

from ldap.server import slapd

__all__ = ["slapd"]
