"""Connector options for the test directory, in Dex's spelling: the OpenLDAP layout
(``ou=people``/``ou=groups``) and the Active Directory-shaped one (``ou=ad``)."""

from __future__ import annotations

import copy
from typing import Any

from ldap.server import BASE_DN, GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd
from passgate.config.connectors.ldap import LDAPConfig

AD_STAFF = f"OU=Staff,OU=ad,{BASE_DN}"
AD_GROUPS = f"OU=Groups,OU=ad,{BASE_DN}"


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; nested mappings are merged, ``None`` removes."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def openldap(server: Slapd, **changes: Any) -> dict[str, Any]:
    """Plain LDAP to the test slapd, users by uid, groups by member DN and memberUid."""
    base = {
        "host": server.plain,
        "insecureNoSSL": True,
        "bindDN": SERVICE_DN,
        "bindPW": SERVICE_PASSWORD,
        "userSearch": {
            "baseDN": PEOPLE,
            "filter": "(objectClass=person)",
            "username": "uid",
            "idAttr": "uid",
            "emailAttr": "mail",
            "nameAttr": "cn",
        },
        "groupSearch": {
            "baseDN": GROUPS,
            "filter": "(|(objectClass=groupOfNames)(objectClass=posixGroup))",
            "userMatchers": [
                {"userAttr": "DN", "groupAttr": "member"},
                {"userAttr": "uid", "groupAttr": "memberUid"},
            ],
            "nameAttr": "cn",
        },
    }
    return merge(base, changes)


def active_directory(server: Slapd, **changes: Any) -> dict[str, Any]:
    """Dex's documented Active Directory example, pointed at the AD-shaped subtree."""
    base = {
        "host": server.plain,
        "insecureNoSSL": True,
        "bindDN": SERVICE_DN,
        "bindPW": SERVICE_PASSWORD,
        "usernamePrompt": "Email Address",
        "userSearch": {
            "baseDN": AD_STAFF,
            "filter": "(objectClass=person)",
            "username": "userPrincipalName",
            "idAttr": "DN",
            "emailAttr": "userPrincipalName",
            "nameAttr": "cn",
        },
        "groupSearch": {
            "baseDN": AD_GROUPS,
            "filter": "(objectClass=group)",
            "userMatchers": [{"userAttr": "DN", "groupAttr": "member"}],
            "nameAttr": "cn",
        },
    }
    return merge(base, changes)


def config(options: dict[str, Any]) -> LDAPConfig:
    return LDAPConfig.model_validate(options)
