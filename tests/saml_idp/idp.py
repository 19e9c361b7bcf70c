"""Start the real SAML identity provider (``server.js``, samlify) on loopback for a test,
and walk a browser through it: post the AuthnRequest, sign in, get the signed answer."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from upstream.provider import free_port, node_server, page_form, require

HERE = Path(__file__).parent

#: The people the IdP knows: login -> NameID, attributes.
USERS: dict[str, dict[str, object]] = {
    "jane": {
        "nameID": "jane-0001",
        "email": "jane@example.com",
        "username": "Jane Doe",
        "groups": ["admins", "devs"],
    },
    "bob": {"nameID": "bob-0002", "email": "bob@example.com", "username": "Bob", "groups": []},
}


def require_xmlsec1() -> None:
    require(bool(shutil.which("xmlsec1")), "needs the xmlsec1 program (Debian package xmlsec1)")


@dataclass(frozen=True)
class KeyPair:
    key: Path
    cert: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()


def make_key_pair(folder: Path, name: str) -> KeyPair:
    """An RSA key and a self-signed certificate, as an IdP's signing credentials."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(folder / f"{name}.key", folder / f"{name}.crt")
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


@dataclass
class IdP:
    base: str
    entity_id: str
    keys: KeyPair

    @property
    def sso_url(self) -> str:
        return f"{self.base}/sso"

    def register_sp(self, metadata: str, *, sign_response: bool = False) -> None:
        """The service provider it answers: Passgate's own SP metadata document."""
        body = {"metadata": metadata, "wantMessageSigned": sign_response}
        httpx.post(f"{self.base}/admin/sp", json=body, timeout=10).raise_for_status()

    def sign_in(self, action: str, fields: Mapping[str, str], user: str = "jane") -> dict[str, str]:
        """The browser at the IdP: post the AuthnRequest, sign in as ``user``; the fields
        the IdP's page posts back (SAMLResponse, RelayState) with the ACS URL as
        ``action``."""
        assert action == self.sso_url, action
        with httpx.Client(timeout=10) as browser:
            login = browser.post(action, data=dict(fields))
            assert login.status_code == 200, login.text
            login_action, hidden = page_form(login.text)
            answer = browser.post(f"{self.base}{login_action}", data={**hidden, "user": user})
            assert answer.status_code == 200, answer.text
        acs, back = page_form(answer.text)
        return {**back, "action": acs}


def connector_yaml(idp: IdP, issuer: str, *, sso_url: str = "", **extra: str) -> str:
    """A Passgate ``saml`` connector (id ``saml``) for this IdP, under ``issuer``."""
    values = {
        "ssoURL": sso_url or idp.sso_url,
        "caData": base64.b64encode(idp.keys.cert_pem).decode(),
        "redirectURI": f"{issuer}/callback",
        "entityIssuer": f"{issuer}/saml/metadata/saml",
        "ssoIssuer": idp.entity_id,
        "usernameAttr": "username",
        "emailAttr": "email",
        "groupsAttr": "groups",
        **extra,
    }
    lines = "".join(f"    {key}: {value}\n" for key, value in values.items())
    return f"connectors:\n- type: saml\n  id: saml\n  name: Corporate SSO\n  config:\n{lines}"


@contextlib.contextmanager
def running_idp(folder: Path) -> Iterator[IdP]:
    keys = make_key_pair(folder, "idp")
    port = free_port()
    entity_id = f"http://127.0.0.1:{port}/metadata"
    env = {
        "PORT": str(port),
        "ENTITY_ID": entity_id,
        "KEY_FILE": str(keys.key),
        "CERT_FILE": str(keys.cert),
        "USERS": json.dumps(USERS),
    }
    with node_server(HERE, "samlify", env, "SAML IdP") as base:
        yield IdP(base=base, entity_id=entity_id, keys=keys)
