"""The pure group rules of the GitLab connector, as Dex applies them.

GitLab's OpenID userinfo lists group paths in ``groups`` and, per role, the groups
where the user holds that role directly (``https://gitlab.org/claims/groups/owner``,
``.../maintainer``, ``.../developer``). With ``getGroupsPermission`` Dex appends
``<path>:<role>`` for each group whose path is, or lies under, a group with that role;
with ``inheritedGroups`` it falls back to the member's ``access_level`` number. Kept
apart from HTTP so each rule is tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ACCESS_LEVELS",
    "ROLE_CLAIMS",
    "ApiGroup",
    "UserInfo",
    "access_level_role",
    "filter_required",
    "role_from_claims",
    "with_roles",
]

#: GitLab's role claims in the userinfo answer, strongest first (Dex checks them in order).
ROLE_CLAIMS = (
    ("owner", "https://gitlab.org/claims/groups/owner"),
    ("maintainer", "https://gitlab.org/claims/groups/maintainer"),
    ("developer", "https://gitlab.org/claims/groups/developer"),
)

#: GitLab's ``access_level`` values (Members API) and the role names Dex gives them.
ACCESS_LEVELS = {
    5: "minimal_access",
    10: "guest",
    15: "planner",
    20: "reporter",
    25: "security_manager",
    30: "developer",
    40: "maintainer",
    50: "owner",
    60: "admin",
}


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What ``/oauth/userinfo`` says about groups: paths, and paths per direct role."""

    groups: tuple[str, ...] = ()
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "owner" -> paths


@dataclass(frozen=True, slots=True)
class ApiGroup:
    """One ``GET /api/v4/groups`` entry (``inheritedGroups``)."""

    id: int
    full_path: str  # Dex: full_path, else path


def _covers(path: str, granted: str) -> bool:
    """``granted`` is ``path`` or one of its ancestors ("dev" never covers "developer")."""
    return path == granted or path.startswith(granted + "/")


def role_from_claims(path: str, info: UserInfo) -> str | None:
    """The strongest role the userinfo role claims give on ``path`` (Dex's order)."""
    for role, _claim in ROLE_CLAIMS:
        if any(_covers(path, granted) for granted in info.roles.get(role, ())):
            return role
    return None


def with_roles(info: UserInfo) -> list[str]:
    """``getGroupsPermission``: the groups, then ``<path>:<role>`` for each that has one."""
    names = list(info.groups)
    for path in info.groups:
        role = role_from_claims(path, info)
        if role is not None:
            names.append(f"{path}:{role}")
    return names


def access_level_role(level: object) -> str | None:
    """The role name of a Members API ``access_level`` (``None`` for unknown values)."""
    if isinstance(level, bool) or not isinstance(level, int):
        return None
    return ACCESS_LEVELS.get(level)


def filter_required(found: Sequence[str], required: Iterable[str]) -> list[str]:
    """Dex ``groups.Filter``: the ``found`` groups that are ``required``, in found order."""
    wanted = set(required)
    return [name for name in found if name in wanted]
