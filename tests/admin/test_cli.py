"""``passgate admin`` against a real ``passgate serve`` (SQLite): the main commands in
table and JSON output, errors on stderr with exit status 1. ``hash-token`` needs no
server and runs in-process."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from e2e.support import PASSGATE, Launcher, PassgateServer
from passgate.admin.auth import hash_token
from passgate.cli.main import cli

from .conftest import ADMIN_TOKEN


def test_hash_token_reads_stdin_or_generates() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["admin", "hash-token"], input="my-token\n")
    assert result.exit_code == 0, result.output
    assert result.output == f"token: my-token\nhash:  {hash_token('my-token')}\n"
    made = runner.invoke(cli, ["admin", "hash-token", "--generate"])
    token = made.output.splitlines()[0].removeprefix("token: ")
    assert token.startswith("pgadm_")
    assert len(token) > 40
    assert made.output.splitlines()[1] == f"hash:  {hash_token(token)}"


def test_commands_need_url_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSGATE_URL", raising=False)
    monkeypatch.delenv("PASSGATE_ADMIN_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["admin", "clients", "list"])
    assert result.exit_code == 1
    assert "--url" in result.output
    result = CliRunner().invoke(cli, ["admin", "--url", "http://x", "revoke", "all"])
    assert result.exit_code == 1
    assert "--yes" in result.output


@pytest.fixture
async def server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> AsyncIterator[PassgateServer]:
    """A real server whose admin token hash comes from the environment (hashFromEnv)."""
    monkeypatch.setenv("ADMIN_HASH", hash_token(ADMIN_TOKEN))  # the child inherits it
    launcher = Launcher(tmp_path)
    try:
        server = launcher.new()
        server.extra = {
            "admin": {"tokens": [{"name": "ops", "hashFromEnv": "ADMIN_HASH"}]},
            "audit": {"retention": "720h", "log": True},
            "logger": {"level": "info", "format": "json"},
        }
        server.write_config()
        await server.start()
        yield server
    finally:
        launcher.close()


def admin(server: PassgateServer, *args: str, stdin: str = "", ok: bool = True) -> str:
    env = {**os.environ, "PASSGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    result = subprocess.run(
        [PASSGATE, "admin", "--url", server.issuer, *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    if ok:
        assert result.returncode == 0, (result.stdout, result.stderr)
        return result.stdout
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    return result.stderr


def as_json(server: PassgateServer, *args: str, stdin: str = "") -> Any:
    return json.loads(admin(server, "-o", "json", *args, stdin=stdin))


@pytest.mark.slow
@pytest.mark.anyio
async def test_admin_commands_against_a_real_server(server: PassgateServer) -> None:
    # clients: the static ones, then one of our own with a generated secret.
    listed = admin(server, "clients", "list")
    assert listed.splitlines()[0].split() == ["ID", "NAME", "PUBLIC", "STATIC", "REDIRECT", "URIS"]
    assert any(line.startswith("web-app") and " yes " in line for line in listed.splitlines())
    created = as_json(server, "clients", "create", "--id", "cli-made", "--name", "Made",
                      "--redirect-uri", "http://127.0.0.1:9/cb")  # fmt: skip
    assert created["id"] == "cli-made"
    assert created["secret"]
    table = admin(server, "clients", "update", "cli-made", "--name", "Renamed")
    assert "Renamed" in table
    assert "secret:" not in table
    assert as_json(server, "clients", "get", "cli-made")["name"] == "Renamed"
    rotated = admin(server, "clients", "rotate-secret", "cli-made")
    [line] = [text for text in rotated.splitlines() if text.startswith("secret: ")]
    assert line.endswith("(shown once: store it now)")
    assert created["secret"] not in rotated
    assert as_json(server, "clients", "get", "cli-made")["secret"] is None
    assert "stored in the clear" in admin(server, "keys", "status")
    logout = as_json(server, "clients", "update", "cli-made", "--sso-shared-with", "web-app",
                     "--backchannel-logout-uri", "https://made.example.com/bcl")  # fmt: skip
    assert logout["sso_shared_with"] == ["web-app"]
    assert logout["backchannel_logout_uri"] == "https://made.example.com/bcl"
    cleared = as_json(server, "clients", "update", "cli-made", "--backchannel-logout-uri", "")
    assert (cleared["backchannel_logout_uri"], cleared["sso_shared_with"]) == ("", ["web-app"])
    assert "409 conflict" in admin(server, "clients", "delete", "web-app", ok=False)
    assert admin(server, "clients", "delete", "cli-made") == "deleted client cli-made\n"
    assert "404 not_found" in admin(server, "clients", "get", "cli-made", ok=False)

    # users: the password comes from stdin, and works at the token endpoint.
    user = as_json(server, "users", "create", "kim@example.com", "--group", "ops",
                   stdin="kims-password\n")  # fmt: skip
    assert (user["email"], user["groups"], user["static"]) == ("kim@example.com", ["ops"], False)
    assert "kim@example.com" in admin(server, "users", "list")
    admin(server, "users", "set-password", "kim@example.com", stdin="new-password\n")
    disabled = as_json(server, "users", "disable", "kim@example.com", "--reason", "left")
    assert disabled["disabled"] is True
    assert admin(server, "users", "list").splitlines()[-1].split()[-1] == "yes"  # DISABLED
    assert as_json(server, "users", "enable", "kim@example.com")["disabled"] is False

    # sessions and revocation: the static user signs in with the password grant.
    async with server.http() as client:
        tokens = await server.password_grant(client)
    sessions = as_json(server, "sessions", "list", "--user", server.user.user_id)["sessions"]
    assert len(sessions) == 1
    table = admin(server, "sessions", "list")
    assert sessions[0]["id"] in table
    assert server.user.email in table
    out = admin(server, "revoke", "session", sessions[0]["id"], "--reason", "lost laptop")
    assert out == "revoked session; sessions ended: 1\n"
    assert admin(server, "revoke", "session", sessions[0]["id"]).startswith("nothing to revoke")
    async with server.http() as client:
        refreshed = await server.token(
            client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 400

    # keys
    before = as_json(server, "keys", "status")
    rotated = as_json(server, "keys", "rotate")
    assert rotated["signing_key"]["kid"] == before["signing_key"]["kid"]  # publish first
    pending = rotated["next_key"]["kid"]
    assert pending != before["signing_key"]["kid"]
    status = admin(server, "keys", "status")
    assert f"{pending}  RS256  next" in status
    assert "signs from" in status
    out = admin(server, "keys", "rotate")
    assert out.rstrip().endswith(
        f"{pending} is published and signs from {rotated['next_key']['signs_at']}"
    )
    emergency = as_json(server, "keys", "rotate", "--now")
    assert emergency["signing_key"]["kid"] not in (before["signing_key"]["kid"], pending)
    assert emergency["next_key"] is None
    status = admin(server, "keys", "status")
    assert "signing" in status

    # the audit log saw all of it
    events = as_json(server, "audit", "--action", "admin.", "--limit", "50")["events"]
    actions = {event["action"] for event in events}
    assert {
        "admin.client.create", "admin.client.update", "admin.client.delete",
        "admin.user.create", "admin.user.password", "admin.revocation.create",
        "admin.keys.rotate",
    } <= actions  # fmt: skip
    assert {event["actor"] for event in events} == {"admin:ops"}
    table = admin(server, "audit", "--action", "admin.keys.rotate")
    assert table.splitlines()[0].split()[:4] == ["SEQ", "TIME", "ACTION", "ACTOR"]
    # structured log: audit events are written there as well (audit.log: true)
    logged = [json.loads(line) for line in server.log_path.read_text().splitlines()[1:]]
    rotations = [e for e in logged if e.get("action") == "admin.keys.rotate"]
    assert [(e["event"], e["actor"]) for e in rotations] == [("audit", "admin:ops")] * 3
    assert ADMIN_TOKEN not in server.log_path.read_text()
    assert "kims-password" not in server.log_path.read_text()

    # a wrong token is refused with the server's message
    assert "401 invalid_token" in admin(server, "--token", "wrong", "keys", "status", ok=False)
