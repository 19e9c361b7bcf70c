"""The admin API over HTTP: each resource, the refusals, static records read-only, input
errors as JSON, and an audit event for every call."""

from __future__ import annotations

import json
from datetime import datetime

import jwt
import pytest

from server.harness import (
    CLIENT_ID,
    EMAIL,
    PASSWORD,
    PREFIX,
    USER_ID,
    Harness,
    basic,
    bearer,
    config_text,
    running,
)

from .conftest import ADMIN_TOKEN, API, admin_config, auth, call, events, password_grant

pytestmark = pytest.mark.anyio


async def test_disabled_without_admin_section() -> None:
    async with running() as harness:
        for method, path in (
            ("GET", "/clients"),
            ("GET", "/openapi.json"),
            ("POST", "/keys/rotate"),
        ):
            response = await harness.client.request(method, API + path, headers=auth())
            assert response.status_code == 404
            assert response.json() == {
                "error": "not_found",
                "error_description": "the admin API is disabled: add an admin section to the "
                "configuration",
            }


# -- who may call it -----------------------------------------------------------------------
async def test_refusals_are_401_and_audited(admin: Harness) -> None:
    cases = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"},
             {"Authorization": f"Bearer {ADMIN_TOKEN}x"}]  # fmt: skip
    for headers in cases:
        response = await admin.client.post(f"{API}/keys/rotate", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith('Bearer realm="passgate-admin"')
    found = await events(admin)
    assert [e["action"] for e in found] == ["admin.auth.failure"] * 4
    assert {e["actor"] for e in found} == {"anonymous"}
    assert found[0]["details"] == {
        "method": "POST", "path": "/admin/v1/keys/rotate", "error": "invalid_token",
    }  # fmt: skip
    assert ADMIN_TOKEN not in repr(found)


async def test_admin_group_member_with_an_access_or_id_token(admin: Harness) -> None:
    tokens = await admin.tokens()  # admin@example.com is in the group "admins"
    for token in (tokens["access_token"], tokens["id_token"]):
        body = await call(admin, "GET", "/clients", token=token)
        assert body["clients"]
    [*_, last] = await events(admin, action="admin.client.list")
    assert last["actor"] == f"admin:{EMAIL}"


async def test_user_outside_the_admin_groups_is_403(admin: Harness) -> None:
    await call(admin, "POST", "/users", status=201, json={
        "email": "dev@example.com", "password": "dev-password", "groups": ["developers"],
    })  # fmt: skip
    response = await password_grant(admin, "dev@example.com", "dev-password")
    token = response.json()["access_token"]
    refused = await admin.client.get(f"{API}/clients", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    [last] = await events(admin, action="admin.auth.failure")
    assert (last["actor"], last["outcome"]) == ("dev@example.com", "failure")


async def test_revoked_admin_token_is_refused(admin: Harness) -> None:
    tokens = await admin.tokens()
    await call(admin, "GET", "/keys", token=tokens["access_token"])
    await call(admin, "POST", "/revocations", status=200,
               json={"kind": "token", "value": tokens["access_token"]})  # fmt: skip
    response = await admin.client.get(f"{API}/keys", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401


async def test_openapi_is_served_without_auth(admin: Harness) -> None:
    response = await admin.client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://127.0.0.1:5556/dex/admin/v1"}]
    assert set(document["paths"]) == {
        "/clients", "/clients/{client_id}", "/clients/{client_id}/secret", "/users",
        "/users/{email}/password", "/users/{email}/disable", "/users/{email}/enable",
        "/users/{email}", "/sessions", "/revocations", "/keys", "/keys/rotate", "/audit",
        "/browser-sessions", "/browser-sessions/{session_id}",
    }  # fmt: skip
    assert set(document["paths"]["/clients/{client_id}"]) == {"get", "put", "patch", "delete"}
    assert "ClientCreate" in document["components"]["schemas"]


# -- clients -------------------------------------------------------------------------------
async def test_client_lifecycle_and_the_secret_works_at_the_token_endpoint(
    admin: Harness,
) -> None:
    redirect = "http://127.0.0.1:5555/made"
    body = {"id": "made", "name": "Made", "redirect_uris": [redirect]}
    created = await call(admin, "POST", "/clients", status=201, json=body)
    secret = created["secret"]
    assert secret
    assert created["has_secret"]
    assert not created["static"]
    fetched = await call(admin, "GET", "/clients/made")
    assert fetched["secret"] is None
    assert fetched["redirect_uris"] == [redirect]
    # The new client signs people in and redeems codes with its secret.
    code = await admin.get_code(client_id="made", redirect_uri=redirect)
    response = await admin.exchange(code, auth=basic("made", secret))
    assert response.status_code == 200, response.text
    patched = await call(admin, "PATCH", "/clients/made", json={"name": "Renamed"})
    assert (patched["name"], patched["redirect_uris"]) == ("Renamed", [redirect])
    replaced = await call(admin, "PUT", "/clients/made", json={"public": True})
    assert replaced["redirect_uris"] == []
    assert replaced["public"]
    assert replaced["has_secret"]
    await call(admin, "DELETE", "/clients/made", status=204)
    await call(admin, "GET", "/clients/made", status=404)
    listed = await call(admin, "GET", "/clients")
    # Built-in clients (the portal's) are listed as static: they live in no database.
    assert {c["id"]: c["static"] for c in listed["clients"]} == {
        "example-app": True, "other-app": True, "kubectl": True, "passgate-portal": True,
    }  # fmt: skip
    assert all(c["secret"] is None for c in listed["clients"])


async def test_static_client_is_read_only(admin: Harness) -> None:
    for method, body in (("PUT", {}), ("PATCH", {"name": "x"}), ("DELETE", None)):
        response = await admin.client.request(
            method, f"{API}/clients/{CLIENT_ID}", json=body, headers=auth()
        )
        assert response.status_code == 409
        assert "staticClients" in response.json()["error_description"]
    response = await admin.client.post(f"{API}/clients", json={"id": CLIENT_ID}, headers=auth())
    assert response.status_code == 409
    static = await call(admin, "GET", f"/clients/{CLIENT_ID}")
    assert static["static"] is True
    assert static["secret"] is None


# -- users ---------------------------------------------------------------------------------
async def test_user_lifecycle_changes_who_can_sign_in(admin: Harness) -> None:
    body = {"email": "Jane@Example.com", "password": "first-password"}
    created = await call(admin, "POST", "/users", status=201, json=body)
    assert (created["email"], created["username"], created["static"]) == (
        "jane@example.com", "jane", False,
    )  # fmt: skip
    assert "password" not in created
    assert "hash" not in created
    assert (await password_grant(admin, "jane@example.com", "first-password")).status_code == 200
    await call(admin, "PUT", "/users/jane@example.com/password",
               json={"password": "second-password"})  # fmt: skip
    assert (await password_grant(admin, "jane@example.com", "first-password")).status_code == 400
    assert (await password_grant(admin, "jane@example.com", "second-password")).status_code == 200
    await call(admin, "DELETE", "/users/jane@example.com", status=204)
    assert (await password_grant(admin, "jane@example.com", "second-password")).status_code == 400
    await call(admin, "DELETE", "/users/jane@example.com", status=404)


async def test_a_disabled_user_cannot_sign_in_and_loses_what_they_hold(
    admin: Harness,
) -> None:
    await call(admin, "POST", "/users", status=201,
               json={"email": "kim@example.com", "password": "kims-password"})  # fmt: skip
    granted = await password_grant(admin, "kim@example.com", "kims-password",
                                   "openid email offline_access")  # fmt: skip
    assert granted.status_code == 200, granted.text
    refresh_token = granted.json()["refresh_token"]
    off = await call(admin, "POST", "/users/kim@example.com/disable",
                     params={"reason": "left the company"})  # fmt: skip
    assert (off["email"], off["disabled"]) == ("kim@example.com", True)
    assert (await password_grant(admin, "kim@example.com", "kims-password")).status_code == 400
    assert (await admin.refresh(refresh_token)).status_code == 400
    user_id = off["user_id"]
    assert (await call(admin, "GET", "/sessions", params={"user_id": user_id}))["sessions"] == []
    [audited] = await events(admin, action="admin.user.disable")
    assert audited["user_id"] == user_id
    assert audited["details"] == {"reason": "left the company", "sessions": "1"}
    # The password form refuses them like a wrong password.
    form = await admin.login_form(await admin.login_url(admin.auth_params()))
    refused = await admin.submit_login(form, login="kim@example.com", password="kims-password")
    assert refused.status_code == 200, refused.text
    assert "Invalid username or password." in refused.text
    on = await call(admin, "POST", "/users/kim@example.com/enable")
    assert on["disabled"] is False
    assert (await password_grant(admin, "kim@example.com", "kims-password")).status_code == 200
    await call(admin, "POST", "/users/nobody@example.com/disable", status=404)
    listed = (await call(admin, "GET", "/users"))["users"]
    assert [(u["email"], u["disabled"]) for u in listed] == [
        (EMAIL, False), ("kim@example.com", False),
    ]  # fmt: skip


async def test_static_user_is_read_only(admin: Harness) -> None:
    await call(admin, "PUT", f"/users/{EMAIL}/password", json={"password": "x" * 10}, status=409)
    await call(admin, "DELETE", f"/users/{EMAIL}", status=409)
    await call(admin, "POST", "/users", json={"email": EMAIL, "password": "x" * 10}, status=409)
    users = await call(admin, "GET", "/users")
    assert users["users"] == [{
        "email": EMAIL, "username": "admin", "user_id": USER_ID, "name": "",
        "preferred_username": "", "email_verified": True, "groups": ["admins", "developers"],
        "static": True, "disabled": False,
    }]  # fmt: skip
    await call(admin, "POST", f"/users/{EMAIL}/disable", status=409)
    assert (await password_grant(admin, EMAIL, PASSWORD)).status_code == 200


# -- sessions and revocation ---------------------------------------------------------------
async def test_sessions_listed_and_revoked(admin: Harness) -> None:
    first = await admin.tokens()
    second = await admin.tokens()
    sessions = (await call(admin, "GET", "/sessions", params={"user_id": USER_ID}))["sessions"]
    assert len(sessions) == 2
    assert {s["client_id"] for s in sessions} == {CLIENT_ID}
    assert sessions[0]["email"] == EMAIL
    assert (await call(admin, "GET", "/sessions", params={"client_id": "nope"}))["sessions"] == []
    target = sessions[0]["id"]
    body = {"kind": "session", "value": target, "reason": "lost laptop"}
    result = await call(admin, "POST", "/revocations", json=body)
    assert result == {"kind": "session", "revoked": True, "sessions_revoked": 1,
                      "token_type": None}  # fmt: skip
    left = (await call(admin, "GET", "/sessions"))["sessions"]
    assert [s["id"] for s in left] == [s["id"] for s in sessions if s["id"] != target]
    every = await call(admin, "GET", "/sessions", params={"include_revoked": "true"})
    revoked = [s for s in every["sessions"] if s["id"] == target]
    assert revoked[0]["revoked_by"] == "admin:ci"
    assert revoked[0]["revoked_at"]
    refreshed = [(await admin.refresh(t["refresh_token"])).status_code for t in (first, second)]
    assert sorted(refreshed) == [200, 400]
    await call(admin, "POST", "/revocations", json={"kind": "session", "value": "nope"},
               status=404)  # fmt: skip
    rules = (await call(admin, "GET", "/revocations"))["revocations"]
    # The grant was made through a browser session whose sid other clients may share:
    # the rule refuses this client's tokens under that sid.
    grant = f"{sessions[0]['browser_session_id']} {CLIENT_ID}"
    assert [(r["kind"], r["value"], r["actor"], r["reason"]) for r in rules] == [
        ("grant", grant, "admin:ci", "lost laptop"),
    ]


async def test_revoke_user_token_and_everything(admin: Harness) -> None:
    tokens = await admin.tokens()
    assert (await admin.userinfo(tokens["access_token"])).status_code == 200
    result = await call(admin, "POST", "/revocations",
                        json={"kind": "token", "value": tokens["access_token"]})  # fmt: skip
    assert (result["revoked"], result["token_type"]) == (True, "access_token")
    assert (await admin.userinfo(tokens["access_token"])).status_code == 401
    result = await call(admin, "POST", "/revocations", json={"kind": "user", "value": USER_ID})
    assert result["sessions_revoked"] == 1
    assert (await admin.refresh(tokens["refresh_token"])).status_code == 400
    keys_before = await call(admin, "GET", "/keys")
    result = await call(admin, "POST", "/revocations", json={"kind": "all", "reason": "drill"})
    assert result["kind"] == "all"
    keys_after = await call(admin, "GET", "/keys")
    assert keys_after["signing_key"]["kid"] != keys_before["signing_key"]["kid"]
    for bad in ({"kind": "user"}, {"kind": "all", "value": "x"}, {"kind": "nope", "value": "x"}):
        response = await admin.client.post(f"{API}/revocations", json=bad, headers=auth())
        assert response.status_code in (400, 422), response.text
    response = await admin.client.post(
        f"{API}/revocations", json={"kind": "token", "value": tokens["id_token"]}, headers=auth()
    )
    assert response.status_code in (200, 400), response.text


# -- keys and audit ------------------------------------------------------------------------
async def signed_with(admin: Harness) -> str:
    """The kid of a freshly issued ID token."""
    response = await password_grant(admin, "kid@example.com", "kid-password")
    assert response.status_code == 200, response.text
    return str(jwt.get_unverified_header(response.json()["id_token"])["kid"])


async def test_keys_status_and_rotation(admin: Harness) -> None:
    before = await call(admin, "GET", "/keys")
    assert before["signing_key"]["algorithm"] == "RS256"
    assert before["signing_key"]["expiry"] is None
    assert before["next_rotation"]
    assert before["next_key"] is None
    old = before["signing_key"]["kid"]
    await call(admin, "POST", "/users", status=201, json={
        "email": "kid@example.com", "password": "kid-password",
    })  # fmt: skip

    async def published() -> set[str]:
        jwks = (await admin.client.get(f"{PREFIX}/keys")).json()["keys"]
        assert all("d" not in k for k in jwks)
        return {k["kid"] for k in jwks}

    # Publish first: the new key is in the JWKS at once and signs after the delay.
    after = await call(admin, "POST", "/keys/rotate")
    assert after["signing_key"]["kid"] == old
    pending = after["next_key"]
    assert pending["algorithm"] == "RS256"
    signs_at = datetime.fromisoformat(pending["signs_at"])
    delay = admin.runtime.services.keys.propagation_delay
    assert signs_at == admin.clock() + delay
    assert await published() == {old, pending["kid"]}
    # Asked again before it signs: the same key, the same time.
    again = await call(admin, "POST", "/keys/rotate")
    assert again["next_key"] == pending

    admin.clock.advance(delay)
    assert await signed_with(admin) == pending["kid"]

    # The emergency path: a new key signs at once, the compromised one leaves the JWKS.
    emergency = await call(admin, "POST", "/keys/rotate", params={"now": "true"})
    new = emergency["signing_key"]["kid"]
    assert new not in (old, pending["kid"])
    assert emergency["next_key"] is None
    assert await published() == {new, old}  # the retired key was never compromised
    assert await signed_with(admin) == new
    *_, audited = await events(admin, action="admin.keys.rotate")
    assert audited["details"] == {"previous_kid": pending["kid"], "kid": new, "at_once": "yes"}


async def test_every_state_change_leaves_an_audit_event(admin: Harness) -> None:
    await call(admin, "POST", "/clients", json={"id": "c1"}, status=201)
    await call(admin, "PUT", "/clients/c1", json={"name": "one"})
    await call(admin, "PATCH", "/clients/c1", json={"name": "uno"})
    await call(admin, "DELETE", "/clients/c1", status=204)
    await call(admin, "POST", "/users", json={"email": "a@b.c", "password": "p" * 8}, status=201)
    await call(admin, "PUT", "/users/a@b.c/password", json={"password": "q" * 8})
    await call(admin, "DELETE", "/users/a@b.c", status=204)
    await call(admin, "POST", "/revocations", json={"kind": "client", "value": "c1"})
    await call(admin, "POST", "/keys/rotate")
    admin_events = [e for e in await events(admin) if e["action"].startswith("admin.")]
    assert [(e["action"], e["outcome"], e["actor"]) for e in admin_events] == [
        (action, "success", "admin:ci") for action in (
            "admin.client.create", "admin.client.update", "admin.client.update",
            "admin.client.delete", "admin.user.create", "admin.user.password",
            "admin.user.delete", "admin.revocation.create", "admin.keys.rotate",
        )
    ]  # fmt: skip
    assert admin_events[0]["client_id"] == "c1"
    assert admin_events[7]["details"] == {"kind": "client", "sessions": "0"}
    # The Revoker records what it revoked as well, with the admin as the actor.
    [revoked] = await events(admin, action="session.revoke")
    assert revoked["actor"] == "admin:ci"
    assert revoked["client_id"] == "c1"
    # Reading the log is a call too, and is audited.
    page = await call(admin, "GET", "/audit", params={"action": "admin.client", "limit": "2"})
    assert [e["action"] for e in page["events"]] == ["admin.client.delete", "admin.client.update"]
    assert page["next_before_seq"] == page["events"][-1]["seq"]
    rest = await call(admin, "GET", "/audit", params={
        "action": "admin.client", "before_seq": str(page["next_before_seq"]),
    })  # fmt: skip
    assert [e["action"] for e in rest["events"]] == ["admin.client.update", "admin.client.create"]
    assert rest["next_before_seq"] is None
    [*_, listed] = await events(admin)
    assert listed["action"] == "admin.audit.list"


async def test_refused_changes_are_audited_as_failures(admin: Harness) -> None:
    await call(admin, "DELETE", f"/clients/{CLIENT_ID}", status=409)
    await call(admin, "POST", "/clients", json={"id": "x", "bogus": 1}, status=422)
    found = await events(admin)
    assert [(e["action"], e["outcome"], e["details"].get("error")) for e in found] == [
        ("admin.client.delete", "failure", "conflict"),
        ("admin.client.create", "failure", "invalid_request"),
    ]


# -- input that is not what the schema says ------------------------------------------------
@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"id": "x"}', {"content-type": "text/plain"}, 415),
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 422),
        (b'{"id": "x", "public": "true"}', {"content-type": "application/json"}, 422),
        (b'{"id": "a\\u0000b"}', {"content-type": "application/json"}, 400),
        (b'{"name": "\\ud800"}', {"content-type": "application/json"}, 400),
        (b"[" * 5000 + b"]" * 5000, {"content-type": "application/json"}, 400),
        (b'{"name": "' + b"x" * 70000 + b'"}', {"content-type": "application/json"}, 413),
        (b'{"redirect_uris": ["not a url"]}', {"content-type": "application/json"}, 422),
    ],
)
async def test_bad_bodies(
    admin: Harness, content: bytes, headers: dict[str, str], status: int
) -> None:
    response = await admin.client.post(
        f"{API}/clients", content=content, headers={**auth(), **headers}
    )
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error_description"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=x", "limit=1&limit=2", "since=2026-01-01T00:00:00",
     "before_seq=0", "bogus=1", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"],
)  # fmt: skip
async def test_bad_queries(admin: Harness, query: str) -> None:
    response = await admin.client.get(f"{API}/audit?{query}", headers=auth())
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_metrics_label_admin_routes(admin: Harness) -> None:
    await call(admin, "GET", "/clients/whatever", status=404)
    registry = admin.runtime.services.metrics.requests
    labels = {sample.labels["endpoint"] for metric in registry.collect()
              for sample in metric.samples}  # fmt: skip
    assert "/dex/admin/v1/clients/{client_id}" in labels or (
        "/admin/v1/clients/{client_id}" in labels
    )


async def test_admin_api_with_groups_only() -> None:
    async with running(config_text(extra="admin:\n  groups: [admins]\n")) as harness:
        response = await harness.client.get(f"{API}/clients", headers=auth())
        assert response.status_code == 401
        tokens = await harness.tokens()
        assert (await call(harness, "GET", "/users", token=tokens["access_token"]))["users"]


async def test_browser_sessions_listed_read_and_ended(admin: Harness) -> None:
    """A browser's single sign-on session: listed with its clients, read by id, ended with
    everything made through it (its grants, tokens, cookie), once; audited each time."""
    first = await admin.tokens()
    elsewhere = await admin.tokens(browser=await admin.browser())
    listed = (await call(admin, "GET", "/browser-sessions"))["browser_sessions"]
    assert len(listed) == 2
    assert {tuple(b["clients"]) for b in listed} == {(CLIENT_ID,)}
    assert {b["email"] for b in listed} == {EMAIL}
    sid = next(b["id"] for b in listed if b["id"] == _sid(first))
    one = await call(admin, "GET", f"/browser-sessions/{sid}")
    assert one["id"] == sid
    assert one["user_id"] == USER_ID
    assert one["groups"] == ["admins", "developers"]
    assert (one["with_groups"], one["acr_values"]) == (True, [])
    # The grants made through it name it.
    grants = await call(admin, "GET", "/sessions", params={"browser_session_id": sid})
    assert [g["browser_session_id"] for g in grants["sessions"]] == [sid]
    await call(admin, "DELETE", f"/browser-sessions/{sid}", params={"reason": "lost laptop"},
               status=204)  # fmt: skip
    assert (await admin.refresh(first["refresh_token"])).status_code == 400
    assert (await admin.refresh(elsewhere["refresh_token"])).status_code == 200
    left = (await call(admin, "GET", "/browser-sessions"))["browser_sessions"]
    assert [b["id"] for b in left] == [_sid(elsewhere)]
    ended = await call(admin, "GET", f"/browser-sessions/{sid}")
    assert (ended["revoked_by"], bool(ended["revoked_at"])) == ("admin:ci", True)
    await call(admin, "DELETE", "/browser-sessions/nope", status=404)
    # Also through the revocations resource, by its id as a "session".
    body = {"kind": "session", "value": _sid(elsewhere), "reason": "gone"}
    result = await call(admin, "POST", "/revocations", json=body)
    assert result["revoked"] is True
    assert (await admin.refresh(elsewhere["refresh_token"])).status_code == 400
    actions = [e["action"] for e in await events(admin, action="admin.browser_session")]
    assert sorted(set(actions)) == [
        "admin.browser_session.end", "admin.browser_session.get", "admin.browser_session.list",
    ]  # fmt: skip


def _sid(tokens: dict[str, str]) -> str:
    import jwt

    sid: str = jwt.decode(tokens["id_token"], options={"verify_signature": False})["sid"]
    return sid


async def test_keys_status_names_the_encryption_key(admin: Harness) -> None:
    from passgate.keys.encryption import KeyRing

    assert (await call(admin, "GET", "/keys"))["encryption_key_id"] == ""
    key = "k" * 40
    signer = f"signer: {{type: local, config: {{encryptionKey: {key}}}}}\n"
    async with running(admin_config(signer)) as sealed:
        status = await call(sealed, "GET", "/keys")
        assert status["encryption_key_id"] == KeyRing(key).current_id
        assert key not in json.dumps(status)
