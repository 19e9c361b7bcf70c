"""The shipped example configs load, and the demo says what the docs promise."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import bcrypt
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from passgate.cli.forward_auth import forward_auth_policy
from passgate.config import Config, check_config, load_config, parse_config
from passgate.config.forward_auth import ForwardAuthConfig, ForwardAuthHost
from passgate.config.sessions import SessionsConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: The environment variables config-forward-auth.yaml reads (secrets stay out of the file).
FORWARD_AUTH_ENV = {
    "OIDC_CLIENT_ID": "passgate",
    "OIDC_CLIENT_SECRET": "upstream-secret",
    "POSTGRES_PASSWORD": "db-password",
    "GRAFANA_CLIENT_SECRET": "grafana-secret",
    "PORTAL_CLIENT_SECRET": "portal-secret",
    "PASSGATE_ENCRYPTION_KEY": "an-example-encryption-key-of-44-characters-ok",
}
ENVIRONMENTS = {"config-forward-auth.yaml": FORWARD_AUTH_ENV}


@pytest.mark.parametrize("name", ["config-dex.yaml", "config-forward-auth.yaml"])
def test_examples_load_cleanly(name: str) -> None:
    config, lines = check_config(EXAMPLES / name, ENVIRONMENTS.get(name, {}))
    assert isinstance(config, Config)
    assert lines == []


def test_demo_loads_with_only_the_http_issuer_warning() -> None:
    """The demo's loopback http issuer with its demo cluster: a warning, never an error."""
    config, lines = check_config(EXAMPLES / "config-demo.yaml", {})
    assert isinstance(config, Config)
    assert lines == [
        "warning: issuer: kube-apiserver accepts only an https issuer; kubernetes.clusters need one"
    ]


def test_demo_config() -> None:
    config = load_config(EXAMPLES / "config-demo.yaml", {})
    assert config.issuer == "http://127.0.0.1:5556/dex"
    assert (config.storage.type, config.storage.options()) == (
        "sqlite3",
        {"file": "var/passgate.db"},
    )
    assert (config.web.http, config.telemetry.http) == ("127.0.0.1:5556", "127.0.0.1:5558")
    assert config.enable_password_db is True
    assert config.oauth2.skip_approval_screen is False

    [admin] = config.static_passwords
    assert (admin.email, admin.username, admin.groups) == (
        "admin@example.com", "admin", ["admins", "developers"],
    )  # fmt: skip
    assert admin.hash.startswith("$2b$10$")
    assert bcrypt.checkpw(b"password", admin.hash_bytes())

    app, kubectl = config.static_clients
    assert (app.id, app.secret, app.public) == ("example-app", "ZXhhbXBsZS1hcHAtc2VjcmV0", False)
    assert app.redirect_uris == ["http://127.0.0.1:5555/callback"]
    assert (kubectl.id, kubectl.secret, kubectl.public) == ("kubectl", "", True)
    assert kubectl.redirect_uris == ["http://localhost:8000", "http://localhost:18000"]
    assert config.connectors == []  # enablePasswordDB provides the "local" connector

    # One cluster, to try the kubeconfig page and `passgate kubeconfig`: marked as a demo.
    [demo] = config.kubernetes.clusters
    assert (demo.name, demo.server, demo.client_id) == ("demo", "https://127.0.0.1:6443", "kubectl")
    assert config.kubernetes.publish_clusters is True
    assert "NOT A REAL CLUSTER" in (EXAMPLES / "config-demo.yaml").read_text()


def test_dex_example_uses_dex_features() -> None:
    config = load_config(EXAMPLES / "config-dex.yaml", {})
    assert [c.type for c in config.connectors] == ["mockCallback", "mockPassword"]
    assert config.oauth2.password_connector == "local"
    assert "password" in config.oauth2.grant_types
    assert config.static_clients[1].redirect_uris == ["/device/callback"]


def _aliases(model: type[SessionsConfig | ForwardAuthConfig | ForwardAuthHost]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_forward_auth_example_needs_its_environment() -> None:
    config, lines = check_config(EXAMPLES / "config-forward-auth.yaml", {})
    assert config is None
    # An unset $OIDC_CLIENT_SECRET or $POSTGRES_PASSWORD expands to "" (as in Dex), which
    # both allow; the ids and the clients' secrets are required.
    required = ("OIDC_CLIENT_ID", "GRAFANA_CLIENT_SECRET", "PORTAL_CLIENT_SECRET")
    for variable in (*required, "PASSGATE_ENCRYPTION_KEY"):
        assert any(variable in line for line in lines), variable


def test_forward_auth_example_says_what_it_promises() -> None:
    path = EXAMPLES / "config-forward-auth.yaml"
    raw = yaml.safe_load(path.read_text())
    config = load_config(path, FORWARD_AUTH_ENV)
    assert config.issuer == "https://sso.example.com/dex"
    assert config.storage.type == "postgres"
    assert config.storage.options()["password"] == "db-password"
    [corp] = config.connectors
    assert (corp.type, corp.config["clientSecret"]) == ("oidc", "upstream-secret")

    # Two clients sharing the browser's sign-in; one told of logouts.
    grafana, portal = config.static_clients
    assert (grafana.id, grafana.secret, grafana.sso_shared_with) == (
        "grafana",
        "grafana-secret",
        ["*"],
    )
    assert portal.sso_shared_with is None  # sessions.ssoSharedWithDefault: all
    assert portal.post_logout_redirect_uris == ["https://portal.example.com/signed-out"]
    assert portal.backchannel_logout_uri == "https://portal.example.com/oidc/backchannel-logout"

    # sessions: every Dex key but cookieEncryptionKey (commented out), each at its default.
    assert set(raw["sessions"]) == _aliases(SessionsConfig) - {"cookieEncryptionKey"}
    assert config.sessions == SessionsConfig()
    assert config.sessions.cookie_name_for(https=True) == "__Host-passgate_session"

    # forwardAuth: every key, with the names of the issue and Passgate's extra ones.
    assert set(raw["forwardAuth"]) == _aliases(ForwardAuthConfig)
    host_keys = set().union(*(set(rule) for rule in raw["forwardAuth"]["hosts"]))
    assert host_keys == _aliases(ForwardAuthHost)
    policy = forward_auth_policy(config)
    assert (policy.cookie_name, policy.cookie_domain, policy.cookie_secure) == (
        "_passgate_fa", ".apps.example.com", True,
    )  # fmt: skip
    assert (policy.lifetime, policy.refresh_interval) == (
        timedelta(hours=12),
        timedelta(minutes=15),
    )
    assert policy.user_claim == "email"
    assert (policy.pass_authorization, policy.pass_access_token) == (False, False)

    prometheus = policy.rule_for("prometheus.apps.example.com")
    assert prometheus.requirements.allows("jane@example.com", ["sre"])
    assert not prometheus.requirements.allows("jane@example.com", ["developers"])
    assert prometheus.skips(["/-/healthy"])
    assert not prometheus.skips(["/graph"])
    wiki = policy.rule_for("wiki.apps.example.com")
    assert wiki.requirements.allows("joe@example.com", [])
    assert not wiki.requirements.allows("joe@contractor.example.org", [])
    assert wiki.skips(["/static/app.css"])
    payroll = policy.rule_for("payroll.apps.example.com")
    assert payroll.requirements.allows("cfo@example.com", [])
    assert not payroll.requirements.allows("jane@example.com", ["platform-admins"])
    assert (payroll.pass_authorization, payroll.pass_access_token) == (True, True)
    # A site without a rule lets in everyone who signed in.
    assert policy.rule_for("grafana.apps.example.com").requirements.allows("x@y.z", [])

    # Where a person may be sent back to after signing in: the sites, never elsewhere.
    assert policy.safe_redirect("https://wiki.apps.example.com/page?x=1")
    assert policy.safe_redirect("/dashboard")
    for target in (
        "https://evil.example.com/",
        "//evil.example.com/",
        "http://wiki.apps.example.com/",
    ):
        assert policy.safe_redirect(target) is None, target
    assert policy.is_callback("https://wiki.apps.example.com/oauth2/callback")


def _recase(draw: st.DrawFn, value: object) -> object:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.isascii() and key.replace("-", "").isalpha():
                flips = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
                key = "".join(c.swapcase() if f else c for c, f in zip(key, flips, strict=True))
            out[key] = _recase(draw, item)
        return out
    if isinstance(value, list):
        return [_recase(draw, item) for item in value]
    return value


@st.composite
def recased(draw: st.DrawFn, document: dict[str, object]) -> object:
    return _recase(draw, document)


_DEX = yaml.safe_load((EXAMPLES / "config-dex.yaml").read_text())


@settings(max_examples=25, deadline=None)
@given(recased(_DEX))
def test_key_case_never_matters(document: object) -> None:
    expected = parse_config(yaml.safe_dump(_DEX), {})
    actual = parse_config(yaml.safe_dump(document), {})
    assert actual.model_dump() == expected.model_dump()
