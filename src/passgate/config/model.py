"""``Config``: the whole Dex-compatible config file, validated.

Use :func:`passgate.config.parse_config` / :func:`~passgate.config.load_config` to read
one: they add YAML line numbers, environment expansion and every-problem-at-once
reporting. ``Config.model_validate(mapping)`` works too and applies the same rules.
"""

from __future__ import annotations

import functools
import typing
from datetime import timedelta
from typing import Annotated, Any, cast

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from passgate.config.admin import AdminConfig, AuditConfig
from passgate.config.base import DexModel, collect_notes, fold_keys, format_loc, raise_issues
from passgate.config.checks import run_checks
from passgate.config.clients import StaticClient, StaticPassword
from passgate.config.connectors import ConnectorConfig
from passgate.config.expiry import ExpiryConfig, LocalSignerConfig, SignerConfig
from passgate.config.fields import check_issuer
from passgate.config.forward_auth import ForwardAuthConfig
from passgate.config.kubernetes import KubernetesConfig
from passgate.config.oauth2 import OAuth2Config
from passgate.config.server import (
    FrontendConfig,
    GRPCConfig,
    LoggerConfig,
    TelemetryConfig,
    WebConfig,
)
from passgate.config.sessions import SessionsConfig
from passgate.config.storage import StorageConfig

__all__ = ["Config", "partial_sections"]


class Config(DexModel):
    """A validated config file. Attribute names are snake_case; keys are Dex's."""

    issuer: Annotated[str, AfterValidator(check_issuer)]
    storage: StorageConfig
    web: WebConfig = Field(default_factory=WebConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    grpc: GRPCConfig | None = None
    expiry: ExpiryConfig = Field(default_factory=ExpiryConfig)
    signer: SignerConfig | None = None
    logger: LoggerConfig = Field(default_factory=LoggerConfig)
    oauth2: OAuth2Config = Field(default_factory=OAuth2Config)
    static_clients: list[StaticClient] = Field(default_factory=list, alias="staticClients")
    enable_password_db: bool = Field(default=False, alias="enablePasswordDB")
    static_passwords: list[StaticPassword] = Field(default_factory=list, alias="staticPasswords")
    connectors: list[ConnectorConfig] = Field(default_factory=list)
    frontend: FrontendConfig = Field(default_factory=FrontendConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    mfa: dict[str, Any] | None = None  # recognised; implemented in a later issue
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)  # Passgate's own
    # Passgate's own: None turns the /oauth2/* forward-auth endpoints off.
    forward_auth: ForwardAuthConfig | None = Field(default=None, alias="forwardAuth")
    admin: AdminConfig | None = None  # Passgate's own: None disables the admin API
    audit: AuditConfig = Field(default_factory=AuditConfig)  # Passgate's own

    _warnings: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        findings = run_checks(self.sections())
        raise_issues(type(self).__name__, findings.errors)
        notes = collect_notes(self) + findings.warnings
        self._warnings[:] = [f"{format_loc(loc)}: {message}" for loc, message in notes]
        return self

    @property
    def warnings(self) -> list[str]:
        """Non-fatal notices (``path: message``), to be logged at start-up."""
        return list(self._warnings)

    def sections(self) -> dict[str, Any]:
        """Top-level attribute name → value."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def key_rotation_period(self) -> timedelta:
        """How often signing keys rotate: ``signer.config.keysRotationPeriod`` when set,
        else ``expiry.signingKeys``."""
        if self.signer is not None:
            period = self.signer.local().keys_rotation_period
            if period is not None:
                return period
        return self.expiry.signing_keys

    def local_signer(self) -> LocalSignerConfig:
        """``signer.config``, with every default when there is no ``signer`` section."""
        return self.signer.local() if self.signer is not None else LocalSignerConfig()

    def encryption_keys(self) -> tuple[str, tuple[str, ...]]:
        """``signer.config.encryptionKey`` ("" when not set) and the previous keys."""
        if self.signer is None:
            return "", ()
        local = self.signer.local()
        return local.encryption_key or "", tuple(local.previous_encryption_keys)

    def signing_algorithm(self) -> str:
        """The JWS algorithm for ID tokens (``RS256`` unless ``signer`` says otherwise)."""
        return self.signer.local().algorithm if self.signer is not None else "RS256"


@functools.cache
def _section_adapter(name: str) -> TypeAdapter[Any]:
    field = Config.model_fields[name]
    annotation: Any = field.annotation
    if field.metadata:
        annotation = cast(Any, Annotated)[(annotation, *field.metadata)]
    return TypeAdapter(annotation)


def partial_sections(data: Any, context: Any = None) -> dict[str, Any]:
    """Each top-level section that validates on its own, by attribute name (absent optional
    sections take their defaults; a list keeps its valid items, ``None`` for the others).
    Lets cross-section checks run although other parts of the file are broken."""
    if not isinstance(data, dict):
        return {}
    try:
        folded = fold_keys(Config, data)
    except ValidationError:
        return {}
    sections: dict[str, Any] = {}
    for name, field in Config.model_fields.items():
        key = field.alias or name
        if key not in folded:
            if not field.is_required():
                sections[name] = field.get_default(call_default_factory=True)
            continue
        value = folded[key]
        try:
            sections[name] = _section_adapter(name).validate_python(value, context=context)
        except ValidationError:
            item = _list_item_model(name)
            if item is not None and isinstance(value, list):
                # Keep the good items in place (None for broken ones) so positions hold.
                sections[name] = [_validate_or_none(item, entry, context) for entry in value]
    return sections


def _list_item_model(name: str) -> type[DexModel] | None:
    args = typing.get_args(Config.model_fields[name].annotation)
    if typing.get_origin(Config.model_fields[name].annotation) is list and args:
        item = args[0]
        if isinstance(item, type) and issubclass(item, DexModel):
            return item
    return None


def _validate_or_none(model: type[DexModel], value: Any, context: Any) -> DexModel | None:
    try:
        return model.model_validate(value, context=context)
    except ValidationError:
        return None
