"""Tampering with real IdP answers for the attack tests: decode, edit with lxml, and sign
again with the xmlsec1 program (with the IdP's key, to show a check other than the
signature refuses it, or with another key)."""

from __future__ import annotations

import base64
import subprocess
import tempfile
from pathlib import Path

from lxml import etree

from saml_idp.idp import KeyPair

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}


def decode(saml_response: str) -> etree._Element:
    return etree.fromstring(base64.b64decode(saml_response))


def encode(root: etree._Element) -> str:
    return base64.b64encode(etree.tostring(root)).decode()


def one(root: etree._Element, xpath: str) -> etree._Element:
    found = root.xpath(xpath, namespaces=NS)
    assert isinstance(found, list), (xpath, found)
    assert len(found) == 1, (xpath, found)
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def strip_signatures(root: etree._Element) -> etree._Element:
    for signature in root.xpath("//ds:Signature", namespaces=NS):
        assert isinstance(signature, etree._Element)
        parent = signature.getparent()
        assert parent is not None
        parent.remove(signature)
    return root


def _template(reference_id: str) -> etree._Element:
    def sub(parent: etree._Element, name: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{DS}}}{name}", attrs)

    signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    info = sub(signature, "SignedInfo")
    sub(info, "CanonicalizationMethod", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    sub(info, "SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    reference = sub(info, "Reference", URI=f"#{reference_id}")
    transforms = sub(reference, "Transforms")
    sub(transforms, "Transform", Algorithm=f"{DS}enveloped-signature")
    sub(transforms, "Transform", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    sub(reference, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    sub(reference, "DigestValue")
    sub(signature, "SignatureValue")
    sub(sub(signature, "KeyInfo"), "X509Data")
    return signature


def _path(element: etree._Element) -> str:
    """``/*[1]/*[3]``: a path xmlsec1 can follow without namespace prefixes."""
    parent = element.getparent()
    if parent is None:
        return "/*"
    siblings = [child for child in parent if isinstance(child.tag, str)]
    return f"{_path(parent)}/*[{siblings.index(element) + 1}]"


def sign(root: etree._Element, element: etree._Element, keys: KeyPair) -> etree._Element:
    """``element`` (inside ``root``) signed anew with ``keys`` (enveloped, after its
    Issuer, like an IdP does); the whole document, parsed again."""
    for old in element.findall(f"{{{DS}}}Signature"):
        element.remove(old)
    issuer = element.find(f"{{{SAML}}}Issuer")
    position = 0 if issuer is None else list(element).index(issuer) + 1
    element.insert(position, _template(element.get("ID", "")))
    xpath = _path(element) + "/*[local-name()='Signature']"
    with tempfile.TemporaryDirectory() as folder:
        source, signed = Path(folder) / "in.xml", Path(folder) / "out.xml"
        source.write_bytes(etree.tostring(root))
        subprocess.run(
            [
                "xmlsec1", "--sign", "--privkey-pem", f"{keys.key},{keys.cert}",
                "--id-attr:ID", f"{SAMLP}:Response", "--id-attr:ID", f"{SAML}:Assertion",
                "--node-xpath", xpath, "--output", str(signed), str(source),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return etree.fromstring(signed.read_bytes())
