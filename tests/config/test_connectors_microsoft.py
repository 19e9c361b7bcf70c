"""``connectors[]`` of type ``microsoft``: Dex's documented examples load unchanged, the
defaults follow Dex, and bad values are reported with their key path."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.config.connectors import MicrosoftConfig

from .helpers import document, load, problems, text_of

ENV = {"MICROSOFT_APPLICATION_ID": "6731de76-14a6-49ae-97bc-6eba6914391e",
       "MICROSOFT_CLIENT_SECRET": "ms~s3cret"}  # fmt: skip
REQUIRED = {
    "clientID": "6731de76-14a6-49ae-97bc-6eba6914391e",
    "clientSecret": "ms~s3cret",
    "redirectURI": "https://sso.example.com/dex/callback",
}

# Dex's docs (dexidp.io "Authentication Through Microsoft"), copied with their comments:
# the base example, business/school accounts only, required groups, emailToLowercase.
HEAD = """
connectors:
  - type: microsoft
    # Required field for connector id.
    id: microsoft
    # Required field for connector name.
    name: Microsoft
    config:
      # Credentials can be string literals or pulled from the environment.
      clientID: $MICROSOFT_APPLICATION_ID
      clientSecret: $MICROSOFT_CLIENT_SECRET
      redirectURI: http://127.0.0.1:5556/dex/callback
"""
DEX_EXAMPLES = {
    "base": HEAD,
    "organizations": HEAD + "      tenant: organizations\n",
    "groups": HEAD
    + """      tenant: myorg.onmicrosoft.com
      groups:
        - developers
        - devops
""",
    "emailToLowercase": HEAD
    + """      tenant: myorg.onmicrosoft.com
      groups:
        - developers
        - devops
      # All relevant E-Mail Adresses delivered by AD will transformed to
      # lowercase if config is TRUE
      emailToLowercase: true
""",
}


def microsoft(**config: Any) -> dict[str, Any]:
    return {"type": "microsoft", "id": "ms", "name": "Microsoft", "config": {**REQUIRED, **config}}


def typed(config: dict[str, Any]) -> MicrosoftConfig:
    model = load(document(connectors=[config])).connectors[0].typed_config()
    assert isinstance(model, MicrosoftConfig)
    return model


@pytest.mark.parametrize("name", list(DEX_EXAMPLES))
def test_dex_documented_examples_load_unchanged(name: str) -> None:
    config = load(text_of(document()) + DEX_EXAMPLES[name], ENV)
    model = config.connectors[0].typed_config()
    assert isinstance(model, MicrosoftConfig)
    assert (model.client_id, model.client_secret) == tuple(ENV.values())
    assert model.redirect_uri == "http://127.0.0.1:5556/dex/callback"
    expected_tenant = {"base": "common", "organizations": "organizations"}
    assert model.tenant == expected_tenant.get(name, "myorg.onmicrosoft.com")
    assert model.groups == ([] if name in expected_tenant else ["developers", "devops"])
    assert model.email_to_lowercase is (name == "emailToLowercase")
    assert config.warnings == []


def test_defaults_follow_dex() -> None:
    model = typed(microsoft())
    assert model.tenant == "common"
    assert not model.is_org_tenant
    assert (model.group_name_format, model.groups, model.scopes) == ("name", [], [])
    assert not model.only_security_groups
    assert not model.use_groups_as_whitelist
    assert not model.email_to_lowercase
    assert model.api_url == "https://login.microsoftonline.com"
    assert model.graph_url == "https://graph.microsoft.com"
    assert (model.prompt_type, model.domain_hint) == ("", "")
    assert "ms~s3cret" not in repr(model)


def test_every_dex_option_case_insensitively() -> None:
    model = typed(
        microsoft(
            Tenant="72f988bf-86f1-41af-91ab-2d7cd011db47", onlysecuritygroups=True,
            groups=["developers"], GroupNameFormat="id", useGroupsAsWhiteList=True,
            emailToLowerCase=True, apiUrl="https://login.microsoftonline.us/",
            graphUrl="https://graph.microsoft.us", promptType="select_account",
            domainHint="contoso.com", scopes=["User.Read", "openid"],
        )
    )  # fmt: skip
    assert model.tenant == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert model.is_org_tenant
    assert model.only_security_groups
    assert model.use_groups_as_whitelist
    assert (model.group_name_format, model.email_to_lowercase) == ("id", True)
    # Dex trims a trailing slash before appending paths.
    assert model.api_url == "https://login.microsoftonline.us"
    assert model.graph_url == "https://graph.microsoft.us"
    assert (model.prompt_type, model.domain_hint) == ("select_account", "contoso.com")
    assert model.scopes == ["User.Read", "openid"]


def test_empty_values_mean_dex_defaults() -> None:
    model = typed(microsoft(tenant="", groupNameFormat="", apiURL="", graphURL=""))
    assert (model.tenant, model.group_name_format) == ("common", "name")
    assert model.api_url == "https://login.microsoftonline.com"
    assert model.graph_url == "https://graph.microsoft.com"


def test_bad_values_are_reported_with_their_path() -> None:
    found = problems(
        document(
            connectors=[
                microsoft(
                    groupNameFormat="displayName", tenant="contoso.com/../evil",
                    apiURL="login.microsoftonline.com", graphURL="ftp://graph.example",
                    groups=[""], onlySecurityGroups="sometimes",
                )
            ]
        )
    )  # fmt: skip
    prefix = "connectors[0].config."
    assert set(found) == {
        prefix + key
        for key in ("groupNameFormat", "tenant", "apiURL", "graphURL", "groups[0]",
                    "onlySecurityGroups")
    }  # fmt: skip
    assert found[prefix + "groupNameFormat"] == "must be name or id"
    assert "tenant ID or a domain" in found[prefix + "tenant"]
    assert found[prefix + "apiURL"] == "must be an http(s) URL"


@pytest.mark.parametrize("tenant", ["common", "organizations", "Consumers"])
def test_required_groups_need_an_organisation_tenant(tenant: str) -> None:
    """Dex skips the group check on multi-tenant endpoints (Graph has no groups to list):
    everyone could sign in. Passgate refuses the configuration instead."""
    found = problems(document(connectors=[microsoft(tenant=tenant, groups=["devops"])]))
    assert list(found) == ["connectors[0].config.groups"]
    assert "tenant ID or domain" in found["connectors[0].config.groups"]


def test_whitelist_without_groups_is_warned_about() -> None:
    config = load(document(connectors=[microsoft(useGroupsAsWhitelist=True)]))
    assert config.warnings == [
        "connectors[0].config.useGroupsAsWhitelist: without groups keeps no group at all in "
        "the groups claim"
    ]


def test_required_options_and_unknown_keys() -> None:
    found = problems(
        document(
            connectors=[
                {"type": "microsoft", "id": "ms", "name": "MS", "config": {"rootCA": "/ca.pem"}}
            ]
        )
    )
    assert set(found) == {
        "connectors[0].config.clientID",
        "connectors[0].config.clientSecret",
        "connectors[0].config.redirectURI",
        "connectors[0].config.rootCA",  # Dex's microsoft connector has no rootCA
    }
