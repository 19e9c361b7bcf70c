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


def test_insecure_and_unsupported_options_are_warned_about() -> None:
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
    assert sorted(config.warnings) == [
        "connectors[0].config.insecureSkipVerify: turns off TLS certificate checks of the "
        "upstream: anyone on the network path can impersonate it",
        "connectors[0].config.providerDiscoveryOverrides.endSessionURL: is recognised but not "
        "supported yet; ignored",
    ]
    typed = config.connectors[0].typed_config()
    assert isinstance(typed, OIDCConfig)
    assert (typed.issuer_alias, typed.pkce_challenge) == ("https://old.example", "S256")


def test_claim_modifications_as_dex_documents_them() -> None:
    config = load(
        document(
            connectors=[
                oidc(
                    claimModifications={
                        "newGroupFromClaims": [
                            {"claims": ["claim1", "claim2"], "delimiter": ":",
                             "clearDelimiter": False, "prefix": "abc"}
                        ],
                        "filterGroupClaims": {"groupsFilter": "^.*$"},
                        "modifyGroupNames": {"prefix": "foo:", "suffix": ":bar"},
                    }
                )
            ]
        )
    )  # fmt: skip
    typed = config.connectors[0].typed_config()
    assert isinstance(typed, OIDCConfig)
    mods = typed.claim_modifications
    assert mods.new_group_from_claims[0].claims == ["claim1", "claim2"]
    assert mods.filter_group_claims.groups_filter == "^.*$"
    assert (mods.modify_group_names.prefix, mods.modify_group_names.suffix) == ("foo:", ":bar")


def test_bad_pkce_and_filter_values_are_reported_with_their_path() -> None:
    found = problems(
        document(
            connectors=[
                oidc(
                    pkceChallenge="S512",
                    claimModifications={"filterGroupClaims": {"groupsFilter": "(unclosed"}},
                )
            ]
        )
    )
    assert set(found) == {
        "connectors[0].config.pkceChallenge",
        "connectors[0].config.claimModifications.filterGroupClaims.groupsFilter",
    }
    assert "S256" in found["connectors[0].config.pkceChallenge"]
    assert (
        "regular expression"
        in found["connectors[0].config.claimModifications.filterGroupClaims.groupsFilter"]
    )


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
