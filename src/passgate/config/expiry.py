"""``expiry`` (how long things live) and ``signer`` (how tokens are signed).

Defaults are Dex's: signing keys rotate every 6h, ID tokens and authorization requests
live 24h, device requests 5m, and a refresh token may be presented again within 3s of
its rotation (``reuseInterval``) so that a retried request is not mistaken for theft.

``signer.config.encryptionKey`` (Passgate's addition to Dex's local signer) encrypts the
signing key's private half and the shared server secrets in storage;
``previousEncryptionKeys`` only decrypt, for rotating it (see ``keys/encryption``). Like
Dex's ``secret``/``secretEnv``, each has an ``...Env`` form naming environment variables
read at load; after validation ``encryptionKey`` and ``previousEncryptionKeys`` hold the
values.

``signer.config.keysReloadInterval``, ``jwksMaxAge`` and ``propagationDelay`` (Passgate's
too) time key rotation across replicas: a new key is published ``propagationDelay``
before any replica signs with it (see ``keys/rotation``).
"""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from passgate.config.base import DexModel, Loc, custom_error, environ_of, raise_issues
from passgate.config.environ import from_env, value_or_env
from passgate.config.fields import Duration, PositiveDuration
from passgate.durations import format_duration

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
# The same as passgate.keys.encryption.MIN_KEY_LENGTH: HKDF does not stretch the key.
MIN_ENCRYPTION_KEY_LENGTH = 32
# The same as passgate.keys.manager's defaults.
DEFAULT_KEYS_RELOAD_INTERVAL = timedelta(seconds=30)
DEFAULT_JWKS_MAX_AGE = timedelta(seconds=60)
# A margin over the minimum (2 min with the defaults) for verifiers that cache the JWKS
# for a fixed time whatever Cache-Control says.
DEFAULT_PROPAGATION_DELAY = timedelta(minutes=5)


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
    # Passgate's: how often each replica re-reads the keys, the JWKS max-age, and how long
    # a new key is published before it signs (None: the minimum, at least 5 minutes).
    keys_reload_interval: PositiveDuration = Field(
        default=DEFAULT_KEYS_RELOAD_INTERVAL, alias="keysReloadInterval"
    )
    jwks_max_age: Duration = Field(default=DEFAULT_JWKS_MAX_AGE, alias="jwksMaxAge")
    propagation_delay: PositiveDuration | None = Field(default=None, alias="propagationDelay")

    def minimum_propagation_delay(self) -> timedelta:
        """Twice the reload interval plus the JWKS max-age: every replica has re-read the
        keys (with one failed read allowed), and every cache has expired."""
        return 2 * self.keys_reload_interval + self.jwks_max_age

    def effective_propagation_delay(self) -> timedelta:
        if self.propagation_delay is not None:
            return self.propagation_delay
        return max(self.minimum_propagation_delay(), DEFAULT_PROPAGATION_DELAY)

    @model_validator(mode="after")
    def _delay_covers_reloads(self) -> LocalSignerConfig:
        minimum = self.minimum_propagation_delay()
        if self.propagation_delay is not None and self.propagation_delay < minimum:
            raise_issues(
                type(self).__name__,
                [
                    (
                        ("propagationDelay",),
                        "must be at least twice keysReloadInterval plus jwksMaxAge "
                        f"({format_duration(minimum)}): a replica would sign with a key "
                        "another replica does not publish yet",
                    )
                ],
            )
        return self

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

    # None: not written (no encryption); "" is an error (an unset $VAR, most likely).
    encryption_key: str | None = Field(default=None, alias="encryptionKey", repr=False)
    encryption_key_env: str = Field(default="", alias="encryptionKeyEnv")
    previous_encryption_keys: list[str] = Field(
        default_factory=list, alias="previousEncryptionKeys", repr=False
    )
    previous_encryption_keys_env: list[str] = Field(
        default_factory=list, alias="previousEncryptionKeysEnv"
    )

    @model_validator(mode="after")
    def _resolve_encryption_keys(self, info: ValidationInfo) -> LocalSignerConfig:
        environ = environ_of(info)
        current, issues = value_or_env(
            environ,
            "encryptionKey",
            self.encryption_key or "",
            "encryptionKeyEnv",
            self.encryption_key_env,
        )
        where: Loc = ("encryptionKeyEnv",) if self.encryption_key_env else ("encryptionKey",)
        if self.encryption_key == "":
            issues.append((("encryptionKey",), "must not be empty (remove it to not encrypt)"))
        both = bool(self.encryption_key and self.encryption_key_env)  # reported above
        found: list[tuple[Loc, str]] = [(where, current)] if current and not both else []
        previous: list[str] = []
        for index, key in enumerate(self.previous_encryption_keys):
            found.append((("previousEncryptionKeys", index), key))
        for index, name in enumerate(self.previous_encryption_keys_env):
            value, missing = from_env(environ, "previousEncryptionKeysEnv", name)
            issues += [(("previousEncryptionKeysEnv", index), message) for _, message in missing]
            if value:
                found.append((("previousEncryptionKeysEnv", index), value))
        seen: set[str] = set()
        for loc, key in found:
            if len(key) < MIN_ENCRYPTION_KEY_LENGTH:
                issues.append(
                    (
                        loc,
                        f"an encryption key is at least {MIN_ENCRYPTION_KEY_LENGTH} random "
                        "characters (e.g. `openssl rand -base64 32`)",
                    )
                )
            elif key in seen:
                issues.append((loc, "repeats an encryption key given before"))
            seen.add(key)
            if loc != where:
                previous.append(key)
        raise_issues(type(self).__name__, issues)
        # Resolved values only, so that re-validating the dumped options needs no environment.
        self._settle(
            encryption_key=current or None,
            encryption_key_env="",
            previous_encryption_keys=previous,
            previous_encryption_keys_env=[],
        )
        return self


SIGNER_CONFIG_MODELS: dict[str, type[DexModel]] = {"local": LocalSignerConfig}
UNSUPPORTED_SIGNER_TYPES = ("vault",)


class SignerConfig(DexModel):
    """``signer: {type, config}``; supersedes ``expiry.signingKeys``."""

    type: str = "local"
    # repr=False: after validation it holds the encryption keys.
    config: dict[str, Any] = Field(default_factory=dict, validate_default=True, repr=False)

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
