"""``$VAR`` expansion with Go's os.ExpandEnv rules, and only where Dex applies it."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.config.environ import expand, expand_scoped, expand_tree, unset_names

from .helpers import BCRYPT_PASSWORD, document, load, problems, user

ENV = {"HOME": "/home/gopher", "H": "(Value for H)", "EMPTY": "", "*": "all", "1": "one"}


def lookup(name: str) -> str:
    return ENV.get(name, "")


# Go's os/env_test.go expandTests, with the same mapping where it matters.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("$*", "all"),
        ("$$", ""),  # "$" is a special variable name; unset here
        ("${*}", "all"),
        ("$1", "one"),
        ("${1}", "one"),
        ("now is the time", "now is the time"),
        ("$HOME", "/home/gopher"),
        ("${HOME}", "/home/gopher"),
        ("${H}home", "(Value for H)home"),
        ("$H$H", "(Value for H)(Value for H)"),
        ("start$+middle$^end$", "start$+middle$^end$"),
        ("mixed$|bag$$$", "mixed$|bag$"),
        ("$", "$"),
        ("$}", "$}"),
        ("${", ""),  # invalid syntax; eaten
        ("${}", ""),  # invalid syntax; eaten
        ("${UNSET}", ""),
        ("$UNSET/x", "/x"),
        ("a${HOME", "aHOME"),  # unterminated: only "${" is eaten
        ("${HOME:-default}", ""),  # no shell defaults in Go: that whole text is the name
        ("$HOME.d", "/home/gopher.d"),
        ("p@ss$word", "p@ss"),
    ],
)
def test_expand_follows_go(text: str, expected: str) -> None:
    assert expand(text, lookup) == expected


def test_expand_tree_reaches_nested_strings_only() -> None:
    tree = {"a": "$HOME", "b": ["${H}", 5, None, {"c": "$1"}], "$HOME": True}
    assert expand_tree(tree, ENV) == {
        "a": "/home/gopher",
        "b": ["(Value for H)", 5, None, {"c": "one"}],
        "$HOME": True,  # keys are not expanded
    }


def test_scoped_expansion_touches_only_dex_sections() -> None:
    doc: dict[str, Any] = {
        "issuer": "https://$HOST/dex",
        "Storage": {"type": "sqlite3", "CONFIG": {"file": "$HOME/db"}},
        "connectors": [{"type": "mockPassword", "config": {"password": "${H}"}}, "oops"],
        "signer": {"config": {"keysRotationPeriod": "$P"}},
        "staticPasswords": [{"hash": "$2b$10$abc"}],
    }
    out = expand_scoped(doc, {"HOME": "/h", "H": "pw", "P": "1h", "HOST": "x"})
    assert out["issuer"] == "https://$HOST/dex"
    assert out["Storage"]["CONFIG"] == {"file": "/h/db"}
    assert out["connectors"][0]["config"] == {"password": "pw"}
    assert out["connectors"][1] == "oops"
    assert out["signer"]["config"] == {"keysRotationPeriod": "1h"}
    assert out["staticPasswords"] == [{"hash": "$2b$10$abc"}]
    assert doc["Storage"]["CONFIG"] == {"file": "$HOME/db"}  # the input is not changed


def test_storage_options_are_expanded_at_load() -> None:
    doc = document(
        storage={
            "type": "postgres",
            "config": {"host": "$PGHOST", "port": "${PGPORT}", "password": "${PGPASSWORD}"},
        }
    )
    env = {"PGHOST": "db.internal", "PGPORT": "6543", "PGPASSWORD": "s3cr$t"}
    options = load(doc, env).storage.options()
    assert options["host"] == "db.internal"
    assert options["port"] == 6543  # a string after expansion, a number after validation
    assert options["password"] == "s3cr$t"  # values are expanded once, not recursively


def test_unset_variables_expand_to_empty_like_go() -> None:
    doc = document(storage={"type": "sqlite3", "config": {"file": "$NOPE"}})
    assert problems(doc) == {
        "storage.config.file": "must not be empty ($NOPE is not set in the environment)"
    }


def test_errors_name_the_unset_variables_behind_a_value() -> None:
    ldap = {
        "host": "ldap.example.com:636",
        "bindDN": "cn=admin",
        "bindPW": "${LDAP_PASSWORD}$EMPTY",
        "userSearch": {"baseDN": "dc=example", "username": "uid"},
    }
    doc = document(connectors=[{"type": "ldap", "id": "ldap", "name": "LDAP", "config": ldap}])
    found = problems(doc, {"EMPTY": ""})
    assert found == {
        "connectors[0].config.bindPW": "must be set when bindDN is set "
        "($LDAP_PASSWORD, $EMPTY are not set in the environment)"
    }
    # A value that expansion did not change gets no such note.
    doc = document(storage={"type": "sqlite3", "config": {"file": ""}})
    assert problems(doc) == {"storage.config.file": "must not be empty"}


def test_connector_and_signer_options_are_expanded() -> None:
    doc = document(
        connectors=[
            {
                "type": "mockPassword",
                "id": "mock",
                "name": "Mock",
                "config": {"username": "$MOCK_USER", "password": "$MOCK_PASS"},
            }
        ],
        signer={"type": "local", "config": {"keysRotationPeriod": "${ROTATE}"}},
    )
    config = load(doc, {"MOCK_USER": "kilgore", "MOCK_PASS": "trout", "ROTATE": "2h"})
    assert config.connectors[0].config == {"username": "kilgore", "password": "trout"}
    assert config.key_rotation_period().total_seconds() == 7200


def test_password_hashes_and_other_keys_are_not_expanded() -> None:
    doc = document(
        issuer="https://sso.example.com/$PATH",
        enablePasswordDB=True,
        staticPasswords=[user()],
        staticClients=[{"id": "app", "secret": "$SECRET", "redirectURIs": ["https://a/$X"]}],
    )
    config = load(doc, {"PATH": "nope", "SECRET": "nope", "X": "nope"})
    assert config.issuer == "https://sso.example.com/$PATH"
    assert config.static_passwords[0].hash == BCRYPT_PASSWORD
    assert config.static_clients[0].secret == "$SECRET"
    assert config.static_clients[0].redirect_uris == ["https://a/$X"]


def test_unset_names_lists_each_missing_variable_once() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert unset_names("$SET/$A/${A}/$EMPTY/$$/${}", env) == ["A", "EMPTY"]
