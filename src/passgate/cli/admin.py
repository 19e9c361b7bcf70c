"""``passgate admin``: the admin API from a terminal, as tables for people or JSON (``-o
json``) for scripts. Only click is imported at start-up (``passgate get-token`` runs for
every kubectl command); httpx comes in when a command talks to the server.

Passwords and tokens are never taken as arguments (they would show in ``ps`` and shell
history): they come from stdin or a prompt.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import click

from passgate.cli.admin_sessions import browser_sessions, revoke, sessions
from passgate.cli.admin_target import Target, deleted, fail, pass_target, read_secret, segment
from passgate.cli.tables import Row


@click.group("admin")
@click.option("--url", envvar="PASSGATE_URL", default="", help="The issuer URL ($PASSGATE_URL).")
@click.option("--token", envvar="PASSGATE_ADMIN_TOKEN", default="", show_default=False,
              help="An admin bearer token ($PASSGATE_ADMIN_TOKEN).")  # fmt: skip
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="CA certificates (PEM) to trust for an https issuer.")  # fmt: skip
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
              help="Tables for people, or the API's JSON for scripts.")  # fmt: skip
@click.pass_context
def admin_command(
    ctx: click.Context, url: str, token: str, ca_file: str | None, output: str
) -> None:
    """Manage clients, users, sessions, revocations, keys and read the audit log."""
    ctx.obj = Target(url, token, ca_file, output)


@admin_command.command("hash-token")
@click.option("--generate", is_flag=True, help="Make a new token instead of reading one.")
def hash_token_command(generate: bool) -> None:
    """Print a token and its sha256: hash for admin.tokens[].hash. Reads the token from
    stdin, or makes a new one (with --generate, or when stdin is a terminal)."""
    from passgate.admin.auth import hash_token, new_admin_token

    if generate or sys.stdin.isatty():
        token = new_admin_token()
    else:
        token = sys.stdin.readline().strip()
        if not token:
            fail("no token on stdin")
    click.echo(f"token: {token}")
    click.echo(f"hash:  {hash_token(token)}")


# -- clients -------------------------------------------------------------------------------
CLIENT_COLUMNS = (("ID", "id"), ("NAME", "name"), ("PUBLIC", "public"), ("STATIC", "static"),
                  ("REDIRECT URIS", "redirect_uris"))  # fmt: skip


@admin_command.group("clients")
def clients() -> None:
    """OAuth clients (static ones come from the config file and are read-only)."""


def _client_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--name", default=None, help="The name shown on the approval page."),
        click.option("--public/--confidential", default=None,
                     help="Public: no secret, PKCE (kubectl, apps); confidential: a secret."),
        click.option("--secret-stdin", is_flag=True, help="Read the client secret from stdin."),
        click.option("--logo-url", default=None, help="A logo for the approval page."),
        click.option("--redirect-uri", "redirect_uris", multiple=True,
                     help="Where codes may go, matched exactly (repeatable)."),
        click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True,
                     help="Where /logout may send back to (repeatable)."),
        click.option("--trusted-peer", "trusted_peers", multiple=True,
                     help="A client that may ask for tokens with this one as audience."),
        click.option("--allowed-connector", "allowed_connectors", multiple=True,
                     help="A connector this client may sign in with (default: all)."),
        click.option("--backchannel-logout-uri", default=None,
                     help='Back-Channel Logout 1.0 endpoint ("" removes it).'),
        click.option("--sso-shared-with", "sso_shared_with", multiple=True,
                     help='A client that may reuse sign-ins through this one ("*": all).'),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return function


def _client_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("name", "public", "logo_url", "backchannel_logout_uri"):
        if fields[key] is not None:
            body[key] = fields[key]
    for key in ("redirect_uris", "post_logout_redirect_uris", "trusted_peers",
                "allowed_connectors", "sso_shared_with"):  # fmt: skip
        if fields[key]:
            body[key] = list(fields[key])
    if fields["secret_stdin"]:
        body["secret"] = read_secret("client secret")
    return body


def _show_client(target: Target, body: Row) -> None:
    target.show(body, [body], CLIENT_COLUMNS)
    if target.output == "table" and body.get("secret"):
        click.echo(f"secret: {body['secret']}  (shown once: store it now)")


@clients.command("list")
@pass_target
def clients_list(target: Target) -> None:
    """List every client, the config file's too."""
    body = target.request("GET", "/clients")
    target.show(body, body["clients"], CLIENT_COLUMNS)


@clients.command("get")
@click.argument("client_id")
@pass_target
def clients_get(target: Target, /, client_id: str) -> None:
    """Show one client (never its secret)."""
    _show_client(target, target.request("GET", f"/clients/{segment(client_id)}"))


@clients.command("create")
@click.option("--id", "client_id", default=None, help="Generated when absent.")
@_client_options
@pass_target
def clients_create(target: Target, /, client_id: str | None, **fields: Any) -> None:
    """Create a client; a confidential one without --secret-stdin gets a generated secret."""
    body = _client_body(fields)
    if client_id:
        body["id"] = client_id
    _show_client(target, target.request("POST", "/clients", json=body))


@clients.command("update")
@click.argument("client_id")
@_client_options
@pass_target
def clients_update(target: Target, /, client_id: str, **fields: Any) -> None:
    """Change the given fields (lists given are replaced whole)."""
    body = _client_body(fields)
    path = f"/clients/{segment(client_id)}"
    _show_client(target, target.request("PATCH", path, json=body))


@clients.command("rotate-secret")
@click.argument("client_id")
@pass_target
def clients_rotate_secret(target: Target, /, client_id: str) -> None:
    """Generate a new secret (shown once); the old one stops working at once."""
    _show_client(target, target.request("POST", f"/clients/{segment(client_id)}/secret"))


@clients.command("delete")
@click.argument("client_id")
@pass_target
def clients_delete(target: Target, /, client_id: str) -> None:
    """Delete a client kept in storage (the config file's are read-only)."""
    target.request("DELETE", f"/clients/{segment(client_id)}")
    deleted(target, "client", client_id)


# -- users ---------------------------------------------------------------------------------
USER_COLUMNS = (("EMAIL", "email"), ("USERNAME", "username"), ("USER ID", "user_id"),
                ("GROUPS", "groups"), ("STATIC", "static"),
                ("DISABLED", "disabled"))  # fmt: skip


@admin_command.group("users")
def users() -> None:
    """Users of the password database (static ones come from the config file)."""


@users.command("list")
@pass_target
def users_list(target: Target) -> None:
    """List the password database's users, the config file's too."""
    body = target.request("GET", "/users")
    target.show(body, body["users"], USER_COLUMNS)


@users.command("create")
@click.argument("email")
@click.option("--username", default="", help="The preferred_username claim.")
@click.option("--user-id", default="", help="The stable user id (sub); generated when absent.")
@click.option("--name", default="", help="The name claim.")
@click.option("--group", "groups", multiple=True, help="A group (repeatable).")
@click.option("--hash", "hashed", default=None, help="A bcrypt hash instead of a password.")
@pass_target
def users_create(
    target: Target, /, email: str, username: str, user_id: str, name: str,
    groups: tuple[str, ...], hashed: str | None,
) -> None:  # fmt: skip
    """Create a user; the password is read from stdin (or prompted for)."""
    body: dict[str, Any] = {"email": email, "username": username, "user_id": user_id,
                            "name": name, "groups": list(groups)}  # fmt: skip
    if hashed:
        body["hash"] = hashed
    else:
        body["password"] = read_secret("password")
    created = target.request("POST", "/users", json=body)
    target.show(created, [created], USER_COLUMNS)


@users.command("set-password")
@click.argument("email")
@pass_target
def users_set_password(target: Target, /, email: str) -> None:
    """Set a new password, read from stdin (or prompted for)."""
    body = {"password": read_secret("password")}
    updated = target.request("PUT", f"/users/{segment(email)}/password", json=body)
    target.show(updated, [updated], USER_COLUMNS)


@users.command("disable")
@click.argument("email")
@click.option("--reason", default="", help="Kept in the audit log.")
@pass_target
def users_disable(target: Target, /, email: str, reason: str) -> None:
    """Refuse the user at sign-in and refresh, and end their sessions and tokens now."""
    params = {"reason": reason} if reason else {}
    updated = target.request("POST", f"/users/{segment(email)}/disable", params=params)
    target.show(updated, [updated], USER_COLUMNS)


@users.command("enable")
@click.argument("email")
@pass_target
def users_enable(target: Target, /, email: str) -> None:
    """Let a disabled user sign in again."""
    updated = target.request("POST", f"/users/{segment(email)}/enable")
    target.show(updated, [updated], USER_COLUMNS)


@users.command("delete")
@click.argument("email")
@pass_target
def users_delete(target: Target, /, email: str) -> None:
    """Delete a user kept in storage (the config file's are read-only)."""
    target.request("DELETE", f"/users/{segment(email)}")
    deleted(target, "user", email)


# -- keys, audit ---------------------------------------------------------------------------
@admin_command.group("keys")
def keys() -> None:
    """Signing keys."""


def _show_keys(target: Target, body: Row) -> None:
    signing = body.get("signing_key") or {}
    rows = [{"kid": signing.get("kid"), "algorithm": signing.get("algorithm"),
             "use": "signing", "expiry": f"rotates {body.get('next_rotation')}"}]  # fmt: skip
    pending = body.get("next_key")
    if pending:
        rows.append({"kid": pending.get("kid"), "algorithm": pending.get("algorithm"),
                     "use": "next", "expiry": f"signs from {pending.get('signs_at')}"})  # fmt: skip
    rows += [{**key, "use": "verification"} for key in body.get("verification_keys", [])]
    columns = (("KID", "kid"), ("ALG", "algorithm"), ("USE", "use"), ("EXPIRY", "expiry"))
    target.show(body, rows, columns)
    if target.output == "table":
        sealed = body.get("encryption_key_id")
        click.echo(f"stored encrypted with key {sealed}" if sealed else "stored in the clear")


@keys.command("status")
@pass_target
def keys_status(target: Target) -> None:
    """Show the signing key and the keys that still verify tokens."""
    _show_keys(target, target.request("GET", "/keys"))


@keys.command("rotate")
@click.option(
    "--now",
    "at_once",
    is_flag=True,
    help="For a compromised key: sign with a new key at once and drop the current one "
    "from the JWKS. Verifiers refuse the new tokens until they fetch the JWKS again.",
)
@pass_target
def keys_rotate(target: Target, /, at_once: bool) -> None:
    """Publish a new signing key now. It is in every replica's JWKS at once and signs
    after the propagation delay; the previous key keeps verifying its tokens."""
    body = target.request("POST", "/keys/rotate", params={"now": "true"} if at_once else {})
    _show_keys(target, body)
    if target.output != "table":
        return
    signing = (body.get("signing_key") or {}).get("kid")
    pending = body.get("next_key") or {}
    if at_once:
        click.echo(
            f"{signing} signs now and the previous key is gone from the JWKS: verifiers may "
            "refuse new tokens until they fetch the JWKS again, and other replicas sign "
            "with the old key until they re-read the keys (signer.config.keysReloadInterval)",
            err=True,
        )
    elif pending:
        click.echo(f"{pending.get('kid')} is published and signs from {pending.get('signs_at')}")


AUDIT_COLUMNS = (
    ("SEQ", "seq"), ("TIME", "time"), ("ACTION", "action"), ("ACTOR", "actor"),
    ("OUTCOME", "outcome"), ("SUBJECT", "subject"), ("DETAILS", "details"),
)  # fmt: skip


@admin_command.command("audit")
@click.option("--action", default="", help="An action or a prefix (admin.client).")
@click.option("--actor", default="", help="Who acted (admin:ci, a user id).")
@click.option("--user", "user_id", default="", help="Events about this user id.")
@click.option("--client", "client_id", default="", help="Events about this client.")
@click.option("--session", "session_id", default="", help="Events about this session.")
@click.option("--since", default="", help="RFC 3339 time, e.g. 2026-01-01T00:00:00Z.")
@click.option("--until", default="", help="RFC 3339 time: events before it.")
@click.option("--before-seq", type=int, default=None, help="Page: events older than this.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="At most this many events (1-1000).")  # fmt: skip
@pass_target
def audit(target: Target, /, before_seq: int | None, limit: int, **filters: str) -> None:
    """Read the audit log, newest first."""
    query: dict[str, str | int] = {key: value for key, value in filters.items() if value}
    query["limit"] = limit
    if before_seq is not None:
        query["before_seq"] = before_seq
    body = target.request("GET", "/audit", params=query)
    target.show(body, body["events"], AUDIT_COLUMNS)


admin_command.add_command(sessions)
admin_command.add_command(browser_sessions)
admin_command.add_command(revoke)
