"""Loading: every problem at once, in the file's spelling, with lines; check_config."""

from __future__ import annotations

from pathlib import Path

import pytest

from passgate.config import ConfigError, ConfigIssue, check_config, load_config, parse_config

from .helpers import BCRYPT_PASSWORD

BROKEN = """\
issuer: https://sso.example.com/dex
storage:
  type: sqlite3
  config:
    fiel: x.db
web:
  http: 127.0.0.1:5556
staticClients:
  - id: app
    secret: s
  - id: other
    secret: s
    redirectUris:
      - http://ok.example/cb
      - not a url
  - id: app
    secret: t
connectors:
  - type: keystone
    id: corp
    name: Corp
oauth2:
  passwordConnector: nowhere
expiry:
  idTokens: 1d
"""


def errors_of(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {})
    return caught.value.errors


def test_every_problem_is_reported_at_once_with_paths_and_lines() -> None:
    issues = {issue.path: issue for issue in errors_of(BROKEN)}
    assert set(issues) == {
        "storage.config.fiel",
        "storage.config.file",
        "staticClients[1].redirectUris[1]",
        "staticClients[2].id",
        "connectors[0].type",
        "expiry.idTokens",
    }
    assert issues["storage.config.fiel"].message == "unknown key (did you mean 'file'?)"
    assert issues["storage.config.fiel"].line == 5
    assert issues["storage.config.file"].message == "missing required key"
    assert issues["storage.config.file"].line == 4  # where it belongs: under config
    assert issues["staticClients[1].redirectUris[1]"].message == (
        "must be an absolute URL (without spaces)"
    )
    assert issues["staticClients[1].redirectUris[1]"].line == 15
    # A cross-section rule, reported although other sections are broken:
    assert issues["staticClients[2].id"].message == (
        "duplicate client id 'app' (also staticClients[0])"
    )
    assert issues["connectors[0].type"].message == (
        "connector type 'keystone' (connectors[0]) is recognised but not supported yet by this "
        "Passgate version"
    )
    assert issues["expiry.idTokens"].line == 25


def test_issues_come_in_file_order() -> None:
    lines = [issue.line for issue in errors_of(BROKEN)]
    assert lines == sorted(lines)  # type: ignore[type-var]


def test_error_text_lists_one_problem_per_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BROKEN, {})
    text = str(caught.value)
    assert len(text.splitlines()) == len(caught.value.errors)
    assert "staticClients[1].redirectUris[1]: must be an absolute URL" in text
    assert "(line 15)" in text


def test_reference_checks_wait_for_the_connectors_to_validate() -> None:
    # connectors[0] is broken, so whether "nowhere" exists cannot be told: no guess.
    assert all(issue.path != "oauth2.passwordConnector" for issue in errors_of(BROKEN))


def test_input_values_are_not_echoed_in_type_errors() -> None:
    doc = (
        "issuer: https://a\nstorage: {type: memory}\nweb: {http: ':1'}\n"
        "staticClients: [{id: a, secret: [sekrit-value]}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, {})
    assert "sekrit-value" not in str(caught.value)


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("issuer: https://a\nstorage: {type: memory}\nweb: {http: ':5556'}\n")
    assert load_config(path, {}).issuer == "https://a"
    assert load_config(str(path), {}).issuer == "https://a"


def test_load_config_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbfissuer: https://a\nstorage: {type: memory}\nweb: {http: ':1'}\n")
    assert load_config(path, {}).issuer == "https://a"


def test_load_config_refuses_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"issuer: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, {})


def test_load_config_lets_os_errors_through(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml", {})


def test_environment_defaults_to_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSGATE_TEST_SECRET", "from-env")
    text = (
        "issuer: https://a\nstorage: {type: memory}\nweb: {http: ':1'}\n"
        "staticClients: [{id: a, secretEnv: PASSGATE_TEST_SECRET}]\n"
    )
    assert parse_config(text).static_clients[0].secret == "from-env"


def test_check_config_on_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("issuer: http://sso.example.com\nstorage: {type: memory}\nweb: {http: ':1'}\n")
    config, lines = check_config(path, {})
    assert config is not None
    assert lines == [
        "warning: issuer: uses http on a host that is not loopback; kube-apiserver and most "
        "clients require an https issuer",
        "warning: connectors: no connectors and enablePasswordDB is false: nobody can log in",
    ]


def test_check_config_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BROKEN)
    config, lines = check_config(path, {})
    assert config is None
    assert lines[0] == f"{path}: 6 problems"
    assert lines[1] == "  storage.config.file: missing required key (line 4)"
    assert all(line.startswith("  ") for line in lines[1:])


def test_check_config_on_a_missing_file(tmp_path: Path) -> None:
    config, lines = check_config(tmp_path / "nope.yaml", {})
    assert config is None
    assert lines == [f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"]


def test_a_valid_file_has_no_errors_and_resolved_values() -> None:
    text = """\
issuer: https://sso.example.com/dex
storage: {type: memory}
web: {http: "0.0.0.0:5556"}
enablePasswordDB: true
staticPasswords:
  - {email: a@example.com, hashFromEnv: HASH, userID: "1"}
staticClients:
  - {idEnv: CLIENT_ID, secretEnv: CLIENT_SECRET, redirectURIs: ["https://app/cb"]}
"""
    env = {"HASH": BCRYPT_PASSWORD, "CLIENT_ID": "app", "CLIENT_SECRET": "s"}
    config = parse_config(text, env)
    assert config.static_passwords[0].hash == BCRYPT_PASSWORD
    assert (config.static_clients[0].id, config.static_clients[0].secret) == ("app", "s")
    assert config.warnings == []
