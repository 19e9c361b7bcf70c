"""``expiry`` (how long things live) and ``signer`` (how tokens are signed).

Defaults are Dex's: signing keys rotate every 6h, ID tokens and authorization requests
live 24h, device requests 5m, and a refresh token may be presented again within 3s of
its rotation (``reuseInterval``) so that a retried request is not mistaken for theft.
"""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from passgate.config.base import DexModel, custom_error
from passgate.config.fields import Duration, PositiveDuration

__all__ = [
    "SIGNING_ALGORITHMS",
    "ExpiryConfig",
    "LocalSignerConfig",
    "RefreshTokenExpiry",
    "SignerConfig",
]

# RFC 7518 §3.1. RS256 is what kube-apiserver accepts by default (DESIGN §4); the same
# set as passgate.keys.SUPPORTED_ALGORITHMS (config sits below keys, so it is repeated).
SIGNING_ALGORITHMS = ("RS256", "ES256")


class RefreshTokenExpiry(DexModel):
    """``expiry.refreshTokens``; ``None`` lifetimes mean "no limit" (Dex's default)."""

    reuse_interval: Duration = Field(default=timedelta(seconds=3), alias="reuseInterval")
    valid_if_not_used_for: PositiveDuration | None = Field(default=None, alias="validIfNotUsedFor")
    absolute_lifetime: PositiveDuration | None = Field(default=None, alias="absoluteLifetime")
    disable_rotation: bool = Field(default=False, alias="disableRotation")


class ExpiryConfig(DexModel):
    """``expiry``."""

    signing_keys: PositiveDuration = Field(default=timedelta(hours=6), alias="signingKeys")
    id_tokens: PositiveDuration = Field(default=timedelta(hours=24), alias="idTokens")
    auth_requests: PositiveDuration = Field(default=timedelta(hours=24), alias="authRequests")
    device_requests: PositiveDuration = Field(default=timedelta(minutes=5), alias="deviceRequests")
    refresh_tokens: RefreshTokenExpiry = Field(
        default_factory=RefreshTokenExpiry, alias="refreshTokens"
    )


class LocalSignerConfig(DexModel):
    """``signer.config`` for ``type: local``: keys kept in storage and rotated by Passgate."""

    keys_rotation_period: PositiveDuration | None = Field(default=None, alias="keysRotationPeriod")
    algorithm: str = "RS256"

    @field_validator("algorithm")
    @classmethod
    def _allowed(cls, value: str) -> str:
        allowed = ", ".join(SIGNING_ALGORITHMS)
        if value.lower() == "none" or value.upper().startswith("HS"):
            # RFC 8725 §3.1/§3.2: unsigned tokens, or a key every client would have to share.
            raise ValueError(f"{value!r} is not allowed for ID tokens (allowed: {allowed})")
        if value not in SIGNING_ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {value!r} (allowed: {allowed})")
        return value


SIGNER_CONFIG_MODELS: dict[str, type[DexModel]] = {"local": LocalSignerConfig}
UNSUPPORTED_SIGNER_TYPES = ("vault",)


class SignerConfig(DexModel):
    """``signer: {type, config}``; supersedes ``expiry.signingKeys``."""

    type: str = "local"
    config: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value in UNSUPPORTED_SIGNER_TYPES:
            raise custom_error(
                f"signer type {value!r} is recognised but not supported yet by this "
                "Passgate version (supported: local)"
            )
        if value not in SIGNER_CONFIG_MODELS:
            raise custom_error(f"unknown signer type {value!r} (supported: local)")
        return value

    @field_validator("config")
    @classmethod
    def _typed_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        model = cls.config_model_for(info.data.get("type"))
        if model is None:
            return value
        return model.model_validate(value, context=info.context).model_dump(by_alias=True)

    @classmethod
    def config_model_for(cls, kind: object) -> builtins.type[DexModel] | None:
        return SIGNER_CONFIG_MODELS.get(kind) if isinstance(kind, str) else None

    def local(self) -> LocalSignerConfig:
        """The ``type: local`` options."""
        return LocalSignerConfig.model_validate(self.config)
