"""The ``ldap`` connector's pure parts: filter escaping (RFC 4515), entries, identities
and Dex-compatible refresh data. No server needed."""

from __future__ import annotations

import json

import pytest

from passgate.config.connectors.ldap import LDAPUserSearch
from passgate.connectors.base import ConnectorError
from passgate.connectors.ldap.entry import Entry, RefreshData, identity_of
from passgate.connectors.ldap.filters import escape_value, group_filter, user_filter


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("jane", "jane"),
        ("*", "\\2a"),
        ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
        ("a\\b", "a\\5cb"),
        ("nul\x00", "nul\\00"),
        ("zoë", "zoë"),  # UTF-8 is sent as is (RFC 4515 §3 allows it)
        (b"cn=x,dc=y", "cn=x,dc=y"),
        (b"\xff\x00*", "\\ff\\00\\2a"),  # binary values: every octet escaped
    ],
)
def test_escape_value(value: str | bytes, escaped: str) -> None:
    assert escape_value(value) == escaped


def test_filters_combine_like_dex() -> None:
    assert user_filter("", "uid", "j*") == "(uid=j\\2a)"
    assert user_filter("(objectClass=person)", "uid", "jane") == (
        "(&(objectClass=person)(uid=jane))"
    )
    assert group_filter("(objectClass=group)", "member", "cn=J (x),dc=y") == (
        "(&(objectClass=group)(member=cn=J \\28x\\29,dc=y))"
    )


def test_entry_attributes_are_case_insensitive_and_dn_is_special() -> None:
    entry = Entry("uid=jane,dc=example", {"UID": (b"jane",), "mail": (b"a@x", b"b@x")})
    assert entry.text("uid") == "jane"
    assert entry.texts("MAIL") == ["a@x", "b@x"]
    assert entry.text("dn") == entry.text("DN") == "uid=jane,dc=example"
    assert entry.text("cn") == ""
    assert entry.values("") == ()
    # A real attribute named dn wins over the pseudo-attribute (as in Dex).
    assert Entry("x", {"dn": (b"real",)}).text("DN") == "real"


def test_binary_ids_are_base64_and_other_binary_text_is_refused() -> None:
    entry = Entry(
        "cn=a",
        {"objectGUID": (b"abcdefghijklmnop",), "uid": (b"\xffraw",), "cn": (b"\xff",)},
    )
    # A known binary attribute is base64 even when its bytes happen to be UTF-8.
    assert entry.identifier("objectGUID") == "YWJjZGVmZ2hpamtsbW5vcA=="
    assert entry.identifier("uid") == "/3Jhdw=="
    assert entry.identifier("missing") == ""
    with pytest.raises(ConnectorError, match="'cn' of the directory entry 'cn=a' is not UTF-8"):
        entry.text("cn")


def test_identity_names_every_missing_attribute() -> None:
    search = LDAPUserSearch.model_validate(
        {"baseDN": "dc=x", "username": "uid", "nameAttr": "cn", "preferredUsernameAttr": "uid"}
    )
    with pytest.raises(ConnectorError) as caught:
        identity_of(Entry("cn=a", {"cn": (b"A",)}), search)
    assert str(caught.value) == (
        "the directory entry 'cn=a' lacks the required attribute(s) 'uid', 'uid', 'mail'"
    )


def test_refresh_data_round_trips_in_dex_shape() -> None:
    entry = Entry("uid=j,dc=x", {"uid": (b"j",), "objectGUID": (b"\xff\x01",)})
    raw = RefreshData("j", entry.dn).encode(entry)
    data = json.loads(raw)
    assert data == {
        "username": "j",
        "entry": {
            "DN": "uid=j,dc=x",
            "Attributes": [
                {"Name": "uid", "Values": ["j"], "ByteValues": ["ag=="]},
                {"Name": "objectGUID", "Values": ["\ufffd\x01"], "ByteValues": ["/wE="]},
            ],
        },
    }
    assert RefreshData.decode(raw) == RefreshData("j", "uid=j,dc=x")
