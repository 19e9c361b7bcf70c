"""``passgate admin``: the admin API from a terminal, as tables for people or JSON (``-o
json``) for scripts. Only click is imported at start-up (``passgate get-token`` runs for
every kubectl command); httpx comes in when a command talks to the server.

Passwords and tokens are never taken as arguments (they would show in ``ps`` and shell
history): they come from stdin or a prompt.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from passgate.cli.tables import Columns, Row, table

API_PATH = "/admin/v1"


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    ca_file: str | None
    output: str

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API; the JSON answer (None for 204), or exit 1 with the error."""
        import httpx

        if not self.url:
            fail("--url (or $PASSGATE_URL) is required: the issuer URL")
        if not self.token:
            fail("--token (or $PASSGATE_ADMIN_TOKEN) is required")
        url = self.url.rstrip("/") + API_PATH + path
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        try:
            with httpx.Client(verify=self.ca_file or True, timeout=30.0) as client:
                response = client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.url}: {exc}")
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {"error": f"HTTP {response.status_code}", "error_description": response.text}
        if response.status_code >= 400:
            error = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            fail(f"{response.status_code} {error}: {description}".rstrip(": "))
        return body

    def show(self, body: Any, rows: Sequence[Row] | None = None, columns: Columns = ()) -> None:
        if self.output == "json":
            click.echo(json.dumps(body, indent=2))
        elif rows is not None:
            click.echo(table(rows, columns))


def fail(message: str) -> NoReturn:
    click.echo(f"passgate admin: {message}", err=True)
    sys.exit(1)


pass_target = click.make_pass_decorator(Target)


@click.group("admin")
@click.option("--url", envvar="PASSGATE_URL", default="", help="The issuer URL ($PASSGATE_URL).")
@click.option("--token", envvar="PASSGATE_ADMIN_TOKEN", default="", show_default=False,
              help="An admin bearer token ($PASSGATE_ADMIN_TOKEN).")  # fmt: skip
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="CA certificates (PEM) to trust for an https issuer.")  # fmt: skip
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
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
        click.option("--name", default=None),
        click.option("--public/--confidential", default=None),
        click.option("--secret-stdin", is_flag=True, help="Read the client secret from stdin."),
        click.option("--logo-url", default=None),
        click.option("--redirect-uri", "redirect_uris", multiple=True),
        click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True),
        click.option("--trusted-peer", "trusted_peers", multiple=True),
        click.option("--allowed-connector", "allowed_connectors", multiple=True),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _client_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("name", "public", "logo_url"):
        if fields[key] is not None:
            body[key] = fields[key]
    for key in ("redirect_uris", "post_logout_redirect_uris", "trusted_peers",
                "allowed_connectors"):  # fmt: skip
        if fields[key]:
            body[key] = list(fields[key])
    if fields["secret_stdin"]:
        body["secret"] = _read_secret("client secret")
    return body


def _show_client(target: Target, body: Row) -> None:
    target.show(body, [body], CLIENT_COLUMNS)
    if target.output == "table" and body.get("secret"):
        click.echo(f"secret: {body['secret']}  (shown once: store it now)")


@clients.command("list")
@pass_target
def clients_list(target: Target) -> None:
    body = target.request("GET", "/clients")
    target.show(body, body["clients"], CLIENT_COLUMNS)


@clients.command("get")
@click.argument("client_id")
@pass_target
def clients_get(target: Target, /, client_id: str) -> None:
    _show_client(target, target.request("GET", f"/clients/{_segment(client_id)}"))


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
    path = f"/clients/{_segment(client_id)}"
    _show_client(target, target.request("PATCH", path, json=body))


@clients.command("delete")
@click.argument("client_id")
@pass_target
def clients_delete(target: Target, /, client_id: str) -> None:
    target.request("DELETE", f"/clients/{_segment(client_id)}")
    _deleted(target, "client", client_id)


# -- users ---------------------------------------------------------------------------------
USER_COLUMNS = (("EMAIL", "email"), ("USERNAME", "username"), ("USER ID", "user_id"),
                ("GROUPS", "groups"), ("STATIC", "static"))  # fmt: skip


@admin_command.group("users")
def users() -> None:
    """Users of the password database (static ones come from the config file)."""


def _read_secret(what: str) -> str:
    if sys.stdin.isatty():
        value: str = click.prompt(what.capitalize(), hide_input=True, confirmation_prompt=True)
        return value
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(f"no {what} on stdin")
    return value


@users.command("list")
@pass_target
def users_list(target: Target) -> None:
    body = target.request("GET", "/users")
    target.show(body, body["users"], USER_COLUMNS)


@users.command("create")
@click.argument("email")
@click.option("--username", default="")
@click.option("--user-id", default="")
@click.option("--name", default="")
@click.option("--group", "groups", multiple=True)
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
        body["password"] = _read_secret("password")
    created = target.request("POST", "/users", json=body)
    target.show(created, [created], USER_COLUMNS)


@users.command("set-password")
@click.argument("email")
@pass_target
def users_set_password(target: Target, /, email: str) -> None:
    """Set a new password, read from stdin (or prompted for)."""
    body = {"password": _read_secret("password")}
    updated = target.request("PUT", f"/users/{_segment(email)}/password", json=body)
    target.show(updated, [updated], USER_COLUMNS)


@users.command("delete")
@click.argument("email")
@pass_target
def users_delete(target: Target, /, email: str) -> None:
    target.request("DELETE", f"/users/{_segment(email)}")
    _deleted(target, "user", email)


# -- sessions, revocation, keys, audit -----------------------------------------------------
SESSION_COLUMNS = (("ID", "id"), ("USER", "email"), ("CLIENT", "client_id"),
                   ("CONNECTOR", "connector_id"), ("LAST USED", "last_used"),
                   ("REVOKED BY", "revoked_by"))  # fmt: skip


@admin_command.group("sessions")
def sessions() -> None:
    """Who is signed in where."""


@sessions.command("list")
@click.option("--user", "user_id", default="", help="A user id.")
@click.option("--client", "client_id", default="")
@click.option("--connector", "connector_id", default="")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked and expired.")
@pass_target
def sessions_list(
    target: Target, /, user_id: str, client_id: str, connector_id: str, include_revoked: bool
) -> None:
    params = {"user_id": user_id, "client_id": client_id, "connector_id": connector_id}
    query = {key: value for key, value in params.items() if value}
    if include_revoked:
        query["include_revoked"] = "true"
    body = target.request("GET", "/sessions", params=query)
    target.show(body, body["sessions"], SESSION_COLUMNS)


@admin_command.command("revoke")
@click.argument("kind", type=click.Choice(["session", "user", "client", "connector", "token",
                                           "all"]))  # fmt: skip
@click.argument("value", required=False, default="")
@click.option("--reason", default="")
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
        value = _read_secret("token")
    body = {"kind": kind, "value": "" if kind == "all" else value, "reason": reason}
    result = target.request("POST", "/revocations", json=body)
    if target.output == "json":
        target.show(result)
    elif result["revoked"]:
        click.echo(f"revoked {kind}; sessions ended: {result['sessions_revoked']}")
    else:
        click.echo(f"nothing to revoke ({kind} already revoked, expired or unknown)")


@admin_command.group("keys")
def keys() -> None:
    """Signing keys."""


def _show_keys(target: Target, body: Row) -> None:
    signing = body.get("signing_key") or {}
    rows = [{"kid": signing.get("kid"), "algorithm": signing.get("algorithm"),
             "use": "signing", "expiry": f"rotates {body.get('next_rotation')}"}]  # fmt: skip
    rows += [{**key, "use": "verification"} for key in body.get("verification_keys", [])]
    columns = (("KID", "kid"), ("ALG", "algorithm"), ("USE", "use"), ("EXPIRY", "expiry"))
    target.show(body, rows, columns)


@keys.command("status")
@pass_target
def keys_status(target: Target) -> None:
    _show_keys(target, target.request("GET", "/keys"))


@keys.command("rotate")
@pass_target
def keys_rotate(target: Target) -> None:
    """Sign with a new key now; the previous one keeps verifying its tokens."""
    _show_keys(target, target.request("POST", "/keys/rotate"))


AUDIT_COLUMNS = (
    ("SEQ", "seq"), ("TIME", "time"), ("ACTION", "action"), ("ACTOR", "actor"),
    ("OUTCOME", "outcome"), ("SUBJECT", "subject"), ("DETAILS", "details"),
)  # fmt: skip


@admin_command.command("audit")
@click.option("--action", default="", help="An action or a prefix (admin.client).")
@click.option("--actor", default="")
@click.option("--user", "user_id", default="")
@click.option("--client", "client_id", default="")
@click.option("--session", "session_id", default="")
@click.option("--since", default="", help="RFC 3339 time, e.g. 2026-01-01T00:00:00Z.")
@click.option("--until", default="")
@click.option("--before-seq", type=int, default=None, help="Page: events older than this.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100)
@pass_target
def audit(target: Target, /, before_seq: int | None, limit: int, **filters: str) -> None:
    """Read the audit log, newest first."""
    query: dict[str, str | int] = {key: value for key, value in filters.items() if value}
    query["limit"] = limit
    if before_seq is not None:
        query["before_seq"] = before_seq
    body = target.request("GET", "/audit", params=query)
    target.show(body, body["events"], AUDIT_COLUMNS)


def _deleted(target: Target, what: str, name: str) -> None:
    if target.output == "json":
        target.show({"deleted": what, "id": name})
    else:
        click.echo(f"deleted {what} {name}")


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="@")
