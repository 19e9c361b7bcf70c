"""Records as JSON-ready values, shared by whatever keeps them as JSON: the SQL backends'
columns and the device flow's state (which the provider keeps without knowing the
backend)."""

from __future__ import annotations

from typing import Any

from passgate.storage.models import Claims

__all__ = ["claims_from_json", "claims_json"]


def claims_json(c: Claims) -> dict[str, object]:
    return {
        "user_id": c.user_id,
        "username": c.username,
        "preferred_username": c.preferred_username,
        "email": c.email,
        "email_verified": c.email_verified,
        "groups": list(c.groups),
    }


def claims_from_json(d: dict[str, Any]) -> Claims:
    return Claims(
        user_id=d["user_id"],
        username=d["username"],
        preferred_username=d.get("preferred_username", ""),
        email=d.get("email", ""),
        email_verified=bool(d.get("email_verified", False)),
        groups=tuple(d.get("groups", ())),
    )
