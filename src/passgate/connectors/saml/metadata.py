"""Passgate's service-provider metadata (SAML Metadata §2.4.4), for the IdP's admin."""

from __future__ import annotations

from lxml import etree

from passgate.config.connectors.saml import SAMLConfig
from passgate.connectors.saml.xml import MD, POST_BINDING, SAMLP, tag


def sp_metadata(config: SAMLConfig) -> bytes:
    """An ``EntityDescriptor``: our entity id and where the IdP posts its answers."""
    root = etree.Element(tag(MD, "EntityDescriptor"), nsmap={"md": MD})
    root.set("entityID", config.audience)
    descriptor = etree.SubElement(root, tag(MD, "SPSSODescriptor"))
    descriptor.set("AuthnRequestsSigned", "false")
    descriptor.set("WantAssertionsSigned", "true")
    descriptor.set("protocolSupportEnumeration", SAMLP)
    name_id = etree.SubElement(descriptor, tag(MD, "NameIDFormat"))
    name_id.text = config.name_id_policy_format
    service = etree.SubElement(descriptor, tag(MD, "AssertionConsumerService"))
    service.set("Binding", POST_BINDING)
    service.set("Location", config.redirect_uri)
    service.set("index", "0")
    service.set("isDefault", "true")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
