"""XML-DSig verification with the ``xmlsec1`` program (the XML Security Library).

What Passgate reads is what xmlsec verified: xmlsec1 prints each reference's data just
before it digests it (``--store-references``), and that canonical XML, parsed again,
is the element the connector uses. Nothing is looked up again by XPath in the
unverified document, so moving or duplicating elements (signature wrapping) cannot put
unsigned content in front of the connector.

Keys come only from the configured certificates: the signature's ``KeyInfo`` is
removed before verification (it is outside ``SignedInfo``, so the signature stays
intact), and each certificate is tried in turn. Only the transforms and algorithms a
SAML signature uses are let through to xmlsec (no XSLT, XPath or remote references).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import anyio
from lxml import etree

from passgate.connectors.saml.xml import DS, SAML, SAMLP, XMLError, parse, tag

__all__ = ["SignatureError", "XMLSecUnavailableError", "find_xmlsec1", "verify_signature"]

# XML-DSig Core §6 and RFC 6931: what SAML IdPs sign with. SHA-1 is refused.
_TRANSFORMS = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    }
)
_SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
_DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
_START = b"== PreDigest data - start buffer:\n"
_END = b"\n== PreDigest data - end buffer"
TIMEOUT_SECONDS = 10


class SignatureError(Exception):
    """The signature is missing, invalid, made with another key, or not of the element
    it sits in."""


class XMLSecUnavailableError(SignatureError):
    """The ``xmlsec1`` program is not installed or could not run: a server problem."""


def find_xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    if path is None:
        raise XMLSecUnavailableError(
            "the xmlsec1 program is not installed (Debian package 'xmlsec1')"
        )
    return path


def _check_algorithms(signature: etree._Element) -> None:
    signed_info = signature.find(tag(DS, "SignedInfo"))
    if signed_info is None:
        raise SignatureError("the signature has no SignedInfo")
    references = signed_info.findall(tag(DS, "Reference"))
    if len(references) != 1:
        raise SignatureError("the signature must cover exactly one element")
    method = signed_info.find(tag(DS, "SignatureMethod"))
    if method is None or method.get("Algorithm") not in _SIGNATURE_METHODS:
        algorithm = None if method is None else method.get("Algorithm")
        raise SignatureError(f"signature algorithm {algorithm!r} is not accepted")
    canonical = signed_info.find(tag(DS, "CanonicalizationMethod"))
    if canonical is None or canonical.get("Algorithm") not in _TRANSFORMS:
        raise SignatureError("the canonicalization method is not accepted")
    digest = references[0].find(tag(DS, "DigestMethod"))
    if digest is None or digest.get("Algorithm") not in _DIGEST_METHODS:
        raise SignatureError("the digest algorithm is not accepted")
    for transform in references[0].iter(tag(DS, "Transform")):
        if transform.get("Algorithm") not in _TRANSFORMS:
            raise SignatureError(f"transform {transform.get('Algorithm')!r} is not accepted")
    uri = references[0].get("URI", "")
    if not uri.startswith("#") or len(uri) < 2:
        raise SignatureError("the signature must refer to an element of this document")
    parent = signature.getparent()
    if parent is None or parent.get("ID") != uri[1:]:
        # Enveloped: the signature must sign the element it sits in (XSW defence in depth).
        raise SignatureError("the signature does not sign the element that contains it")


def _path(element: etree._Element) -> str:
    """A prefix-free XPath to ``element`` (``/*[1]/*[3]``) for xmlsec1's --node-xpath."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        parent = node.getparent()
        if parent is None:
            steps.append("/*")
        else:
            siblings = [child for child in parent if isinstance(child.tag, str)]
            steps.append(f"/*[{siblings.index(node) + 1}]")
        node = parent
    return "".join(reversed(steps))


def _prepared(root: etree._Element, signature: etree._Element) -> bytes:
    """The document with the chosen signature's KeyInfo removed: the key it names is
    never used, only the configured certificates are."""
    for key_info in signature.findall(tag(DS, "KeyInfo")):
        signature.remove(key_info)
    return bytes(etree.tostring(root))


def _verified_data(stdout: bytes) -> bytes:
    start = stdout.find(_START)
    end = stdout.rfind(_END)
    if start < 0 or end < start or stdout.count(_START) != 1:
        raise SignatureError("xmlsec1 did not report exactly one verified reference")
    return stdout[start + len(_START) : end]


def _run(xmlsec1: str, folder: Path, pems: Sequence[bytes], xpath: str) -> bytes | None:
    """Blocking: xmlsec1 once per certificate; the output of the first success."""
    document = folder / "response.xml"
    for index, pem in enumerate(pems):
        certificate = folder / f"cert-{index}.pem"
        certificate.write_bytes(pem)
        command = [
            xmlsec1,
            "--verify",
            "--store-references",
            "--enabled-reference-uris",
            "same-doc",
            "--enabled-key-data",
            "rsa,ec",
            "--id-attr:ID",
            f"{SAMLP}:Response",
            "--id-attr:ID",
            f"{SAML}:Assertion",
            "--pubkey-cert-pem",
            str(certificate),
            "--node-xpath",
            xpath,
            str(document),
        ]
        result = subprocess.run(  # noqa: S603 - fixed program, no shell
            command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
        )
        if result.returncode == 0 and b"== Status: succeeded" in result.stdout:
            return result.stdout
    return None


def _verify_blocking(xmlsec1: str, document: bytes, pems: Sequence[bytes], xpath: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="passgate-saml-") as folder:
        (Path(folder) / "response.xml").write_bytes(document)
        output = _run(xmlsec1, Path(folder), pems, xpath)
    if output is None:
        raise SignatureError(
            "the signature is not valid for the configured certificates (ca/caData)"
        )
    return output


async def verify_signature(
    root: etree._Element,
    signature: etree._Element,
    certificates: Sequence[bytes],
    *,
    xmlsec1: str,
) -> etree._Element:
    """Verify ``signature`` (a ``ds:Signature`` inside ``root``, enveloped in the
    element it signs) with each PEM certificate until one succeeds; the signed element,
    parsed from the data xmlsec digested. ``root`` is modified (KeyInfo removed)."""
    _check_algorithms(signature)
    parent = signature.getparent()
    assert parent is not None  # checked above
    position = parent.findall(tag(DS, "Signature")).index(signature) + 1
    xpath = _path(parent) + f"/*[local-name()='Signature' and namespace-uri()='{DS}'][{position}]"
    document = _prepared(root, signature)
    try:
        output = await anyio.to_thread.run_sync(
            _verify_blocking, xmlsec1, document, certificates, xpath
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise XMLSecUnavailableError(f"xmlsec1 could not run: {error}") from None
    try:
        return parse(_verified_data(output))
    except XMLError as error:
        raise SignatureError(f"the signed data could not be read: {error}") from None
