"""Scope-driven identity claims and the aud shape."""

from __future__ import annotations

import pytest

from passgate.storage.models import Claims
from passgate.tokens.claims import audience_claim, identity_claims

JANE = Claims(
    user_id="u-1",
    username="Jane Doe",
    preferred_username="jane",
    email="jane@example.com",
    email_verified=True,
    groups=("admins", "dev"),
)


def test_no_identity_claims_without_scopes() -> None:
    assert identity_claims(JANE, ["openid"], "ldap") == {}


def test_each_scope_adds_its_claims() -> None:
    assert identity_claims(JANE, ["email"], "ldap") == {
        "email": "jane@example.com",
        "email_verified": True,
    }
    assert identity_claims(JANE, ["profile"], "ldap") == {
        "name": "Jane Doe",
        "preferred_username": "jane",
    }
    assert identity_claims(JANE, ["groups"], "ldap") == {"groups": ["admins", "dev"]}
    assert identity_claims(JANE, ["federated:id"], "ldap") == {
        "federated_claims": {"connector_id": "ldap", "user_id": "u-1"}
    }


def test_empty_values() -> None:
    bare = Claims(user_id="u", username="")
    assert identity_claims(bare, ["email", "profile", "groups"], "c") == {
        "email_verified": False,
        "groups": [],
    }


def test_audience_is_a_string_for_one_and_a_list_for_more() -> None:
    assert audience_claim(["kubectl"]) == "kubectl"
    assert audience_claim(("a", "b")) == ["a", "b"]
    with pytest.raises(ValueError, match="audience"):
        audience_claim([])
