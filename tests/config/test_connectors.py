"""``connectors[]``: supported types, typed options, every Dex type recognised."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.config import CONNECTOR_CONFIG_MODELS, MockPasswordConfig, NoOptions

from .helpers import document, load, problems

DEX_CONNECTOR_TYPES = {
    "oidc", "google", "github", "gitlab", "microsoft", "ldap", "saml", "bitbucket-cloud",
    "openshift", "keystone", "linkedin", "authproxy", "gitea", "atlassian-crowd", "oauth",
    "mockCallback", "mockPassword", "samlExperimental",
}  # fmt: skip


#: The upstream connectors this version implements (issues 3 and 4).
REDIRECT_TYPES = {
    "oidc",
    "google",
    "github",
    "gitlab",
    "microsoft",
    "ldap",
    "saml",
    "samlExperimental",
}


def connector(kind: str, ident: str = "c", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "id": ident, "name": ident.title(), **extra}


def test_every_dex_type_is_recognised() -> None:
    assert DEX_CONNECTOR_TYPES | {"local"} == set(CONNECTOR_CONFIG_MODELS)
    supported = {kind for kind, model in CONNECTOR_CONFIG_MODELS.items() if model is not None}
    assert supported == {"local", "mockCallback", "mockPassword", *REDIRECT_TYPES}


def test_supported_connectors_load() -> None:
    config = load(
        document(
            connectors=[
                connector("mockCallback", "mock"),
                connector("mockPassword", "pw", config={"username": "u", "Password": "p"}),
                connector("local", "email", grantTypes=["password", "refresh_token"]),
            ]
        )
    )
    mock, password, local = config.connectors
    assert (mock.type, mock.id, mock.name, mock.config, mock.grant_types) == (
        "mockCallback", "mock", "Mock", {}, None,
    )  # fmt: skip
    assert password.config == {"username": "u", "password": "p"}
    typed = password.typed_config()
    assert isinstance(typed, MockPasswordConfig)
    assert typed.username == "u"
    assert "p'" not in repr(typed)
    assert isinstance(local.typed_config(), NoOptions)
    assert local.grant_types == ["password", "refresh_token"]
    assert config.warnings == []


@pytest.mark.parametrize(
    "kind", sorted(DEX_CONNECTOR_TYPES - {"mockCallback", "mockPassword", *REDIRECT_TYPES})
)
def test_unsupported_dex_types_are_refused_clearly(kind: str) -> None:
    doc = document(
        connectors=[connector("mockCallback", "mock"), connector(kind, "up", config={"x": 1})]
    )
    assert problems(doc) == {
        "connectors[1].type": f"connector type {kind!r} (connectors[1]) is recognised but not "
        "supported yet by this Passgate version"
    }


def test_unknown_types_list_the_known_ones() -> None:
    message = problems(document(connectors=[connector("okta")]))["connectors[0].type"]
    assert message.startswith("unknown connector type 'okta' (known types: atlassian-crowd, ")
    assert "mockPassword" in message
    assert "oidc" in message


def test_type_id_and_name_are_required() -> None:
    assert problems(document(connectors=[{"config": {}}])) == {
        "connectors[0].type": "missing required key",
        "connectors[0].id": "missing required key",
        "connectors[0].name": "missing required key",
    }


@pytest.mark.parametrize("ident", ["a/b", "a b", "a?b", "a#b", "", " "])
def test_ids_must_fit_in_a_url(ident: str) -> None:
    assert "connectors[0].id" in problems(document(connectors=[connector("mockCallback", ident)]))


def test_duplicate_ids() -> None:
    doc = document(connectors=[connector("mockCallback", "x"), connector("local", "x")])
    assert problems(doc) == {"connectors[1].id": "duplicate connector id 'x' (also connectors[0])"}


def test_options_are_checked_per_type() -> None:
    doc = document(
        connectors=[
            connector("mockPassword", "pw", config={"username": "u", "extra": 1}),
            connector("local", "l", config={"anything": True}),
            connector("mockCallback", "m", config={"x": 1}),
        ]
    )
    assert problems(doc) == {
        "connectors[0].config.password": "missing required key",
        "connectors[0].config.extra": "unknown key",
        "connectors[1].config.anything": "unknown key",
        "connectors[2].config.x": "unknown key",
    }


def test_connector_grant_types_are_checked() -> None:
    doc = document(connectors=[connector("local", "l", grantTypes=["password", "magic"])])
    assert problems(doc)["connectors[0].grantTypes[1]"].startswith("unknown grant type 'magic'")


def test_local_id_is_reserved_for_the_password_db() -> None:
    doc = document(enablePasswordDB=True, connectors=[connector("mockCallback", "local")])
    assert problems(doc) == {
        "connectors[0].id": (
            "the id 'local' is the password database's when enablePasswordDB is true"
        )
    }
    # An explicit local connector with that id is the same thing, and fine.
    load(document(enablePasswordDB=True, connectors=[connector("local", "local")]))


def test_password_connector_must_name_a_password_connector() -> None:
    ok = document(
        enablePasswordDB=True,
        oauth2={"passwordConnector": "local"},
    )
    assert load(ok).oauth2.password_connector == "local"
    ok = document(
        connectors=[connector("mockPassword", "pw", config={"username": "u", "password": "p"})],
        oauth2={"passwordConnector": "pw"},
    )
    assert load(ok).oauth2.password_connector == "pw"

    assert problems(document(oauth2={"passwordConnector": "local"})) == {
        "oauth2.passwordConnector": "no connector has id 'local' (enablePasswordDB: true "
        "provides 'local'); password connectors: none configured"
    }
    doc = document(
        enablePasswordDB=True,
        connectors=[connector("mockCallback", "mock")],
        oauth2={"passwordConnector": "mock"},
    )
    assert problems(doc) == {
        "oauth2.passwordConnector": "connector 'mock' (type 'mockCallback') cannot check "
        "passwords; password connectors: 'local'"
    }


def test_allowed_connectors_naming_nothing_is_a_warning() -> None:
    doc = document(
        enablePasswordDB=True,
        staticClients=[{"id": "a", "secret": "s", "allowedConnectors": ["local", "github"]}],
    )
    assert load(doc).warnings == [
        "staticClients[0].allowedConnectors[1]: 'github' is not a configured connector"
    ]


def test_options_are_checked_when_config_is_absent() -> None:
    assert problems(document(connectors=[connector("mockPassword", "pw")])) == {
        "connectors[0].config.username": "missing required key",
        "connectors[0].config.password": "missing required key",
    }
