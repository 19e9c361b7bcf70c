"""Property-based fuzzing of /token/revoke, /token/introspect, /kubernetes/tokenreview and
/logout (DESIGN §5): malformed, oversized, missing and repeated input gets a spec-shaped
answer, never a 500, and /logout never redirects anywhere but a registered URI.

As in ``test_fuzz``, everything is drawn up front; real tokens appear as stand-ins
(``<access>``) and huge values as ``<huge:a:70000>``, expanded when the request is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_ID,
    OTHER_SECRET,
    PREFIX,
    Harness,
    assert_oauth_error,
    basic,
    running,
)
from .revocation_support import POST_LOGOUT_URI, V1, V1BETA1, kube_config

pytestmark = pytest.mark.anyio

_HUGE = re.compile(r"<huge:(.):(\d+)>", re.DOTALL)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
HUGE = st.builds("<huge:{}:{}>".format, st.sampled_from("a%é\x00 +"), st.integers(4000, 70_000))
STAND_INS = ("<access>", "<id>", "<refresh>", "<other-access>")
VALUES = st.one_of(
    st.sampled_from(
        (*STAND_INS, CLIENT_ID, OTHER_ID, CLIENT_SECRET, "refresh_token", "access_token",
         "a.b.c", "x.y", "", "\u202e", "null", POST_LOGOUT_URI, "https://evil.example/")
    ),
    TEXT,
    HUGE,
)  # fmt: skip
PAIRS = st.lists(
    st.tuples(
        st.sampled_from(
            ("token", "token_type_hint", "client_id", "client_secret", "id_token_hint",
             "post_logout_redirect_uri", "state", "confirm", "csrf_token")
        ) | TEXT,
        VALUES,
    ),
    max_size=6,
)  # fmt: skip
AUTH = st.sampled_from(
    (None, basic(), basic(OTHER_ID, OTHER_SECRET), basic(CLIENT_ID, "wrong"), "Basic !!",
     "Bearer <access>", "Basic " + "A" * 5000)
)  # fmt: skip
CONTENT_TYPE = st.sampled_from(
    ("application/x-www-form-urlencoded", "application/json", "text/plain", None,
     "multipart/form-data; boundary=x")
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | VALUES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


class Material:
    def __init__(self, harness: Harness, values: dict[str, str]) -> None:
        self.harness = harness
        self.values = values

    def real(self, value: Any) -> Any:
        if isinstance(value, str):
            for stand_in, actual in self.values.items():
                value = value.replace(stand_in, actual)
            return _HUGE.sub(lambda m: m.group(1) * int(m.group(2)), value)
        if isinstance(value, list):
            return [self.real(item) for item in value]
        if isinstance(value, dict):
            return {self.real(key): self.real(item) for key, item in value.items()}
        return value

    def headers(self, auth: Any, content_type: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if isinstance(auth, dict):
            headers.update(auth)
        elif isinstance(auth, str):
            headers["Authorization"] = self.real(auth)
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def __repr__(self) -> str:
        return "Material(...)"


@pytest.fixture
async def material(anyio_backend: str) -> AsyncIterator[Material]:
    async with running(kube_config()) as harness:
        tokens = await harness.tokens()
        other = await harness.tokens(client_id=OTHER_ID, redirect_uri="http://127.0.0.1:5555/other")
        yield Material(
            harness,
            {
                "<access>": tokens["access_token"],
                "<id>": tokens["id_token"],
                "<refresh>": tokens["refresh_token"],
                "<other-access>": other["access_token"],
            },
        )


def assert_json_error_or(response: httpx.Response, *ok: int) -> None:
    assert response.status_code != 500, response.text
    if response.status_code in ok:
        return
    assert_oauth_error(response, no_store=response.status_code != 413)


@fuzz(150)
@given(
    path=st.sampled_from(("/token/revoke", "/token/introspect")),
    pairs=PAIRS,
    auth=AUTH,
    content_type=CONTENT_TYPE,
    raw=st.none() | st.binary(max_size=64),
)
async def test_fuzz_revoke_and_introspect(
    material: Material,
    path: str,
    pairs: list[tuple[str, str]],
    auth: Any,
    content_type: str | None,
    raw: bytes | None,
) -> None:
    data = [(material.real(k), material.real(v)) for k, v in pairs]
    content = raw if raw is not None else httpx.QueryParams(data).__str__().encode()
    response = await material.harness.client.post(
        f"{PREFIX}{path}", content=content, headers=material.headers(auth, content_type)
    )
    assert_json_error_or(response, 200)
    if response.status_code == 200 and path.endswith("introspect"):
        body = response.json()
        assert isinstance(body["active"], bool)
        if body["active"]:
            assert body["client_id"] in (CLIENT_ID, OTHER_ID)
    if response.status_code == 200 and path.endswith("revoke"):
        assert response.content == b""


@fuzz(200)
@given(
    document=st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"apiVersion": st.sampled_from((V1, V1BETA1, "v1", "")) | TEXT,
             "kind": st.sampled_from(("TokenReview", "Other")) | TEXT,
             "spec": st.fixed_dictionaries(
                 {"token": st.sampled_from(STAND_INS) | JSON},
                 optional={"audiences": st.lists(VALUES, max_size=3) | JSON},
             ) | JSON},
        ),
    ),
    raw=st.none() | st.binary(max_size=80),
    auth=st.sampled_from((None, "Bearer x", "Basic y")),
)  # fmt: skip
async def test_fuzz_tokenreview(
    material: Material, document: Any, raw: bytes | None, auth: str | None
) -> None:
    content = raw if raw is not None else json.dumps(material.real(document)).encode()
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    response = await material.harness.client.post(
        f"{PREFIX}/kubernetes/tokenreview", content=content, headers=headers
    )
    assert response.status_code in (200, 400, 413), response.text
    body = response.json()
    if response.status_code == 413:
        return
    assert body["kind"] == "TokenReview"
    assert body["apiVersion"] in (V1, V1BETA1)
    status = body["status"]
    assert isinstance(status["authenticated"], bool)
    if status["authenticated"]:
        assert status["user"]["username"]
    else:
        assert status["error"]


@fuzz(150)
@given(
    method=st.sampled_from(("GET", "POST", "PUT")),
    pairs=PAIRS,
    content_type=CONTENT_TYPE,
)
async def test_fuzz_logout(
    material: Material, method: str, pairs: list[tuple[str, str]], content_type: str | None
) -> None:
    data = [(material.real(k), material.real(v)) for k, v in pairs]
    client = material.harness.client
    if len(str(httpx.QueryParams(data))) > 60_000:
        method = "POST"  # httpx cannot even build such a URL; the body takes it
    if method == "GET":
        response = await client.get(f"{PREFIX}/logout", params=data)
    else:
        content = str(httpx.QueryParams(data)).encode()
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.request(
            method, f"{PREFIX}/logout", content=content, headers=headers
        )
    assert response.status_code in (200, 303, 400, 403, 405, 413, 414), response.text[:300]
    if response.status_code == 303:
        assert response.headers["location"].split("?")[0] == POST_LOGOUT_URI
