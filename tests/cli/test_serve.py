import ssl
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from passgate.cli.listeners import Listener, split_address, uvicorn_config
from passgate.config import parse_config


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:5556", ("127.0.0.1", 5556)),
        ("[::1]:443", ("::1", 443)),
        (":5556", ("0.0.0.0", 5556)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["5556", "host:", "host:99999", "host:http"])
def test_split_address_rejects(address: str) -> None:
    with pytest.raises(ValueError, match="listen address"):
        split_address(address)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(
    ("minimum", "maximum", "expected"),
    [
        (None, None, (ssl.TLSVersion.TLSv1_2, None)),
        ('"1.3"', None, (ssl.TLSVersion.TLSv1_3, None)),
        ('"1.2"', '"1.2"', (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)),
    ],
)
def test_tls_versions_follow_the_config(
    tmp_path: Path, minimum: str | None, maximum: str | None, expected: tuple[object, object]
) -> None:
    cert, key = _self_signed(tmp_path)
    lines = [f"  https: 127.0.0.1:8443\n  tlsCert: {cert}\n  tlsKey: {key}\n"]
    if minimum:
        lines.append(f"  tlsMinVersion: {minimum}\n")
    if maximum:
        lines.append(f"  tlsMaxVersion: {maximum}\n")
    config = parse_config(
        "issuer: https://sso.example.com/dex\nstorage: {type: memory}\nweb:\n"
        + "".join(lines)
        + "staticClients: [{id: a, secret: b, name: A, redirectURIs: ['https://a/cb']}]\n"
        + "connectors: [{type: mockCallback, id: mock, name: Mock}]\n",
        {},
    )
    server_config = uvicorn_config(object(), Listener("web.https", "127.0.0.1:8443", True), config)
    assert server_config.ssl is not None
    assert server_config.ssl.minimum_version == expected[0]
    if expected[1] is not None:
        assert server_config.ssl.maximum_version == expected[1]


def test_version_command() -> None:
    import sys

    passgate = Path(sys.executable).with_name("passgate")
    result = subprocess.run([str(passgate), "version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("passgate ")


def test_check_config_reports_every_error_with_its_path(tmp_path: Path) -> None:
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "issuer: not-a-url\nstorage: {type: sqlite3, config: {}}\nweb: {http: 127.0.0.1:1}\n"
        "staticClients:\n  - id: a\n    redirectURIs: [relative]\n    bogusKey: 1\n"
    )
    passgate = Path(sys.executable).with_name("passgate")
    result = subprocess.run(
        [str(passgate), "check-config", str(bad)], capture_output=True, text=True
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for path in ("issuer", "staticClients[0].bogusKey", "staticClients[0].redirectURIs[0]"):
        assert path in output, output


def test_serve_with_a_wrong_encryption_key_fails_in_one_line(tmp_path: Path) -> None:
    """A database whose signing key was sealed with another key: one clear line, exit 1,
    no traceback, no key material."""
    import asyncio
    import socket
    import sys

    from passgate.clock import system_clock
    from passgate.keys import KeyManager
    from passgate.keys.encryption import KeyRing
    from passgate.storage.sql.sqlite import SQLiteStorage

    first, second = "first-key-" + "1" * 32, "second-key-" + "2" * 32
    database = tmp_path / "passgate.db"

    async def seal_with_first() -> None:
        storage = SQLiteStorage(str(database))
        await storage.open()
        try:
            keys = KeyManager(
                storage, system_clock, rotation_period=timedelta(hours=6),
                id_token_lifetime=timedelta(hours=1), ring=KeyRing(first),
            )  # fmt: skip
            await keys.start()
        finally:
            await storage.close()

    asyncio.run(seal_with_first())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(
        f"issuer: http://127.0.0.1:{port}/dex\n"
        f"storage: {{type: sqlite3, config: {{file: {database}}}}}\n"
        f"web: {{http: 127.0.0.1:{port}}}\n"
        "signer: {type: local, config: {encryptionKeyEnv: PASSGATE_ENCRYPTION_KEY}}\n"
    )
    passgate = Path(sys.executable).with_name("passgate")
    env = {"PATH": "/usr/bin:/bin", "PASSGATE_ENCRYPTION_KEY": second}
    result = subprocess.run(
        [str(passgate), "serve", str(config)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1, result
    output = result.stdout + result.stderr
    [line] = [text for text in result.stderr.splitlines() if text.startswith("passgate:")]
    first_id, second_id = KeyRing(first).current_id, KeyRing(second).current_id
    assert line == (
        f"passgate: cannot start: the signing key in storage is encrypted with key {first_id}, "
        f"which is neither signer.config.encryptionKey (key {second_id}) nor one of "
        "previousEncryptionKeys"
    )
    assert "Traceback" not in output
    assert first not in output
    assert second not in output
