"""Turning upstream claims into an :class:`Identity`, with Dex's ``oidc`` rules."""

from __future__ import annotations

import re
from typing import Any

from passgate.config.connectors.oidc import NewGroupFromClaims, OIDCConfig
from passgate.connectors.base import ConnectorError, Identity, UserNotInRequiredGroupsError


def _text(claims: dict[str, Any], key: str) -> str:
    value = claims.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConnectorError(f"upstream claim {key!r} is not a string")
    return str(value)


def _group_name(item: object) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return str(item["name"])  # Dex: some upstreams send [{"name": ...}]
    return None


def _groups(claims: dict[str, Any], key: str) -> tuple[str, ...]:
    value = claims.get(key)
    if value is None:
        return ()
    if isinstance(value, str):  # some upstreams send a single group as a string
        return (value,)
    names = [_group_name(item) for item in value] if isinstance(value, list) else [None]
    if any(name is None for name in names):
        raise ConnectorError(f"upstream claim {key!r} is not a list of strings")
    return tuple(name for name in names if name is not None)


def _new_groups(claims: dict[str, Any], rules: list[NewGroupFromClaims]) -> list[str]:
    """Dex ``newGroupFromClaims``: prefix and string claims joined by the delimiter."""
    made = []
    for rule in rules:
        segments = [rule.prefix]
        for name in rule.claims:
            value = claims.get(name)
            if not isinstance(value, str):
                continue  # as Dex: other claim types are skipped
            if rule.clear_delimiter and rule.delimiter:
                value = value.replace(rule.delimiter, "")
            segments.append(value)
        if len(segments) > 1:
            made.append(rule.delimiter.join(segments))
    return made


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
    mods = config.claim_modifications
    if config.insecure_enable_groups:
        groups = _groups(claims, "groups") or _groups(claims, mapping.groups)
        if override:
            groups = _groups(claims, mapping.groups) or _groups(claims, "groups")
        if mods.filter_group_claims.groups_filter:
            # Dex filterGroupClaims: keep the groups the regex matches (Go MatchString).
            wanted = re.compile(mods.filter_group_claims.groups_filter)
            groups = tuple(g for g in groups if wanted.search(g))
    if config.allowed_groups:
        allowed = set(config.allowed_groups)
        groups = tuple(g for g in groups if g in allowed)  # Dex keeps only allowed groups
        if not groups:
            raise UserNotInRequiredGroupsError("you are not in any group allowed here")
    groups = (*groups, *_new_groups(claims, mods.new_group_from_claims))
    names = mods.modify_group_names
    if names.prefix or names.suffix:
        groups = tuple(f"{names.prefix}{g}{names.suffix}" for g in groups)
    return Identity(
        user_id=user_id,
        username=username,
        preferred_username=preferred,
        email=email,
        email_verified=bool(verified),
        groups=groups,
        connector_data=connector_data,
    )
