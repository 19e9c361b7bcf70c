"""The config file: Dex's ``config.yaml`` keys, validated into typed, frozen models.

Read one with :func:`load_config` (or :func:`parse_config` for text). Every problem is
reported at once in a :class:`ConfigError`; notices that do not stop start-up are in
``Config.warnings``. Keys match case-insensitively, as in Dex.
"""

from passgate.config.clients import StaticClient, StaticPassword
from passgate.config.connectors import (
    CONNECTOR_CONFIG_MODELS,
    PASSWORD_CONNECTOR_TYPES,
    ConnectorConfig,
    MockPasswordConfig,
    NoOptions,
)
from passgate.config.errors import ConfigError, ConfigIssue
from passgate.config.expiry import (
    SIGNING_ALGORITHMS,
    ExpiryConfig,
    LocalSignerConfig,
    RefreshTokenExpiry,
    SignerConfig,
)
from passgate.config.loader import check_config, load_config, parse_config
from passgate.config.model import Config
from passgate.config.oauth2 import KNOWN_GRANT_TYPES, OAuth2Config, PKCEConfig
from passgate.config.server import (
    ClientRemoteIP,
    FrontendConfig,
    GRPCConfig,
    LoggerConfig,
    TelemetryConfig,
    WebConfig,
    WebHeaders,
)
from passgate.config.storage import (
    MemoryConfig,
    PostgresConfig,
    PostgresSSL,
    SQLiteConfig,
    StorageConfig,
)
from passgate.durations import format_duration, parse_duration

__all__ = [
    "CONNECTOR_CONFIG_MODELS",
    "KNOWN_GRANT_TYPES",
    "PASSWORD_CONNECTOR_TYPES",
    "SIGNING_ALGORITHMS",
    "ClientRemoteIP",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ConnectorConfig",
    "ExpiryConfig",
    "FrontendConfig",
    "GRPCConfig",
    "LocalSignerConfig",
    "LoggerConfig",
    "MemoryConfig",
    "MockPasswordConfig",
    "NoOptions",
    "OAuth2Config",
    "PKCEConfig",
    "PostgresConfig",
    "PostgresSSL",
    "RefreshTokenExpiry",
    "SQLiteConfig",
    "SignerConfig",
    "StaticClient",
    "StaticPassword",
    "StorageConfig",
    "TelemetryConfig",
    "WebConfig",
    "WebHeaders",
    "check_config",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
