"""``passgate admin sessions``, ``browser-sessions`` and ``revoke``: who is signed in
where, and ending it."""

from __future__ import annotations

import click

from passgate.cli.admin_target import Target, fail, pass_target, read_secret, segment

__all__ = ["browser_sessions", "revoke", "sessions"]

SESSION_COLUMNS = (("ID", "id"), ("USER", "email"), ("CLIENT", "client_id"),
                   ("CONNECTOR", "connector_id"), ("BROWSER SESSION", "browser_session_id"),
                   ("LAST USED", "last_used"), ("REVOKED BY", "revoked_by"))  # fmt: skip
BROWSER_COLUMNS = (("ID (SID)", "id"), ("USER", "email"), ("CONNECTOR", "connector_id"),
                   ("CLIENTS", "clients"), ("SIGNED IN", "auth_time"), ("LAST USED", "last_used"),
                   ("EXPIRES", "expiry"), ("REVOKED BY", "revoked_by"))  # fmt: skip


def _query(include_revoked: bool, **params: str) -> dict[str, str]:
    query = {key: value for key, value in params.items() if value}
    if include_revoked:
        query["include_revoked"] = "true"
    return query


@click.group("sessions")
def sessions() -> None:
    """Grants: who is signed in at which client (end one with `revoke session ID`)."""


@sessions.command("list")
@click.option("--user", "user_id", default="", help="A user id.")
@click.option("--client", "client_id", default="", help="A client id.")
@click.option("--connector", "connector_id", default="", help="A connector id.")
@click.option("--browser-session", "browser_session_id", default="",
              help="Only those made through this browser session.")  # fmt: skip
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked and expired.")
@pass_target
def sessions_list(target: Target, /, include_revoked: bool, **filters: str) -> None:
    """List the grants that are still active (with --all, ended ones too)."""
    body = target.request("GET", "/sessions", params=_query(include_revoked, **filters))
    target.show(body, body["sessions"], SESSION_COLUMNS)


@click.group("browser-sessions")
def browser_sessions() -> None:
    """Single sign-on: who is signed in at which browser, for every client at once."""


@browser_sessions.command("list")
@click.option("--user", "user_id", default="", help="A user id.")
@click.option("--connector", "connector_id", default="", help="A connector id.")
@click.option("--all", "include_revoked", is_flag=True, help="Include ended and expired.")
@pass_target
def browser_sessions_list(target: Target, /, include_revoked: bool, **filters: str) -> None:
    """List the browser sessions still signed in (with --all, ended ones too)."""
    body = target.request("GET", "/browser-sessions", params=_query(include_revoked, **filters))
    target.show(body, body["browser_sessions"], BROWSER_COLUMNS)


@browser_sessions.command("get")
@click.argument("session_id")
@pass_target
def browser_sessions_get(target: Target, /, session_id: str) -> None:
    """Show one browser session: who, which connector and clients, when, from where."""
    body = target.request("GET", f"/browser-sessions/{segment(session_id)}")
    target.show(body, [body], BROWSER_COLUMNS)


@browser_sessions.command("end")
@click.argument("session_id")
@click.option("--reason", default="", help="Why, for the audit log.")
@pass_target
def browser_sessions_end(target: Target, /, session_id: str, reason: str) -> None:
    """Sign the browser out everywhere: every grant, token and forward-auth cookie made
    through the session ends, and clients with back-channel logout are told."""
    params = {"reason": reason} if reason else {}
    target.request("DELETE", f"/browser-sessions/{segment(session_id)}", params=params)
    if target.output == "json":
        target.show({"ended": session_id})
    else:
        click.echo(f"ended browser session {session_id}")


@click.command("revoke")
@click.argument("kind", type=click.Choice(["session", "user", "client", "connector", "token",
                                           "all"]))  # fmt: skip
@click.argument("value", required=False, default="")
@click.option("--reason", default="", help="Why, for the audit log.")
@click.option("--yes", is_flag=True, help="Confirm revoking everything (kind all).")
@pass_target
def revoke(target: Target, /, kind: str, value: str, reason: str, yes: bool) -> None:
    """Revoke a session, a user's, client's or connector's tokens, one token (read from
    stdin when VALUE is -), or everything (with --yes; also rotates the signing keys)."""
    if kind == "all" and not yes:
        fail("revoking everything signs every person out: confirm with --yes")
    if kind != "all" and not value:
        fail(f"revoke {kind} needs a value")
    if kind == "token" and value == "-":
        value = read_secret("token")
    body = {"kind": kind, "value": "" if kind == "all" else value, "reason": reason}
    result = target.request("POST", "/revocations", json=body)
    if target.output == "json":
        target.show(result)
    elif result["revoked"]:
        click.echo(f"revoked {kind}; sessions ended: {result['sessions_revoked']}")
    else:
        click.echo(f"nothing to revoke ({kind} already revoked, expired or unknown)")
