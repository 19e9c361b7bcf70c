"""The ``ldap`` connector against a real OpenLDAP slapd: sign-in over plain LDAP, LDAPS
and StartTLS, groups, wrong and empty passwords, unknown users, filter metacharacters,
and the errors a person sees when the directory cannot be used."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.tls import make_tls_files
from ldap.layouts import config, openldap
from ldap.server import PEOPLE, SERVICE_DN, Slapd, free_port, shared_slapd
from passgate.connectors.base import (
    ConnectorError,
    Identity,
    Scopes,
    UpstreamUnavailableError,
)
from passgate.connectors.ldap import LDAPConnector

pytestmark = pytest.mark.anyio

ALL = Scopes(offline_access=True, groups=True)
NO_GROUPS = Scopes(offline_access=True, groups=False)


@pytest.fixture(scope="module")
def slapd() -> Slapd:
    """The test session's OpenLDAP server (started on first use)."""
    return shared_slapd()


def connector(options: dict[str, Any], **kwargs: Any) -> LDAPConnector:
    return LDAPConnector(config(options), "ldap", **kwargs)


async def sign_in(options: dict[str, Any], username: str, password: str) -> Identity | None:
    return await connector(options).login(ALL, username, password)


# -- sign-in --------------------------------------------------------------------------
async def test_sign_in_maps_the_entry_like_dex(slapd: Slapd) -> None:
    identity = await sign_in(openldap(slapd), "jane", "jane-password")
    assert identity is not None
    assert (identity.user_id, identity.username, identity.email) == (
        "jane", "Jane Doe", "jane@example.org",
    )  # fmt: skip
    assert identity.email_verified
    assert identity.preferred_username == ""
    # Groups by member DN (admins, developers) and by memberUid (ops), each once.
    assert identity.groups == ("admins", "developers", "ops")
    # Dex's refreshData: the username signed in with and the entry (Go's JSON of it).
    data = json.loads(identity.connector_data)
    assert data["username"] == "jane"
    assert data["entry"]["DN"] == f"uid=jane,{PEOPLE}"
    uid = next(a for a in data["entry"]["Attributes"] if a["Name"] == "uid")
    assert uid == {"Name": "uid", "Values": ["jane"], "ByteValues": ["amFuZQ=="]}


async def test_groups_only_with_the_groups_scope(slapd: Slapd) -> None:
    identity = await connector(openldap(slapd)).login(NO_GROUPS, "john", "john-password")
    assert identity is not None
    assert identity.groups == ()
    with_groups = await sign_in(openldap(slapd), "john", "john-password")
    assert with_groups is not None
    assert with_groups.groups == ("developers", "ops")


@pytest.mark.parametrize(
    ("matchers", "groups"),
    [
        ([{"userAttr": "DN", "groupAttr": "member"}], ("admins", "developers")),
        ([{"userAttr": "uid", "groupAttr": "memberUid"}], ("ops",)),
    ],
    ids=["member-dn", "memberUid"],
)
async def test_each_user_matcher_finds_its_groups(
    slapd: Slapd, matchers: list[dict[str, str]], groups: tuple[str, ...]
) -> None:
    options = openldap(slapd, groupSearch={"userMatchers": matchers})
    identity = await sign_in(options, "jane", "jane-password")
    assert identity is not None
    assert identity.groups == groups


async def test_the_legacy_user_attr_pair_still_works(slapd: Slapd) -> None:
    options = openldap(
        slapd,
        groupSearch={"userMatchers": None, "userAttr": "uid", "groupAttr": "memberUid"},
    )
    identity = await sign_in(options, "jane", "jane-password")
    assert identity is not None
    assert identity.groups == ("ops",)


async def test_preferred_username_and_email_suffix(slapd: Slapd) -> None:
    options = openldap(
        slapd,
        userSearch={"preferredUsernameAttr": "uid", "nameAttr": "uid",
                    "emailSuffix": "corp.example"},
    )  # fmt: skip
    identity = await sign_in(options, "jane", "jane-password")
    assert identity is not None
    # Dex builds the email from nameAttr's value and the suffix.
    assert (identity.preferred_username, identity.email) == ("jane", "jane@corp.example")


async def test_the_id_can_be_the_dn(slapd: Slapd) -> None:
    options = openldap(slapd, userSearch={"idAttr": "DN", "username": "mail"})
    identity = await sign_in(options, "jane@example.org", "jane-password")
    assert identity is not None
    assert identity.user_id == f"uid=jane,{PEOPLE}"


async def test_scope_one_does_not_search_below_the_base(slapd: Slapd) -> None:
    sub = await sign_in(openldap(slapd), "carl", "carl-password")
    assert sub is not None
    assert sub.email == "carl@example.org"
    one = openldap(slapd, userSearch={"scope": "one"})
    assert await sign_in(one, "carl", "carl-password") is None
    assert await sign_in(one, "jane", "jane-password") is not None


async def test_anonymous_search_when_no_service_account_is_set(slapd: Slapd) -> None:
    options = openldap(slapd, bindDN=None, bindPW=None)
    identity = await sign_in(options, "jane", "jane-password")
    assert identity is not None
    assert identity.groups == ("admins", "developers", "ops")


async def test_the_prompt_is_the_username_prompt(slapd: Slapd) -> None:
    assert connector(openldap(slapd)).prompt == "Username"
    assert connector(openldap(slapd, usernamePrompt="Corp ID")).prompt == "Corp ID"


# -- TLS ------------------------------------------------------------------------------
def _tls(slapd: Slapd, **options: Any) -> dict[str, Any]:
    return openldap(slapd, insecureNoSSL=None, **options)


async def test_ldaps_with_a_root_ca_file(slapd: Slapd) -> None:
    options = _tls(slapd, host=slapd.ldaps, rootCA=str(slapd.tls.ca))
    assert await sign_in(options, "jane", "jane-password") is not None


async def test_ldaps_with_root_ca_data(slapd: Slapd) -> None:
    data = base64.b64encode(slapd.tls.ca.read_bytes()).decode()
    options = _tls(slapd, host=slapd.ldaps, rootCAData=data)
    assert await sign_in(options, "jane", "jane-password") is not None


async def test_start_tls_on_the_plain_port(slapd: Slapd) -> None:
    options = _tls(slapd, startTLS=True, rootCA=str(slapd.tls.ca))
    identity = await sign_in(options, "jane", "jane-password")
    assert identity is not None
    assert identity.groups == ("admins", "developers", "ops")


async def test_insecure_skip_verify_accepts_an_unknown_ca(slapd: Slapd) -> None:
    options = _tls(slapd, host=slapd.ldaps, insecureSkipVerify=True)
    assert await sign_in(options, "jane", "jane-password") is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ldaps": True}, "TLS certificate is not trusted (check rootCA or rootCAData)"),
        ({"startTLS": True}, "StartTLS with the LDAP server failed"),
        ({"ldaps": True, "ca": True, "host": "localhost"}, "not valid for this host name"),
        ({"ldaps": True, "ca": True, "plain_port": True}, "did not answer with TLS"),
    ],
    ids=["untrusted-ldaps", "untrusted-starttls", "wrong-name", "ldaps-to-plain-port"],
)
async def test_tls_failures_are_explained(
    slapd: Slapd, options: dict[str, Any], message: str
) -> None:
    port = slapd.port if options.get("plain_port") or not options.get("ldaps") else slapd.tls_port
    settings = _tls(
        slapd,
        host=f"{options.get('host', slapd.host)}:{port}",
        startTLS=options.get("startTLS", False),
        rootCA=str(slapd.tls.ca) if options.get("ca") else "",
    )
    with pytest.raises(UpstreamUnavailableError) as caught:
        await sign_in(settings, "jane", "jane-password")
    assert message in str(caught.value)


async def test_a_client_certificate_is_presented(slapd: Slapd, tmp_path: Path) -> None:
    # slapd does not ask for one; the point is that the configured pair loads and works.
    client = make_tls_files(tmp_path / "client")
    options = _tls(
        slapd, host=slapd.ldaps, rootCA=str(slapd.tls.ca),
        clientCert=str(client.cert), clientKey=str(client.key),
    )  # fmt: skip
    assert await sign_in(options, "jane", "jane-password") is not None


async def test_an_unreadable_root_ca_is_a_clear_error_not_a_crash(
    slapd: Slapd, tmp_path: Path
) -> None:
    options = _tls(slapd, host=slapd.ldaps, rootCA=str(tmp_path / "missing.pem"))
    ldap = connector(options)  # starting does not fail: every sign-in explains instead
    with pytest.raises(UpstreamUnavailableError) as caught:
        await ldap.login(ALL, "jane", "jane-password")
    assert "cannot read the rootCA file" in str(caught.value)
    assert "missing.pem" in str(caught.value)


# -- wrong credentials ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("jane", "wrong-password"),
        ("jane", "john-password"),
        ("jane", "JANE-PASSWORD"),
        ("nobody", "jane-password"),
        ("jane", ""),
        ("", "jane-password"),
        ("jane\ud800", "jane-password"),
        ("jane", "jane-password\udc80"),
    ],
    ids=[
        "wrong",
        "another-users",
        "case",
        "unknown-user",
        "empty-password",
        "empty-user",
        "surrogate-user",
        "surrogate-password",
    ],
)
async def test_wrong_credentials_are_none(slapd: Slapd, username: str, password: str) -> None:
    assert await sign_in(openldap(slapd), username, password) is None


async def test_an_empty_password_never_reaches_the_server(slapd: Slapd) -> None:
    # An empty password is an "unauthenticated bind", which succeeds on many servers
    # (RFC 4513 §5.1.2): even with the directory unreachable the answer is a plain None.
    ldap = connector(openldap(slapd, host=f"127.0.0.1:{free_port()}"))
    assert await ldap.login(ALL, "jane", "") is None


@pytest.mark.parametrize(
    "username",
    ["*", "j*", "*)(uid=*", "jane)(uid=*", "*)(|(uid=*", "jane\\", "\\2a", "jane\x00",
     "\x00", "(uid=jane)", "jane)(objectClass=*"],
)  # fmt: skip
async def test_filter_metacharacters_match_nobody(slapd: Slapd, username: str) -> None:
    # With jane's password: an injected wildcard or extra assertion would find her.
    assert await sign_in(openldap(slapd), username, "jane-password") is None


async def test_a_username_of_metacharacters_matches_only_itself(slapd: Slapd) -> None:
    identity = await sign_in(openldap(slapd), "o*d)(d\\name", "odd-password")
    assert identity is not None
    assert (identity.user_id, identity.email) == ("o*d)(d\\name", "odd@example.org")
    assert await sign_in(openldap(slapd), "o*", "odd-password") is None


async def test_a_non_ascii_username(slapd: Slapd) -> None:
    # The password too is not ASCII: it is sent as UTF-8 octets.
    slapd.add_user("zoë-ü", "zoë-pässword", mail="zoe@example.org")
    identity = await sign_in(openldap(slapd), "zoë-ü", "zoë-pässword")
    assert identity is not None
    assert identity.user_id == "zoë-ü"
    assert await sign_in(openldap(slapd), "zoe-u", "zoë-pässword") is None


async def test_several_entries_for_one_username_is_an_error(slapd: Slapd) -> None:
    # ``cn`` is not unique: two people named alike must not sign in as either.
    slapd.add_user("twin-a", "twin-password", cn="Twin")
    slapd.add_user("twin-b", "twin-password", cn="Twin")
    with pytest.raises(ConnectorError, match="matched several entries"):
        await sign_in(openldap(slapd, userSearch={"username": "cn"}), "Twin", "twin-password")


async def test_a_missing_required_attribute_is_named(slapd: Slapd) -> None:
    with pytest.raises(ConnectorError) as caught:
        await sign_in(openldap(slapd), "nomail", "nomail-password")
    assert "lacks the required attribute(s) 'mail'" in str(caught.value)
    assert not isinstance(caught.value, UpstreamUnavailableError)


# -- the directory cannot be used -----------------------------------------------------
async def test_an_unreachable_server_is_explained(slapd: Slapd) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(UpstreamUnavailableError) as caught:
        await sign_in(openldap(slapd, host=f"127.0.0.1:{port}"), "jane", "jane-password")
    assert str(caught.value) == (
        f"cannot connect to the LDAP server (127.0.0.1:{port}): connection refused"
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()


async def test_a_server_that_never_answers_times_out(slapd: Slapd, silent_server: int) -> None:
    options = openldap(slapd, host=f"127.0.0.1:{silent_server}")
    with pytest.raises(UpstreamUnavailableError, match="timed out"):
        await connector(options, timeout=1).login(ALL, "jane", "jane-password")


async def test_a_wrong_service_password_is_explained(slapd: Slapd) -> None:
    with pytest.raises(UpstreamUnavailableError) as caught:
        await sign_in(openldap(slapd, bindPW="not-the-password"), "jane", "jane-password")
    assert str(caught.value) == (
        f"the LDAP server refused the service account bindDN {SERVICE_DN!r} "
        "(invalidCredentials): check bindDN and bindPW"
    )
    assert "not-the-password" not in str(caught.value)


async def test_a_missing_base_dn_is_explained(slapd: Slapd) -> None:
    options = openldap(slapd, userSearch={"baseDN": "ou=nowhere,dc=example,dc=org"})
    with pytest.raises(UpstreamUnavailableError, match=r"userSearch baseDN .* does not exist"):
        await sign_in(options, "jane", "jane-password")


async def test_a_nameless_group_is_explained(slapd: Slapd) -> None:
    options = openldap(slapd, groupSearch={"nameAttr": "description"})
    with pytest.raises(UpstreamUnavailableError, match="has no 'description' attribute"):
        await sign_in(options, "jane", "jane-password")
