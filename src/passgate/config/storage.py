"""``storage``: the backend type and its options, checked by a typed model per type.

``StorageConfig.config`` holds the options after validation, in Dex's key spelling and
with defaults filled in, so ``open_storage(storage.type, storage.options())`` gets what
it needs and nothing unchecked.
"""

from __future__ import annotations

import builtins
import copy
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from passgate.config.base import DexModel, custom_error
from passgate.config.fields import NonEmptyStr

__all__ = [
    "STORAGE_CONFIG_MODELS",
    "UNSUPPORTED_STORAGE_TYPES",
    "MemoryConfig",
    "PostgresConfig",
    "PostgresSSL",
    "SQLiteConfig",
    "StorageConfig",
]


class MemoryConfig(DexModel):
    """``type: memory`` takes no options; everything is lost at exit."""


class SQLiteConfig(DexModel):
    """``type: sqlite3``: ``file`` is the database path (relative to the working directory)."""

    file: NonEmptyStr


SSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class PostgresSSL(DexModel):
    """``ssl``: libpq's sslmode and files. Dex defaults to ``verify-full``."""

    mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = (
        "verify-full"
    )
    ca_file: str = Field(default="", alias="caFile")
    cert_file: str = Field(default="", alias="certFile")
    key_file: str = Field(default="", alias="keyFile")


class PostgresConfig(DexModel):
    """``type: postgres``. Timeouts and lifetimes are whole seconds, as in Dex (0: none)."""

    host: str = ""  # host, host:port, or a unix socket directory
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str = ""
    user: str = ""
    password: str = Field(default="", repr=False)
    connection_timeout: int = Field(default=0, alias="connectionTimeout", ge=0)
    max_open_conns: int = Field(default=0, alias="maxOpenConns", ge=0)
    max_idle_conns: int = Field(default=0, alias="maxIdleConns", ge=0)
    conn_max_lifetime: int = Field(default=0, alias="connMaxLifetime", ge=0)
    ssl: PostgresSSL = Field(default_factory=PostgresSSL)


#: type → options model, for the types this version serves.
STORAGE_CONFIG_MODELS: dict[str, type[DexModel]] = {
    "memory": MemoryConfig,
    "sqlite3": SQLiteConfig,
    "postgres": PostgresConfig,
}
#: Types Dex has that Passgate recognises but cannot serve yet.
UNSUPPORTED_STORAGE_TYPES = ("mysql", "etcd", "kubernetes")


class StorageConfig(DexModel):
    """``storage: {type, config}``."""

    type: str
    # repr=False: the options hold passwords and client secrets once validated.
    config: dict[str, Any] = Field(default_factory=dict, validate_default=True, repr=False)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        supported = ", ".join(STORAGE_CONFIG_MODELS)
        if value in UNSUPPORTED_STORAGE_TYPES:
            raise custom_error(
                f"storage type {value!r} is recognised but not supported yet by this "
                f"Passgate version (supported: {supported})"
            )
        if value not in STORAGE_CONFIG_MODELS:
            raise custom_error(f"unknown storage type {value!r} (supported: {supported})")
        return value

    @field_validator("config")
    @classmethod
    def _typed_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        model = cls.config_model_for(info.data.get("type"))
        if model is None:  # the type is wrong; that error is reported on its own
            return value
        typed = model.model_validate(value, context=info.context)
        return typed.model_dump(by_alias=True)

    @classmethod
    def config_model_for(cls, kind: object) -> builtins.type[DexModel] | None:
        return STORAGE_CONFIG_MODELS.get(kind) if isinstance(kind, str) else None

    def typed_config(self) -> DexModel:
        """The options as their typed model (``SQLiteConfig``, ``PostgresConfig``, ...)."""
        return STORAGE_CONFIG_MODELS[self.type].model_validate(self.config)

    def options(self) -> dict[str, Any]:
        """The validated options in Dex's spelling, for ``open_storage(type, options)``:
        ``{}`` (memory), ``{"file": ...}`` (sqlite3), or ``{"host", "port", "database",
        "user", "password", "connectionTimeout", "maxOpenConns", "maxIdleConns",
        "connMaxLifetime", "ssl": {"mode", "caFile", "certFile", "keyFile"}}`` (postgres)."""
        return copy.deepcopy(self.config)
