"""Client secrets at rest over HTTP: a stored client's secret (set by hand, generated,
rotated, or kept as given by an older version) works at every endpoint that
authenticates clients, is shown once at most, and storage never holds it."""

from __future__ import annotations

import dataclasses

import pytest

from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Client
from server.device_support import start
from server.harness import CLIENT_ID, PREFIX, Harness, basic, running
from server.revocation_support import introspect, revoke

from .conftest import admin_config, call, events

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:5555/made"
# Longer than bcrypt's 72 bytes: the bytes after 72 must count.
HAND_SET = "hand-set-" + "x" * 80 + "-tail"


async def stored(harness: Harness, client_id: str) -> Client:
    return await harness.runtime.services.storage.get_client(client_id)


async def works_everywhere(harness: Harness, client_id: str, secret: str) -> None:
    """The code exchange, introspection, revocation and the device flow take it."""
    code = await harness.get_code(client_id=client_id, redirect_uri=REDIRECT)
    response = await harness.exchange(code, auth=basic(client_id, secret))
    assert response.status_code == 200, response.text
    tokens = response.json()
    post = {"client_id": client_id, "client_secret": secret}
    refreshed = await harness.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **post}
    )
    assert refreshed.status_code == 200, refreshed.text
    refresh_token = refreshed.json()["refresh_token"]
    assert (await introspect(harness, refresh_token, basic(client_id, secret)))["active"]
    assert (await revoke(harness, refresh_token, basic(client_id, secret))).status_code == 200
    assert not (await introspect(harness, refresh_token, basic(client_id, secret)))["active"]
    assert (await start(harness, client_id, secret)).user_code


async def refused(harness: Harness, client_id: str, secret: str) -> None:
    response = await harness.token(
        {"grant_type": "refresh_token", "refresh_token": "x"}, basic(client_id, secret)
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


async def test_a_secret_set_by_hand_is_kept_as_bcrypt_and_works_everywhere() -> None:
    async with running(admin_config()) as admin:
        body = {"id": "made", "secret": HAND_SET, "redirect_uris": [REDIRECT]}
        created = await call(admin, "POST", "/clients", status=201, json=body)
        assert created["secret"] is None  # the caller knows it; nothing echoes it
        assert created["has_secret"]
        row = await stored(admin, "made")
        assert row.secret == ""
        assert row.secret_hash.startswith("bcrypt-hmac-sha256$$2b$")
        await works_everywhere(admin, "made", HAND_SET)
        await refused(admin, "made", HAND_SET[:72])
        await refused(admin, "made", HAND_SET + "!")
        fetched = await call(admin, "GET", "/clients/made")
        assert (fetched["secret"], fetched["has_secret"]) == (None, True)
        assert HAND_SET not in repr(await events(admin))


async def test_rotating_a_generated_secret_shows_the_new_one_once() -> None:
    async with running(admin_config()) as admin:
        body = {"id": "made", "redirect_uris": [REDIRECT]}
        first = (await call(admin, "POST", "/clients", status=201, json=body))["secret"]
        assert (await stored(admin, "made")).secret_hash.startswith("hmac-sha256$")
        await works_everywhere(admin, "made", first)
        rotated = await call(admin, "POST", "/clients/made/secret")
        second = rotated["secret"]
        assert second
        assert second != first
        await refused(admin, "made", first)  # at once
        await works_everywhere(admin, "made", second)
        assert (await call(admin, "GET", "/clients/made"))["secret"] is None
        [event] = [e for e in await events(admin) if e["action"].endswith("rotate_secret")]
        assert (event["outcome"], event["client_id"], event["details"]) == (
            "success", "made", {"secret": "rotated"},
        )  # fmt: skip
        logged = repr(await events(admin))
        assert first not in logged
        assert second not in logged


async def test_rotation_is_refused_where_there_is_no_stored_secret() -> None:
    async with running(admin_config()) as admin:
        await call(admin, "POST", "/clients", status=201, json={"id": "cli", "public": True})
        public = await call(admin, "POST", "/clients/cli/secret", status=409)
        assert "public" in public["error_description"]
        static = await call(admin, "POST", f"/clients/{CLIENT_ID}/secret", status=409)
        assert "staticClients" in static["error_description"]
        await call(admin, "POST", "/clients/nobody/secret", status=404)


async def test_a_secret_kept_as_given_by_an_older_version_is_hashed_at_start() -> None:
    storage = MemoryStorage()
    legacy = Client(id="made", secret="as-given-before-0005", redirect_uris=(REDIRECT,))
    await storage.create_client(legacy)
    async with running(admin_config(), storage=storage) as admin:
        row = await stored(admin, "made")
        assert row == dataclasses.replace(legacy, secret="", secret_hash=row.secret_hash)
        assert row.secret_hash.startswith("bcrypt-hmac-sha256$")
        await works_everywhere(admin, "made", "as-given-before-0005")
        await refused(admin, "made", "as-given-before-0005x")
        # A row an older replica writes meanwhile (rolling upgrade) still authenticates.
        await storage.create_client(dataclasses.replace(legacy, id="late"))
        await works_everywhere(admin, "late", "as-given-before-0005")


async def test_the_pepper_is_encrypted_when_an_encryption_key_is_set() -> None:
    from passgate.keys.encryption import KeyRing, sealed_with
    from passgate.provider.client_secrets import PEPPER_NAME

    key = "p" * 40
    signer = f"signer: {{type: local, config: {{encryptionKey: {key}}}}}\n"
    async with running(admin_config(signer)) as admin:
        pepper = await admin.runtime.services.storage.get_secret(PEPPER_NAME)
        assert sealed_with(pepper.value.decode()) == KeyRing(key).current_id
        body = {"id": "made", "redirect_uris": [REDIRECT]}
        secret = (await call(admin, "POST", "/clients", status=201, json=body))["secret"]
        response = await admin.client.post(
            f"{PREFIX}/device/code", data={"scope": "openid"}, headers=basic("made", secret)
        )
        assert response.status_code == 200, response.text


def _readme_recovery_sql() -> list[str]:
    """The statements README's "A lost key" paragraph gives, as written there."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("A lost key cannot be recovered", 1)[1]
    [block] = re.findall(r"```sql\n(.*?)```", section, flags=re.S)[:1]
    return [statement.strip() for statement in block.split(";") if statement.strip()]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_the_documented_recovery_from_a_lost_key(
    backend: str, request: pytest.FixtureRequest, tmp_path: object
) -> None:
    """A lost encryption key: Passgate refuses the storage; README's SQL empties what the
    key sealed, and a start with a new key works (stored clients need new secrets)."""
    from pathlib import Path

    from passgate.keys.encryption import EncryptionKeyError
    from passgate.storage.base import Storage

    async def open_storage() -> Storage:
        if backend == "sqlite":
            from passgate.storage.sql.sqlite import SQLiteStorage

            storage: Storage = SQLiteStorage(str(Path(str(tmp_path)) / "p.db"))
        else:
            from passgate.storage.sql.postgres import PostgresStorage

            storage = PostgresStorage(request.getfixturevalue("postgres_dsn"))
        await storage.open()
        return storage

    def signer(key: str) -> str:
        return f"signer: {{type: local, config: {{encryptionKey: {key}}}}}\n"

    lost, new = "lost-" + "l" * 40, "new-" + "n" * 40
    async with running(admin_config(signer(lost)), storage=await open_storage()) as admin:
        body = {"id": "made", "redirect_uris": [REDIRECT]}
        old_secret = (await call(admin, "POST", "/clients", status=201, json=body))["secret"]
    refused_storage = await open_storage()
    try:
        with pytest.raises(EncryptionKeyError):
            async with running(admin_config(signer(new)), storage=refused_storage):
                pass
    finally:
        await refused_storage.close()
    storage = await open_storage()
    execute = storage._transact  # type: ignore[attr-defined]
    for statement in _readme_recovery_sql():

        async def run(session: object, sql: str = statement) -> object:
            return await session.execute(sql, {})  # type: ignore[attr-defined]

        await execute(run)
    async with running(admin_config(signer(new)), storage=storage) as admin:
        await refused(admin, "made", old_secret)
        fresh = (await call(admin, "POST", "/clients/made/secret"))["secret"]
        await works_everywhere(admin, "made", fresh)
