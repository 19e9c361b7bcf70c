"""Active Directory layouts with the ``ldap`` connector, against slapd holding an
AD-shaped tree (``user``/``group`` classes, sAMAccountName, userPrincipalName, a binary
objectGUID, memberOf on people and member on groups)."""

from __future__ import annotations

import pytest

from ldap.layouts import AD_GROUPS, AD_STAFF, active_directory, config
from ldap.server import Slapd, shared_slapd
from passgate.connectors.base import Identity, Scopes
from passgate.connectors.ldap import LDAPConnector

pytestmark = pytest.mark.anyio

ALL = Scopes(offline_access=True, groups=True)
# slapd answers DNs in its "pretty" form (attribute types in lower case).
ADA = "cn=Ada Lovelace,ou=Staff,ou=ad,dc=example,dc=org"
# The objectGUID in the LDIF (16 bytes, not UTF-8), as base64 text.
ADA_GUID = "/wobLD1OX2BxgpOktcbX6A=="


@pytest.fixture(scope="module")
def slapd() -> Slapd:
    """The test session's OpenLDAP server (started on first use)."""
    return shared_slapd()


async def sign_in(options: dict[str, object], username: str, password: str) -> Identity:
    identity = await LDAPConnector(config(options), "ad").login(ALL, username, password)
    assert identity is not None
    return identity


async def test_dex_active_directory_example(slapd: Slapd) -> None:
    """Dex's documented AD config: userPrincipalName to sign in, the DN as the ID, groups
    whose member is the user's DN."""
    identity = await sign_in(active_directory(slapd), "ada@corp.example.org", "ada-password")
    assert identity.user_id == ADA
    assert (identity.username, identity.email) == ("Ada Lovelace", "ada@corp.example.org")
    assert identity.groups == ("Engineers", "Domain Users")
    assert LDAPConnector(config(active_directory(slapd)), "ad").prompt == "Email Address"


async def test_sam_account_name_and_a_binary_object_guid(slapd: Slapd) -> None:
    options = active_directory(
        slapd,
        userSearch={"username": "sAMAccountName", "idAttr": "objectGUID",
                    "emailAttr": "mail", "preferredUsernameAttr": "sAMAccountName"},
    )  # fmt: skip
    identity = await sign_in(options, "ada", "ada-password")
    # Binary IDs are base64 text: printable, and the same at every sign-in.
    assert identity.user_id == ADA_GUID
    assert (identity.preferred_username, identity.email) == (
        "ada", "ada.lovelace@corp.example.org",
    )  # fmt: skip
    # sAMAccountName matches case-insensitively, as in AD.
    again = await sign_in(options, "ADA", "ada-password")
    assert again.user_id == ADA_GUID


async def test_member_of_on_the_user_matched_against_the_group_dn(slapd: Slapd) -> None:
    """memberOf-style matching: the user's memberOf values against each group's own DN
    (``distinguishedName`` in AD, ``entryDN`` in OpenLDAP)."""
    options = active_directory(
        slapd, groupSearch={"userMatchers": [{"userAttr": "memberOf", "groupAttr": "entryDN"}]}
    )
    identity = await sign_in(options, "ada@corp.example.org", "ada-password")
    assert identity.groups == ("Engineers", "Domain Users")


async def test_group_names_can_be_another_attribute(slapd: Slapd) -> None:
    options = active_directory(slapd, groupSearch={"nameAttr": "sAMAccountName"})
    identity = await sign_in(options, "ada@corp.example.org", "ada-password")
    assert identity.groups == ("engineers", "domain-users")


async def test_refresh_follows_group_membership(slapd: Slapd) -> None:
    slapd.add(
        f"CN=Grace Hopper,{AD_STAFF}",
        ["user"],
        {"cn": "Grace Hopper", "sn": "Hopper", "sAMAccountName": "grace",
         "userPrincipalName": "grace@corp.example.org", "userPassword": "grace-password"},
    )  # fmt: skip
    grace = f"CN=Grace Hopper,{AD_STAFF}"
    team = f"CN=Compilers,{AD_GROUPS}"
    slapd.add(team, ["group"], {"cn": "Compilers", "member": [grace]})
    ldap = LDAPConnector(config(active_directory(slapd)), "ad")
    identity = await ldap.login(ALL, "grace@corp.example.org", "grace-password")
    assert identity is not None
    assert identity.groups == ("Compilers",)
    slapd.delete(team)
    fresh = await ldap.refresh(ALL, identity)
    assert (fresh.user_id, fresh.groups) == (identity.user_id, ())
    assert fresh.user_id.lower() == grace.lower()
