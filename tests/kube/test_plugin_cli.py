"""``passgate get-token`` and ``passgate logout`` through click: stdout carries only the
ExecCredential, messages go to stderr, failures exit 1, and a cache hit stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from passgate.cli.main import cli
from passgate.cli.plugin import Duration, _listen_address
from passgate.kube.cache import CachedTokens, TokenCache
from passgate.kube.execcred import ENV, V1, V1BETA1
from passgate.kube.settings import PluginSettings

ISSUER = "https://sso.example.com/dex"
BASE = ["--issuer-url", ISSUER, "--client-id", "kubectl"]


def exec_info(api_version: str, interactive: bool = False) -> str:
    spec = {"interactive": interactive}
    return json.dumps({"kind": "ExecCredential", "apiVersion": api_version, "spec": spec})


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def seed(cache_dir: Path, expires_in: int = 3600, scopes: tuple[str, ...] = ()) -> CachedTokens:
    settings = PluginSettings(ISSUER, "kubectl", extra_scopes=scopes, cache_dir=cache_dir)
    tokens = CachedTokens("cached.id.token", int(time.time()) + expires_in, "rt")
    TokenCache(cache_dir, print).save(settings.cache_key(), tokens)
    return tokens


def get_token(cache_dir: Path, *args: str, env: dict[str, str | None] | None = None) -> object:
    runner = CliRunner()
    argv = ["get-token", *BASE, f"--cache-dir={cache_dir}", *args]
    return runner.invoke(cli, argv, env={ENV: exec_info(V1), **(env or {})})


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_cache_hit_prints_only_the_credential(cache_dir: Path, api_version: str) -> None:
    tokens = seed(cache_dir)
    result = get_token(cache_dir, env={ENV: exec_info(api_version)})
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    credential = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert credential["apiVersion"] == api_version
    assert credential["kind"] == "ExecCredential"
    assert credential["status"]["token"] == tokens.id_token
    assert credential["status"]["expirationTimestamp"].endswith("Z")
    assert result.stderr == ""  # type: ignore[attr-defined]


def test_extra_scopes_are_another_cache_entry(cache_dir: Path) -> None:
    seed(cache_dir, scopes=("audience:server:client_id:web",))
    result = get_token(cache_dir, "--scope", "audience:server:client_id:web")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert get_token(cache_dir).exit_code == 1  # type: ignore[attr-defined]


def test_non_interactive_without_tokens_fails_with_the_command(cache_dir: Path) -> None:
    result = get_token(cache_dir, "--certificate-authority-data", "Zm9v")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert stderr.startswith("passgate: sign-in required")
    assert f"passgate get-token --issuer-url={ISSUER} --client-id=kubectl" in stderr
    assert "--certificate-authority-data=Zm9v" in stderr


def test_bad_exec_info_fails(cache_dir: Path) -> None:
    result = get_token(cache_dir, env={ENV: "{"})
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "KUBERNETES_EXEC_INFO is not JSON" in result.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get-token", "--client-id", "kubectl"], "--issuer-url is required"),
        (["get-token", "--issuer-url", ISSUER], "--client-id is required"),
        (["logout", "--issuer-url", ISSUER], "--client-id is required"),
        (
            [
                "get-token",
                *BASE,
                "--certificate-authority=/ca.pem",
                "--certificate-authority-data=Zm9v",
            ],
            "not both",
        ),
        (["get-token", *BASE, "--refresh-margin", "soon"], "not a duration"),
        (["get-token", *BASE, "--listen-address", "[::1"], "HOST or HOST:PORT"),
        (["get-token", *BASE, "--grant-type", "password"], "password"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("1.5h", 5400), ("45", 45), ("0", 0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert Duration().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["-30s", "soon", "1x", "s", ""])
def test_durations_refused(text: str) -> None:
    with pytest.raises(click.BadParameter, match="not a duration"):
        Duration().convert(text, None, None)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1", ("127.0.0.1", 0)),
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("[::1]:8000", ("::1", 8000)),
        ("[::1]", ("::1", 0)),
    ],
)
def test_listen_address(text: str, address: tuple[str, int]) -> None:
    assert _listen_address(text) == address


def test_logout_removes_the_entry(cache_dir: Path) -> None:
    seed(cache_dir)
    seed(cache_dir, scopes=("extra",))
    # The revocation needs the network: an unreachable issuer is only a warning.
    args = ["logout", "--issuer-url", "https://127.0.0.1:9/dex", "--client-id", "kubectl"]
    result = CliRunner().invoke(cli, [*args, f"--cache-dir={cache_dir}"])
    assert result.exit_code == 0, result.stderr
    assert "Removed 0 cached tokens" in result.stderr
    result = CliRunner().invoke(cli, ["logout", *BASE, f"--cache-dir={cache_dir}", "--all"])
    assert result.exit_code == 0, result.stderr
    assert "Removed 2 cached tokens" in result.stderr
    assert "warning: could not revoke" in result.stderr
    assert list(cache_dir.glob("*.json")) == []


LIGHT = """
import sys
from passgate.cli.main import main
sys.argv = ["passgate", "get-token", "--issuer-url", sys.argv[1], "--client-id", "kubectl",
            "--cache-dir", sys.argv[2]]
try:
    main()
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
heavy = sorted(name for name in ("httpx", "joserfc", "asyncio", "pydantic", "passgate.config")
               if name in sys.modules)
print(heavy, file=sys.stderr)
"""


def test_cache_hit_imports_no_network_code(cache_dir: Path) -> None:
    seed(cache_dir)
    env = {**os.environ, ENV: exec_info(V1)}
    result = subprocess.run(
        [sys.executable, "-c", LIGHT, ISSUER, str(cache_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"]["token"] == "cached.id.token"
    assert result.stderr.strip() == "[]"
