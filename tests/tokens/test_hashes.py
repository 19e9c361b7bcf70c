"""at_hash / c_hash."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.tokens.hashes import token_hash


def test_openid_connect_core_examples() -> None:
    # OIDC Core 1.0 Appendix A.4 (response_type=code id_token, also A.6): c_hash of the code.
    assert (
        token_hash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk", "RS256")
        == "LDktKdoQak3Pk0cnXxCltA"
    )
    # OIDC Core 1.0 Appendix A.3 (response_type=id_token token, also A.6): at_hash.
    assert token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == (
        "77QmUPtjPfzWtF2AnpK9RQ"
    )


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_left_half_of_sha256(value: str) -> None:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")
    assert token_hash(value, "RS256") == token_hash(value, "ES256") == expected


def test_hash_follows_the_algorithm() -> None:
    assert len(token_hash("x", "RS384")) == 32  # 24 bytes
    assert len(token_hash("x", "ES512")) == 43  # 32 bytes


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="no hash"):
        token_hash("x", "HS256")
