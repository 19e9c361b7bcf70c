"""``admin`` and ``audit``: Passgate's own sections for the admin API and the audit log."""

from __future__ import annotations

from datetime import timedelta

from .helpers import document, load, problems

HASH = "sha256:" + "ab" * 32


def test_absent_sections_mean_disabled_api_and_default_retention() -> None:
    config = load(document())
    assert config.admin is None
    assert (config.audit.retention, config.audit.log) == (timedelta(days=90), True)


def test_tokens_groups_and_hash_from_env() -> None:
    config = load(
        document(
            admin={
                "tokens": [{"name": "ci", "hash": HASH}, {"name": "ops", "hashFromEnv": "H"}],
                "groups": ["platform-admins"],
            },
            audit={"retention": "720h", "log": False},
        ),
        {"H": "sha256:" + "cd" * 32},
    )
    assert config.admin is not None
    assert [(t.name, t.hash) for t in config.admin.tokens] == [
        ("ci", HASH), ("ops", "sha256:" + "cd" * 32),
    ]  # fmt: skip
    assert config.admin.groups == ["platform-admins"]
    assert (config.audit.retention, config.audit.log) == (timedelta(days=30), False)
    assert HASH not in repr(config.admin)


def test_problems_are_reported_with_key_paths() -> None:
    found = problems(
        document(
            admin={
                "tokens": [
                    {"name": "ci", "hash": "sha256:ABC"},
                    {"name": "bad name", "hash": HASH},
                    {"name": "env", "hashFromEnv": "UNSET"},
                    {"name": "both", "hash": HASH, "hashFromEnv": "X"},
                    {"name": "none"},
                ],
                "group": ["typo"],
            },
            audit={"retention": "0s", "keep": True},
        )
    )
    assert found["admin.tokens[0].hash"].startswith("must be 'sha256:' and 64 lower-case hex")
    assert "letters, digits" in found["admin.tokens[1].name"]
    assert found["admin.tokens[2].hashFromEnv"] == (
        "environment variable 'UNSET' is not set or empty"
    )
    assert found["admin.tokens[3].hashFromEnv"] == "set either hash or hashFromEnv, not both"
    assert found["admin.tokens[4].hash"] == "a token needs a hash (or hashFromEnv)"
    assert "unknown key" in found["admin.group"]
    assert found["audit.retention"] == "must be greater than zero"
    assert "unknown key" in found["audit.keep"]


def test_an_empty_admin_section_and_duplicate_names_are_refused() -> None:
    assert "list tokens or groups" in problems(document(admin={}))["admin"]
    duplicate = {"tokens": [{"name": "ci", "hash": HASH}, {"name": "ci", "hash": HASH}]}
    assert problems(document(admin=duplicate)) == {"admin.tokens[1].name": "'ci' is also tokens[0]"}


def test_demo_example_has_the_admin_api_on() -> None:
    from pathlib import Path

    from passgate.admin.auth import hash_token
    from passgate.config import load_config

    example = Path(__file__).resolve().parents[2] / "examples" / "config-demo.yaml"
    config = load_config(example, {})
    assert config.admin is not None
    assert config.admin.groups == ["admins"]
    [token] = config.admin.tokens
    assert token.hash == hash_token("pgadm_demo-admin-token-do-not-use-in-production")
