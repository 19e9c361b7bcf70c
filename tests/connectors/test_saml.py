"""The ``saml`` connector against a real SAML IdP (samlify, see tests/saml_idp): what a
valid answer gives, and every forged, stale, replayed or misdirected answer refused.
The attacks start from the IdP's real output, edited with lxml and signed again with
xmlsec1."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from lxml import etree

from passgate.clock import FrozenClock, system_clock
from passgate.config.connectors import SAMLConfig
from passgate.connectors.base import ConnectorError, Scopes, UserNotInRequiredGroupsError
from passgate.connectors.saml import SAMLConnector
from passgate.connectors.saml.metadata import sp_metadata
from saml_idp import forge
from saml_idp.forge import NS, SAML, decode, encode, one, sign, strip_signatures
from saml_idp.idp import IdP, KeyPair, make_key_pair, require_xmlsec1, running_idp

pytestmark = pytest.mark.anyio

CALLBACK = "http://127.0.0.1:5556/dex/callback"
ENTITY = "http://127.0.0.1:5556/dex/saml/metadata/saml"
GROUPS = Scopes(groups=True)


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdP]:
    require_xmlsec1()
    with running_idp(tmp_path_factory.mktemp("idp")) as running:
        running.register_sp(sp_metadata(options(running)).decode())
        yield running


@pytest.fixture(scope="module")
def attacker(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("attacker"), "attacker")


def options(idp: IdP, **overrides: Any) -> SAMLConfig:
    values: dict[str, Any] = {
        "ssoURL": idp.sso_url,
        "caData": base64.b64encode(idp.keys.cert_pem).decode(),
        "redirectURI": CALLBACK,
        "entityIssuer": ENTITY,
        "ssoIssuer": idp.entity_id,
        "usernameAttr": "username",
        "emailAttr": "email",
        "groupsAttr": "groups",
    }
    values.update(overrides)
    return SAMLConfig.model_validate({k: v for k, v in values.items() if v is not None})


def connector(idp: IdP, clock: Any = system_clock, **overrides: Any) -> SAMLConnector:
    return SAMLConnector(options(idp, **overrides), "saml", clock=clock)


async def answer(idp: IdP, saml: SAMLConnector, user: str = "jane") -> tuple[str, bytes]:
    """A real signed answer of the IdP to a request of ``saml``, and what it saved."""
    action, request, saved = await saml.post_login(GROUPS, CALLBACK, "relay-state")
    fields = {"SAMLRequest": request, "RelayState": "relay-state"}
    back = await anyio.to_thread.run_sync(lambda: idp.sign_in(action, fields, user))
    assert back["action"] == CALLBACK
    assert back["RelayState"] == "relay-state"
    return back["SAMLResponse"], saved


async def refused(saml: SAMLConnector, response: str, saved: bytes, why: str) -> None:
    with pytest.raises(ConnectorError, match=why):
        await saml.handle_post(GROUPS, response, saved)


# -- what a valid answer gives ---------------------------------------------------------
async def test_the_request_is_a_post_binding_authn_request(idp: IdP) -> None:
    saml = connector(idp, nameIDPolicyFormat="emailAddress")
    action, request, saved = await saml.post_login(GROUPS, CALLBACK, "s")
    assert action == idp.sso_url
    root = etree.fromstring(base64.b64decode(request))
    assert root.get("ID") == saved.decode()
    assert root.get("Destination") == idp.sso_url
    assert root.get("AssertionConsumerServiceURL") == CALLBACK
    assert root.get("ProtocolBinding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert one(root, "saml:Issuer").text == ENTITY
    policy = one(root, "samlp:NameIDPolicy")
    assert policy.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


async def test_a_signed_answer_gives_the_identity_with_groups(idp: IdP) -> None:
    saml = connector(idp)
    identity = await saml.handle_post(GROUPS, *await answer(idp, saml))
    assert identity.user_id == "jane-0001"
    assert identity.username == "Jane Doe"
    assert identity.email == "jane@example.com"
    assert identity.email_verified is True
    assert identity.groups == ("admins", "devs")


async def test_groups_only_with_the_groups_scope(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    identity = await saml.handle_post(Scopes(), response, saved)
    assert identity.groups == ()


async def test_groups_in_one_value_split_by_groups_delim(idp: IdP) -> None:
    saml = connector(idp, groupsAttr="groupsJoined", groupsDelim=",")
    identity = await saml.handle_post(GROUPS, *await answer(idp, saml))
    assert identity.groups == ("admins", "devs")


async def test_allowed_groups_filter_or_refuse(idp: IdP) -> None:
    saml = connector(idp, allowedGroups=["devs"], filterGroups=True)
    identity = await saml.handle_post(GROUPS, *await answer(idp, saml))
    assert identity.groups == ("devs",)
    kept = connector(idp, allowedGroups=["devs"])
    assert (await kept.handle_post(GROUPS, *await answer(idp, kept))).groups == ("admins", "devs")
    strict = connector(idp, allowedGroups=["finance"])
    with pytest.raises(UserNotInRequiredGroupsError):
        await strict.handle_post(GROUPS, *await answer(idp, strict))
    # bob is in no group at all.
    with pytest.raises(UserNotInRequiredGroupsError):
        await kept.handle_post(GROUPS, *await answer(idp, kept, "bob"))


async def test_a_missing_attribute_is_named(idp: IdP) -> None:
    saml = connector(idp, emailAttr="mail")
    await refused(saml, *await answer(idp, saml), "no attribute 'mail'")


async def test_a_response_signed_as_a_whole_is_accepted(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = strip_signatures(decode(response))
    identity = await saml.handle_post(GROUPS, encode(sign(root, root, idp.keys)), saved)
    assert identity.user_id == "jane-0001"


# -- refused answers ---------------------------------------------------------------------
async def test_an_unsigned_answer_is_refused(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    unsigned = encode(strip_signatures(decode(response)))
    await refused(saml, unsigned, saved, "neither the response nor its assertion is signed")


@pytest.mark.parametrize("signed", ["assertion", "response"])
async def test_an_answer_signed_with_another_key_is_refused(
    idp: IdP, attacker: KeyPair, signed: str
) -> None:
    """The attacker's certificate travels in KeyInfo; only caData's key counts."""
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = strip_signatures(decode(response))
    target = root if signed == "response" else one(root, "saml:Assertion")
    one(root, "//saml:NameID").text = "admin-0000"
    forged = encode(sign(root, target, attacker))
    await refused(saml, forged, saved, "not valid for the configured certificates")


async def test_an_edited_signed_assertion_is_refused(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = decode(response)
    one(root, "//saml:NameID").text = "admin-0000"
    await refused(saml, encode(root), saved, "not valid for the configured certificates")


async def test_an_expired_answer_is_refused(idp: IdP) -> None:
    # The IdP's answers are valid for 5 minutes; 30 seconds of skew are allowed.
    later = FrozenClock(datetime.now(UTC) + timedelta(minutes=6))
    saml = connector(idp, clock=later)
    await refused(saml, *await answer(idp, saml), "expired")


async def test_an_answer_from_the_future_is_refused(idp: IdP) -> None:
    earlier = FrozenClock(datetime.now(UTC) - timedelta(minutes=2))
    saml = connector(idp, clock=earlier)
    await refused(saml, *await answer(idp, saml), "not valid before")


async def test_a_replayed_answer_is_refused(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    await saml.handle_post(GROUPS, response, saved)
    await refused(saml, response, saved, "already used")


async def test_an_answer_to_another_request_is_refused(idp: IdP) -> None:
    saml = connector(idp)
    response, _saved = await answer(idp, saml)
    _action, _request, other = await saml.post_login(GROUPS, CALLBACK, "other")
    await refused(saml, response, other, "InResponseTo")


async def test_an_answer_for_another_service_is_refused(idp: IdP) -> None:
    # Another service provider (another entity id) receiving our answer refuses it.
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    other = connector(idp, entityIssuer="https://other.example.com/saml")
    await refused(other, response, saved, "meant for")


async def test_an_audience_changed_and_signed_by_the_idp_is_still_refused(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = decode(response)
    one(root, "//saml:Audience").text = "https://other.example.com/saml"
    resigned = encode(sign(root, one(root, "saml:Assertion"), idp.keys))
    await refused(saml, resigned, saved, "meant for")


async def test_a_wrong_destination_or_issuer_is_refused(idp: IdP) -> None:
    saml = connector(idp, redirectURI="https://elsewhere.example.com/callback")
    await refused(saml, *await answer(idp, saml), "not this service")
    strict = connector(idp, ssoIssuer="https://idp.example.com/")
    await refused(strict, *await answer(idp, strict), "comes from")


async def test_a_failure_status_is_refused_with_its_code(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = decode(response)
    one(root, "samlp:Status/samlp:StatusCode").set(
        "Value", "urn:oasis:names:tc:SAML:2.0:status:Requester"
    )
    await refused(saml, encode(sign(root, root, idp.keys)), saved, "'Requester'")


# -- signature wrapping (XSW) ----------------------------------------------------------------
def _evil_copy(assertion: etree._Element) -> etree._Element:
    evil = etree.fromstring(etree.tostring(assertion))
    for signature in evil.findall(f"{{{forge.DS}}}Signature"):
        evil.remove(signature)
    evil.set("ID", "_evil")
    one(evil, "saml:Subject/saml:NameID").text = "admin-0000"
    return evil


async def test_xsw_an_evil_assertion_next_to_the_signed_one_is_refused(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = decode(response)
    signed = one(root, "saml:Assertion")
    root.insert(list(root).index(signed), _evil_copy(signed))
    await refused(saml, encode(root), saved, "one assertion")


async def test_xsw_signed_assertion_moved_inside_the_evil_one_is_refused(idp: IdP) -> None:
    """The evil assertion takes the original's place, carrying its signature; the signed
    original hides in the signature's Object, where the reference still finds it."""
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = decode(response)
    signed = one(root, "saml:Assertion")
    evil = _evil_copy(signed)
    signature = one(signed, "ds:Signature")
    signed.remove(signature)
    obj = etree.SubElement(signature, f"{{{forge.DS}}}Object")
    obj.append(signed)  # moves the signed assertion out of the response
    evil.insert(1, signature)
    root.append(evil)
    await refused(saml, encode(root), saved, "does not sign the element that contains it")


async def test_xsw_evil_assertion_in_a_signed_response_wrapper_is_refused(idp: IdP) -> None:
    """The signed response moved into an extension of an unsigned evil response."""
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    original = decode(response)
    root = sign(original, original, idp.keys)  # a legitimately signed response...
    wrapper = etree.fromstring(etree.tostring(root))
    for child in list(wrapper):
        if child.tag != f"{{{SAML}}}Issuer":
            wrapper.remove(child)
    wrapper.set("ID", "_wrapper")
    signature = one(root, "ds:Signature")
    wrapper.append(signature)  # ...its signature on the wrapper,
    extensions = etree.SubElement(wrapper, f"{{{forge.SAMLP}}}Extensions")
    extensions.append(root)  # the original inside,
    wrapper.append(_evil_copy(one(root, "saml:Assertion")))  # and an evil assertion.
    await refused(saml, encode(wrapper), saved, "does not sign the element that contains it")


async def test_a_signature_with_an_xslt_transform_is_not_run(idp: IdP) -> None:
    saml = connector(idp)
    response, saved = await answer(idp, saml)
    root = decode(response)
    transforms = one(root, "saml:Assertion/ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms")
    etree.SubElement(
        transforms,
        f"{{{forge.DS}}}Transform",
        Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116",
    )
    await refused(saml, encode(root), saved, "is not accepted")


async def test_garbage_is_refused_clearly(idp: IdP) -> None:
    saml = connector(idp)
    _action, _request, saved = await saml.post_login(GROUPS, CALLBACK, "s")
    await refused(saml, "%%%", saved, "not base64")
    await refused(saml, base64.b64encode(b"<a>").decode(), saved, "not readable")
    doctype = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    await refused(saml, base64.b64encode(doctype).decode(), saved, "document type")
    await refused(saml, base64.b64encode(b"<x/>").decode(), saved, "not a samlp:Response")


# -- configuration problems at sign-in ------------------------------------------------------
async def test_an_unreadable_ca_file_is_a_clear_error(idp: IdP, tmp_path: Path) -> None:
    saml = connector(idp, caData=None, ca=str(tmp_path / "missing.pem"))
    with pytest.raises(ConnectorError, match=r"missing\.pem' cannot be read"):
        await saml.post_login(GROUPS, CALLBACK, "s")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    saml = connector(idp, caData=None, ca=str(bad))
    with pytest.raises(ConnectorError, match="PEM certificates"):
        await saml.post_login(GROUPS, CALLBACK, "s")


async def test_a_ca_file_with_the_idp_certificate_works(idp: IdP, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    other = make_key_pair(tmp_path, "rotated")
    ca.write_bytes(other.cert_pem + idp.keys.cert_pem)  # a rotation: both keys trusted
    saml = connector(idp, caData=None, ca=str(ca))
    assert (await saml.handle_post(GROUPS, *await answer(idp, saml))).user_id == "jane-0001"


async def test_insecure_skip_signature_validation_accepts_unsigned(idp: IdP) -> None:
    saml = connector(idp, caData=None, insecureSkipSignatureValidation=True)
    response, saved = await answer(idp, saml)
    identity = await saml.handle_post(GROUPS, encode(strip_signatures(decode(response))), saved)
    assert identity.user_id == "jane-0001"


def test_the_sp_metadata(idp: IdP) -> None:
    root = etree.fromstring(sp_metadata(options(idp)))
    assert root.get("entityID") == ENTITY
    service = one(root, "//*[local-name()='AssertionConsumerService']")
    assert service.get("Location") == CALLBACK
    assert service.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert NS  # the namespaces the tests use


async def test_without_entity_issuer_the_redirect_uri_is_the_audience(idp: IdP) -> None:
    saml = connector(idp, entityIssuer=None)
    assert etree.fromstring(saml.metadata()).get("entityID") == CALLBACK
