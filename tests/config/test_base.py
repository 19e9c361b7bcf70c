"""Dex key matching: case-insensitive like Go's JSON decoding, null means default."""

from __future__ import annotations

import pytest

from passgate.config import Config, StaticClient
from passgate.config.base import fold_keys, format_loc

from .helpers import document, load, problems


@pytest.mark.parametrize(
    "spelling", ["redirectURIs", "redirectUris", "redirecturis", "REDIRECTURIS", "RedirectURIs"]
)
def test_keys_match_case_insensitively(spelling: str) -> None:
    doc = document(staticClients=[{"id": "app", "secret": "s", spelling: ["https://a/cb"]}])
    assert load(doc).static_clients[0].redirect_uris == ["https://a/cb"]


def test_top_level_and_nested_keys_in_any_case() -> None:
    doc = {
        "ISSUER": "https://sso.example.com",
        "Storage": {"Type": "sqlite3", "Config": {"FILE": "x.db"}},
        "web": {"HTTP": "127.0.0.1:5556"},
        "enablePasswordDb": True,
        "Expiry": {"IDTOKENS": "1h", "refreshtokens": {"ReuseInterval": "1s"}},
        "staticClients": [{"ID": "app", "Secret": "s", "LogoUrl": "https://a/l.png"}],
    }
    config = load(doc)
    assert config.issuer == "https://sso.example.com"
    assert config.storage.options() == {"file": "x.db"}
    assert config.enable_password_db is True
    assert config.expiry.id_tokens.total_seconds() == 3600
    assert config.expiry.refresh_tokens.reuse_interval.total_seconds() == 1
    assert config.static_clients[0].logo_url == "https://a/l.png"


def test_two_spellings_of_one_key_are_an_error() -> None:
    doc = document(
        staticClients=[
            {"id": "app", "secret": "s", "redirectURIs": ["https://a"], "redirectUris": []}
        ]
    )
    assert problems(doc) == {
        "staticClients[0].redirectUris": (
            "duplicate of 'redirectURIs' (keys are matched case-insensitively)"
        )
    }


def test_fold_keys_keeps_the_last_like_go() -> None:
    folded = fold_keys(StaticClient, {"ID": "a", "id": "b", "other": 1})
    assert folded == {"id": "b", "other": 1}


def test_null_means_the_default() -> None:
    doc = document(oauth2=None, expiry=None)
    doc |= {"oauth2": None, "expiry": None, "staticClients": None, "connectors": None}
    config = load(doc)
    assert config.oauth2.response_types == ["code"]
    assert config.expiry.id_tokens.total_seconds() == 24 * 3600
    assert config.static_clients == []


def test_required_null_is_missing() -> None:
    assert problems(document(issuer=None) | {"issuer": None}) == {"issuer": "missing required key"}


def test_unknown_keys_are_refused_with_their_path() -> None:
    doc = document(
        web={"http": "127.0.0.1:5556", "tlsCertificate": "x"},
        staticClients=[{"id": "a", "secret": "s", "favouriteColour": "blue"}],
        bogus=1,
    )
    assert problems(doc) == {
        "web.tlsCertificate": "unknown key (did you mean 'tlsCert'?)",
        "staticClients[0].favouriteColour": "unknown key",
        "bogus": "unknown key",
    }


def test_attribute_names_are_not_config_keys() -> None:
    doc = document(staticClients=[{"id": "a", "secret": "s", "redirect_uris": []}])
    assert problems(doc) == {
        "staticClients[0].redirect_uris": "unknown key (did you mean 'redirectURIs'?)"
    }


def test_models_are_frozen() -> None:
    config = load(document())
    with pytest.raises(ValueError, match="frozen"):
        setattr(config, "issuer", "https://other")  # noqa: B010 - mypy would refuse it


def test_model_validate_applies_the_same_rules() -> None:
    config = Config.model_validate(document(enablepassworddb=True))
    assert config.enable_password_db is True


def test_format_loc() -> None:
    assert format_loc(("staticClients", 1, "redirectURIs", 0)) == "staticClients[1].redirectURIs[0]"
    assert format_loc(()) == ""
    assert format_loc(("web", "headers", "X-Frame-Options")) == "web.headers.X-Frame-Options"
