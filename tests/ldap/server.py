"""A real OpenLDAP ``slapd`` for the tests, on loopback ports, from a temporary folder.

The config (``slapd.conf``: mdb backend, the core/cosine/inetorgperson/nis schemas, a
small Active Directory schema) and the data (``directory.ldif``, loaded with ``slapadd``)
are made fresh for each test session. slapd listens for plain LDAP (and StartTLS) and
for LDAPS, with a certificate for 127.0.0.1 from a throwaway CA (``e2e.tls``).

One server runs per pytest process, started on first use, stopped at exit. Tests that
change people (delete, move, regroup) add their own people first (:meth:`Slapd.add_user`)
so that the shared ones stay as the LDIF has them.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.tls import TLSFiles, make_tls_files
from passgate.connectors.ldap._ldap3 import ldap3
from testenv import missing

HERE = Path(__file__).parent
SCHEMAS = Path("/etc/ldap/schema")
BASE_DN = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"
SERVICE_DN = f"cn=passgate,ou=services,{BASE_DN}"
SERVICE_PASSWORD = "service-secret"
PEOPLE = f"ou=people,{BASE_DN}"
GROUPS = f"ou=groups,{BASE_DN}"

_CONFIG = """\
include {schemas}/core.schema
include {schemas}/cosine.schema
include {schemas}/inetorgperson.schema
include {schemas}/nis.schema
include {here}/ad.schema

pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb

TLSCACertificateFile {tls.ca}
TLSCertificateFile {tls.cert}
TLSCertificateKeyFile {tls.key}

database mdb
maxsize 16777216
suffix "{base}"
rootdn "{admin}"
rootpw {admin_password}
directory {dir}/data
index objectClass eq
index uid,cn,mail,memberUid,sAMAccountName,userPrincipalName eq
index member,memberOf eq

access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by * read
"""


def require_slapd() -> tuple[str, str]:
    """The ``slapd`` and ``slapadd`` binaries; in CI (or with PASSGATE_REQUIRE_LDAP=1) a
    missing one is a failure, locally a skip."""
    slapd = shutil.which("slapd") or shutil.which("slapd", path="/usr/sbin:/usr/local/sbin")
    slapadd = shutil.which("slapadd") or shutil.which("slapadd", path="/usr/sbin:/usr/local/sbin")
    if slapd and slapadd and (SCHEMAS / "core.schema").is_file():
        return slapd, slapadd
    missing(
        "LDAP",
        "needs OpenLDAP's slapd with its schemas: apt-get install slapd ldap-utils (make setup)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Slapd:
    """A running slapd and the ways to reach and change it."""

    port: int  # ldap:// (plain, and StartTLS)
    tls_port: int  # ldaps://
    tls: TLSFiles
    process: subprocess.Popen[bytes]
    folder: Path

    host: str = "127.0.0.1"

    @property
    def plain(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ldaps(self) -> str:
        return f"{self.host}:{self.tls_port}"

    @contextlib.contextmanager
    def admin(self) -> Iterator[ldap3.Connection]:
        """A connection bound as the directory's root DN (may change anything)."""
        server = ldap3.Server(self.host, port=self.port, get_info=ldap3.NONE)
        conn = ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, raise_exceptions=True)
        conn.bind()
        try:
            yield conn
        finally:
            conn.unbind()

    def add(self, dn: str, classes: Sequence[str], attributes: Mapping[str, object]) -> None:
        with self.admin() as conn:
            conn.add(dn, list(classes), dict(attributes))

    def add_user(self, uid: str, password: str, *, parent: str = PEOPLE, **more: object) -> str:
        """A new inetOrgPerson ``uid=<uid>,<parent>`` with mail ``<uid>@example.org``."""
        dn = f"uid={uid},{parent}"
        attributes: dict[str, object] = {
            "uid": uid, "cn": uid.title(), "sn": uid, "mail": f"{uid}@example.org",
            "userPassword": password, **more,
        }  # fmt: skip
        self.add(dn, ["inetOrgPerson"], attributes)
        return dn

    def add_group(self, name: str, members: Sequence[str]) -> str:
        dn = f"cn={name},{GROUPS}"
        self.add(dn, ["groupOfNames"], {"cn": name, "member": list(members)})
        return dn

    def delete(self, dn: str) -> None:
        with self.admin() as conn:
            conn.delete(dn)

    def rename(self, dn: str, new_rdn: str, new_parent: str | None = None) -> None:
        with self.admin() as conn:
            conn.modify_dn(dn, new_rdn, new_superior=new_parent)

    def replace(self, dn: str, **values: object) -> None:
        with self.admin() as conn:
            changes = {name: [(ldap3.MODIFY_REPLACE, value)] for name, value in values.items()}
            conn.modify(dn, changes)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _wait_for(process: subprocess.Popen[bytes], ports: Sequence[int], log: Path) -> None:
    deadline = time.monotonic() + 20
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"slapd did not listen in time:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", waiting[0])) == 0:
                waiting.pop(0)
                continue
        time.sleep(0.05)


def start_slapd() -> Slapd:
    """Configure, load and start a slapd in a new temporary folder."""
    slapd, slapadd = require_slapd()
    folder = Path(tempfile.mkdtemp(prefix="passgate-slapd-"))
    tls = make_tls_files(folder / "tls")
    (folder / "data").mkdir()
    config = folder / "slapd.conf"
    settings = {"schemas": SCHEMAS, "here": HERE, "dir": folder, "tls": tls, "base": BASE_DN}
    config.write_text(_CONFIG.format(admin=ADMIN_DN, admin_password=ADMIN_PASSWORD, **settings))
    loaded = subprocess.run(
        [slapadd, "-f", str(config), "-l", str(HERE / "directory.ldif")],
        capture_output=True,
        text=True,
        check=False,
    )
    if loaded.returncode != 0:
        raise RuntimeError(f"slapadd failed:\n{loaded.stdout}\n{loaded.stderr}")
    port, tls_port = free_port(), free_port()
    log = folder / "slapd.log"
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    with log.open("wb") as out:
        # -d keeps slapd in the foreground (so it is our child and dies with us).
        process = subprocess.Popen(
            [slapd, "-f", str(config), "-h", urls, "-d", "none"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Slapd(port, tls_port, tls, process, folder)
    try:
        _wait_for(process, [port, tls_port], log)
    except BaseException:
        server.stop()
        raise
    return server


_RUNNING: list[Slapd] = []


def shared_slapd() -> Slapd:
    """The process's slapd, started on first use and stopped when Python exits."""
    if not _RUNNING:
        server = start_slapd()
        atexit.register(server.stop)
        _RUNNING.append(server)
    return _RUNNING[0]


@pytest.fixture(scope="session")
def slapd() -> Slapd:
    return shared_slapd()
