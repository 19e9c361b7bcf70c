"""The pure rules of ``passgate.connectors.gitlab.groups`` and the stored token format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from passgate.connectors.base import ConnectorError, UpstreamUnavailableError
from passgate.connectors.gitlab.groups import (
    UserInfo,
    access_level_role,
    filter_required,
    role_from_claims,
    with_roles,
)
from passgate.connectors.gitlab.tokens import Renewals, UpstreamTokens

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_role_covers_the_group_and_its_subgroups_only() -> None:
    info = UserInfo(
        groups=("dev", "dev/api", "developer", "ops", "ops/db"),
        roles={"owner": ("dev",), "maintainer": ("ops", "dev/api"), "developer": ("ops/db",)},
    )
    # "dev" never covers "developer"; the strongest role wins (Dex checks owner first).
    assert role_from_claims("developer", info) is None
    assert role_from_claims("dev/api", info) == "owner"
    assert role_from_claims("ops/db", info) == "maintainer"
    assert with_roles(info) == [
        "dev", "dev/api", "developer", "ops", "ops/db",
        "dev:owner", "dev/api:owner", "ops:maintainer", "ops/db:maintainer",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("level", "role"),
    [(5, "minimal_access"), (10, "guest"), (15, "planner"), (20, "reporter"),
     (25, "security_manager"), (30, "developer"), (40, "maintainer"), (50, "owner"),
     (60, "admin"), (35, None), ("30", None), (True, None)],
)  # fmt: skip
def test_access_levels_are_named_as_dex_names_them(level: object, role: str | None) -> None:
    assert access_level_role(level) == role


def test_required_groups_keep_gitlab_order() -> None:
    assert filter_required(["b", "a", "c"], ["c", "a", "x"]) == ["a", "c"]
    assert filter_required(["b"], ["a"]) == []


def test_stored_tokens_round_trip_and_tolerate_dex_data() -> None:
    body = {
        "access_token": "AT-1",
        "token_type": "bearer",
        "expires_in": 7200,
        "refresh_token": "RT",
    }
    tokens = UpstreamTokens.from_response(body, NOW)
    assert tokens.expiry == NOW + timedelta(hours=2)
    assert UpstreamTokens.decode(tokens.encode()) == tokens
    assert "AT-1" not in repr(tokens)
    assert not tokens.expired(NOW, timedelta(minutes=1))
    assert tokens.expired(NOW + timedelta(minutes=119), timedelta(minutes=1))
    # GitLab did not rotate: the previous refresh token stays.
    kept = UpstreamTokens.from_response({"access_token": "at2"}, NOW, previous_refresh="rt")
    assert (kept.refresh_token, kept.expiry) == ("rt", None)
    assert kept.expired(NOW, timedelta(0))  # unknown expiry: renew
    dex = json.dumps({"accessToken": "a", "refreshToken": "r", "expiry": "2026-01-01T00:00:00"})
    assert UpstreamTokens.decode(dex.encode()).expiry is None  # a naive time is not trusted
    with pytest.raises(UpstreamUnavailableError, match="token_type"):
        UpstreamTokens.from_response({"access_token": "at", "token_type": "mac"}, NOW)
    with pytest.raises(ConnectorError, match="sign in again"):
        UpstreamTokens.decode(b"[]")


def test_renewals_remember_a_bounded_chain() -> None:
    renewals = Renewals(memory=2)
    first, second, third = (UpstreamTokens(f"a{i}", f"r{i}") for i in range(3))
    renewals.remember("r0", second)
    renewals.remember("r1", third)
    assert renewals.latest(first) == third
    renewals.remember("r9", UpstreamTokens("x", "y"))  # evicts the oldest entry
    assert renewals.latest(first) == first
    assert renewals.latest(second) == third
