"""Issue 2/5, acceptance 5: a Dex ``connectors:`` section of every redirect type loads
unchanged, and ``passgate check-config`` (the installed console script, as an operator
runs it) names each wrong field with its key path and line, on standard error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from passgate.config import Config, check_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config-upstreams.yaml"
ENVIRON = {
    "OIDC_CLIENT_ID": "passgate", "OIDC_CLIENT_SECRET": "s1",
    "GOOGLE_CLIENT_ID": "1234.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "s2",
    "GITHUB_CLIENT_ID": "Iv1.abc", "GITHUB_CLIENT_SECRET": "s3",
    "GITLAB_APPLICATION_ID": "gl-app", "GITLAB_CLIENT_SECRET": "s4",
    "MICROSOFT_APPLICATION_ID": "ms-app", "MICROSOFT_CLIENT_SECRET": "s5",
}  # fmt: skip


def check(path: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "passgate"
    return subprocess.run(
        [str(script), "check-config", str(path)],
        env={"PATH": os.environ.get("PATH", ""), **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_redirect_connector_type_loads_from_the_example() -> None:
    config, lines = check_config(EXAMPLE, ENVIRON)
    assert isinstance(config, Config), lines
    assert lines == []
    assert [c.type for c in config.connectors] == [
        "oidc",
        "google",
        "github",
        "gitlab",
        "microsoft",
    ]
    result = check(EXAMPLE, ENVIRON)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "configuration is valid" in result.stdout


def test_unset_secrets_are_reported_each_with_its_path() -> None:
    result = check(EXAMPLE, {})
    assert result.returncode == 1
    assert "connectors[0].config.clientID: must not be empty" in result.stderr
    assert "connectors[2].config.clientSecret: must not be empty" in result.stderr


BREAKAGES = [
    ("      userNameKey: name\n", "      userNameKey: name\n      clientSecretFile: /etc/s\n",
     "connectors[0].config.clientSecretFile: unknown key (did you mean 'clientSecret'?)"),
    ("      hostedDomains:\n        - example.com\n", "      hostedDomain: example.com\n",
     "connectors[1].config.hostedDomain: unknown key (did you mean 'hostedDomains'?)"),
    ("          teams:\n            - red-team\n            - blue-team\n",
     "          teams: {red: 1}\n", "connectors[2].config.orgs[1].teams: must be a list"),
    ("teamNameField: slug", "teamNameField: title",
     "connectors[2].config.teamNameField: must be one of name, slug or both"),
    ("baseURL: https://gitlab.com", "baseURL: gitlab.com",
     "connectors[3].config.baseURL: must be an http(s) URL"),
    ("      tenant: organizations\n", "      tenant: organizations\n      groupNameFormat: email\n",
     "connectors[4].config.groupNameFormat: must be name or id"),
]  # fmt: skip


def test_check_config_names_every_wrong_field_at_once(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    for old, new, _message in BREAKAGES:
        assert old in text, old
        text = text.replace(old, new)
    broken = tmp_path / "config.yaml"
    broken.write_text(text)
    result = check(broken, ENVIRON)
    assert result.returncode == 1
    assert f"{len(BREAKAGES)} problems" in result.stderr, result.stderr
    for _old, _new, message in BREAKAGES:
        assert message in result.stderr, result.stderr


@pytest.mark.parametrize("kind", ["github", "gitlab", "microsoft", "google", "oidc"])
def test_a_missing_required_field_is_named(tmp_path: Path, kind: str) -> None:
    text = EXAMPLE.read_text()
    position = ["oidc", "google", "github", "gitlab", "microsoft"].index(kind)
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("  - type: ")]
    block = lines[starts[position] : starts[position + 1] if position + 1 < len(starts) else None]
    dropped = [line for line in block if not line.lstrip().startswith("redirectURI:")]
    end = starts[position] + len(block)
    broken = tmp_path / "config.yaml"
    broken.write_text("".join(lines[: starts[position]] + dropped + lines[end:]))
    result = check(broken, ENVIRON)
    assert result.returncode == 1
    assert f"connectors[{position}].config.redirectURI: missing required key" in result.stderr
