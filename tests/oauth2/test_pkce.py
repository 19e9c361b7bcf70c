import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.oauth2 import pkce
from passgate.oauth2.errors import InvalidGrantError, InvalidRequestError
from passgate.storage.models import PKCE

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_rfc7636_appendix_b() -> None:
    assert pkce.s256_challenge(VERIFIER) == CHALLENGE


def test_verify_s256_and_plain() -> None:
    pkce.verify(PKCE(CHALLENGE, "S256"), VERIFIER)
    pkce.verify(PKCE(VERIFIER, "plain"), VERIFIER)


@pytest.mark.parametrize(
    "verifier",
    ["", "short", VERIFIER[:-1] + "A", "x" * 129, VERIFIER.replace("d", "*")],
)
def test_verify_rejects_wrong_verifiers(verifier: str) -> None:
    with pytest.raises(InvalidGrantError):
        pkce.verify(PKCE(CHALLENGE, "S256"), verifier)


def test_verifier_without_challenge_is_refused() -> None:
    with pytest.raises(InvalidGrantError):
        pkce.verify(PKCE(), VERIFIER)
    pkce.verify(PKCE(), "")


def test_parse_challenge_rules() -> None:
    supported = ("S256", "plain")
    assert pkce.parse_challenge(CHALLENGE, "S256", supported) == PKCE(CHALLENGE, "S256")
    # RFC 7636 §4.3: method defaults to plain.
    assert pkce.parse_challenge(CHALLENGE, "", supported).code_challenge_method == "plain"
    assert pkce.parse_challenge("", "", supported) == PKCE()
    for challenge, method in [("", "S256"), (CHALLENGE, "S512"), ("abc", "S256")]:
        with pytest.raises(InvalidRequestError):
            pkce.parse_challenge(challenge, method, supported)
    with pytest.raises(InvalidRequestError):
        pkce.parse_challenge(CHALLENGE, "plain", ("S256",))


@given(st.text(max_size=200), st.sampled_from(["", "S256", "plain", "bogus"]))
def test_parse_challenge_never_raises_other_errors(challenge: str, method: str) -> None:
    with contextlib.suppress(InvalidRequestError):
        pkce.parse_challenge(challenge, method, ("S256", "plain"))


@given(st.text(max_size=200))
def test_verify_only_raises_invalid_grant(verifier: str) -> None:
    with contextlib.suppress(InvalidGrantError):
        pkce.verify(PKCE(CHALLENGE, "S256"), verifier)
