"""``connectors[]`` of type ``github``: Dex's documented examples load unchanged, the
defaults follow Dex, and the checks Dex makes when opening the connector are reported
with their key path."""

from __future__ import annotations

from typing import Any

from passgate.config.connectors import GitHubConfig, GitHubOrg

from .helpers import document, load, problems, text_of

ENV = {"GITHUB_CLIENT_ID": "Iv1.0123456789abcdef", "GITHUB_CLIENT_SECRET": "gh-s3cret"}
REQUIRED = {
    "clientID": "Iv1.0123456789abcdef",
    "clientSecret": "gh-s3cret",
    "redirectURI": "https://sso.example.com/dex/callback",
}

# Dex's docs (dexidp.io "Authentication Through GitHub"), copied with their comments.
DEX_EXAMPLE = """
connectors:
- type: github
  # Required field for connector id.
  id: github
  # Required field for connector name.
  name: GitHub
  config:
    # Credentials can be string literals or pulled from the environment.
    clientID: $GITHUB_CLIENT_ID
    clientSecret: $GITHUB_CLIENT_SECRET
    redirectURI: http://127.0.0.1:5556/dex/callback

    # Optional organizations and teams, communicated through the "groups" scope.
    #
    # NOTE: This is an EXPERIMENTAL config option and will likely change.
    #
    # Legacy 'org' field. 'org' and 'orgs' cannot be used simultaneously. A user
    # MUST be a member of the following org to authenticate with dex.
    # org: my-organization
    #
    # Dex queries the following organizations for group information if the
    # "groups" scope is provided. Group claims are formatted as "(org):(team)".
    # For example if a user is part of the "engineering" team of the "coreos"
    # org, the group claim would include "coreos:engineering".
    #
    # If orgs are specified in the config then user MUST be a member of at least one of the specified orgs to
    # authenticate with dex.
    #
    # If neither 'org' nor 'orgs' are specified in the config and 'loadAllGroups' setting set to true then user
    # authenticate with ALL user's GitHub groups. Typical use case for this setup:
    # provide read-only access to everyone and give full permissions if user has 'my-organization:admins-team' group claim.
    orgs:
    - name: my-organization
      # Include all teams as claims.
    - name: my-organization-with-teams
      # A white list of teams. Only include group claims for these teams.
      teams:
      - red-team
      - blue-team
    # Flag which indicates that all user groups and teams should be loaded.
    loadAllGroups: false

    # Optional choice between 'name' (default), 'slug', or 'both'.
    #
    # As an example, group claims for member of 'Site Reliability Engineers' in
    # Acme organization would yield:
    #   - ['acme:Site Reliability Engineers'] for 'name'
    #   - ['acme:site-reliability-engineers'] for 'slug'
    #   - ['acme:Site Reliability Engineers', 'acme:site-reliability-engineers'] for 'both'
    teamNameField: slug
    # flag which will switch from using the internal GitHub id to the users handle (@mention) as the user id.
    # It is possible for a user to change their own user name but it is very rare for them to do so
    useLoginAsID: false
"""  # noqa: E501 - Dex's comment lines, copied unchanged

DEX_ENTERPRISE_EXAMPLE = """
connectors:
- type: github
  # Required field for connector id.
  id: github
  # Required field for connector name.
  name: GitHub
  config:
    # Required fields. Dex must be pre-registered with GitHub Enterprise
    # to get the following values.
    # Credentials can be string literals or pulled from the environment.
    clientID: $GITHUB_CLIENT_ID
    clientSecret: $GITHUB_CLIENT_SECRET
    redirectURI: http://127.0.0.1:5556/dex/callback
    # A user MUST be a member of at least one of the following orgs to
    # authenticate with dex.
    orgs:
    - name: my-organization
      # Include all teams as claims.
    - name: my-organization-with-teams
      # A white list of teams. Only include group claims for these teams.
      teams:
      - red-team
      - blue-team
    # Required ONLY for GitHub Enterprise.
    # This is the Hostname of the GitHub Enterprise account listed on the
    # management console. Ensure this domain is routable on your network.
    hostName: git.example.com
    # ONLY for GitHub Enterprise. Optional field.
    # Used to support self-signed or untrusted CA root certificates.
    rootCA: /etc/dex/ca.crt
"""


def base_text() -> str:
    return text_of(document())


def github(**config: Any) -> dict[str, Any]:
    return {"type": "github", "id": "gh", "name": "GitHub", "config": {**REQUIRED, **config}}


def typed(config: dict[str, Any]) -> GitHubConfig:
    loaded = load(document(connectors=[config]))
    model = loaded.connectors[0].typed_config()
    assert isinstance(model, GitHubConfig)
    return model


def test_dex_documented_example_loads_unchanged() -> None:
    config = load(base_text() + DEX_EXAMPLE, ENV)
    model = config.connectors[0].typed_config()
    assert isinstance(model, GitHubConfig)
    assert (model.client_id, model.client_secret) == ("Iv1.0123456789abcdef", "gh-s3cret")
    assert model.redirect_uri == "http://127.0.0.1:5556/dex/callback"
    assert model.orgs == [
        GitHubOrg.model_validate({"name": "my-organization"}),
        GitHubOrg.model_validate(
            {"name": "my-organization-with-teams", "teams": ["red-team", "blue-team"]}
        ),
    ]
    assert (model.team_name_field, model.load_all_groups, model.use_login_as_id) == (
        "slug", False, False,
    )  # fmt: skip
    assert (model.api_url, model.oauth_url) == ("https://api.github.com", "https://github.com")
    assert config.warnings == []


def test_dex_enterprise_example_loads_unchanged() -> None:
    config = load(base_text() + DEX_ENTERPRISE_EXAMPLE, ENV)
    model = config.connectors[0].typed_config()
    assert isinstance(model, GitHubConfig)
    assert (model.host_name, model.root_ca) == ("git.example.com", "/etc/dex/ca.crt")
    assert model.api_url == "https://git.example.com/api/v3"
    assert model.oauth_url == "https://git.example.com"
    assert config.warnings == []


def test_defaults_follow_dex() -> None:
    model = typed(github())
    assert model.team_name_field == "name"
    assert (model.org, model.orgs, model.host_name, model.root_ca) == ("", [], "", "")
    assert not model.load_all_groups
    assert not model.use_login_as_id
    assert model.preferred_email_domain == ""
    assert "gh-s3cret" not in repr(model)
    assert typed(github(teamNameField="")).team_name_field == "name"  # Go's zero value


def test_keys_match_case_insensitively_like_dex() -> None:
    model = typed(
        {"type": "github", "id": "gh", "name": "GitHub",
         "config": {"clientId": "c", "clientsecret": "s", "redirectUri": "https://x.example/cb",
                    "useloginasid": True, "LoadAllGroups": True, "hostname": "ghe.local:8443",
                    "rootca": "/ca.pem", "preferredemaildomain": "*.example.com",
                    "TeamNameField": "both"}}
    )  # fmt: skip
    assert (model.client_id, model.host_name, model.root_ca) == ("c", "ghe.local:8443", "/ca.pem")
    assert model.use_login_as_id
    assert model.load_all_groups
    assert (model.team_name_field, model.preferred_email_domain) == ("both", "*.example.com")


def test_legacy_org_is_accepted_with_a_deprecation_warning() -> None:
    config = load(document(connectors=[github(org="my-organization")]))
    model = config.connectors[0].typed_config()
    assert isinstance(model, GitHubConfig)
    assert model.org == "my-organization"
    (warning,) = config.warnings
    assert warning.startswith("connectors[0].config.org: is deprecated (as in Dex): use orgs")


def test_dex_open_checks_are_reported_with_their_path() -> None:
    assert set(problems(document(connectors=[github(org="a", orgs=[{"name": "b"}])]))) == {
        "connectors[0].config.org"
    }
    found = problems(document(connectors=[github(rootCA="/etc/dex/ca.crt")]))
    assert found == {
        "connectors[0].config.rootCA": "needs hostName: it is only used for a GitHub "
        "Enterprise host"
    }
    for host in ("https://git.example.com", "git.example.com/api/v3", "git example", "h:port"):
        found = problems(document(connectors=[github(hostName=host)]))
        assert set(found) == {"connectors[0].config.hostName"}, host
    found = problems(document(connectors=[github(teamNameField="id")]))
    assert found == {"connectors[0].config.teamNameField": "must be one of name, slug or both"}
    found = problems(document(connectors=[github(preferredEmailDomain="example.*")]))
    assert "cannot end with" in found["connectors[0].config.preferredEmailDomain"]


def test_required_options_and_unknown_keys() -> None:
    found = problems(
        document(connectors=[{"type": "github", "id": "gh", "name": "GH", "config": {"x": 1}}])
    )
    assert set(found) == {
        "connectors[0].config.clientID",
        "connectors[0].config.clientSecret",
        "connectors[0].config.redirectURI",
        "connectors[0].config.x",
    }
    found = problems(document(connectors=[github(orgs=[{"teams": ["a"], "team": ["b"]}])]))
    assert set(found) == {
        "connectors[0].config.orgs[0].name",
        "connectors[0].config.orgs[0].team",
    }
    found = problems(document(connectors=[github(redirectURI="127.0.0.1:5556/dex/callback")]))
    assert set(found) == {"connectors[0].config.redirectURI"}
