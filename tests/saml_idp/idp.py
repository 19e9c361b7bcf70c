"""Start the real SAML identity provider (``server.js``, samlify) on loopback for a test,
and walk a browser through it: post the AuthnRequest, sign in, get the signed answer."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from upstream.provider import free_port

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


def require_node() -> str:
    """node with samlify installed (``npm ci --prefix tests/saml_idp``); in CI a missing
    one is a failure, locally a skip."""
    node = shutil.which("node")
    if node and (HERE / "node_modules" / "samlify").is_dir():
        return node
    reason = "needs node and `npm ci --prefix tests/saml_idp` (make upstream; see .ci/run)"
    if os.environ.get("CI") or os.environ.get("PASSGATE_REQUIRE_UPSTREAM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def require_xmlsec1() -> None:
    if shutil.which("xmlsec1"):
        return
    reason = "needs the xmlsec1 program (Debian package xmlsec1)"
    if os.environ.get("CI") or os.environ.get("PASSGATE_REQUIRE_UPSTREAM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


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


def page_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of a page's (first) form."""
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action is not None, html[:500]
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    return unescape(action.group(1)), {name: unescape(value) for name, value in hidden}


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


@contextlib.contextmanager
def running_idp(folder: Path) -> Iterator[IdP]:
    node = require_node()
    keys = make_key_pair(folder, "idp")
    port = free_port()
    entity_id = f"http://127.0.0.1:{port}/metadata"
    env = {
        **os.environ,
        "PORT": str(port),
        "ENTITY_ID": entity_id,
        "KEY_FILE": str(keys.key),
        "CERT_FILE": str(keys.cert),
        "USERS": json.dumps(USERS),
    }
    process = subprocess.Popen(
        [node, str(HERE / "server.js")],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "ready <base URL>", or EOF if it died
        if not line.startswith("ready "):
            raise RuntimeError(f"SAML IdP did not start: {line!r}")
        yield IdP(base=line.split()[1], entity_id=entity_id, keys=keys)
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
