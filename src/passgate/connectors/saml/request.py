"""The AuthnRequest Passgate sends (SAML Core §3.4.1) and its HTTP-POST encoding."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from lxml import etree

from passgate.config.connectors.saml import SAMLConfig
from passgate.connectors.saml.xml import POST_BINDING, SAML, SAMLP, format_instant, tag


def new_request_id() -> str:
    """An xs:ID (SAML Core §1.3.4: 128 bits or more of randomness; an NCName)."""
    return "_" + secrets.token_hex(20)


def authn_request(config: SAMLConfig, request_id: str, now: datetime) -> bytes:
    """The AuthnRequest XML: answer by POST to ``redirectURI`` with this NameID format."""
    root = etree.Element(tag(SAMLP, "AuthnRequest"), nsmap={"samlp": SAMLP, "saml": SAML})
    root.set("ID", request_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", format_instant(now))
    root.set("Destination", config.sso_url)
    root.set("ProtocolBinding", POST_BINDING)
    root.set("AssertionConsumerServiceURL", config.redirect_uri)
    if config.entity_issuer:
        # Optional (SAML Core §3.2.1), and some IdPs ignore it; Dex sends it when set.
        issuer = etree.SubElement(root, tag(SAML, "Issuer"))
        issuer.text = config.entity_issuer
    policy = etree.SubElement(root, tag(SAMLP, "NameIDPolicy"))
    policy.set("Format", config.name_id_policy_format)
    policy.set("AllowCreate", "true")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def post_encode(xml: bytes) -> str:
    """SAML Bindings §3.5.4: the HTTP-POST binding sends plain base64, no deflate."""
    return base64.b64encode(xml).decode("ascii")
