"""Scopes Passgate understands (Dex's set), and the cross-client audience scope."""

from __future__ import annotations

from dataclasses import dataclass

OPENID = "openid"
EMAIL = "email"
PROFILE = "profile"
GROUPS = "groups"
OFFLINE_ACCESS = "offline_access"  # OIDC Core §11
FEDERATED_ID = "federated:id"
CROSS_CLIENT_PREFIX = "audience:server:client_id:"

KNOWN_SCOPES = frozenset({OPENID, EMAIL, PROFILE, GROUPS, OFFLINE_ACCESS, FEDERATED_ID})
SUPPORTED_SCOPES = (OPENID, EMAIL, GROUPS, PROFILE, OFFLINE_ACCESS, FEDERATED_ID)


@dataclass(frozen=True, slots=True)
class ScopeCheck:
    """The outcome of :func:`classify`: known scopes, peers asked for, unknown scopes."""

    scopes: tuple[str, ...]
    peers: tuple[str, ...]
    unrecognized: tuple[str, ...]


def split(scope: str) -> tuple[str, ...]:
    """RFC 6749 §3.3: space-delimited, case-sensitive; duplicates folded, order kept."""
    seen: dict[str, None] = {}
    for item in scope.split(" "):
        if item:
            seen[item] = None
    return tuple(seen)


def classify(scopes: tuple[str, ...]) -> ScopeCheck:
    peers: list[str] = []
    unknown: list[str] = []
    for scope in scopes:
        if scope.startswith(CROSS_CLIENT_PREFIX):
            peer = scope[len(CROSS_CLIENT_PREFIX) :]
            if peer:
                peers.append(peer)
            else:
                unknown.append(scope)
        elif scope not in KNOWN_SCOPES:
            unknown.append(scope)
    return ScopeCheck(scopes=scopes, peers=tuple(peers), unrecognized=tuple(unknown))
