"""Reading and checking an IdP's ``<samlp:Response>`` (SAML Core §3.2.2, §2.3-2.7;
Profiles §4.1.4: the Web Browser SSO profile's rules for a bearer assertion).

The signature step decides which element may be believed: a signed Response (and the
one Assertion inside it), or only a signed Assertion, in which case the unsigned
Response around it is read only to refuse (a failure status, a wrong InResponseTo),
never to accept. Dex (``connector/saml``) behaves the same way.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from passgate.connectors.saml.signature import SignatureError, verify_signature
from passgate.connectors.saml.xml import DS, SAML, SAMLP, XMLError, parse, parse_instant, tag

__all__ = ["Expected", "ResponseError", "VerifiedAssertion", "decode", "read_response"]

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"


class ResponseError(Exception):
    """The answer is not a valid, current answer to our request, for us."""


@dataclass(frozen=True, slots=True)
class Expected:
    """What a valid answer to our AuthnRequest must say."""

    request_id: str
    audience: str
    recipient: str
    issuer: str  # "" accepts any (ssoIssuer not configured)
    now: datetime
    skew: timedelta


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """The parts of a checked assertion the connector maps to an identity."""

    id: str
    name_id: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    #: Until when it could be presented again: how long to remember its ID (replays).
    valid_until: datetime | None = None


def decode(saml_response: str) -> etree._Element:
    """SAML Bindings §3.5.4: base64 of the XML, never deflated in the POST binding."""
    try:
        raw = base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ResponseError("the SAMLResponse is not base64") from None
    try:
        root = parse(raw)
    except XMLError as error:
        raise ResponseError(f"the SAMLResponse is not readable: {error}") from None
    if root.tag != tag(SAMLP, "Response"):
        raise ResponseError("the SAMLResponse is not a samlp:Response")
    return root


def _children(element: etree._Element, namespace: str, name: str) -> list[etree._Element]:
    return [child for child in element if child.tag == tag(namespace, name)]


def _one_assertion(response: etree._Element) -> etree._Element:
    if _children(response, SAML, "EncryptedAssertion"):
        raise ResponseError("encrypted assertions are not supported")
    assertions = _children(response, SAML, "Assertion")
    if len(assertions) != 1:
        raise ResponseError(f"the response must hold one assertion, it holds {len(assertions)}")
    return assertions[0]


def _one_signature(element: etree._Element) -> etree._Element | None:
    signatures = _children(element, DS, "Signature")
    if len(signatures) > 1:
        raise ResponseError("an element carries more than one signature")
    return signatures[0] if signatures else None


async def _signed_parts(
    root: etree._Element, certificates: Sequence[bytes] | None, xmlsec1: str
) -> tuple[etree._Element, bool, etree._Element]:
    """(response, whether the response itself is verified, verified assertion)."""
    if certificates is None:  # insecureSkipSignatureValidation
        return root, True, _one_assertion(root)
    signature = _one_signature(root)
    if signature is not None:
        response = await verify_signature(root, signature, certificates, xmlsec1=xmlsec1)
        if response.tag != tag(SAMLP, "Response"):
            raise SignatureError("the response's signature does not sign the response")
        return response, True, _one_assertion(response)
    assertion = _one_assertion(root)
    signature = _one_signature(assertion)
    if signature is None:
        raise SignatureError("neither the response nor its assertion is signed")
    verified = await verify_signature(root, signature, certificates, xmlsec1=xmlsec1)
    if verified.tag != tag(SAML, "Assertion"):
        raise SignatureError("the assertion's signature does not sign the assertion")
    return root, False, verified


def _check_response(response: etree._Element, signed: bool, expected: Expected) -> None:
    status = response.find(f"{tag(SAMLP, 'Status')}/{tag(SAMLP, 'StatusCode')}")
    if status is None:
        raise ResponseError("the response has no status")
    if status.get("Value") != SUCCESS:
        code = (status.get("Value") or "").rsplit(":", 1)[-1]
        message = response.findtext(f"{tag(SAMLP, 'Status')}/{tag(SAMLP, 'StatusMessage')}")
        raise ResponseError(
            f"the identity provider answered {code!r}" + (f": {message}" if message else "")
        )
    in_response_to = response.get("InResponseTo")
    if (signed or in_response_to is not None) and in_response_to != expected.request_id:
        raise ResponseError("the response does not answer this sign-in (InResponseTo)")
    destination = response.get("Destination")
    if destination is not None and destination != expected.recipient:
        # SAML Bindings §3.5.5.2: the Destination must be where it was received.
        raise ResponseError(f"the response is for {destination!r}, not this service")
    issuer = response.findtext(tag(SAML, "Issuer"))
    if expected.issuer and issuer is not None and issuer != expected.issuer:
        raise ResponseError(f"the response comes from {issuer!r}, not {expected.issuer!r}")


def _instant(element: etree._Element, name: str) -> datetime | None:
    value = element.get(name)
    if value is None:
        return None
    try:
        return parse_instant(value)
    except XMLError as error:
        raise ResponseError(f"{name}: {error}") from None


def _check_window(element: etree._Element, expected: Expected, what: str) -> datetime | None:
    """NotBefore/NotOnOrAfter with the allowed skew (SAML Core §2.5.1.2); the end."""
    not_before = _instant(element, "NotBefore")
    not_on_or_after = _instant(element, "NotOnOrAfter")
    if not_before is not None and expected.now + expected.skew < not_before:
        raise ResponseError(f"the {what} is not valid before {not_before.isoformat()}")
    if not_on_or_after is not None and expected.now - expected.skew >= not_on_or_after:
        raise ResponseError(f"the {what} expired at {not_on_or_after.isoformat()}")
    return not_on_or_after


def _check_subject(assertion: etree._Element, expected: Expected) -> tuple[str, datetime | None]:
    subject = assertion.find(tag(SAML, "Subject"))
    if subject is None:
        raise ResponseError("the assertion has no subject")
    name_id = subject.find(tag(SAML, "NameID"))
    if name_id is None or not (name_id.text or ""):
        raise ResponseError("the assertion's subject has no NameID")
    problems: list[str] = []
    # Profiles §4.1.4.2: one bearer confirmation must match; the others do not matter.
    for confirmation in subject.findall(tag(SAML, "SubjectConfirmation")):
        data = confirmation.find(tag(SAML, "SubjectConfirmationData"))
        try:
            if confirmation.get("Method") != BEARER:
                raise ResponseError(f"unexpected confirmation method {confirmation.get('Method')}")
            if data is None:
                raise ResponseError("no SubjectConfirmationData")
            if data.get("InResponseTo") != expected.request_id:
                raise ResponseError("the assertion does not answer this sign-in (InResponseTo)")
            recipient = data.get("Recipient")
            if recipient is not None and recipient != expected.recipient:
                raise ResponseError(f"the assertion is for {recipient!r}, not this service")
            end = _check_window(data, expected, "assertion's subject confirmation")
        except ResponseError as error:
            problems.append(str(error))
            continue
        return name_id.text or "", end
    raise ResponseError("; ".join(problems) or "the assertion's subject has no confirmation")


def _check_conditions(assertion: etree._Element, expected: Expected) -> datetime | None:
    conditions = assertion.find(tag(SAML, "Conditions"))
    if conditions is None:
        return None
    end = _check_window(conditions, expected, "assertion")
    # SAML Core §2.5.1.4: we must be in every AudienceRestriction.
    for restriction in conditions.findall(tag(SAML, "AudienceRestriction")):
        audiences = [a.text or "" for a in restriction.findall(tag(SAML, "Audience"))]
        if expected.audience not in audiences:
            raise ResponseError(
                f"the assertion is meant for {', '.join(audiences)!s}, not {expected.audience}"
            )
    return end


def _attributes(assertion: etree._Element) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    statements = assertion.findall(tag(SAML, "AttributeStatement"))
    if not statements:
        raise ResponseError("the assertion has no attributes (AttributeStatement)")
    for statement in statements:
        for attribute in statement.findall(tag(SAML, "Attribute")):
            texts = [v.text or "" for v in attribute.findall(tag(SAML, "AttributeValue"))]
            # Dex matches Name, and FriendlyName for IdPs that use claim-like names.
            for key in {attribute.get("Name"), attribute.get("FriendlyName")} - {None, ""}:
                assert key is not None
                values.setdefault(key, []).extend(texts)
    return values


async def read_response(
    root: etree._Element,
    expected: Expected,
    certificates: Sequence[bytes] | None,
    *,
    xmlsec1: str = "xmlsec1",
) -> VerifiedAssertion:
    """Verify and check ``root``; ``certificates`` None skips signature checks (insecure)."""
    response, response_signed, assertion = await _signed_parts(root, certificates, xmlsec1)
    _check_response(response, response_signed, expected)
    issuer = assertion.findtext(tag(SAML, "Issuer"))
    if expected.issuer and issuer != expected.issuer:
        raise ResponseError(f"the assertion comes from {issuer!r}, not {expected.issuer!r}")
    assertion_id = assertion.get("ID") or ""
    if not assertion_id:
        raise ResponseError("the assertion has no ID")
    name_id, confirmed_until = _check_subject(assertion, expected)
    conditions_until = _check_conditions(assertion, expected)
    ends = [end for end in (confirmed_until, conditions_until) if end is not None]
    return VerifiedAssertion(
        id=assertion_id,
        name_id=name_id,
        attributes=_attributes(assertion),
        valid_until=max(ends) + expected.skew if ends else None,
    )
