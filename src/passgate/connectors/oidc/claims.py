"""Turning upstream claims into an :class:`Identity`, with Dex's ``oidc`` rules."""

from __future__ import annotations

from typing import Any

from passgate.config.connectors import OIDCConfig
from passgate.connectors.base import ConnectorError, Identity, UserNotInRequiredGroupsError


def _text(claims: dict[str, Any], key: str) -> str:
    value = claims.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConnectorError(f"upstream claim {key!r} is not a string")
    return str(value)


def _groups(claims: dict[str, Any], key: str) -> tuple[str, ...]:
    value = claims.get(key)
    if value is None:
        return ()
    if isinstance(value, str):  # some upstreams send a single group as a string
        return (value,)
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return tuple(value)
    raise ConnectorError(f"upstream claim {key!r} is not a list of strings")


def _pick(claims: dict[str, Any], standard: str, mapped: str, override: bool) -> str:
    # Dex: the standard claim wins unless overrideClaimMapping; the mapped one is a fallback.
    first, second = (mapped, standard) if override else (standard, mapped)
    return _text(claims, first) or _text(claims, second)


def identity_from_claims(
    config: OIDCConfig, claims: dict[str, Any], connector_data: bytes
) -> Identity:
    """The identity, or :class:`ConnectorError` / :class:`UserNotInRequiredGroupsError`."""
    user_id = _text(claims, config.user_id_key)
    if not user_id:
        raise ConnectorError(f"upstream token has no {config.user_id_key!r} claim")
    username = _text(claims, config.user_name_key)
    mapping = config.claim_mapping
    override = config.override_claim_mapping
    preferred = _pick(claims, "preferred_username", mapping.preferred_username, override)
    email = _pick(claims, "email", mapping.email, override)
    verified = claims.get("email_verified", False)
    if isinstance(verified, str):  # some upstreams send "true"
        verified = verified.lower() == "true"
    if config.insecure_skip_email_verified:
        verified = True
    elif email and verified is not True:
        raise ConnectorError("the upstream did not verify the email address")
    if config.hosted_domains:
        domain = _text(claims, "hd")
        if domain not in config.hosted_domains:
            raise UserNotInRequiredGroupsError(
                f"the account's hosted domain {domain!r} is not allowed here"
            )
    groups: tuple[str, ...] = ()
    if config.insecure_enable_groups:
        groups = _groups(claims, "groups") or _groups(claims, mapping.groups)
        if override:
            groups = _groups(claims, mapping.groups) or _groups(claims, "groups")
    if config.allowed_groups:
        allowed = set(config.allowed_groups)
        groups = tuple(g for g in groups if g in allowed)  # Dex keeps only allowed groups
        if not groups:
            raise UserNotInRequiredGroupsError("you are not in any group allowed here")
    return Identity(
        user_id=user_id,
        username=username,
        preferred_username=preferred,
        email=email,
        email_verified=bool(verified),
        groups=groups,
        connector_data=connector_data,
    )
