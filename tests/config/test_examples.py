"""The shipped example configs load, and the demo says what the docs promise."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from passgate.config import Config, check_config, load_config, parse_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["config-demo.yaml", "config-dex.yaml"])
def test_examples_load_cleanly(name: str) -> None:
    config, lines = check_config(EXAMPLES / name, {})
    assert isinstance(config, Config)
    assert lines == []


def test_demo_config() -> None:
    config = load_config(EXAMPLES / "config-demo.yaml", {})
    assert config.issuer == "http://127.0.0.1:5556/dex"
    assert (config.storage.type, config.storage.options()) == (
        "sqlite3",
        {"file": "var/passgate.db"},
    )
    assert (config.web.http, config.telemetry.http) == ("127.0.0.1:5556", "127.0.0.1:5558")
    assert config.enable_password_db is True
    assert config.oauth2.skip_approval_screen is False

    [admin] = config.static_passwords
    assert (admin.email, admin.username, admin.groups) == (
        "admin@example.com", "admin", ["admins", "developers"],
    )  # fmt: skip
    assert admin.hash.startswith("$2b$10$")
    assert bcrypt.checkpw(b"password", admin.hash_bytes())

    app, kubectl = config.static_clients
    assert (app.id, app.secret, app.public) == ("example-app", "ZXhhbXBsZS1hcHAtc2VjcmV0", False)
    assert app.redirect_uris == ["http://127.0.0.1:5555/callback"]
    assert (kubectl.id, kubectl.secret, kubectl.public) == ("kubectl", "", True)
    assert kubectl.redirect_uris == ["http://localhost:8000", "http://localhost:18000"]
    assert config.connectors == []  # enablePasswordDB provides the "local" connector


def test_dex_example_uses_dex_features() -> None:
    config = load_config(EXAMPLES / "config-dex.yaml", {})
    assert [c.type for c in config.connectors] == ["mockCallback", "mockPassword"]
    assert config.oauth2.password_connector == "local"
    assert "password" in config.oauth2.grant_types
    assert config.static_clients[1].redirect_uris == ["/device/callback"]


def _recase(draw: st.DrawFn, value: object) -> object:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.isascii() and key.replace("-", "").isalpha():
                flips = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
                key = "".join(c.swapcase() if f else c for c, f in zip(key, flips, strict=True))
            out[key] = _recase(draw, item)
        return out
    if isinstance(value, list):
        return [_recase(draw, item) for item in value]
    return value


@st.composite
def recased(draw: st.DrawFn, document: dict[str, object]) -> object:
    return _recase(draw, document)


_DEX = yaml.safe_load((EXAMPLES / "config-dex.yaml").read_text())


@settings(max_examples=25, deadline=None)
@given(recased(_DEX))
def test_key_case_never_matters(document: object) -> None:
    expected = parse_config(yaml.safe_dump(_DEX), {})
    actual = parse_config(yaml.safe_dump(document), {})
    assert actual.model_dump() == expected.model_dump()
