"""``staticClients[]`` and ``staticPasswords[]``."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import bcrypt
import pytest

from .helpers import BCRYPT_PASSWORD, document, load, problems, user


def clients(*items: dict[str, Any]) -> dict[str, Any]:
    return document(staticClients=list(items))


def passwords(*items: dict[str, Any]) -> dict[str, Any]:
    return document(enablePasswordDB=True, staticPasswords=list(items))


def test_a_full_client() -> None:
    config = load(
        clients(
            {
                "id": "app",
                "secret": "s3cret",
                "name": "App",
                "logoURL": "https://app/logo.png",
                "redirectURIs": ["https://app/cb", "com.example.app:/oauth2redirect"],
                "postLogoutRedirectURIs": ["https://app/"],
                "trustedPeers": ["other"],
                "allowedConnectors": [],
                "clientCredentialsClaims": {"groups": ["robots"]},
            }
        )
    )
    [client] = config.static_clients
    assert (client.id, client.secret, client.name, client.public) == ("app", "s3cret", "App", False)
    assert client.logo_url == "https://app/logo.png"
    assert client.redirect_uris == ["https://app/cb", "com.example.app:/oauth2redirect"]
    assert client.post_logout_redirect_uris == ["https://app/"]
    assert client.trusted_peers == ["other"]
    assert client.client_credentials_claims == {"groups": ["robots"]}
    assert client.refresh_token_lifetime is None
    assert "s3cret" not in repr(client)


def test_public_clients_need_no_secret() -> None:
    [client] = load(clients({"id": "kubectl", "public": True})).static_clients
    assert (client.public, client.secret) == (True, "")


def test_confidential_clients_need_a_secret_and_every_client_an_id() -> None:
    assert problems(clients({"name": "nameless"})) == {
        "staticClients[0].id": "a client needs an id (or idEnv)",
        "staticClients[0].secret": (
            "a confidential client needs a secret (or secretEnv, or public: true)"
        ),
    }


def test_id_and_secret_from_the_environment() -> None:
    doc = clients({"idEnv": "CLIENT_ID", "secretEnv": "CLIENT_SECRET"})
    [client] = load(doc, {"CLIENT_ID": "app", "CLIENT_SECRET": "pw"}).static_clients
    assert (client.id, client.secret, client.id_env, client.secret_env) == (
        "app", "pw", "CLIENT_ID", "CLIENT_SECRET",
    )  # fmt: skip


def test_environment_variables_must_be_set() -> None:
    doc = clients({"idEnv": "CLIENT_ID", "secretEnv": "CLIENT_SECRET"})
    assert problems(doc, {"CLIENT_ID": ""}) == {
        "staticClients[0].idEnv": "environment variable 'CLIENT_ID' is not set or empty",
        "staticClients[0].secretEnv": "environment variable 'CLIENT_SECRET' is not set or empty",
    }


def test_value_and_env_are_exclusive() -> None:
    doc = clients({"id": "a", "idEnv": "X", "secret": "s", "secretEnv": "Y"})
    assert problems(doc, {"X": "x", "Y": "y"}) == {
        "staticClients[0].idEnv": "set either id or idEnv, not both",
        "staticClients[0].secretEnv": "set either secret or secretEnv, not both",
    }


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback",
        "http://127.0.0.1:5555/callback",
        "http://localhost:8000",
        "http://[::1]:8000/cb",
        "com.example.app:/oauth2redirect",
        "urn:ietf:wg:oauth:2.0:oob",
        "/device/callback",
    ],
)
def test_good_redirect_uris(uri: str) -> None:
    assert load(clients({"id": "a", "public": True, "redirectURIs": [uri]}))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("callback", "must be an absolute URL"),
        ("/callback", "must be an absolute URL"),
        ("https://", "must be an absolute URL"),
        ("http:///cb", "must be an absolute URL"),
        ("https://app/cb#frag", "must not contain a fragment ('#...')"),
        ("https://app/c b", "must be an absolute URL (without spaces)"),
        ("localhost:8000", "must be an absolute URL (did you mean 'http://localhost:8000'?)"),
        ("https://app:port/cb", "must be an absolute URL"),
        ("", "must be an absolute URL (without spaces)"),
    ],
)
def test_bad_redirect_uris(uri: str, message: str) -> None:
    doc = clients({"id": "a", "secret": "s", "redirectURIs": ["https://ok/cb", uri]})
    assert problems(doc) == {"staticClients[0].redirectURIs[1]": message}


def test_post_logout_uris_are_checked_too() -> None:
    doc = clients({"id": "a", "secret": "s", "postLogoutRedirectURIs": ["nope"]})
    assert problems(doc) == {
        "staticClients[0].postLogoutRedirectURIs[0]": "must be an absolute URL"
    }


def test_duplicate_client_ids() -> None:
    doc = clients(
        {"id": "a", "secret": "s"}, {"id": "b", "secret": "s"}, {"idEnv": "B", "public": True}
    )
    assert problems(doc, {"B": "b"}) == {
        "staticClients[2].idEnv": "duplicate client id 'b' (also staticClients[1])"
    }


def test_not_yet_supported_client_fields_warn() -> None:
    doc = clients(
        {
            "id": "a",
            "secret": "s",
            "refreshTokenLifetime": "720h",
            "mfaChain": ["totp"],
        }
    )
    config = load(doc | {"enablePasswordDB": True})
    assert config.static_clients[0].refresh_token_lifetime == timedelta(hours=720)
    assert config.warnings == [
        "staticClients[0].refreshTokenLifetime: is recognised but not supported yet; "
        "expiry.refreshTokens applies",
        "staticClients[0].mfaChain: is recognised but not implemented yet (no MFA)",
    ]


def test_sso_shared_with_and_backchannel_logout() -> None:
    doc = clients(
        {
            "id": "a",
            "secret": "s",
            "ssoSharedWith": ["b", "*", "typo", "passgate-forward-auth"],
            "backchannelLogoutURI": "https://a.example.com/logout/backchannel",
        },
        {"id": "b", "secret": "s", "ssoSharedWith": []},
        {"id": "c", "secret": "s"},
    )
    config = load(doc | {"enablePasswordDB": True})
    a, b, c = config.static_clients
    assert a.sso_shared_with == ["b", "*", "typo", "passgate-forward-auth"]
    assert a.backchannel_logout_uri == "https://a.example.com/logout/backchannel"
    # [] (share with nobody) and absent (the default applies) stay different.
    assert (b.sso_shared_with, c.sso_shared_with) == ([], None)
    assert c.backchannel_logout_uri is None
    assert config.warnings == ["staticClients[0].ssoSharedWith[2]: 'typo' is not a static client"]


def test_backchannel_logout_uri_must_be_http() -> None:
    doc = clients(
        {"id": "a", "secret": "s", "backchannelLogoutURI": "javascript:alert(1)"},
        {"id": "b", "secret": "s", "backchannelLogoutURI": "/relative"},
    )
    assert problems(doc) == {
        "staticClients[0].backchannelLogoutURI": "must be an http(s) URL",
        "staticClients[1].backchannelLogoutURI": "must be an http(s) URL",
    }


def test_a_full_user() -> None:
    doc = passwords(
        user(
            "Admin@Example.com",
            username="admin",
            name="Ada Admin",
            preferredUsername="ada",
            emailVerified=False,
            groups=["admins", "developers"],
        )
    )
    [entry] = load(doc).static_passwords
    assert entry.email == "Admin@Example.com"
    assert entry.user_id == "Admin@Example.com"
    assert (entry.username, entry.name, entry.preferred_username) == ("admin", "Ada Admin", "ada")
    assert entry.email_verified is False
    assert entry.groups == ["admins", "developers"]
    assert entry.hash == BCRYPT_PASSWORD
    assert bcrypt.checkpw(b"password", entry.hash_bytes())
    assert BCRYPT_PASSWORD not in repr(entry)


def test_user_defaults() -> None:
    [entry] = load(passwords(user())).static_passwords
    assert (entry.username, entry.name, entry.preferred_username) == ("", "", "")
    assert entry.email_verified is True
    assert entry.groups == []


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_variants(prefix: str) -> None:
    hashed = prefix + BCRYPT_PASSWORD[4:]
    [entry] = load(passwords(user(hash=hashed))).static_passwords
    assert entry.hash_bytes() == hashed.encode()


def test_base64_encoded_hash_like_dex() -> None:
    encoded = base64.b64encode(BCRYPT_PASSWORD.encode()).decode()
    [entry] = load(passwords(user(hash=encoded))).static_passwords
    assert entry.hash == encoded
    assert entry.hash_bytes() == BCRYPT_PASSWORD.encode()


def test_hash_from_the_environment() -> None:
    doc = passwords(user(hash=None) | {"hash": None, "hashFromEnv": "ADMIN_HASH"})
    [entry] = load(doc, {"ADMIN_HASH": BCRYPT_PASSWORD}).static_passwords
    assert entry.hash == BCRYPT_PASSWORD
    assert problems(doc) == {
        "staticPasswords[0].hashFromEnv": "environment variable 'ADMIN_HASH' is not set or empty"
    }


def test_hash_wins_over_hash_from_env_like_dex() -> None:
    config = load(passwords(user(hashFromEnv="UNUSED")))
    assert config.static_passwords[0].hash == BCRYPT_PASSWORD
    assert config.warnings == [
        "staticPasswords[0].hashFromEnv: is ignored because hash is also set"
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "password",
        "$2b$10$short",
        "$2x$10$" + BCRYPT_PASSWORD[7:],
        "$2b$03$" + BCRYPT_PASSWORD[7:],
        "$2b$32$" + BCRYPT_PASSWORD[7:],
        "$1$abcdefgh$abcdefghijklmnopqrstuv",
        base64.b64encode(b"not a hash").decode(),
        BCRYPT_PASSWORD + "x",
    ],
)
def test_bad_hashes(bad: str) -> None:
    assert problems(passwords(user(hash=bad))) == {
        "staticPasswords[0].hash": "must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4-31, "
        "60 characters) or the base64 encoding of one"
    }


def test_cheap_hashes_warn() -> None:
    cheap = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    assert load(passwords(user(hash=cheap))).warnings == [
        "staticPasswords[0].hash: bcrypt cost 4 is below 10; Dex refuses such hashes at login"
    ]


def test_user_needs_email_user_id_and_hash() -> None:
    assert problems(passwords({"username": "x"})) == {
        "staticPasswords[0].email": "missing required key",
        "staticPasswords[0].userID": "missing required key",
        "staticPasswords[0].hash": "a user needs a bcrypt hash (or hashFromEnv)",
    }
    assert problems(passwords({"email": "a@b", "userID": "1"})) == {
        "staticPasswords[0].hash": "a user needs a bcrypt hash (or hashFromEnv)"
    }


def test_duplicate_emails_and_user_ids() -> None:
    doc = passwords(
        user("a@example.com", userID="1"),
        user("A@Example.com", userID="2"),
        user("b@example.com", userID="1"),
    )
    assert problems(doc) == {
        "staticPasswords[1].email": "duplicate email 'a@example.com' (also staticPasswords[0])",
        "staticPasswords[2].userID": "duplicate userID '1' (also staticPasswords[0]): two users "
        "would share one subject (sub)",
    }


def test_identity_rules_are_reported_alongside_field_errors() -> None:
    doc = clients({"name": "x", "redirectURIs": ["nope"], "secretEnv": "S"})
    assert problems(doc) == {
        "staticClients[0].id": "a client needs an id (or idEnv)",
        "staticClients[0].redirectURIs[0]": "must be an absolute URL",
        "staticClients[0].secretEnv": "environment variable 'S' is not set or empty",
    }


def test_hash_rules_are_reported_alongside_field_errors() -> None:
    doc = passwords({"email": "a@b", "userID": "1", "groups": "admins", "hash": "plain"})
    assert problems(doc) == {
        "staticPasswords[0].groups": "must be a list",
        "staticPasswords[0].hash": "must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4-31, "
        "60 characters) or the base64 encoding of one",
    }


def test_wrong_types_are_not_reported_twice() -> None:
    assert problems(clients({"id": 5, "secret": ["x"]})) == {
        "staticClients[0].id": "must be a string",
        "staticClients[0].secret": "must be a string",
    }


def test_missing_hash_is_reported_alongside_field_errors() -> None:
    assert problems(passwords({"email": "a@b", "userID": "1", "emailVerified": "maybe"})) == {
        "staticPasswords[0].emailVerified": "must be true or false",
        "staticPasswords[0].hash": "a user needs a bcrypt hash (or hashFromEnv)",
    }
