"""``admin`` (who may call the admin API) and ``audit`` (how long events are kept):
Passgate's own top-level keys, so no Dex key changes meaning.

Admin bearer tokens are never written in the config: only ``sha256:<64 hex>`` of each
(``passgate admin hash-token`` prints one), inline or read from ``hashFromEnv`` at load.
People in one of ``groups`` may also call the API with a Passgate-issued token.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from passgate.config.base import DexModel, Loc, environ_of, raise_issues
from passgate.config.environ import value_or_env
from passgate.config.fields import NonEmptyStr, PositiveDuration

__all__ = ["TOKEN_HASH_PREFIX", "AdminConfig", "AdminToken", "AuditConfig", "check_token_hash"]

TOKEN_HASH_PREFIX = "sha256:"
_HASH = re.compile(r"sha256:[0-9a-f]{64}")
# It becomes the actor of audit events (``admin:<name>``): keep it plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,62}")


def check_token_hash(value: str) -> str:
    if not _HASH.fullmatch(value):
        raise ValueError(
            "must be 'sha256:' and 64 lower-case hex digits (the SHA-256 of the token); "
            "`passgate admin hash-token` prints one"
        )
    return value


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError("must be 1-63 characters of letters, digits, '.', '_', '@' and '-'")
    return value


class AdminToken(DexModel):
    """One bearer token for the admin API; ``name`` is the actor in audit events."""

    name: Annotated[str, AfterValidator(_check_name)]
    hash: str = Field(default="", repr=False)
    hash_from_env: str = Field(default="", alias="hashFromEnv")

    @model_validator(mode="after")
    def _resolve_hash(self, info: ValidationInfo) -> AdminToken:
        key = "hashFromEnv" if self.hash_from_env else "hash"
        value, issues = value_or_env(
            environ_of(info), "hash", self.hash, "hashFromEnv", self.hash_from_env
        )
        if not self.hash and not self.hash_from_env:
            issues.append((("hash",), "a token needs a hash (or hashFromEnv)"))
        if value and not issues:
            try:
                check_token_hash(value)
            except ValueError as error:
                issues.append(((key,), str(error)))
        raise_issues(type(self).__name__, issues)
        self._settle(hash=value)
        return self


class AdminConfig(DexModel):
    """``admin``: without it the admin API is disabled (every ``/admin/v1`` path is 404)."""

    tokens: list[AdminToken] = Field(default_factory=list)
    groups: list[NonEmptyStr] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone(self) -> AdminConfig:
        issues: list[tuple[Loc, str]] = []
        if not self.tokens and not self.groups:
            issues.append(((), "list tokens or groups (or remove admin to disable the API)"))
        seen: dict[str, int] = {}
        for index, token in enumerate(self.tokens):
            if token.name in seen:
                where = f"tokens[{seen[token.name]}]"
                issues.append((("tokens", index, "name"), f"{token.name!r} is also {where}"))
            seen.setdefault(token.name, index)
        raise_issues(type(self).__name__, issues)
        return self


def _default_retention() -> timedelta:
    return timedelta(days=90)


class AuditConfig(DexModel):
    """``audit``: events older than ``retention`` are deleted by garbage collection;
    ``log`` also writes each event to the structured log."""

    retention: PositiveDuration = Field(default_factory=_default_retention)
    log: bool = True
