"""The test slapd itself, checked with OpenLDAP's own client (ldap-utils), so that the
connector tests stand on a directory known to be right: all three transports, the
service account, and the data of the LDIF."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ldap.server import BASE_DN, SERVICE_DN, SERVICE_PASSWORD, Slapd
from testenv import missing


def ldap_client(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    missing("LDAP", f"needs {tool} from ldap-utils: apt-get install ldap-utils (make setup)")


def whoami(slapd: Slapd, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [ldap_client("ldapwhoami"), "-x", "-H", url, "-D", SERVICE_DN, "-w",
               SERVICE_PASSWORD, *extra]  # fmt: skip
    env = {**os.environ, "LDAPTLS_CACERT": str(slapd.tls.ca), "LDAPTLS_REQCERT": "demand"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=10)


@pytest.mark.parametrize(
    ("scheme", "extra"), [("ldap", ()), ("ldaps", ()), ("ldap", ("-ZZ",))],
    ids=["plain", "ldaps", "starttls"],
)  # fmt: skip
def test_every_transport_answers(slapd: Slapd, scheme: str, extra: tuple[str, ...]) -> None:
    port = slapd.tls_port if scheme == "ldaps" else slapd.port
    result = whoami(slapd, f"{scheme}://{slapd.host}:{port}", *extra)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"dn:{SERVICE_DN}"


def test_the_ldif_is_loaded(slapd: Slapd) -> None:
    command = [ldap_client("ldapsearch"), "-x", "-LLL", "-H", f"ldap://{slapd.plain}",
               "-b", BASE_DN, "(memberUid=john)", "cn"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert "cn: ops" in result.stdout
