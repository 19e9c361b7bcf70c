"""``sessions``: Dex's names and defaults for browser single sign-on, every error at once."""

from __future__ import annotations

from datetime import timedelta

from config.helpers import document, load, problems
from passgate.config.sessions import SessionsConfig


def test_defaults_turn_single_sign_on_on() -> None:
    sessions = load(document(enablePasswordDB=True)).sessions
    assert sessions == SessionsConfig()
    assert sessions.cookie_name == "passgate_session"
    assert sessions.absolute_lifetime == timedelta(hours=24)
    assert sessions.valid_if_not_used_for == timedelta(hours=8)
    assert sessions.remember_me_checked_by_default is False
    assert sessions.sso_shared_with_default == "all"


def test_every_dex_key() -> None:
    config = load(
        document(
            enablePasswordDB=True,
            sessions={
                "cookieName": "dex_session",
                "absoluteLifetime": "168h",
                "validIfNotUsedFor": "1h",
                "rememberMeCheckedByDefault": True,
                "ssoSharedWithDefault": "none",
                "cookieEncryptionKey": "c2VjcmV0LWtleS1ieXRlcw==",
            },
        )
    )
    sessions = config.sessions
    assert sessions.absolute_lifetime == timedelta(days=7)
    assert sessions.valid_if_not_used_for == timedelta(hours=1)
    assert sessions.remember_me_checked_by_default is True
    assert sessions.sso_shared_with_default == "none"
    assert config.warnings == [
        "sessions.cookieEncryptionKey: is not needed: "
        "Passgate's session cookie holds only a random reference"
    ]


def test_cookie_name_is_host_prefixed_on_https() -> None:
    sessions = SessionsConfig.model_validate({"cookieName": "dex_session"})
    assert sessions.cookie_name_for(https=True) == "__Host-dex_session"
    assert sessions.cookie_name_for(https=False) == "dex_session"
    for name in ("__Host-sso", "__Secure-sso"):
        prefixed = SessionsConfig.model_validate({"cookieName": name})
        assert prefixed.cookie_name_for(https=True) == "__Host-sso"
        # Browsers refuse a prefixed cookie that is not Secure: on http the prefix goes.
        assert prefixed.cookie_name_for(https=False) == "sso"


def test_every_problem_is_reported_at_once() -> None:
    doc = document(
        enablePasswordDB=True,
        sessions={
            "cookieName": "bad name;",
            "absoluteLifetime": "-1h",
            "validIfNotUsedFor": "soon",
            "ssoSharedWithDefault": "some",
            "rememberMeCheckedByDefault": "perhaps",
            "cookieDomain": ".example.com",
        },
    )
    found = problems(doc)
    assert set(found) == {
        "sessions.cookieName",
        "sessions.absoluteLifetime",
        "sessions.validIfNotUsedFor",
        "sessions.ssoSharedWithDefault",
        "sessions.rememberMeCheckedByDefault",
        "sessions.cookieDomain",
    }
    assert "RFC 6265" in found["sessions.cookieName"]


def test_idle_timeout_longer_than_the_lifetime_is_a_warning() -> None:
    config = load(
        document(
            enablePasswordDB=True,
            sessions={"absoluteLifetime": "1h", "validIfNotUsedFor": "2h"},
        )
    )
    assert config.warnings == [
        "sessions.validIfNotUsedFor: is longer than absoluteLifetime; "
        "sessions end at absoluteLifetime"
    ]
    # Only when set: a short absoluteLifetime alone is no mistake (the idle default goes).
    short = load(document(enablePasswordDB=True, sessions={"absoluteLifetime": "4h"}))
    assert short.warnings == []
