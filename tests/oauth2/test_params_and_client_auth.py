import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.oauth2.client_auth import BASIC, NONE, POST, check_secret, read_credentials
from passgate.oauth2.errors import InvalidClientError, InvalidRequestError, OAuthError
from passgate.oauth2.params import MAX_PARAM_LENGTH, Params
from passgate.oauth2.scopes import classify, split


def test_repeated_parameter_is_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="repeated"):
        Params([("code", "a"), ("code", "b")])


def test_oversized_and_empty_parameters() -> None:
    with pytest.raises(InvalidRequestError):
        Params([("code", "x" * (MAX_PARAM_LENGTH + 1))])
    assert "state" not in Params([("state", "")])
    with pytest.raises(InvalidRequestError, match="missing"):
        Params([]).require("grant_type")


@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=50)), max_size=80))
def test_params_only_raise_invalid_request(pairs: list[tuple[str, str]]) -> None:
    with contextlib.suppress(InvalidRequestError):
        Params(pairs)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_basic_credentials_are_form_decoded() -> None:
    # RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded first.
    creds = read_credentials(basic("my%3Aapp", "p%40ss+word"), Params([]))
    assert (creds.client_id, creds.secret, creds.method) == ("my:app", "p@ss word", BASIC)


def test_two_methods_are_refused() -> None:
    with pytest.raises(InvalidRequestError):
        read_credentials(basic("a", "b"), Params([("client_secret", "b")]))


def test_post_and_none_methods() -> None:
    assert (
        read_credentials(None, Params([("client_id", "a"), ("client_secret", "b")])).method == POST
    )
    assert read_credentials(None, Params([("client_id", "a")])).method == NONE
    with pytest.raises(InvalidClientError):
        read_credentials(None, Params([]))


@pytest.mark.parametrize(
    "header", ["Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(), "Bearer x"]
)
def test_malformed_basic_is_401_with_challenge(header: str) -> None:
    with pytest.raises(InvalidClientError) as caught:
        read_credentials(header, Params([]))
    assert caught.value.status_code == 401
    assert "WWW-Authenticate" in caught.value.headers


def test_check_secret_constant_time_rules() -> None:
    check_secret("s3cret", "s3cret", POST)
    with pytest.raises(InvalidClientError) as caught:
        check_secret("s3cret", "wrong", BASIC)
    assert "WWW-Authenticate" in caught.value.headers
    with pytest.raises(InvalidClientError):
        check_secret("", "", POST)


def test_scopes() -> None:
    assert split("openid  email openid") == ("openid", "email")
    checked = classify(
        ("openid", "audience:server:client_id:peer", "bogus", "audience:server:client_id:")
    )
    assert checked.peers == ("peer",)
    assert checked.unrecognized == ("bogus", "audience:server:client_id:")


def test_error_description_is_sanitised() -> None:
    # RFC 6749 §5.2: error_description excludes '"' and '\\' and non-ASCII.
    error = OAuthError('bad "value" \\ é')
    assert error.to_dict()["error_description"] == "bad ?value? ? ?"
