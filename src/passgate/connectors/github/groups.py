"""The pure rules of the GitHub connector, as Dex applies them: how teams become group
names, which teams a configured org contributes, and which email address is the user's.

Kept apart from HTTP so each rule is tested on its own; ``connector.py`` feeds them
what the GitHub API answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from passgate.connectors.base import ConnectorError

__all__ = [
    "Email",
    "Team",
    "all_groups",
    "choose_email",
    "filter_teams",
    "format_team_name",
    "is_preferred_email_domain",
    "team_claims",
    "teams_in_org",
]


@dataclass(frozen=True, slots=True)
class Team:
    """One ``GET /user/teams`` entry: what the group names are made of."""

    org: str  # organization.login
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Email:
    """One ``GET /user/emails`` entry."""

    email: str
    verified: bool
    primary: bool


def format_team_name(org: str, team: str) -> str:
    """Dex ``formatTeamName``: ``org:team``, as team names repeat across orgs."""
    return f"{org}:{team}"


def team_claims(team: Team, field: str) -> list[str]:
    """Dex ``teamGroupClaims``: the name, the slug, or both (``teamNameField``)."""
    if field == "both":
        return [team.name, team.slug]
    if field == "slug":
        return [team.slug]
    return [team.name]


def teams_in_org(teams: Iterable[Team], org: str, field: str) -> list[str]:
    """Dex ``teamsForOrg``: the user's team claims in ``org`` (login compared exactly)."""
    return [claim for team in teams if team.org == org for claim in team_claims(team, field)]


def filter_teams(user_teams: Sequence[str], wanted: Iterable[str]) -> list[str]:
    """Dex ``filterTeams``: the user's teams that the config lists, in the user's order."""
    allowed = set(wanted)
    return [team for team in user_teams if team in allowed]


def all_groups(orgs: Sequence[str], teams: Sequence[Team], field: str) -> list[str]:
    """Dex ``userGroups`` (``loadAllGroups``): every org, each followed by its teams as
    ``org:team``. Teams of an org missing from ``/user/orgs`` are left out, as in Dex."""
    by_org: dict[str, list[str]] = {}
    for team in teams:
        by_org.setdefault(team.org, []).extend(team_claims(team, field))
    groups: list[str] = []
    for org in orgs:
        groups.append(org)
        groups += [format_team_name(org, name) for name in by_org.get(org, [])]
    return groups


def is_preferred_email_domain(domain: str, pattern: str) -> bool:
    """Dex ``isPreferredEmailDomain``: equal, or as many labels with ``*`` matching one."""
    if domain == pattern:
        return True
    wanted, labels = pattern.split("."), domain.split(".")
    if len(wanted) != len(labels):
        return False
    return all(want in ("*", label) for want, label in zip(wanted, labels, strict=True))


def choose_email(emails: Iterable[Email], *, enterprise: bool, preferred_domain: str) -> str:
    """Dex ``userEmail``: the first verified address in ``preferredEmailDomain``, else the
    verified primary one. GitHub Enterprise cannot verify addresses, so Dex (and we)
    treat every address there as verified."""
    primary = ""
    preferred: list[str] = []
    for entry in emails:
        verified = entry.verified or enterprise
        if verified and entry.primary:
            primary = entry.email
        if preferred_domain:
            _, at, domain = entry.email.partition("@")
            if not at:
                raise ConnectorError(f"GitHub answered a malformed email address {entry.email!r}")
            if verified and is_preferred_email_domain(domain, preferred_domain):
                preferred.append(entry.email)
    if preferred:
        return preferred[0]
    if primary:
        return primary
    also = f" or in the domain {preferred_domain}" if preferred_domain else ""
    raise ConnectorError(
        f"your GitHub account has no verified primary email address{also}; "
        "add or verify one at GitHub, then sign in again"
    )
