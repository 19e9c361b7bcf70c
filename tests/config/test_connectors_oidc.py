"""``connectors[]`` of type ``oidc``: Dex's options, defaults, and the ones not done yet."""

from __future__ import annotations

from typing import Any

from passgate.config.connectors import OIDCConfig

from .helpers import document, load, problems

REQUIRED = {
    "issuer": "https://accounts.example.com",
    "clientID": "passgate",
    "clientSecret": "s3cret",
    "redirectURI": "https://sso.example.com/dex/callback",
}


def oidc(**config: Any) -> dict[str, Any]:
    return {"type": "oidc", "id": "up", "name": "Upstream", "config": {**REQUIRED, **config}}


def test_defaults_follow_dex() -> None:
    config = load(document(connectors=[oidc()]))
    typed = config.connectors[0].typed_config()
    assert isinstance(typed, OIDCConfig)
    assert (typed.user_id_key, typed.user_name_key, typed.prompt_type) == ("sub", "name", "consent")
    assert typed.scopes == []
    assert typed.basic_auth_unsupported is None
    assert typed.claim_mapping.email == "email"
    assert typed.claim_mapping.preferred_username == "preferred_username"
    assert typed.claim_mapping.groups == "groups"
    assert "s3cret" not in repr(typed)
    assert config.warnings == []


def test_every_dex_option_is_accepted_case_insensitively() -> None:
    config = load(
        document(
            connectors=[
                oidc(
                    basicAuthUnsupported=True, scopes=["email"], hostedDomains=["example.com"],
                    rootCAs=["/etc/ca.pem"], insecureSkipEmailVerified=True,
                    insecureenablegroups=True, allowedGroups=["a"], acrValues=["mfa"],
                    getUserInfo=True, userIDKey="oid", userNameKey="",
                    promptType="", overrideClaimMapping=True,
                    claimMapping={"email": "mail", "groups": "roles"},
                    providerDiscoveryOverrides={"tokenURL": "https://t.example/token"},
                )
            ]
        )
    )  # fmt: skip
    typed = config.connectors[0].typed_config()
    assert isinstance(typed, OIDCConfig)
    assert typed.insecure_enable_groups
    assert typed.basic_auth_unsupported
    assert (typed.user_id_key, typed.user_name_key, typed.prompt_type) == ("oid", "name", "")
    assert typed.claim_mapping.groups == "roles"
    assert typed.provider_discovery_overrides.token_url == "https://t.example/token"
    assert config.warnings == []


def test_options_not_implemented_yet_are_warned_about() -> None:
    config = load(
        document(
            connectors=[
                oidc(
                    issuerAlias="https://old.example", pkceChallenge="S256",
                    insecureSkipVerify=True,
                    claimModifications={"newGroupFromClaims": []},
                    providerDiscoveryOverrides={"endSessionURL": "https://x.example/logout"},
                )
            ]
        )
    )  # fmt: skip
    assert sorted(config.warnings) == sorted(
        f"connectors[0].config.{key}: is recognised but not supported yet; ignored"
        for key in (
            "issuerAlias", "pkceChallenge", "insecureSkipVerify", "claimModifications",
            "providerDiscoveryOverrides.endSessionURL",
        )
    )  # fmt: skip


def test_required_options_and_unknown_keys() -> None:
    found = problems(
        document(connectors=[{"type": "oidc", "id": "up", "name": "Up", "config": {"x": 1}}])
    )
    assert set(found) == {
        "connectors[0].config.issuer",
        "connectors[0].config.clientID",
        "connectors[0].config.redirectURI",
        "connectors[0].config.x",
    }
    bad = problems(document(connectors=[oidc(issuer="accounts.example.com")]))
    assert bad == {"connectors[0].config.issuer": "must be an http(s) URL"}
