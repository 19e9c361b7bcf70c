"""The ``google`` connector's groups: the service account's JWT bearer grant (domain-wide
delegation), the Directory API's ``groups.list`` with pagination and nested groups,
``domainToAdminEmail``, required ``groups``, key file problems and Directory errors."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from connectors.fake_google import (
    GROUP_SCOPE,
    JWT_BEARER,
    SA_EMAIL,
    FakeGoogle,
    rate_limited,
)
from connectors.test_google import ALL, connector, google, sign_in
from passgate.clock import FrozenClock
from passgate.connectors.base import (
    ConnectorError,
    Scopes,
    UpstreamUnavailableError,
    UserNotInRequiredGroupsError,
)
from passgate.connectors.google import GoogleConnector, ServiceAccountError
from passgate.connectors.google.directory import MAX_REQUESTS
from passgate.connectors.http import UpstreamRateLimitedError

pytestmark = pytest.mark.anyio
__all__ = ["google"]  # the fixture, imported for this module's tests

GROUPS_PATH = "/admin/directory/v1/groups"
NO_GROUPS_SCOPE = Scopes(offline_access=True)
Make = Callable[..., GoogleConnector]


@pytest.fixture
async def make(google: FakeGoogle, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Make]:
    """Connectors with a service account key file and ``*`` -> admin@example.com."""
    made: list[GoogleConnector] = []
    key_file = str(google.key_file(tmp_path))

    def factory(**options: Any) -> GoogleConnector:
        options.setdefault("serviceAccountFilePath", key_file)
        options.setdefault("domainToAdminEmail", {"*": "admin@example.com"})
        made.append(connector(google, clock, **options))
        return made[-1]

    yield factory
    for each in made:
        await each.close()


def directory_calls(google: FakeGoogle) -> list[dict[str, str]]:
    return [params for path, params in google.calls if path == GROUPS_PATH]


# -- groups ----------------------------------------------------------------------------------
async def test_groups_come_from_the_directory(google: FakeGoogle, make: Make) -> None:
    identity = await sign_in(make())
    assert identity.groups == ("devs@example.com", "ops@example.com")
    assert directory_calls(google) == [{"userKey": "jane@example.com"}]


async def test_no_groups_scope_no_directory_call(google: FakeGoogle, make: Make) -> None:
    identity = await sign_in(make(), NO_GROUPS_SCOPE)
    assert identity.groups == ()
    assert directory_calls(google) == []


async def test_pages_beyond_the_first(google: FakeGoogle, make: Make) -> None:
    for name in ("a", "b", "c", "d", "e"):
        google.add_group(f"team-{name}@example.com", "jane@example.com")
    google.page_size = 2
    identity = await sign_in(make())
    assert identity.groups == (
        "devs@example.com", "ops@example.com", "team-a@example.com", "team-b@example.com",
        "team-c@example.com", "team-d@example.com", "team-e@example.com",
    )  # fmt: skip
    calls = directory_calls(google)
    assert len(calls) == 4
    assert "pageToken" not in calls[0]
    assert all(call["pageToken"] for call in calls[1:])


async def test_nested_groups_with_fetch_transitive(google: FakeGoogle, make: Make) -> None:
    google.add_group("eng@example.com", "devs@example.com")
    google.add_group("all@example.com", "eng@example.com", "ops@example.com")
    google.groups["devs@example.com"].members.add("all@example.com")  # a cycle
    direct = await sign_in(make())
    assert direct.groups == ("devs@example.com", "ops@example.com")
    nested = await sign_in(make(fetchTransitiveGroupMembership=True))
    # Dex's order: depth first, each group once however many paths lead to it.
    assert nested.groups == (
        "devs@example.com", "eng@example.com", "all@example.com", "ops@example.com",
    )  # fmt: skip


async def test_required_groups_keep_only_those(google: FakeGoogle, make: Make) -> None:
    conn = make(groups=["ops@example.com", "finance@example.com"])
    assert (await sign_in(conn)).groups == ("ops@example.com",)
    # The check runs without the groups scope too; the token then has no groups.
    assert (await sign_in(conn, NO_GROUPS_SCOPE)).groups == ()
    google.groups["ops@example.com"].members.clear()
    with pytest.raises(UserNotInRequiredGroupsError) as caught:
        await sign_in(conn, NO_GROUPS_SCOPE)
    assert str(caught.value) == (
        "jane@example.com is not a member of any Google group allowed here "
        "(ops@example.com, finance@example.com)"
    )


async def test_refresh_reads_the_groups_again(google: FakeGoogle, make: Make) -> None:
    conn = make(groups=["devs@example.com", "ops@example.com"])
    identity = await sign_in(conn)
    google.groups["devs@example.com"].members.clear()
    fresh = await conn.refresh(ALL, identity)
    assert fresh.groups == ("ops@example.com",)
    google.groups["ops@example.com"].members.clear()
    with pytest.raises(UserNotInRequiredGroupsError):
        await conn.refresh(ALL, fresh)


async def test_refresh_without_a_google_token_still_checks_groups(
    google: FakeGoogle, make: Make
) -> None:
    conn = make(groups=["devs@example.com"])
    identity = await sign_in(conn, Scopes(groups=True))
    assert identity.connector_data == b""
    google.groups["devs@example.com"].members.clear()
    with pytest.raises(UserNotInRequiredGroupsError):
        await conn.refresh(Scopes(groups=True), identity)


async def test_a_user_deleted_from_the_directory(google: FakeGoogle, make: Make) -> None:
    conn = make()
    identity = await sign_in(conn)
    del google.accounts["jane@example.com"]
    google.refresh_tokens.clear()
    with pytest.raises(ConnectorError) as caught:
        await conn.refresh(ALL, dataclasses.replace(identity, connector_data=b""))
    assert "HTTP 404: Resource Not Found: userKey" in str(caught.value)
    assert not isinstance(caught.value, UpstreamUnavailableError)  # -> invalid_grant


async def test_no_email_scope_no_group_lookup(make: Make) -> None:
    with pytest.raises(ConnectorError, match="keep 'email' in the connector's scopes"):
        await sign_in(make(scopes=["profile"]))


# -- domainToAdminEmail ----------------------------------------------------------------------
async def test_each_domain_is_read_as_its_own_admin(google: FakeGoogle, make: Make) -> None:
    google.add_user("boss@example.org", "Bo Boss", admin=True)
    google.add_user("olga@example.org", "Olga")
    google.add_group("sales@example.org", "olga@example.org")
    admins = {"example.com": "admin@example.com", "example.org": "boss@example.org"}
    conn = make(domainToAdminEmail=admins)
    assert (await sign_in(conn)).groups == ("devs@example.com", "ops@example.com")
    google.signed_in = "olga@example.org"
    assert (await sign_in(conn)).groups == ("sales@example.org",)
    subjects = {_assertion(form)["sub"] for _, form in google.calls if "assertion" in form}
    assert {"admin@example.com", "boss@example.org"} <= subjects


async def test_a_domain_without_admin_is_a_clear_error(google: FakeGoogle, make: Make) -> None:
    google.add_user("olga@example.org", "Olga")
    conn = make(domainToAdminEmail={"example.com": "admin@example.com"})
    google.signed_in = "olga@example.org"
    with pytest.raises(ConnectorError) as caught:
        await sign_in(conn)
    assert str(caught.value) == (
        "cannot look up the Google groups of olga@example.org: domainToAdminEmail has no "
        "admin for the domain 'example.org' and no '*' entry"
    )
    # The wildcard admin is asked, and Google refuses it another Workspace's users.
    conn = make(domainToAdminEmail={"*": "admin@example.com"})
    with pytest.raises(UpstreamUnavailableError, match="HTTP 403: Not Authorized"):
        await sign_in(conn)


async def test_deprecated_admin_email_is_the_wildcard(google: FakeGoogle, make: Make) -> None:
    conn = make(domainToAdminEmail={}, adminEmail="admin@example.com")
    assert (await sign_in(conn)).groups == ("devs@example.com", "ops@example.com")


# -- the service account ---------------------------------------------------------------------
def _assertion(form: dict[str, str]) -> dict[str, Any]:
    payload = jws.extract_compact(form["assertion"].encode()).payload
    claims: dict[str, Any] = json.loads(payload)
    return claims


async def test_the_jwt_bearer_grant(google: FakeGoogle, make: Make, clock: FrozenClock) -> None:
    conn = make()
    await sign_in(conn)
    await sign_in(conn)
    grants = [form for path, form in google.calls if form.get("grant_type") == JWT_BEARER]
    assert len(grants) == 1  # the access token is reused until it nearly expires
    header = jws.extract_compact(grants[0]["assertion"].encode()).headers()
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "sa-key-1"}
    claims = _assertion(grants[0])
    assert claims == {
        "iss": SA_EMAIL,
        "sub": "admin@example.com",
        "scope": GROUP_SCOPE,
        "aud": f"{google.base_url}/token",
        "iat": int(clock().timestamp()),
        "exp": int(clock().timestamp()) + 3600,
    }
    clock.advance(timedelta(minutes=59))
    await sign_in(conn)
    assert sum(1 for _, form in google.calls if form.get("grant_type") == JWT_BEARER) == 2


async def test_a_token_revoked_early_is_replaced(google: FakeGoogle, make: Make) -> None:
    conn = make()
    await sign_in(conn)
    google.directory_tokens.clear()
    assert (await sign_in(conn)).groups == ("devs@example.com", "ops@example.com")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("scope", "HTTP 401: unauthorized_client: Client is unauthorized"),
        ("admin", "HTTP 400: invalid_grant: Invalid email or User ID"),
        ("key", "HTTP 400: invalid_grant: Invalid JWT Signature."),
        ("not-admin", "HTTP 403: Not Authorized to access this resource/api"),
    ],
)
async def test_google_refuses_the_service_account(
    google: FakeGoogle, make: Make, change: str, message: str
) -> None:
    """Passgate's own credentials are refused: unavailable (a refresh keeps the session
    for when the set-up is fixed), with the upstream's words and a hint."""
    options: dict[str, Any] = {}
    if change == "scope":
        google.delegated = {"https://www.googleapis.com/auth/admin.directory.user.readonly"}
    elif change == "admin":
        options["domainToAdminEmail"] = {"*": "nobody@example.com"}
    elif change == "key":
        del google.sa_keys["sa-key-1"]  # the key was deleted in the Cloud console
    else:
        google.accounts["admin@example.com"].admin = False
    with pytest.raises(UpstreamUnavailableError) as caught:
        await sign_in(make(**options))
    assert message in str(caught.value)
    assert "check" in str(caught.value)


def _key_file(tmp_path: Path, **data: Any) -> str:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (None, "cannot read the service account key file"),
        ("not json", "is not a JSON service account key file"),
        ({"type": "authorized_user"}, "'type' is 'authorized_user', expected 'service_account'"),
        ({"type": "service_account", "private_key": "x"}, "has no 'client_email'"),
        (
            {"type": "service_account", "client_email": SA_EMAIL, "private_key": "garbage"},
            "'private_key' is not a PEM RSA private key",
        ),
    ],
    ids=["missing", "not-json", "user-credentials", "no-email", "bad-key"],
)
def test_a_bad_key_file_stops_start_up(
    google: FakeGoogle, clock: FrozenClock, tmp_path: Path, contents: Any, message: str
) -> None:
    path = tmp_path / "key.json"
    if contents is not None:
        path.write_text(contents if isinstance(contents, str) else json.dumps(contents))
    with pytest.raises(ServiceAccountError, match=message) as caught:
        connector(google, clock, serviceAccountFilePath=str(path), adminEmail="a@example.com")
    assert isinstance(caught.value, ValueError)
    assert str(path) in str(caught.value)


async def test_application_default_credentials(
    google: FakeGoogle, clock: FrozenClock, tmp_path: Path
) -> None:
    """Dex without serviceAccountFilePath: the key file named by the environment."""
    options = {"domainToAdminEmail": {"*": "admin@example.com"}}
    with pytest.raises(ServiceAccountError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        connector(google, clock, **options)
    environ = {"GOOGLE_APPLICATION_CREDENTIALS": str(google.key_file(tmp_path))}
    conn = connector(google, clock, environ, **options)
    assert (await sign_in(conn)).groups == ("devs@example.com", "ops@example.com")
    await conn.close()


# -- a broken Directory API ------------------------------------------------------------------
def canned(response: Response) -> Callable[[Request], Response]:
    return lambda _request: response


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (rate_limited(429), UpstreamRateLimitedError, "is rate limiting us"),
        (rate_limited(403), UpstreamRateLimitedError, "is rate limiting us"),
        (Response("backend error", 503), UpstreamUnavailableError, "HTTP 503"),
        (HTMLResponse("<html>Error 502</html>", 200), UpstreamUnavailableError, "did not answer"),
        (JSONResponse({"groups": "devs"}), UpstreamUnavailableError, "no group list"),
        (JSONResponse({"groups": [{"id": "1"}]}), UpstreamUnavailableError, "without an email"),
        (
            JSONResponse({"groups": [], "nextPageToken": "again"}),
            UpstreamUnavailableError,
            "bad nextPageToken",
        ),
    ],
    ids=["429", "403-user-rate", "5xx", "garbage", "not-a-list", "no-email", "page-loop"],
)
async def test_a_broken_directory(
    google: FakeGoogle, make: Make, response: Response, error: type[Exception], message: str
) -> None:
    conn = make()
    identity = await sign_in(conn)
    google.fail[GROUPS_PATH] = canned(response)
    with pytest.raises(error, match=message):
        await conn.refresh(ALL, identity)
    with pytest.raises(error, match=message):
        await sign_in(conn)


async def test_a_runaway_directory_is_cut_off(
    google: FakeGoogle, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = iter(range(10**6))

    def endless(_request: Request) -> Response:
        return JSONResponse({"nextPageToken": f"t{next(counter)}"})

    google.fail[GROUPS_PATH] = endless
    monkeypatch.setattr("passgate.connectors.google.directory.MAX_REQUESTS", 5)
    with pytest.raises(UpstreamUnavailableError, match="more than 5 requests"):
        await sign_in(make())
    assert MAX_REQUESTS >= 100  # the real budget leaves room for large organisations
