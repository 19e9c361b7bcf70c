"""``storage``: the supported types, their typed options, and the refused ones."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.config import PostgresConfig, SQLiteConfig

from .helpers import document, load, problems


def storage(kind: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    section: dict[str, Any] = {"type": kind}
    if config is not None:
        section["config"] = config
    return document(storage=section)


def test_memory_takes_no_options() -> None:
    assert load(storage("memory")).storage.options() == {}
    assert problems(storage("memory", {"file": "x"})) == {"storage.config.file": "unknown key"}


def test_sqlite_options() -> None:
    config = load(storage("sqlite3", {"file": "var/passgate.db"}))
    assert config.storage.type == "sqlite3"
    assert config.storage.options() == {"file": "var/passgate.db"}
    assert config.storage.typed_config() == SQLiteConfig.model_validate({"file": "var/passgate.db"})


def test_sqlite_needs_a_file() -> None:
    assert problems(storage("sqlite3")) == {"storage.config.file": "missing required key"}


def test_postgres_options_in_dex_spelling_with_defaults() -> None:
    config = load(
        storage(
            "postgres",
            {
                "host": "db.internal",
                "port": 5432,
                "database": "passgate",
                "user": "passgate",
                "password": "pw",
                "connectionTimeout": 5,
                "ConnMaxLifetime": 60,
                "ssl": {"mode": "verify-ca", "caFile": "/etc/ca.pem"},
            },
        )
    )
    assert config.storage.options() == {
        "host": "db.internal",
        "port": 5432,
        "database": "passgate",
        "user": "passgate",
        "password": "pw",
        "connectionTimeout": 5,
        "maxOpenConns": 0,
        "maxIdleConns": 0,
        "connMaxLifetime": 60,
        "ssl": {"mode": "verify-ca", "caFile": "/etc/ca.pem", "certFile": "", "keyFile": ""},
    }
    typed = config.storage.typed_config()
    assert isinstance(typed, PostgresConfig)
    assert typed.connection_timeout == 5
    assert typed.ssl.ca_file == "/etc/ca.pem"
    assert "pw" not in repr(typed)


def test_postgres_ssl_mode_defaults_to_verify_full_like_dex() -> None:
    options = load(storage("postgres", {"host": "db"})).storage.options()
    assert options["ssl"]["mode"] == "verify-full"
    assert options["port"] is None


def test_postgres_bad_values() -> None:
    found = problems(
        storage(
            "postgres",
            {"port": 70000, "maxOpenConns": -1, "ssl": {"mode": "sometimes"}, "sslmode": "x"},
        )
    )
    assert found["storage.config.port"] == "must be less than or equal to 65535"
    assert found["storage.config.maxOpenConns"] == "must be greater than or equal to 0"
    assert found["storage.config.ssl.mode"].startswith("must be 'disable', 'allow'")
    assert found["storage.config.sslmode"] == "unknown key (did you mean 'ssl'?)"


@pytest.mark.parametrize("kind", ["mysql", "etcd", "kubernetes"])
def test_other_dex_types_are_recognised_and_refused(kind: str) -> None:
    assert problems(storage(kind, {"host": "x"})) == {
        "storage.type": f"storage type {kind!r} is recognised but not supported yet by this "
        "Passgate version (supported: memory, sqlite3, postgres)"
    }


def test_unknown_types_list_the_supported_ones() -> None:
    assert problems(storage("mongodb")) == {
        "storage.type": "unknown storage type 'mongodb' (supported: memory, sqlite3, postgres)"
    }


def test_type_is_required() -> None:
    assert problems(document(storage={"config": {}})) == {"storage.type": "missing required key"}


def test_options_is_a_copy() -> None:
    config = load(storage("postgres", {"host": "db"}))
    config.storage.options()["ssl"]["mode"] = "disable"
    assert config.storage.options()["ssl"]["mode"] == "verify-full"
