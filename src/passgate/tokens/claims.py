"""Which identity claims a token carries, decided by the granted scopes (as Dex does)."""

from __future__ import annotations

from collections.abc import Sequence

from passgate.oauth2.scopes import EMAIL, FEDERATED_ID, GROUPS, PROFILE
from passgate.storage.models import Claims


def identity_claims(claims: Claims, scopes: Sequence[str], connector_id: str) -> dict[str, object]:
    """OIDC Core §5.4 scope → claims, plus Dex's ``groups`` and ``federated:id``.

    Empty strings are left out (as Dex's ``omitempty`` does) but ``email_verified`` is always
    there with ``email`` and ``groups`` is always an array with ``groups``, so a consumer can
    tell "no groups" from "groups not asked for".
    """
    out: dict[str, object] = {}
    if EMAIL in scopes:
        if claims.email:
            out["email"] = claims.email
        out["email_verified"] = bool(claims.email_verified)
    if PROFILE in scopes:
        if claims.username:
            out["name"] = claims.username
        if claims.preferred_username:
            out["preferred_username"] = claims.preferred_username
    if GROUPS in scopes:
        out["groups"] = list(claims.groups)
    if FEDERATED_ID in scopes:
        out["federated_claims"] = {"connector_id": connector_id, "user_id": claims.user_id}
    return out


def audience_claim(audience: Sequence[str]) -> str | list[str]:
    """RFC 7519 §4.1.3: a single string for one audience (what Dex emits), else an array."""
    if not audience:
        raise ValueError("a token needs at least one audience")
    if len(audience) == 1:
        return audience[0]
    return list(audience)
