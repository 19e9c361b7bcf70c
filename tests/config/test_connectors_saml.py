"""``connectors[]`` of type ``saml``: Dex's documented example loads unchanged, defaults
follow Dex, and the checks Dex makes when opening the connector are reported with their
key path."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from passgate.config.connectors import SAMLConfig

from .helpers import document, load, problems, text_of

REQUIRED = {
    "ssoURL": "https://saml.example.com/sso",
    "ca": "/etc/dex/saml-ca.pem",
    "redirectURI": "https://sso.example.com/dex/callback",
    "usernameAttr": "name",
    "emailAttr": "email",
}

# Dex's docs (dexidp.io "Authentication Through SAML 2.0"), copied with their comments.
DEX_EXAMPLE = """
connectors:
- type: saml
  # Required field for connector id.
  id: saml
  # Required field for connector name.
  name: SAML
  config:
    # SSO URL used for POST value.
    ssoURL: https://saml.example.com/sso

    # CA to use when validating the signature of the SAML response.
    ca: /path/to/ca.pem

    # Alternatively, the CA data can be provided directly as a base64 encoded PEM file. Only one of ca or caData should be specified.
    # caData: ....

    # Dex's callback URL.
    #
    # If the response assertion status value contains a Destination element, it
    # must match this value exactly.
    #
    # This is also used as the expected audience for AudienceRestriction elements
    # if entityIssuer isn't specified.
    redirectURI: https://dex.example.com/callback

    # Name of attributes in the returned assertions to map to ID token claims.
    usernameAttr: name
    emailAttr: email
    groupsAttr: groups # optional

    # List of groups to filter access based on membership
    # allowedGroups ["group1", "group2"]

    # CA's can also be provided inline
    # caData: ...
    #
    # To skip signature validation, uncomment the following field. This should
    # only be used during testing and may be removed in the future.
    #
    # insecureSkipSignatureValidation: true

    # Optional: Manually specify dex's Issuer value.
    #
    # When provided dex will include this as the Issuer value in the SAML
    # AuthnRequest. It will also override the redirectURI as the required audience
    # when evaluating AudienceRestriction elements.
    entityIssuer: https://dex.example.com/callback

    # Optional: Issuer value for SAML Response
    ssoIssuer: https://saml.example.com/sso

    # Optional: Delimiter for splitting groups returned as a single string.
    #
    # By default, multiple groups are assumed to be represented as multiple
    # attributes with the same name.
    #
    # If "groupsDelim" is provided groups are assumed to be represented as a
    # single attribute and the delimiter is used to split the attribute's value
    # into multiple groups.
    groupsDelim: ", "

    # Optional: Requested format of the NameID.
    #
    # The NameID value is is mapped to the user ID of the user. This can be an
    # abbreviated form of the full URI with just the last component. For example,
    # if this value is set to "emailAddress" the format will resolve to:
    #
    #     urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress
    #
    # If no value is specified, this value defaults to:
    #
    #     urn:oasis:names:tc:SAML:2.0:nameid-format:persistent
    #
    nameIDPolicyFormat: persistent
"""  # noqa: E501 - Dex's comment lines, copied unchanged


def certificate_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def saml(**config: Any) -> dict[str, Any]:
    values = {**REQUIRED, **config}
    return {
        "type": "saml",
        "id": "saml",
        "name": "SAML",
        "config": {k: v for k, v in values.items() if v is not None},
    }


def typed(connector: dict[str, Any]) -> SAMLConfig:
    model = load(document(connectors=[connector])).connectors[0].typed_config()
    assert isinstance(model, SAMLConfig)
    return model


def test_dex_documented_example_loads_unchanged() -> None:
    config = load(text_of(document()) + DEX_EXAMPLE)
    model = config.connectors[0].typed_config()
    assert isinstance(model, SAMLConfig)
    assert model.sso_url == "https://saml.example.com/sso"
    assert model.ca == "/path/to/ca.pem"  # read by the connector at sign-in, not here
    assert model.redirect_uri == "https://dex.example.com/callback"
    assert (model.username_attr, model.email_attr, model.groups_attr) == ("name", "email", "groups")
    assert model.entity_issuer == "https://dex.example.com/callback"
    assert model.sso_issuer == "https://saml.example.com/sso"
    assert model.groups_delim == ", "
    assert model.name_id_policy_format == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert config.warnings == []


def test_samlexperimental_is_the_same_connector() -> None:
    connector = {**saml(), "type": "samlExperimental"}
    assert typed(connector).sso_url == "https://saml.example.com/sso"


def test_defaults_follow_dex() -> None:
    model = typed(saml())
    assert model.name_id_policy_format == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert typed(saml(nameIDPolicyFormat="")).name_id_policy_format.endswith(":persistent")
    assert (model.entity_issuer, model.sso_issuer, model.groups_attr, model.groups_delim) == (
        "", "", "", "",
    )  # fmt: skip
    assert model.allowed_groups == []
    assert not model.filter_groups
    assert not model.insecure_skip_signature_validation
    assert model.audience == "https://sso.example.com/dex/callback"  # Dex: redirectURI


def test_name_id_formats_by_shorthand_or_urn() -> None:
    for value, urn in [
        ("transient", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"),
        ("emailAddress", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
        ("unspecified", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
        (
            "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName",
            "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName",
        ),
    ]:
        assert typed(saml(nameIDPolicyFormat=value)).name_id_policy_format == urn
    found = problems(document(connectors=[saml(nameIDPolicyFormat="email")]))
    assert set(found) == {"connectors[0].config.nameIDPolicyFormat"}
    assert "persistent" in found["connectors[0].config.nameIDPolicyFormat"]


def test_ca_data_is_base64_of_pem() -> None:
    pem = certificate_pem()
    model = typed(saml(ca=None, caData=base64.b64encode(pem).decode()))
    assert model.ca_data == pem
    assert "BEGIN" not in repr(model)
    bad = {
        "not base64!": "must be base64",
        base64.b64encode(b"hello").decode(): "PEM certificates",
        base64.b64encode(pem + b"trailing").decode(): "after the last PEM certificate",
    }
    for value, message in bad.items():
        found = problems(document(connectors=[saml(ca=None, caData=value)]))
        assert set(found) == {"connectors[0].config.caData"}, value
        assert message in found["connectors[0].config.caData"], found


def test_dex_open_checks_are_reported_with_their_path() -> None:
    found = problems(
        document(connectors=[saml(ssoURL=None, usernameAttr=None, emailAttr="", redirectURI=None)])
    )
    assert set(found) >= {
        "connectors[0].config.ssoURL",
        "connectors[0].config.usernameAttr",
        "connectors[0].config.emailAttr",
        "connectors[0].config.redirectURI",
    }
    found = problems(document(connectors=[saml(ca=None)]))
    assert set(found) == {"connectors[0].config.ca"}
    assert "caData" in found["connectors[0].config.ca"]
    pem = base64.b64encode(certificate_pem()).decode()
    assert set(problems(document(connectors=[saml(caData=pem)]))) == {"connectors[0].config.caData"}
    assert set(problems(document(connectors=[saml(ssoURL="saml.example.com/sso")]))) == {
        "connectors[0].config.ssoURL"
    }


def test_keys_match_case_insensitively_like_dex() -> None:
    model = typed(
        {"type": "saml", "id": "saml", "name": "SAML",
         "config": {"ssoUrl": "https://idp.example/sso", "CA": "/ca.pem",
                    "redirectUri": "https://x.example/cb", "usernameattr": "u",
                    "EmailAttr": "e", "entityissuer": "urn:sp"}}
    )  # fmt: skip
    assert (model.sso_url, model.ca, model.entity_issuer) == (
        "https://idp.example/sso", "/ca.pem", "urn:sp",
    )  # fmt: skip


def test_insecure_settings_are_warned_about() -> None:
    config = load(document(connectors=[saml(ca=None, insecureSkipSignatureValidation=True)]))
    assert any(
        w.startswith("connectors[0].config.insecureSkipSignatureValidation:")
        for w in config.warnings
    ), config.warnings
    config = load(document(connectors=[saml(allowedGroups=["admins"])]))
    assert any(w.startswith("connectors[0].config.groupsAttr:") for w in config.warnings)
