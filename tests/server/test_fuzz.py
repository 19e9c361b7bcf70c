"""Property-based fuzzing of /auth, /token and /userinfo (DESIGN §5: malformed, oversized,
missing and repeated input gets a spec-shaped error, never a 500).

Each test builds one issuer and throws hypothesis-generated requests at it. Most start
from a valid request (real client credentials, codes, PKCE verifiers, refresh and access
tokens) and mutate it: parameters dropped, repeated, replaced by junk or huge values,
added; the rest are random parameter lists, raw bodies with invalid UTF-8, random content
types and Authorization headers. The anyio plugin runs every example on the test's event
loop, so the app and its storage live across examples: state one example leaves (a
redeemed code, a rotated refresh token, a locked account) is input to the next, which is
why the function-scoped-fixture health check is suppressed.

Hypothesis ends an example by raising an exception that must not cross the event loop,
so everything is drawn up front; real codes and tokens appear as stand-ins (``<code:0>``)
and huge values as ``<huge:a:70000>``, both expanded when the request is sent (which also
keeps hypothesis from printing 70 kB strings).

``--hypothesis-show-statistics`` lists the status and error of the examples, showing how
deep they got.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from passgate.storage.base import Storage

from .harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    OTHER_ID,
    OTHER_REDIRECT_URI,
    OTHER_SECRET,
    PASSWORD,
    PREFIX,
    PUBLIC_ID,
    PUBLIC_REDIRECT_URI,
    REDIRECT_URI,
    Harness,
    StorageFactory,
    assert_oauth_error,
    new_verifier,
    running,
    s256,
)

pytestmark = pytest.mark.anyio


def fuzz(examples: int) -> settings:
    """About 2-4 ms an example: the four tests take ~15 s together on one core."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


REGISTERED_REDIRECTS = (REDIRECT_URI, OTHER_REDIRECT_URI, PUBLIC_REDIRECT_URI)


def is_registered_redirect(target: str) -> bool:
    """A registered URI, or the public client's loopback URI on another port (RFC 8252
    §7.3: native apps listen on whatever port is free)."""
    if target in REGISTERED_REDIRECTS:
        return True
    known, asked = urlsplit(PUBLIC_REDIRECT_URI), urlsplit(target)
    return (asked.scheme, asked.hostname, asked.path or "/") == (
        known.scheme,
        known.hostname,
        known.path or "/",
    )


FORM_TYPE = "application/x-www-form-urlencoded"
CODES = 6
_HUGE = re.compile(r"<huge:(.):(\d+)>", re.DOTALL)

Pairs = list[tuple[str, str]]


class Fuzzed:
    """The issuer under fuzz and the real values that stand-ins expand to."""

    def __init__(self, harness: Harness, material: dict[str, str]) -> None:
        self.harness = harness
        self.material = material

    def real(self, value: str) -> str:
        if "<" not in value:
            return value
        for stand_in, actual in self.material.items():
            value = value.replace(stand_in, actual)
        return _HUGE.sub(lambda match: match.group(1) * int(match.group(2)), value)

    def learn(self, response: httpx.Response) -> None:
        """Follow refresh-token rotation, so later examples present the current token."""
        if response.status_code == 200:
            body = response.json()
            if "refresh_token" in body:
                self.material["<refresh>"] = body["refresh_token"]
            if "access_token" in body:
                self.material["<access>"] = body["access_token"]

    def __repr__(self) -> str:
        return "Fuzzed(...)"


@contextlib.asynccontextmanager
async def prepared(storage: Storage | None = None) -> AsyncIterator[Fuzzed]:
    """An issuer with codes (and their PKCE verifiers) and tokens handed out already."""
    async with running(storage=storage) as harness:
        material: dict[str, str] = {}
        for index in range(CODES):
            result = await harness.get_code()
            material[f"<code:{index}>"] = result.code
            material[f"<verifier:{index}>"] = result.verifier
        public = await harness.get_code(client_id=PUBLIC_ID, redirect_uri=PUBLIC_REDIRECT_URI)
        material["<code:public>"] = public.code
        material["<verifier:public>"] = public.verifier
        tokens = await harness.tokens()
        material["<refresh>"] = tokens["refresh_token"]
        material["<access>"] = tokens["access_token"]
        material["<id>"] = tokens["id_token"]
        yield Fuzzed(harness, material)


@pytest.fixture
async def fuzzed(anyio_backend: str) -> AsyncIterator[Fuzzed]:
    async with prepared() as ready:
        yield ready


@pytest.fixture
async def durable_fuzzed(backend: StorageFactory, anyio_backend: str) -> AsyncIterator[Fuzzed]:
    """The same on SQLite and PostgreSQL: their columns and drivers refuse what a dict
    takes (PostgreSQL text cannot hold NUL, its integer is 32 bits)."""
    storage = backend()
    await storage.open()
    async with prepared(storage) as ready:
        yield ready


# -- strategies ------------------------------------------------------------------------
# httpx sends str as UTF-8; surrogates cannot be encoded and never reach a server.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=120)
HUGE = st.builds("<huge:{}:{}>".format, st.sampled_from("a%é\x00 +"), st.integers(4000, 70_000))
VERIFIER = new_verifier()
CODE = st.integers(0, CODES - 1)
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

# Values that trip naive parsing: digits str.isdigit() accepts but int() does not (or
# that are not ASCII), numbers at and past 32 and 64 bits, signs, exponents, whitespace.
TRICKY = (
    "\u00b2", "\u0661\u0662", "\uff19", "9" * 10, "2147483648", "9223372036854775808",
    "-0", "+1", "1e3", "0x10", " 1", "1 ", "\t", "NaN", "null", "[]", "{}", "%00", "\u202e",
)  # fmt: skip
AUTH_NAMES = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "prompt",
    "max_age", "code_challenge", "code_challenge_method", "response_mode", "connector_id",
    "request", "request_uri", "login_hint", "id_token_hint",
)  # fmt: skip
AUTH_VALUES = (
    CLIENT_ID, OTHER_ID, PUBLIC_ID, *REGISTERED_REDIRECTS, "https://evil.example/cb",
    "//evil.example", "http://localhost:1234", "code", "token", "id_token code", "openid",
    "openid email offline_access", "openid admin", "none", "login", "consent",
    "select_account", "0", "-1", "S256", "plain", s256(VERIFIER), VERIFIER, "query",
    "fragment", "local", "ldap", f"audience:server:client_id:{OTHER_ID} openid",
    *TRICKY,
)  # fmt: skip
TOKEN_NAMES = (
    "grant_type", "client_id", "client_secret", "code", "redirect_uri", "code_verifier",
    "refresh_token", "scope", "username", "password", "device_code", "subject_token",
    "subject_token_type", "requested_token_type", "audience",
)  # fmt: skip
TOKEN_VALUES = (
    "authorization_code", "refresh_token", "password", "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange", CLIENT_ID, CLIENT_SECRET, OTHER_ID,
    OTHER_SECRET, PUBLIC_ID, *REGISTERED_REDIRECTS, VERIFIER, EMAIL, PASSWORD, "openid",
    "openid email offline_access", "openid admin", "offline_access", "<code:0>",
    "<code:public>", "<verifier:0>", "<verifier:public>", "<refresh>", "<access>", "<id>",
    *TRICKY,
)  # fmt: skip
CONTENT_TYPES = (
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=nope", "APPLICATION/X-WWW-FORM-URLENCODED",
    "application/json", "text/plain", "multipart/form-data; boundary=xyz",
    "multipart/form-data", "application/octet-stream", "",
)  # fmt: skip


@st.composite
def content_types(draw: st.DrawFn) -> str | None:
    """Mostly the right type, so that bodies get parsed; else none, another, anything."""
    if draw(st.integers(0, 3)):
        return FORM_TYPE
    return draw(st.sampled_from(CONTENT_TYPES) | st.none() | HEADER_TEXT)


CONTENT_TYPE = content_types()


def values(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Known values, tricky ones, junk text and now and then a huge value."""
    return st.one_of(st.sampled_from(known), st.sampled_from(TRICKY), TEXT, HUGE)


def random_pairs(names: tuple[str, ...], known: tuple[str, ...]) -> st.SearchStrategy[Pairs]:
    return st.lists(st.tuples(st.sampled_from(names) | TEXT, values(known)), max_size=8)


@st.composite
def mutated(
    draw: st.DrawFn, template: Pairs, names: tuple[str, ...], known: tuple[str, ...]
) -> Pairs:
    """A valid request with one value replaced (the rest still valid, so the check of
    that value runs) and up to two more changes: drop, repeat, replace, add."""
    items = list(template)
    if items and draw(st.integers(0, 3)) > 0:
        index = draw(st.integers(0, len(items) - 1))
        items[index] = (items[index][0], draw(st.sampled_from(TRICKY) | values(known)))
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        operation = draw(st.sampled_from(["drop", "repeat", "replace", "add"]))
        if operation == "add" or not items:
            items.insert(
                draw(st.integers(0, len(items))),
                (draw(st.sampled_from(names) | TEXT), draw(values(known))),
            )
            continue
        index = draw(st.integers(0, len(items) - 1))
        name, value = items[index]
        if operation == "drop":
            del items[index]
        elif operation == "repeat":
            items.insert(index, (name, draw(st.just(value) | values(known))))
        else:
            items[index] = (name, draw(values(known)))
    return items


AUTH_TEMPLATE = [
    ("client_id", CLIENT_ID), ("redirect_uri", REDIRECT_URI), ("response_type", "code"),
    ("scope", "openid email offline_access"), ("state", "s"), ("nonce", "n"),
    ("prompt", "login"), ("response_mode", "query"), ("connector_id", "local"),
]  # fmt: skip


def auth_templates() -> st.SearchStrategy[Pairs]:
    confidential = [*AUTH_TEMPLATE, ("max_age", "3600")]
    public = [
        ("client_id", PUBLIC_ID), ("redirect_uri", PUBLIC_REDIRECT_URI),
        ("response_type", "code"), ("scope", "openid"), ("code_challenge", s256(VERIFIER)),
        ("code_challenge_method", "S256"),
    ]  # fmt: skip
    return st.sampled_from([confidential, public])


@st.composite
def token_template(draw: st.DrawFn) -> tuple[Pairs, str | None]:
    """A valid token request of some grant, with the right client authentication."""
    code = draw(CODE)
    grant = draw(st.sampled_from(["code", "public", "refresh", "password", "client"]))
    confidential = BASIC
    if grant == "code":
        items = [
            ("grant_type", "authorization_code"), ("code", f"<code:{code}>"),
            ("redirect_uri", REDIRECT_URI), ("code_verifier", f"<verifier:{code}>"),
        ]  # fmt: skip
    elif grant == "public":
        items = [
            ("grant_type", "authorization_code"), ("client_id", PUBLIC_ID),
            ("code", "<code:public>"), ("redirect_uri", PUBLIC_REDIRECT_URI),
            ("code_verifier", "<verifier:public>"),
        ]  # fmt: skip
        return items, None
    elif grant == "refresh":
        items = [("grant_type", "refresh_token"), ("refresh_token", "<refresh>")]
    elif grant == "password":
        items = [
            ("grant_type", "password"), ("username", EMAIL), ("password", PASSWORD),
            ("scope", "openid email"),
        ]  # fmt: skip
    else:
        items = [("grant_type", "client_credentials"), ("scope", "openid")]
    if draw(st.booleans()):  # client_secret_post instead of Basic
        return [*items, ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)], None
    return items, confidential


@st.composite
def token_requests(draw: st.DrawFn) -> tuple[Body, str | None, str | None]:
    """Body, content type and Authorization: mostly a mutated valid request."""
    content_type = draw(CONTENT_TYPE)
    if not draw(st.integers(0, 4)):
        body = draw(bodies(random_pairs(TOKEN_NAMES, TOKEN_VALUES)))
        return body, content_type, draw(authorization())
    template, auth = draw(token_template())
    items = draw(mutated(template, TOKEN_NAMES, TOKEN_VALUES))
    if not draw(st.integers(0, 3)):
        auth = draw(authorization())
    return Body(items), content_type, auth


def auth_pairs() -> st.SearchStrategy[Pairs]:
    valid = auth_templates().flatmap(lambda template: mutated(template, AUTH_NAMES, AUTH_VALUES))
    return st.one_of(valid, valid, valid, random_pairs(AUTH_NAMES, AUTH_VALUES))


def encode(items: Pairs) -> str:
    return "&".join(
        f"{quote_from_bytes(k.encode())}={quote_from_bytes(v.encode())}" for k, v in items
    )


def raw_query(items: list[tuple[bytes, bytes]]) -> str:
    """Percent-encoded arbitrary bytes: invalid UTF-8 once decoded, stray ``&``/``=``."""
    return "&".join(f"{quote_from_bytes(k)}={quote_from_bytes(v)}" for k, v in items)


RAW_PAIRS = st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=60)), max_size=6)
RAW_BODY = st.one_of(
    st.binary(max_size=300),
    RAW_PAIRS.map(lambda items: raw_query(items).encode()),
    st.builds("a=<huge:\xff:{}>".format, st.integers(0, 70_000)).map(
        lambda text: text.encode("latin-1")
    ),
)


@st.composite
def authorization(draw: st.DrawFn, bearer: bool = False) -> str | None:
    """No header; Basic with real, crossed or random credentials; Bearer; anything."""
    kinds = ["none", "basic", "basic", "basic-raw", "bearer", "random"]
    kind = draw(st.sampled_from(kinds + ["bearer"] * 3 if bearer else kinds))
    if kind == "none":
        return None
    if kind == "basic":
        client = draw(
            st.sampled_from([CLIENT_ID, CLIENT_ID, OTHER_ID, PUBLIC_ID, "", "a\x00b"]) | TEXT
        )
        secret = draw(st.sampled_from([CLIENT_SECRET, CLIENT_SECRET, OTHER_SECRET, ""]) | TEXT)
        raw = f"{client}:{secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()
    if kind == "basic-raw":
        return "Basic " + base64.b64encode(draw(st.binary(max_size=60))).decode()
    if kind == "bearer":
        return "Bearer " + draw(st.sampled_from(["<access>", "<id>", "<refresh>"]) | HEADER_TEXT)
    return draw(HEADER_TEXT)


@dataclass(frozen=True)
class Body:
    """A form body (a parameter list) or raw bytes; stand-ins expand at send time."""

    form: Pairs | None
    raw: bytes = b""

    def encoded(self, fuzzed: Fuzzed) -> bytes:
        if self.form is None:
            return fuzzed.real(self.raw.decode("latin-1")).encode("latin-1")
        return encode([(k, fuzzed.real(v)) for k, v in self.form]).encode()


def bodies(pairs: st.SearchStrategy[Pairs]) -> st.SearchStrategy[Body]:
    return st.one_of(pairs.map(Body), pairs.map(Body), RAW_BODY.map(lambda raw: Body(None, raw)))


def headers_of(content_type: str | None, auth: str | None, fuzzed: Fuzzed) -> dict[bytes, bytes]:
    """Header values as latin-1 bytes, as they travel (httpx would encode str as ASCII)."""
    headers = {}
    if content_type is not None:
        headers[b"Content-Type"] = content_type.encode("latin-1")
    if auth is not None:
        headers[b"Authorization"] = fuzzed.real(auth).encode("latin-1")
    return headers


# -- the properties --------------------------------------------------------------------
def assert_sane(response: httpx.Response, allowed: set[int]) -> None:
    """Never a 500; JSON errors are RFC 6749 §5.2-shaped; redirects stay on the issuer or
    go to a registered redirect URI (no open redirect)."""
    is_json = response.headers.get("content-type", "").startswith("application/json")
    error = response.json().get("error", "") if is_json and response.status_code >= 400 else ""
    detail = response.json().get("error_description", "")[:30] if error else ""
    event(f"{response.status_code} {error} {detail}".strip())
    assert response.status_code != 500, response.text
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    if error:
        assert_oauth_error(response, no_store=False)
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers["location"]
        parts = urlsplit(location)
        if parts.scheme or parts.netloc:
            target = f"{parts.scheme}://{parts.netloc}{parts.path}"
            assert is_registered_redirect(target), location
        else:
            assert location.startswith(f"{PREFIX}/"), location


AUTH_STATUSES = {200, 302, 303, 400, 413, 414}


async def check_auth_get(fuzzed: Fuzzed, items: Pairs, raw: list[tuple[bytes, bytes]]) -> None:
    query = "&".join(part for part in (encode(items), raw_query(raw)) if part)
    response = await fuzzed.harness.client.get(f"{PREFIX}/auth?{fuzzed.real(query)}")
    assert_sane(response, AUTH_STATUSES)


# Found by reading, then within reach of the strategies (~1 in 1,000 examples):
# "²".isdigit() is true but int("²") raised, a 500; 9999999999 overflowed PostgreSQL.
MAX_AGE_EXAMPLES = ("\u00b2", "9999999999")


@fuzz(2000)
@given(items=auth_pairs(), raw=RAW_PAIRS | st.just([]))
@example(items=[*AUTH_TEMPLATE, ("max_age", MAX_AGE_EXAMPLES[0])], raw=[])
@example(items=[*AUTH_TEMPLATE, ("max_age", MAX_AGE_EXAMPLES[1])], raw=[])
async def test_fuzz_auth_get(fuzzed: Fuzzed, items: Pairs, raw: list[tuple[bytes, bytes]]) -> None:
    await check_auth_get(fuzzed, items, raw)


@fuzz(300)
@given(items=auth_pairs(), raw=RAW_PAIRS | st.just([]))
@example(items=[*AUTH_TEMPLATE, ("max_age", MAX_AGE_EXAMPLES[0])], raw=[])
@example(items=[*AUTH_TEMPLATE, ("max_age", MAX_AGE_EXAMPLES[1])], raw=[])
async def test_fuzz_auth_get_durable(
    durable_fuzzed: Fuzzed, items: Pairs, raw: list[tuple[bytes, bytes]]
) -> None:
    await check_auth_get(durable_fuzzed, items, raw)


@fuzz(1000)
@given(body=bodies(auth_pairs()), content_type=CONTENT_TYPE)
async def test_fuzz_auth_post(fuzzed: Fuzzed, body: Body, content_type: str | None) -> None:
    response = await fuzzed.harness.client.post(
        f"{PREFIX}/auth",
        content=body.encoded(fuzzed),
        headers=headers_of(content_type, None, fuzzed),
    )
    assert_sane(response, AUTH_STATUSES)


TOKEN_STATUSES = {200, 400, 401, 413, 429}


async def check_token(fuzzed: Fuzzed, request: tuple[Body, str | None, str | None]) -> None:
    body, content_type, auth = request
    response = await fuzzed.harness.client.post(
        f"{PREFIX}/token",
        content=body.encoded(fuzzed),
        headers=headers_of(content_type, auth, fuzzed),
    )
    assert_sane(response, TOKEN_STATUSES)
    fuzzed.learn(response)
    if response.status_code == 200:
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["token_type"] == "bearer"
        return
    assert_oauth_error(response)
    if response.status_code == 401 and auth and auth.lower().startswith("basic "):
        # RFC 6749 §5.2: the client tried HTTP Basic, so the 401 carries a challenge.
        assert response.headers["www-authenticate"].startswith("Basic")


# A NUL in HTTP Basic credentials (form values are checked by Params) reached PostgreSQL.
NUL_BASIC = "Basic " + base64.b64encode(b"nobody\x00:secret").decode()


@fuzz(1200)
@given(request=token_requests())
@example(request=(Body([("grant_type", "client_credentials")]), FORM_TYPE, NUL_BASIC))
async def test_fuzz_token(fuzzed: Fuzzed, request: tuple[Body, str | None, str | None]) -> None:
    await check_token(fuzzed, request)


@fuzz(400)
@given(request=token_requests())
@example(request=(Body([("grant_type", "client_credentials")]), FORM_TYPE, NUL_BASIC))
async def test_fuzz_token_durable(
    durable_fuzzed: Fuzzed, request: tuple[Body, str | None, str | None]
) -> None:
    await check_token(durable_fuzzed, request)


USERINFO_STATUSES = {200, 400, 401, 405, 413}
ACCESS = st.sampled_from(["<access>", "<id>", "<refresh>"])
USERINFO_BODY = st.one_of(
    RAW_BODY.map(lambda raw: Body(None, raw)),
    ACCESS.map(lambda token: Body([("access_token", token)])),
    random_pairs(("access_token",), ("<access>", "<id>")).map(Body),
)


@fuzz(800)
@given(
    method=st.sampled_from(["GET", "POST", "POST", "PUT"]),
    auth=authorization(bearer=True),
    body=USERINFO_BODY,
    content_type=CONTENT_TYPE,
)
async def test_fuzz_userinfo(
    fuzzed: Fuzzed, method: str, auth: str | None, body: Body, content_type: str | None
) -> None:
    content = b"" if method == "GET" else body.encoded(fuzzed)
    response = await fuzzed.harness.client.request(
        method,
        f"{PREFIX}/userinfo",
        content=content,
        headers=headers_of(None if method == "GET" else content_type, auth, fuzzed),
    )
    assert_sane(response, USERINFO_STATUSES)
    if response.status_code == 401:
        assert_oauth_error(response, "invalid_token")
        # A bare challenge when no token was sent at all (RFC 6750 §3.1).
        assert response.headers["www-authenticate"] in (
            'Bearer error="invalid_token"',
            'Bearer realm="passgate"',
        )
    if response.status_code == 200:
        assert response.json()["email"] == EMAIL
