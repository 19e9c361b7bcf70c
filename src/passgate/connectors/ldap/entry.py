"""Directory entries and what Dex makes of them: the identity and the refresh data.

Attribute values arrive as bytes. Text attributes must be UTF-8 (RFC 4517 §3.3 Directory
String). An ID attribute may be binary (Active Directory's ``objectGUID``): Dex copies
the raw bytes into the user ID, which its token code then cannot encode, so there is no
Dex subject to keep; Passgate uses the base64 text of such a value (as LDIF does,
RFC 2849), which is stable and printable.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from passgate.config.connectors.ldap import LDAPUserSearch
from passgate.connectors.base import ConnectorError, Identity

__all__ = ["BINARY_ATTRIBUTES", "Entry", "RefreshData", "identity_of"]

#: Active Directory's binary identifiers: always base64, even when the bytes happen to
#: be valid UTF-8, so one user's ID never changes form.
BINARY_ATTRIBUTES = frozenset({"objectguid", "objectsid", "ms-ds-consistencyguid"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One search result: its DN and raw attribute values (names as the server sent)."""

    dn: str
    attributes: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)

    def values(self, name: str) -> tuple[bytes, ...]:
        """The values of ``name`` (case-insensitive, RFC 4512 §2.5); Dex's ``DN``
        pseudo-attribute is the entry's DN unless the entry has a real ``dn``."""
        if not name:
            return ()
        wanted = name.lower()
        for key, values in self.attributes.items():
            if key.lower() == wanted:
                return values
        if wanted == "dn":
            return (self.dn.encode("utf-8"),)
        return ()

    def text(self, name: str) -> str:
        """The first value of ``name`` as text, "" when absent."""
        values = self.values(name)
        return _text(self, name, values[0]) if values else ""

    def texts(self, name: str) -> list[str]:
        return [_text(self, name, value) for value in self.values(name)]

    def identifier(self, name: str) -> str:
        """The first value of the ID attribute: text, or base64 when it is binary."""
        values = self.values(name)
        if not values:
            return ""
        raw = values[0]
        if name.split(";")[0].lower() in BINARY_ATTRIBUTES or ";binary" in name.lower():
            return base64.b64encode(raw).decode("ascii")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")


def _text(entry: Entry, name: str, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ConnectorError(
            f"attribute {name!r} of the directory entry {entry.dn!r} is not UTF-8 text"
        ) from None


def identity_of(entry: Entry, search: LDAPUserSearch, groups: tuple[str, ...] = ()) -> Identity:
    """Dex ``identityFromEntry``: every configured attribute must be present."""
    missing: list[str] = []

    def required(name: str, value: str) -> str:
        if not value:
            missing.append(name)
        return value

    user_id = required(search.id_attr, entry.identifier(search.id_attr))
    username = ""
    if search.name_attr:
        username = required(search.name_attr, entry.text(search.name_attr))
    preferred = ""
    if search.preferred_username_attr:
        attr = search.preferred_username_attr
        preferred = required(attr, entry.text(attr))
    if search.email_suffix:
        email = f"{username}@{search.email_suffix}"  # Dex builds it from nameAttr's value
    else:
        email = required(search.email_attr, entry.text(search.email_attr))
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise ConnectorError(
            f"the directory entry {entry.dn!r} lacks the required attribute(s) {names}"
        )
    return Identity(
        user_id=user_id,
        username=username,
        preferred_username=preferred,
        email=email,
        email_verified=True,  # Dex: an LDAP email is trusted as verified
        groups=groups,
    )


@dataclass(frozen=True, slots=True)
class RefreshData:
    """Dex ``refreshData``: the username signed in with and the entry found for it,
    JSON-encoded the way Go encodes ``ldap.Entry`` (so Dex sessions carry over)."""

    username: str
    dn: str

    def encode(self, entry: Entry) -> bytes:
        attributes = [
            {
                "Name": name,
                "Values": [value.decode("utf-8", "replace") for value in values],
                "ByteValues": [base64.b64encode(value).decode("ascii") for value in values],
            }
            for name, values in entry.attributes.items()
        ]
        data = {"username": self.username, "entry": {"DN": self.dn, "Attributes": attributes}}
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, raw: bytes) -> RefreshData:
        """``ConnectorError`` when ``raw`` is not refresh data of this connector."""
        try:
            data = json.loads(raw)
            username, dn = data["username"], data["entry"]["DN"]
        except (ValueError, TypeError, KeyError):
            raise ConnectorError("the session holds no usable LDAP refresh data") from None
        if not isinstance(username, str) or not isinstance(dn, str) or not username or not dn:
            raise ConnectorError("the session holds no usable LDAP refresh data")
        return cls(username, dn)
