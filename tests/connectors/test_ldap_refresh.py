"""Refresh with the ``ldap`` connector against a real slapd: the user is looked up again,
so a deleted, renamed, moved or replaced user loses the session, and new names and groups
apply; an outage keeps the session (UpstreamUnavailableError)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ldap.layouts import config, openldap
from ldap.server import GROUPS, PEOPLE, Slapd, free_port, shared_slapd
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
)
from passgate.connectors.ldap import LDAPConnector

pytestmark = pytest.mark.anyio

ALL = Scopes(offline_access=True, groups=True)


@pytest.fixture(scope="module")
def slapd() -> Slapd:
    """The test session's OpenLDAP server (started on first use)."""
    return shared_slapd()


@pytest.fixture
def ldap(slapd: Slapd) -> LDAPConnector:
    return LDAPConnector(config(openldap(slapd)), "ldap")


async def signed_in(ldap: LDAPConnector, slapd: Slapd, uid: str) -> Identity:
    """A new person ``uid`` in the directory (in group ``<uid>-team``), signed in."""
    dn = slapd.add_user(uid, f"{uid}-password")
    slapd.add_group(f"{uid}-team", [dn])
    identity = await ldap.login(ALL, uid, f"{uid}-password")
    assert identity is not None
    assert identity.groups == (f"{uid}-team",)
    return identity


async def test_refresh_reads_the_entry_and_groups_again(slapd: Slapd, ldap: LDAPConnector) -> None:
    identity = await signed_in(ldap, slapd, "rita")
    slapd.replace(f"uid=rita,{PEOPLE}", cn="Rita Renamed", mail="rita@new.example.org")
    slapd.add_group("rita-extra", [f"uid=rita,{PEOPLE}"])
    slapd.delete(f"cn=rita-team,{GROUPS}")
    fresh = await ldap.refresh(ALL, identity)
    assert (fresh.user_id, fresh.username, fresh.email) == (
        "rita", "Rita Renamed", "rita@new.example.org",
    )  # fmt: skip
    assert fresh.groups == ("rita-extra",)
    assert fresh.connector_data == identity.connector_data


async def test_without_the_groups_scope_refresh_reads_no_groups(
    slapd: Slapd, ldap: LDAPConnector
) -> None:
    identity = await signed_in(ldap, slapd, "nora")
    fresh = await ldap.refresh(Scopes(offline_access=True), identity)
    assert fresh.groups == ()


async def test_a_deleted_user_loses_the_session(slapd: Slapd, ldap: LDAPConnector) -> None:
    identity = await signed_in(ldap, slapd, "dora")
    slapd.delete(f"uid=dora,{PEOPLE}")
    with pytest.raises(ConnectorError) as caught:
        await ldap.refresh(ALL, identity)
    assert not isinstance(caught.value, UpstreamUnavailableError)
    assert str(caught.value) == "the user 'dora' no longer exists in the directory"


async def test_a_renamed_user_loses_the_session(slapd: Slapd, ldap: LDAPConnector) -> None:
    identity = await signed_in(ldap, slapd, "rene")
    slapd.rename(f"uid=rene,{PEOPLE}", "uid=renee")  # the old username finds nobody
    with pytest.raises(ConnectorError, match="no longer exists"):
        await ldap.refresh(ALL, identity)


async def test_a_moved_user_loses_the_session(slapd: Slapd, ldap: LDAPConnector) -> None:
    identity = await signed_in(ldap, slapd, "mo")
    contractors = f"ou=contractors,{PEOPLE}"
    slapd.rename(f"uid=mo,{PEOPLE}", "uid=mo", contractors)  # same uid, another place
    with pytest.raises(ConnectorError) as caught:
        await ldap.refresh(ALL, identity)
    assert str(caught.value) == (
        f"the user 'mo' moved in the directory (was 'uid=mo,{PEOPLE}', now 'uid=mo,{contractors}')"
    )


async def test_a_replaced_user_loses_the_session(slapd: Slapd) -> None:
    # Same username and DN, but the ID attribute changed: another person now.
    options = openldap(slapd, userSearch={"idAttr": "employeeNumber"})
    ldap = LDAPConnector(config(options), "ldap")
    slapd.add_user("eve", "eve-password", employeeNumber="100")
    identity = await ldap.login(ALL, "eve", "eve-password")
    assert identity is not None
    assert identity.user_id == "100"
    slapd.replace(f"uid=eve,{PEOPLE}", employeeNumber="200")
    with pytest.raises(ConnectorError, match="another ID now"):
        await ldap.refresh(ALL, identity)


async def test_a_dn_differing_only_in_case_is_the_same_entry(
    slapd: Slapd, ldap: LDAPConnector
) -> None:
    identity = await signed_in(ldap, slapd, "casey")
    data = json.loads(identity.connector_data)
    data["entry"]["DN"] = data["entry"]["DN"].upper()
    changed = dataclasses.replace(identity, connector_data=json.dumps(data).encode())
    fresh = await ldap.refresh(ALL, changed)
    assert fresh.user_id == "casey"


async def test_refresh_accepts_dex_refresh_data(slapd: Slapd, ldap: LDAPConnector) -> None:
    # What Dex stored for a session: Go's JSON of refreshData{Username, Entry}.
    dex_data = {
        "username": "john",
        "entry": {
            "DN": f"uid=john,{PEOPLE}",
            "Attributes": [{"Name": "uid", "Values": ["john"], "ByteValues": ["am9obg=="]}],
        },
    }
    old = Identity("john", "John Smith", connector_data=json.dumps(dex_data).encode())
    fresh = await ldap.refresh(ALL, old)
    assert (fresh.user_id, fresh.email, fresh.groups) == (
        "john", "john@example.org", ("developers", "ops"),
    )  # fmt: skip


@pytest.mark.parametrize("data", [b"", b"{}", b"[]", b"not json", b'{"username": "x"}'])
async def test_unusable_refresh_data_ends_the_session(ldap: LDAPConnector, data: bytes) -> None:
    with pytest.raises(ConnectorError, match="no usable LDAP refresh data"):
        await ldap.refresh(ALL, Identity("jane", "Jane Doe", connector_data=data))


async def test_an_unreachable_server_keeps_the_session(slapd: Slapd, ldap: LDAPConnector) -> None:
    identity = await ldap.login(ALL, "jane", "jane-password")
    assert identity is not None
    down = LDAPConnector(config(openldap(slapd, host=f"127.0.0.1:{free_port()}")), "ldap")
    with pytest.raises(UpstreamUnavailableError, match="connection refused"):
        await down.refresh(ALL, identity)
    refused = LDAPConnector(config(openldap(slapd, bindPW="wrong-secret")), "ldap")
    with pytest.raises(UpstreamUnavailableError, match="check bindDN and bindPW"):
        await refused.refresh(ALL, identity)
