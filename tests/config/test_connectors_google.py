"""``connectors[]`` of type ``google``: Dex's documented example, defaults, every option,
and the checks Dex makes when it opens the connector, reported with their key path."""

from __future__ import annotations

from typing import Any

import yaml

from passgate.config.connectors import GoogleConfig

from .helpers import document, load, problems, text_of

# https://dexidp.io/docs/connectors/google/ , verbatim.
DEX_EXAMPLE = """
connectors:
- type: google
  id: google
  name: Google
  config:

    # Connector config values starting with a "$" will read from the environment.
    clientID: $GOOGLE_CLIENT_ID
    clientSecret: $GOOGLE_CLIENT_SECRET

    # Dex's issuer URL + "/callback"
    redirectURI: http://127.0.0.1:5556/callback

    # Set the value of `prompt` query parameter in the authorization request
    # The default value is "consent" when not set.
    # promptType: consent

    # Google supports whitelisting allowed domains when using G Suite
    # (Google Apps). The following field can be set to a list of domains
    # that can log in:
    #
    # hostedDomains:
    #  - example.com

    # The Google connector supports whitelisting allowed groups when using G Suite
    # (Google Apps). The following field can be set to a list of groups
    # that can log in:
    #
    # groups:
    #  - admins@example.com

    # Google does not support the OpenID Connect groups claim and only supports
    # fetching a user's group membership with a service account.
    # This service account requires an authentication JSON file and the email
    # of a G Suite admin to impersonate:
    #
    #serviceAccountFilePath: googleAuth.json
    #domainToAdminEmail:
    #  *: super-user@example.com
    #  my-domain.com: super-user@my-domain.com
"""
ENVIRON = {"GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "s3"}
REQUIRED = {
    "clientID": "id.apps.googleusercontent.com",
    "clientSecret": "s3cret",
    "redirectURI": "https://sso.example.com/dex/callback",
}


def with_connectors(section: str) -> str:
    return text_of(document()) + section


def google(**config: Any) -> dict[str, Any]:
    return {"type": "google", "id": "google", "name": "Google", "config": {**REQUIRED, **config}}


def typed(config: Any) -> GoogleConfig:
    options = config.connectors[0].typed_config()
    assert isinstance(options, GoogleConfig)
    return options


def test_dex_documented_example_loads_unchanged() -> None:
    config = load(with_connectors(DEX_EXAMPLE), ENVIRON)
    options = typed(config)
    assert options.client_id == "id.apps.googleusercontent.com"
    assert options.redirect_uri == "http://127.0.0.1:5556/callback"
    assert options.admin_emails() == {}
    assert config.warnings == []


def test_dex_example_with_every_option_enabled() -> None:
    # Uncommented; YAML needs the "*" key quoted (a bare * starts an alias).
    section = (
        DEX_EXAMPLE.replace("    # promptType:", "    promptType:")
        .replace(
            "    # hostedDomains:\n    #  - example.com", "    hostedDomains:\n     - example.com"
        )
        .replace("    # groups:\n    #  - admins@", "    groups:\n     - admins@")
        .replace("    #serviceAccountFilePath:", "    serviceAccountFilePath:")
        .replace("    #domainToAdminEmail:", "    domainToAdminEmail:")
        .replace("    #  *: super", '      "*": super')
        .replace("    #  my-domain.com:", "      my-domain.com:")
    )
    assert yaml.safe_load(section)["connectors"][0]["config"]["promptType"] == "consent"
    options = typed(load(with_connectors(section), ENVIRON))
    assert options.hosted_domains == ["example.com"]
    assert options.groups == ["admins@example.com"]
    assert options.service_account_file_path == "googleAuth.json"
    assert options.admin_emails() == {
        "*": "super-user@example.com",
        "my-domain.com": "super-user@my-domain.com",
    }


def test_defaults_follow_dex() -> None:
    config = load(document(connectors=[google()]))
    options = typed(config)
    assert options.scopes == []
    assert options.prompt_type == "consent"
    assert (options.hosted_domains, options.groups) == ([], [])
    assert options.service_account_file_path == ""
    assert options.admin_emails() == {}
    assert options.fetch_transitive_group_membership is False
    assert "s3cret" not in repr(options)
    assert config.warnings == []


def test_every_dex_option_case_insensitively() -> None:
    config = load(
        document(
            connectors=[
                {
                    "type": "google", "id": "google", "name": "Google",
                    "config": {
                        "ClientId": "cid", "clientsecret": "cs",
                        "redirectUri": "https://sso.example.com/dex/callback",
                        "Scopes": ["openid", "email"], "HostedDomains": ["example.com"],
                        "Groups": ["ops@example.com"], "ServiceAccountFilePath": "/k.json",
                        "DomainToAdminEmail": {"example.com": "admin@example.com"},
                        "fetchtransitivegroupmembership": True, "PromptType": "",
                    },
                }
            ]
        )
    )  # fmt: skip
    options = typed(config)
    assert (options.client_id, options.client_secret) == ("cid", "cs")
    assert options.scopes == ["openid", "email"]
    assert options.fetch_transitive_group_membership is True
    assert options.prompt_type == ""  # Dex: an empty promptType sends no prompt
    assert options.admin_emails() == {"example.com": "admin@example.com"}
    assert config.warnings == []


def test_admin_email_is_deprecated_for_the_wildcard() -> None:
    config = load(
        document(
            connectors=[
                google(
                    serviceAccountFilePath="/k.json",
                    adminEmail="root@example.com",
                    domainToAdminEmail={"*": "old@example.com", "b.com": "x@b.com"},
                )
            ]
        )
    )
    assert typed(config).admin_emails() == {"*": "root@example.com", "b.com": "x@b.com"}
    assert config.warnings == [
        'connectors[0].config.adminEmail: is deprecated: use domainToAdminEmail: {"*": '
        "root@example.com}"
    ]


def test_without_key_file_the_environment_names_it() -> None:
    config = load(document(connectors=[google(domainToAdminEmail={"*": "a@example.com"})]))
    assert config.warnings == [
        "connectors[0].config.serviceAccountFilePath: is empty: the service account key "
        "file is read from GOOGLE_APPLICATION_CREDENTIALS (the GCE metadata server is not "
        "supported)"
    ]


def test_dex_open_checks_are_reported_with_their_path() -> None:
    found = problems(document(connectors=[google(serviceAccountFilePath="/k.json")]))
    assert list(found) == ["connectors[0].config.domainToAdminEmail"]
    assert (
        "is required with serviceAccountFilePath"
        in found["connectors[0].config.domainToAdminEmail"]
    )
    found = problems(document(connectors=[google(groups=["ops@example.com"])]))
    assert list(found) == ["connectors[0].config.groups"]
    assert "Google's tokens carry no groups" in found["connectors[0].config.groups"]


def test_bad_values_are_reported_with_their_path() -> None:
    found = problems(
        document(
            connectors=[
                google(
                    serviceAccountFilePath="/k.json",
                    domainToAdminEmail={"example.com": "admin", "*": ""},
                    adminEmail="root",
                    hostedDomains="example.com",
                    fetchTransitiveGroupMembership="maybe",
                )
            ]
        )
    )
    assert set(found) == {
        "connectors[0].config.domainToAdminEmail.example.com",
        "connectors[0].config.domainToAdminEmail.*",
        "connectors[0].config.adminEmail",
        "connectors[0].config.hostedDomains",
        "connectors[0].config.fetchTransitiveGroupMembership",
    }
    assert "email address" in found["connectors[0].config.adminEmail"]


def test_required_options_and_unknown_keys() -> None:
    found = problems(
        document(connectors=[{"type": "google", "id": "g", "name": "G", "config": {"x": 1}}])
    )
    assert set(found) == {
        "connectors[0].config.clientID",
        "connectors[0].config.redirectURI",
        "connectors[0].config.x",
    }
    bad = problems(document(connectors=[google(redirectURI="sso.example.com/callback")]))
    assert set(bad) == {"connectors[0].config.redirectURI"}
