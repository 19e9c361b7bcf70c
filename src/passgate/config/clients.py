"""``staticClients[]`` and ``staticPasswords[]``: clients and users kept in the config file.

``idEnv``, ``secretEnv`` and ``hashFromEnv`` name environment variables that are read at
load (Dex does the same); after validation ``id``, ``secret`` and ``hash`` hold the values.
Password hashes are bcrypt, written either as the ``$2a$/$2b$/$2y$`` string or, as Dex
also accepts for backwards compatibility, as the standard base64 encoding of it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from passgate.config.base import (
    DexModel,
    Loc,
    environ_of,
    fold_keys,
    raise_issues,
    with_more_issues,
)
from passgate.config.environ import from_env
from passgate.config.fields import HTTPURL, AbsoluteURL, NonEmptyStr, PositiveDuration

__all__ = [
    "DEX_MIN_BCRYPT_COST",
    "StaticClient",
    "StaticPassword",
    "bcrypt_cost",
    "bcrypt_mcf_cost",
    "decode_bcrypt_hash",
]

# Modular Crypt Format of bcrypt: $2a$10$ + 22 salt + 31 hash characters (60 in all).
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_MIN_COST, _MAX_COST = 4, 31
DEX_MIN_BCRYPT_COST = 10  # Dex refuses to log in with cheaper hashes (passwords.CheckCost)


def bcrypt_mcf_cost(text: str) -> int | None:
    """The cost of a bcrypt hash in its MCF form ($2a$, $2b$, $2y$; cost 4-31), else None."""
    match = _BCRYPT.fullmatch(text)
    if match is None:
        return None
    cost = int(match.group(1))
    return cost if _MIN_COST <= cost <= _MAX_COST else None


def decode_bcrypt_hash(text: str) -> bytes:
    """The bcrypt hash as bytes, from its MCF string or Dex's base64 form of it."""
    if bcrypt_mcf_cost(text) is not None:
        return text.encode("ascii")
    try:
        decoded = base64.b64decode(text, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if bcrypt_mcf_cost(decoded) is not None:
        return decoded.encode("ascii")
    raise ValueError(
        "must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4-31, 60 characters) "
        "or the base64 encoding of one"
    )


def bcrypt_cost(hashed: bytes) -> int:
    return int(hashed[4:6])


_IDENTITY_RULES = (
    ("id", "idEnv", "a client needs an id (or idEnv)"),
    ("secret", "secretEnv", "a confidential client needs a secret (or secretEnv, or public: true)"),
)


def _client_identity(
    values: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[list[tuple[Loc, str]], dict[str, str]]:
    """id/idEnv and secret/secretEnv rules (as Dex's serve.go): the problems, and the
    values read from the environment. ``values`` is keyed by Dex key (validated or raw)."""
    issues: list[tuple[Loc, str]] = []
    resolved: dict[str, str] = {}
    for key, env_key, missing in _IDENTITY_RULES:
        value, variable = values.get(key), values.get(env_key)
        if value and variable:
            issues.append(((env_key,), f"set either {key} or {env_key}, not both"))
        elif isinstance(variable, str) and variable:
            resolved[key], found = from_env(environ, env_key, variable)
            issues += found
        elif not value and not variable and not (key == "secret" and values.get("public")):
            issues.append(((key,), missing))
    return issues, resolved


def _password_hash(
    values: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[list[tuple[Loc, str]], str, str]:
    """hash/hashFromEnv: the problems, the hash text, and the key it came from."""
    value, variable = values.get("hash", ""), values.get("hashFromEnv", "")
    if not isinstance(value, str) or not isinstance(variable, str):
        return [], "", "hash"  # a wrong type is reported on its own
    issues: list[tuple[Loc, str]] = []
    key = "hash"
    if not value and variable:  # Dex: hash wins when both are set
        key = "hashFromEnv"
        value, issues = from_env(environ, key, variable)
    elif not value:
        issues.append((("hash",), "a user needs a bcrypt hash (or hashFromEnv)"))
    if value:
        try:
            decode_bcrypt_hash(value)
        except ValueError as error:
            issues.append(((key,), str(error)))
    return issues, value, key


def _report_rules_too(
    model: type[DexModel],
    data: Any,
    handler: ModelWrapValidatorHandler[Any],
    info: ValidationInfo,
    rules: Callable[[Mapping[str, Any], Mapping[str, str]], tuple[Any, ...]],
) -> Any:
    """Validate; if some field fails, also report what ``rules`` finds in the raw data,
    which the after-validator (that normally applies them) never gets to see."""
    try:
        return handler(data)
    except ValidationError as exc:
        if not isinstance(data, Mapping):
            raise
        issues = rules(fold_keys(model, data), environ_of(info))[0]
        raise with_more_issues(model.__name__, exc, issues) from None


class StaticClient(DexModel):
    """One OAuth 2.0 client. A confidential client (``public: false``) needs a secret."""

    id: str = ""
    id_env: str = Field(default="", alias="idEnv")
    secret: str = Field(default="", repr=False)
    secret_env: str = Field(default="", alias="secretEnv")
    name: str = ""
    public: bool = False
    logo_url: str = Field(default="", alias="logoURL")
    redirect_uris: list[AbsoluteURL] = Field(default_factory=list, alias="redirectURIs")
    post_logout_redirect_uris: list[AbsoluteURL] = Field(
        default_factory=list, alias="postLogoutRedirectURIs"
    )
    trusted_peers: list[str] = Field(default_factory=list, alias="trustedPeers")
    allowed_connectors: list[str] = Field(default_factory=list, alias="allowedConnectors")
    refresh_token_lifetime: PositiveDuration | None = Field(
        default=None, alias="refreshTokenLifetime"
    )
    client_credentials_claims: dict[str, Any] | None = Field(
        default=None, alias="clientCredentialsClaims"
    )
    # OpenID Back-Channel Logout 1.0 §2.2 (Dex's field name): where logout tokens go.
    backchannel_logout_uri: HTTPURL | None = Field(default=None, alias="backchannelLogoutURI")
    # Which clients may reuse a browser session this client signed in; None: the
    # sessions.ssoSharedWithDefault; [] nobody; "*" everybody (Dex DEP 4560).
    sso_shared_with: list[str] | None = Field(default=None, alias="ssoSharedWith")
    # Dex field for its MFA work: accepted, reported as not implemented yet.
    mfa_chain: list[str] = Field(default_factory=list, alias="mfaChain")

    @model_validator(mode="wrap")
    @classmethod
    def _all_problems(
        cls, data: Any, handler: ModelWrapValidatorHandler[StaticClient], info: ValidationInfo
    ) -> StaticClient:
        result: StaticClient = _report_rules_too(cls, data, handler, info, _client_identity)
        return result

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> StaticClient:
        values: dict[str, Any] = {"id": self.id, "idEnv": self.id_env, "secret": self.secret}
        values |= {"secretEnv": self.secret_env, "public": self.public}
        issues, resolved = _client_identity(values, environ_of(info))
        raise_issues(type(self).__name__, issues)
        self._settle(**resolved)
        if self.refresh_token_lifetime is not None:
            self.note(
                ("refreshTokenLifetime",),
                "is recognised but not supported yet; expiry.refreshTokens applies",
            )
        if self.mfa_chain:
            self.note(("mfaChain",), "is recognised but not implemented yet (no MFA)")
        return self


class StaticPassword(DexModel):
    """One user of the password database (``enablePasswordDB``); ``hash`` is bcrypt."""

    email: NonEmptyStr
    hash: str = Field(default="", repr=False)
    hash_from_env: str = Field(default="", alias="hashFromEnv")
    username: str = ""
    user_id: NonEmptyStr = Field(alias="userID")
    name: str = ""
    email_verified: bool = Field(default=True, alias="emailVerified")
    preferred_username: str = Field(default="", alias="preferredUsername")
    groups: list[str] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _all_problems(
        cls, data: Any, handler: ModelWrapValidatorHandler[StaticPassword], info: ValidationInfo
    ) -> StaticPassword:
        result: StaticPassword = _report_rules_too(cls, data, handler, info, _password_hash)
        return result

    @model_validator(mode="after")
    def _resolve_hash(self, info: ValidationInfo) -> StaticPassword:
        values = {"hash": self.hash, "hashFromEnv": self.hash_from_env}
        issues, value, key = _password_hash(values, environ_of(info))
        raise_issues(type(self).__name__, issues)
        hash_was_set = bool(self.hash)
        self._settle(hash=value)
        if hash_was_set and self.hash_from_env:
            self.note(("hashFromEnv",), "is ignored because hash is also set")
        cost = bcrypt_cost(self.hash_bytes())
        if cost < DEX_MIN_BCRYPT_COST:
            self.note(
                (key,),
                f"bcrypt cost {cost} is below {DEX_MIN_BCRYPT_COST}; "
                "Dex refuses such hashes at login",
            )
        return self

    def hash_bytes(self) -> bytes:
        """The bcrypt hash, base64 form decoded: what ``bcrypt.checkpw`` takes."""
        return decode_bcrypt_hash(self.hash)
