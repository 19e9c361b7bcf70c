"""``oauth2``: Dex's grant-type defaults, response types, PKCE."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.config.oauth2 import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
    IMPLICIT,
    PASSWORD,
    REFRESH_TOKEN,
    TOKEN_EXCHANGE,
    OAuth2Config,
)

from .helpers import document, load, problems

DEX_DEFAULT = sorted(
    [AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN, DEVICE_CODE, TOKEN_EXCHANGE]
)


def with_oauth2(**section: Any) -> dict[str, Any]:
    return document(enablePasswordDB=True, oauth2=section)


def test_default_grants_are_dexs() -> None:
    assert load(document()).oauth2.grant_types == DEX_DEFAULT
    assert OAuth2Config().grant_types == DEX_DEFAULT


def test_password_connector_adds_the_password_grant() -> None:
    grants = load(with_oauth2(passwordConnector="local")).oauth2.grant_types
    assert grants == sorted([*DEX_DEFAULT, PASSWORD])


def test_explicit_grants_narrow_the_set() -> None:
    config = load(with_oauth2(grantTypes=[REFRESH_TOKEN, AUTHORIZATION_CODE, REFRESH_TOKEN]))
    assert config.oauth2.grant_types == [AUTHORIZATION_CODE, REFRESH_TOKEN]


def test_empty_grant_list_means_the_default() -> None:
    assert load(with_oauth2(grantTypes=[])).oauth2.grant_types == DEX_DEFAULT


def test_password_grant_without_connector_is_dropped_with_a_warning() -> None:
    config = load(with_oauth2(grantTypes=[AUTHORIZATION_CODE, PASSWORD]))
    assert config.oauth2.grant_types == [AUTHORIZATION_CODE]
    assert config.warnings == [
        "oauth2.grantTypes: the 'password' grant is disabled because "
        "oauth2.passwordConnector is not set"
    ]


def test_implicit_grant_needs_a_token_response_type() -> None:
    config = load(with_oauth2(grantTypes=[AUTHORIZATION_CODE, IMPLICIT]))
    assert config.oauth2.grant_types == [AUTHORIZATION_CODE]
    assert config.warnings == [
        "oauth2.grantTypes: the 'implicit' grant is disabled because no 'token' response type "
        "is enabled"
    ]


def test_token_response_types_are_recognised_but_warned_about() -> None:
    config = load(with_oauth2(responseTypes=["code", "token", "id_token"]))
    assert config.oauth2.response_types == ["code", "token", "id_token"]
    assert IMPLICIT in config.oauth2.grant_types  # Dex advertises it with "token"
    assert config.warnings == [
        "oauth2.responseTypes[1]: response type 'token' is recognised but not supported yet; "
        "only 'code' is served",
        "oauth2.responseTypes[2]: response type 'id_token' is recognised but not supported yet; "
        "only 'code' is served",
    ]


def test_unknown_grant_and_response_types() -> None:
    found = problems(with_oauth2(grantTypes=["code"], responseTypes=["code", "magic"]))
    assert found["oauth2.grantTypes[0]"].startswith("unknown grant type 'code' (known: ")
    assert found["oauth2.responseTypes[1]"].startswith("unknown response type 'magic'")


@pytest.mark.parametrize(
    "grant",
    [AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, DEVICE_CODE, TOKEN_EXCHANGE],
)
def test_every_design_grant_urn_is_accepted(grant: str) -> None:
    assert load(with_oauth2(grantTypes=[grant])).oauth2.grant_types == [grant]


def test_flags() -> None:
    config = load(with_oauth2(skipApprovalScreen=True, alwaysShowLoginScreen=True))
    assert config.oauth2.skip_approval_screen is True
    assert config.oauth2.always_show_login_screen is True
    assert problems(with_oauth2(skipApprovalScreen="sometimes")) == {
        "oauth2.skipApprovalScreen": "must be true or false"
    }


def test_pkce() -> None:
    config = load(with_oauth2(pkce={"enforce": True, "codeChallengeMethodsSupported": ["S256"]}))
    assert config.oauth2.pkce.enforce is True
    assert config.oauth2.pkce.code_challenge_methods_supported == ["S256"]
    empty = load(with_oauth2(pkce={"codeChallengeMethodsSupported": []}))
    assert empty.oauth2.pkce.code_challenge_methods_supported == ["S256", "plain"]
    assert problems(with_oauth2(pkce={"codeChallengeMethodsSupported": ["S512"]})) == {
        "oauth2.pkce.codeChallengeMethodsSupported[0]": "must be 'S256' or 'plain'"
    }
