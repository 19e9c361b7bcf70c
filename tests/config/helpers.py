"""Building config documents in tests: a valid base plus the sections under test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from passgate.config import Config, ConfigError, parse_config

BCRYPT_PASSWORD = "$2b$10$rbIU4HuF.QVAkzVQJ8kage3qoBFPgPmWJVxksgQP7KG8Y6X86KKrC"  # "password"


def document(**sections: Any) -> dict[str, Any]:
    """A minimal valid config with ``sections`` set (``None`` removes a key)."""
    doc: dict[str, Any] = {
        "issuer": "https://sso.example.com/dex",
        "storage": {"type": "memory"},
        "web": {"http": "127.0.0.1:5556"},
    }
    for key, value in sections.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def text_of(doc: Mapping[str, Any] | str) -> str:
    return doc if isinstance(doc, str) else yaml.safe_dump(dict(doc), sort_keys=False)


def load(doc: Mapping[str, Any] | str, environ: Mapping[str, str] | None = None) -> Config:
    return parse_config(text_of(doc), {} if environ is None else environ)


def problems(
    doc: Mapping[str, Any] | str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Path → message of every problem; fails the test if the document is valid."""
    with pytest.raises(ConfigError) as caught:
        load(doc, environ)
    found: dict[str, str] = {}
    for issue in caught.value.errors:
        assert issue.path not in found, f"two problems at {issue.path}"
        found[issue.path] = issue.message
    return found


def user(email: str = "admin@example.com", **fields: Any) -> dict[str, Any]:
    return {"email": email, "hash": BCRYPT_PASSWORD, "userID": email, **fields}
