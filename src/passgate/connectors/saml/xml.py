"""Namespaces, a safe XML parser and SAML's time format, shared by the SAML modules."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NSMAP = {"samlp": SAMLP, "saml": SAML, "md": MD, "ds": DS}

#: The largest SAML response accepted, decoded (the server's body limit is smaller).
MAX_XML_BYTES = 256 * 1024


class XMLError(ValueError):
    """Not well-formed XML, or XML that uses features a SAML message never needs."""


def parser() -> etree.XMLParser:
    """No DTDs, no entities, no network: an IdP answer never needs them, an attacker
    does (XXE, billion laughs)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse(data: bytes) -> etree._Element:
    if len(data) > MAX_XML_BYTES:
        raise XMLError("the document is too large")
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as error:
        raise XMLError(f"not well-formed XML: {error}") from None
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.public_id or info.system_url:
        raise XMLError("a document type declaration is not allowed")
    return root


def tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def format_instant(moment: datetime) -> str:
    """SAML Core §1.3.3: xs:dateTime in UTC, no fractional seconds needed."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> datetime:
    """SAML Core §1.3.3: UTC xs:dateTime (``Z`` or an offset); fractions of any length."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, dot, rest = value.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise XMLError(f"{text!r} is not a valid time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # SAML Core §1.3.3: times are UTC
    return moment.astimezone(UTC)
