"""``connectors[]`` of type ``ldap``: Dex's documented examples, defaults, and refusals."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from e2e.tls import make_tls_files
from passgate.config.connectors import LDAPConfig

from .helpers import document, load, problems

# Dex's documentation (connectors/ldap.md), the annotated example, unchanged.
DEX_DOCS_EXAMPLE = """
issuer: https://sso.example.com/dex
storage:
  type: memory
web:
  http: 127.0.0.1:5556
connectors:
- type: ldap
  # Required field for connector id.
  id: ldap
  # Required field for connector name.
  name: LDAP
  config:
    # Host and optional port of the LDAP server in the form "host:port".
    host: ldap.example.com:636

    # insecureNoSSL: true
    # insecureSkipVerify: true
    # startTLS: true

    # Path to a trusted root certificate file. Default: use the host's root CA.
    rootCA: /etc/dex/ldap.ca

    # rootCAData: ( base64 encoded PEM file )

    bindDN: uid=serviceaccount,cn=users,dc=example,dc=com
    bindPW: password

    # The attribute to display in the provided password prompt. If unset, will
    # display "Username"
    usernamePrompt: SSO Username

    # User search maps a username and password entered by a user to a LDAP entry.
    userSearch:
      # BaseDN to start the search from. It will translate to the query
      # "(&(objectClass=person)(uid=<username>))".
      baseDN: cn=users,dc=example,dc=com
      # Optional filter to apply when searching the directory.
      filter: "(objectClass=person)"

      # username attribute used for comparing user entries. This will be translated
      # and combined with the other filter as "(<attr>=<username>)".
      username: uid
      # The following three fields are direct mappings of attributes on the user entry.
      # String representation of the user.
      idAttr: uid
      # Required. Attribute to map to Email.
      emailAttr: mail
      # Maps to display name of users. No default value.
      nameAttr: name

    # Group search queries for groups given a user entry.
    groupSearch:
      # BaseDN to start the search from. It will translate to the query
      # "(&(objectClass=group)(member=<user uid>))".
      baseDN: cn=groups,dc=freeipa,dc=example,dc=com
      # Optional filter to apply when searching the directory.
      filter: "(objectClass=group)"

      # Following list contains field pairs that are used to match a user to a group. It adds
      # an additional requirement to the filter that an attribute in the group must match the
      # user's attribute value.
      userMatchers:
      - userAttr: uid
        groupAttr: member

      # Represents group name.
      nameAttr: name
"""

# Dex's documentation: "Searching a Active Directory server with groups", unchanged.
DEX_AD_EXAMPLE = """
issuer: https://sso.example.com/dex
storage:
  type: memory
web:
  http: 127.0.0.1:5556
connectors:
- type: ldap
  name: ActiveDirectory
  id: ad
  config:
    host: ad.example.com:636

    insecureNoSSL: false
    insecureSkipVerify: true

    bindDN: cn=Administrator,cn=users,dc=example,dc=com
    bindPW: admin0!

    usernamePrompt: Email Address

    userSearch:
      baseDN: cn=Users,dc=example,dc=com
      filter: "(objectClass=person)"
      username: userPrincipalName
      idAttr: DN
      emailAttr: userPrincipalName
      nameAttr: cn

    groupSearch:
      baseDN: cn=Users,dc=example,dc=com
      filter: "(objectClass=group)"
      userMatchers:
      - userAttr: DN
        groupAttr: member
      nameAttr: cn
"""

# Dex's repository: examples/ldap/config-ldap.yaml (its connector, unchanged).
DEX_REPO_EXAMPLE = """
issuer: http://127.0.0.1:5556/dex
storage:
  type: memory
web:
  http: 0.0.0.0:5556

connectors:
- type: ldap
  name: OpenLDAP
  id: ldap
  config:
    host: localhost:389
    insecureNoSSL: true
    bindDN: cn=admin,dc=example,dc=org
    bindPW: admin

    usernamePrompt: Email Address

    userSearch:
      baseDN: ou=People,dc=example,dc=org
      filter: "(objectClass=person)"
      username: mail
      # "DN" (case sensitive) is a special attribute name.
      idAttr: DN
      emailAttr: mail
      nameAttr: cn

    groupSearch:
      baseDN: ou=Groups,dc=example,dc=org
      filter: "(objectClass=groupOfNames)"

      userMatchers:
      - userAttr: DN
        groupAttr: member

      nameAttr: cn

staticClients:
- id: example-app
  redirectURIs:
  - 'http://127.0.0.1:5555/callback'
  name: 'Example App'
  secret: ZXhhbXBsZS1hcHAtc2VjcmV0
"""

# Dex's documentation: "Searching a FreeIPA server with groups" (no service account).
DEX_FREEIPA_EXAMPLE = """
issuer: https://sso.example.com/dex
storage:
  type: memory
web:
  http: 127.0.0.1:5556
connectors:
- type: ldap
  id: ldap
  name: LDAP
  config:
    # host and port of the LDAP server in form "host:port".
    host: freeipa.example.com:636
    # freeIPA server's CA
    rootCA: ca.crt
    userSearch:
      baseDN: cn=users,dc=freeipa,dc=example,dc=com
      filter: "(objectClass=posixAccount)"
      username: uid
      idAttr: uid
      # Required. Attribute to map to Email.
      emailAttr: mail
      # Entity attribute to map to display name of users.
    groupSearch:
      baseDN: cn=groups,dc=freeipa,dc=example,dc=com
      filter: "(objectClass=group)"
      userMatchers:
      - userAttr: uid
        groupAttr: member
      nameAttr: name
"""

MINIMAL: dict[str, Any] = {
    "host": "ldap.example.com",
    "userSearch": {"baseDN": "ou=people,dc=example,dc=com", "username": "uid"},
}


def ldap(ident: str = "corp", **config: Any) -> dict[str, Any]:
    return {"type": "ldap", "id": ident, "name": ident.title(), "config": {**MINIMAL, **config}}


def typed(doc: dict[str, Any] | str, index: int = 0) -> LDAPConfig:
    model = load(doc).connectors[index].typed_config()
    assert isinstance(model, LDAPConfig)
    return model


def test_dex_documented_example_loads_unchanged() -> None:
    config = load(DEX_DOCS_EXAMPLE)
    assert config.warnings == []
    model = config.connectors[0].typed_config()
    assert isinstance(model, LDAPConfig)
    assert model.address() == ("ldap.example.com", 636)
    assert model.root_ca == "/etc/dex/ldap.ca"  # read when the connector starts
    assert model.prompt == "SSO Username"
    assert model.user_search.filter == "(objectClass=person)"
    assert [(m.user_attr, m.group_attr) for m in model.group_search.matchers()] == [
        ("uid", "member")
    ]
    assert "bind_pw" not in repr(model)


def test_dex_active_directory_example_loads_unchanged() -> None:
    config = load(DEX_AD_EXAMPLE)
    model = config.connectors[0].typed_config()
    assert isinstance(model, LDAPConfig)
    assert model.user_search.username == "userPrincipalName"
    assert model.user_search.id_attr == "DN"
    assert model.insecure_skip_verify
    assert config.warnings == [
        "connectors[0].config.insecureSkipVerify: turns off TLS certificate checks of the "
        "LDAP server: anyone on the network path can impersonate it and read passwords"
    ]


def test_dex_repository_and_freeipa_examples_load_unchanged() -> None:
    repo = load(DEX_REPO_EXAMPLE)
    assert repo.warnings == [
        "connectors[0].config.insecureNoSSL: sends passwords to the LDAP server unencrypted"
    ]
    model = repo.connectors[0].typed_config()
    assert isinstance(model, LDAPConfig)
    assert model.address() == ("localhost", 389)
    freeipa = typed(DEX_FREEIPA_EXAMPLE)
    assert (freeipa.bind_dn, freeipa.bind_pw) == ("", "")  # anonymous search, as in Dex
    assert freeipa.user_search.name_attr == ""


def test_defaults_follow_dex() -> None:
    model = typed(document(connectors=[ldap()]))
    search = model.user_search
    assert (search.scope, search.id_attr, search.email_attr, search.name_attr) == (
        "sub", "uid", "mail", "",
    )  # fmt: skip
    assert model.group_search.scope == "sub"
    assert model.group_search.base_dn == ""
    assert model.prompt == "Username"
    assert not model.kerberos.enabled


@pytest.mark.parametrize(
    ("options", "address"),
    [
        ({}, ("ldap.example.com", 636)),
        ({"insecureNoSSL": True}, ("ldap.example.com", 389)),
        ({"startTLS": True}, ("ldap.example.com", 389)),
        ({"host": "ldap.example.com:10389", "startTLS": True}, ("ldap.example.com", 10389)),
        ({"host": "[2001:db8::1]:1636"}, ("2001:db8::1", 1636)),
        ({"host": "[2001:db8::1]"}, ("2001:db8::1", 636)),
        ({"host": "2001:db8::1", "insecureNoSSL": True}, ("2001:db8::1", 389)),
    ],
)
def test_the_port_is_guessed_like_dex(options: dict[str, Any], address: tuple[str, int]) -> None:
    assert typed(document(connectors=[ldap(**options)])).address() == address


def test_keys_match_case_insensitively_and_empty_means_default() -> None:
    model = typed(
        document(
            connectors=[
                {
                    "type": "ldap", "id": "corp", "name": "Corp",
                    "config": {
                        "Host": "ldap.example.com", "bindDn": "cn=svc", "bindpw": "pw",
                        "userSearch": {"baseDn": "ou=p", "Username": "uid", "scope": "",
                                       "idAttr": "", "emailattr": ""},
                        "groupsearch": {"baseDN": "ou=g", "userAttr": "uid",
                                        "groupAttr": "memberUid", "nameAttr": "cn",
                                        "Scope": "one"},
                    },
                }
            ]
        )
    )  # fmt: skip
    assert (model.bind_dn, model.bind_pw) == ("cn=svc", "pw")
    assert (model.user_search.scope, model.user_search.id_attr) == ("sub", "uid")
    assert model.user_search.email_attr == "mail"
    assert model.group_search.scope == "one"


def test_legacy_group_attributes_become_one_matcher() -> None:
    config = load(
        document(
            connectors=[
                ldap(groupSearch={"baseDN": "ou=g", "userAttr": "uid", "groupAttr": "memberUid",
                                  "nameAttr": "cn"})
            ]
        )
    )  # fmt: skip
    model = config.connectors[0].typed_config()
    assert isinstance(model, LDAPConfig)
    assert [(m.user_attr, m.group_attr) for m in model.group_search.matchers()] == [
        ("uid", "memberUid")
    ]
    assert config.warnings == [
        "connectors[0].config.groupSearch.userAttr: is deprecated (as in Dex): use "
        "userMatchers instead"
    ]


def test_a_first_matcher_without_user_attr_falls_back_to_the_legacy_pair() -> None:
    # Dex ``userMatchers()`` only looks at the first matcher's userAttr.
    model = typed(
        document(
            connectors=[
                ldap(groupSearch={"baseDN": "ou=g", "nameAttr": "cn", "userAttr": "DN",
                                  "groupAttr": "member",
                                  "userMatchers": [{"groupAttr": "memberUid"}]})
            ]
        )
    )  # fmt: skip
    assert [(m.user_attr, m.group_attr) for m in model.group_search.matchers()] == [
        ("DN", "member")
    ]


def test_root_ca_data_is_base64_of_pem(tmp_path: Path) -> None:
    pem = make_tls_files(tmp_path).ca.read_bytes()
    encoded = base64.b64encode(pem).decode()
    model = typed(document(connectors=[ldap(rootCAData=encoded)]))
    assert model.root_ca_pem() == pem.decode()
    found = problems(
        document(
            connectors=[
                ldap(rootCAData=pem.decode()),
                ldap("other", rootCAData=base64.b64encode(b"not a certificate").decode()),
            ]
        )
    )
    assert "base64 of PEM" in found["connectors[0].config.rootCAData"]
    assert "does not hold a PEM certificate" in found["connectors[1].config.rootCAData"]


def test_warnings_name_insecure_and_unsupported_options() -> None:
    config = load(
        document(
            connectors=[
                ldap(insecureSkipVerify=True, kerberos={"enabled": True, "keytabPath": "/k",
                                                        "maxClockSkew": 300}),
                ldap("other", groupSearch={"baseDN": "ou=g"}),
                ldap("third", userSearch={**MINIMAL["userSearch"], "emailSuffix": "x.example"}),
            ]
        )
    )  # fmt: skip
    assert sorted(config.warnings) == [
        "connectors[0].config.insecureSkipVerify: turns off TLS certificate checks of the "
        "LDAP server: anyone on the network path can impersonate it and read passwords",
        "connectors[0].config.kerberos.enabled: Kerberos (SPNEGO) sign-in is recognised but "
        "not supported yet; people sign in with the password form",
        "connectors[1].config.groupSearch.nameAttr: is empty: every group found will be "
        "refused as nameless",
        "connectors[1].config.groupSearch.userMatchers: names no userAttr/groupAttr pair: no "
        "group matches",
        "connectors[2].config.userSearch.emailSuffix: is appended to the nameAttr value (as in "
        "Dex), but nameAttr is empty",
    ]


def test_required_options_are_reported_with_their_path() -> None:
    found = problems(
        document(
            connectors=[
                {"type": "ldap", "id": "a", "name": "A", "config": {}},
                {"type": "ldap", "id": "b", "name": "B",
                 "config": {"host": "", "userSearch": {"baseDN": "", "port": 1}}},
            ]
        )
    )  # fmt: skip
    assert found == {
        "connectors[0].config.host": "missing required key",
        "connectors[0].config.userSearch": "missing required key",
        "connectors[1].config.host": "must not be empty",
        "connectors[1].config.userSearch.baseDN": "must not be empty",
        "connectors[1].config.userSearch.username": "missing required key",
        "connectors[1].config.userSearch.port": "unknown key",
    }


@pytest.mark.parametrize(
    ("options", "path", "message"),
    [
        ({"host": "ldaps://ldap.example.com"}, "host", "not a URL"),
        ({"host": "ldap.example.com:ldaps"}, "host", "port 'ldaps' must be a number"),
        ({"host": "ldap.example.com:0"}, "host", "from 1 to 65535"),
        ({"host": "ldap.example.com:"}, "host", "empty port"),
        ({"host": "[::1"}, "host", "[IPv6]:port"),
        ({"bindDN": "cn=svc"}, "bindPW", "must be set when bindDN is set"),
        ({"bindPW": "secret-value"}, "bindDN", "must be set when bindPW is set"),
        ({"clientCert": "/c.pem"}, "clientKey", "clientCert and clientKey go together"),
        ({"userSearch": {**MINIMAL["userSearch"], "scope": "base"}}, "userSearch.scope",
         "unknown value 'base'"),
        ({"groupSearch": {"scope": "subtree"}}, "groupSearch.scope", "unknown value"),
        ({"userSearch": {**MINIMAL["userSearch"], "filter": "objectClass=person"}},
         "userSearch.filter", "one LDAP filter in parentheses"),
        ({"groupSearch": {"filter": "(a=b)(c=d)"}}, "groupSearch.filter", "one LDAP filter"),
        ({"userSearch": {**MINIMAL["userSearch"], "username": "uid)(x=*"}},
         "userSearch.username", "not an LDAP attribute name"),
        ({"groupSearch": {"userMatchers": [{"userAttr": "DN", "groupAttr": "member=x"}]}},
         "groupSearch.userMatchers[0].groupAttr", "not an LDAP attribute name"),
        ({"userSearch": {**MINIMAL["userSearch"], "emailSuffix": "@example.com"}},
         "userSearch.emailSuffix", "must not start with '@'"),
        ({"kerberos": {"maxClockSkew": -1}}, "kerberos.maxClockSkew", "greater than or equal"),
    ],
)  # fmt: skip
def test_bad_values_are_reported_with_their_path(
    options: dict[str, Any], path: str, message: str
) -> None:
    found = problems(document(connectors=[ldap(**options)]))
    assert list(found) == [f"connectors[0].config.{path}"], found
    assert message in found[f"connectors[0].config.{path}"]


def test_the_bind_password_never_shows_in_errors() -> None:
    found = problems(document(connectors=[ldap(bindPW="hunter2-secret", insecureNoSSL="x")]))
    assert all("hunter2" not in f"{path} {message}" for path, message in found.items())


def test_valid_filters_and_attributes_are_accepted() -> None:
    model = typed(
        document(
            connectors=[
                ldap(
                    userSearch={**MINIMAL["userSearch"], "username": "sAMAccountName",
                                "filter": "(&(objectCategory=person)(!(userAccountControl:"
                                          "1.2.840.113556.1.4.803:=2)))",
                                "idAttr": "objectGUID;binary", "preferredUsernameAttr": "uid",
                                "nameAttr": "Full Name"},
                    groupSearch={"baseDN": "ou=g", "nameAttr": "cn",
                                 "filter": "(|(objectClass=posixGroup)(cn=a\\29b))",
                                 "userMatchers": [{"userAttr": "memberOf",
                                                   "groupAttr": "distinguishedName"},
                                                  {"userAttr": "uid",
                                                   "groupAttr": "2.5.4.31"}]},
                )
            ]
        )
    )  # fmt: skip
    assert model.user_search.id_attr == "objectGUID;binary"
    assert model.user_search.name_attr == "Full Name"  # eDirectory names may have spaces
    assert len(model.group_search.matchers()) == 2
