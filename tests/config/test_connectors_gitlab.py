"""``connectors[]`` of type ``gitlab``: Dex's documented example, defaults, every option
(case-insensitive, as Dex decodes them), and bad values reported with their key path."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from e2e.tls import make_tls_files
from passgate.config.connectors import GitLabConfig

from .helpers import document, load, problems

# Dex's documentation (connectors/gitlab), with the getGroupsPermission lines it added.
DEX_EXAMPLE = """
issuer: https://sso.example.com/dex
storage:
  type: memory
web:
  http: 127.0.0.1:5556
connectors:
  - type: gitlab
    # Required field for connector id.
    id: gitlab
    # Required field for connector name.
    name: GitLab
    config:
      # optional, default = https://gitlab.com
      baseURL: https://gitlab.com
      # Credentials can be string literals or pulled from the environment.
      clientID: $GITLAB_APPLICATION_ID
      clientSecret: $GITLAB_CLIENT_SECRET
      redirectURI: http://127.0.0.1:5556/dex/callback
      # Optional groups whitelist, communicated through the "groups" scope.
      # If `groups` is omitted, all of the user's GitLab groups are returned when the groups scope is present.
      # If `groups` is provided, this acts as a whitelist - only the user's GitLab groups that are in the configured `groups` below will go into the groups claim.  Conversely, if the user is not in any of the configured `groups`, the user will not be authenticated.
      groups:
      - my-group
      # flag which will switch from using the internal GitLab id to the users handle (@mention) as the user id.
      # It is possible for a user to change their own user name but it is very rare for them to do so
      useLoginAsID: false
      # Flag to include user group permissions in the user groups.
      # For example, if the user has maintainer access to a GitLab group named "project/group1",
      # the user's groups will reflect two entries: "project/group1" and "project/group1:maintainer".
      getGroupsPermission: false
"""  # noqa: E501 - Dex's comment lines, copied as they are
ENVIRON = {"GITLAB_APPLICATION_ID": "app-id", "GITLAB_CLIENT_SECRET": "gl-secret"}
REQUIRED = {
    "clientID": "app-id",
    "clientSecret": "gl-secret",
    "redirectURI": "https://sso.example.com/dex/callback",
}


def gitlab(**config: Any) -> dict[str, Any]:
    return {"type": "gitlab", "id": "gitlab", "name": "GitLab", "config": {**REQUIRED, **config}}


def typed(doc: dict[str, Any]) -> GitLabConfig:
    config = load(doc)
    assert config.warnings == []
    options = config.connectors[0].typed_config()
    assert isinstance(options, GitLabConfig)
    return options


def test_dex_documented_example_loads_unchanged() -> None:
    config = load(DEX_EXAMPLE, ENVIRON)
    assert config.warnings == []
    options = config.connectors[0].typed_config()
    assert isinstance(options, GitLabConfig)
    assert (options.base_url, options.client_id, options.client_secret) == (
        "https://gitlab.com", "app-id", "gl-secret",
    )  # fmt: skip
    assert options.redirect_uri == "http://127.0.0.1:5556/dex/callback"
    assert options.groups == ["my-group"]
    assert not options.use_login_as_id
    assert not options.get_groups_permission


def test_defaults_follow_dex() -> None:
    options = typed(document(connectors=[gitlab()]))
    assert options.base_url == "https://gitlab.com"
    assert options.root == "https://gitlab.com"
    assert options.groups == []
    assert not options.use_login_as_id
    assert not options.get_groups_permission
    assert not options.inherited_groups
    assert options.root_ca_pem() == ""
    assert "gl-secret" not in repr(options)
    # Go's zero value: an empty baseURL is the default one.
    assert typed(document(connectors=[gitlab(baseURL="")])).base_url == "https://gitlab.com"


def test_every_option_is_accepted_case_insensitively(tmp_path: Path) -> None:
    pem = make_tls_files(tmp_path).ca.read_text()
    options = typed(
        document(
            connectors=[
                {
                    "type": "gitlab", "id": "gitlab", "name": "GitLab",
                    "config": {
                        "baseUrl": "https://git.example.com/gitlab/", "clientId": "app",
                        "clientSecret": "s", "redirectUri": "https://sso.example.com/cb",
                        "groups": ["ops", "ops/k8s"], "useloginasid": True,
                        "GetGroupsPermission": True, "inheritedGroups": True,
                        # Go []byte: base64 text, wrapped lines allowed (CR/LF are skipped)
                        "rootCAData": base64.encodebytes(pem.encode()).decode(),
                    },
                }
            ]
        )
    )  # fmt: skip
    assert options.root == "https://git.example.com/gitlab"
    assert (options.client_id, options.redirect_uri) == ("app", "https://sso.example.com/cb")
    assert options.groups == ["ops", "ops/k8s"]
    assert options.use_login_as_id
    assert options.get_groups_permission
    assert options.inherited_groups
    assert options.root_ca_pem() == pem


def test_required_options_and_unknown_keys() -> None:
    found = problems(
        document(connectors=[{"type": "gitlab", "id": "g", "name": "G", "config": {"orgs": []}}])
    )
    assert found == {
        "connectors[0].config.clientID": "missing required key",
        "connectors[0].config.clientSecret": "missing required key",
        "connectors[0].config.redirectURI": "missing required key",
        "connectors[0].config.orgs": "unknown key",
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("baseURL", "gitlab.example.com", "must be an http(s) URL"),
        ("baseURL", "https://gitlab.example.com/?x=1", "must be the GitLab root URL, without "
         "a query or fragment"),
        ("baseURL", "https://user:pw@gitlab.example.com", "must not contain a user name or "
         "password"),
        ("redirectURI", "/dex/callback", "must be an http(s) URL"),
        ("clientSecret", "", "must not be empty"),
        ("groups", "my-group", "must be a list"),
        ("useLoginAsID", "maybe", "must be true or false"),
        ("rootCAData", "-----BEGIN CERTIFICATE-----", "must be base64 of PEM-encoded CA "
         "certificates (Dex reads it as Go []byte), e.g. the output of `base64 -w0 ca.pem`"),
        ("rootCAData", base64.b64encode(b"/etc/ssl/ca.pem").decode(), "does not hold a PEM "
         "certificate (-----BEGIN CERTIFICATE-----)"),
        ("rootCAData", base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAA==\n").decode(),
         "holds a PEM certificate that cannot be loaded"),
    ],
)  # fmt: skip
def test_bad_values_are_reported_with_their_path(key: str, value: Any, message: str) -> None:
    assert problems(document(connectors=[gitlab(**{key: value})])) == {
        f"connectors[0].config.{key}": message
    }
