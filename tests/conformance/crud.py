"""Create / get / list / update / delete of every record type, and their errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from conformance import samples
from conformance.base import Boom, Conformance
from passgate.storage.base import AlreadyExistsError, NotFoundError, Storage
from passgate.storage.models import (
    Keys,
    LoginAttempts,
    PendingKey,
    RefreshTokenRef,
    VerificationKey,
)


def _boom(_: Any) -> Any:
    raise Boom("abort")


class CrudConformance(Conformance):
    async def test_client_lifecycle(self, storage: Storage) -> None:
        client = samples.client()
        await storage.create_client(client)
        assert await storage.get_client("client-1") == client
        with pytest.raises(AlreadyExistsError):
            await storage.create_client(dataclasses.replace(client, name="other"))
        assert await storage.get_client("client-1") == client

        updated = await storage.update_client(
            "client-1", lambda c: dataclasses.replace(c, redirect_uris=(), public=False)
        )
        assert updated == dataclasses.replace(client, redirect_uris=(), public=False)
        assert await storage.get_client("client-1") == updated

        await storage.delete_client("client-1")
        with pytest.raises(NotFoundError):
            await storage.get_client("client-1")
        with pytest.raises(NotFoundError):
            await storage.delete_client("client-1")

    async def test_list_clients(self, storage: Storage) -> None:
        assert await storage.list_clients() == []
        a, b = samples.client("a"), dataclasses.replace(samples.client("b"), public=False)
        await storage.create_client(b)
        await storage.create_client(a)
        assert sorted(await storage.list_clients(), key=lambda c: c.id) == [a, b]

    async def test_auth_request_lifecycle(self, storage: Storage) -> None:
        req = samples.auth_request()
        await storage.create_auth_request(req)
        assert await storage.get_auth_request(req.id) == req
        with pytest.raises(AlreadyExistsError):
            await storage.create_auth_request(req)
        updated = await storage.update_auth_request(
            req.id, lambda r: dataclasses.replace(r, logged_in=False, claims=None, max_age=None)
        )
        assert await storage.get_auth_request(req.id) == updated
        assert updated.claims is None
        assert updated.max_age is None
        await storage.delete_auth_request(req.id)
        with pytest.raises(NotFoundError):
            await storage.get_auth_request(req.id)
        with pytest.raises(NotFoundError):
            await storage.delete_auth_request(req.id)

    async def test_auth_request_defaults_round_trip(self, storage: Storage) -> None:
        bare = dataclasses.replace(
            samples.auth_request(),
            state="",
            nonce="",
            force_approval_prompt=False,
            logged_in=False,
            claims=None,
            connector_data=b"",
            pkce=samples.PKCE(),
            hmac_key=b"",
            max_age=None,
            auth_time=None,
        )
        await storage.create_auth_request(bare)
        assert await storage.get_auth_request(bare.id) == bare

    async def test_auth_code_lifecycle(self, storage: Storage) -> None:
        code = samples.auth_code()
        await storage.create_auth_code(code)
        assert await storage.get_auth_code(code.id) == code
        with pytest.raises(AlreadyExistsError):
            await storage.create_auth_code(code)
        updated = await storage.update_auth_code(
            code.id, lambda c: dataclasses.replace(c, redeemed=False, auth_time=None)
        )
        assert await storage.get_auth_code(code.id) == updated
        await storage.delete_auth_code(code.id)
        with pytest.raises(NotFoundError):
            await storage.get_auth_code(code.id)
        with pytest.raises(NotFoundError):
            await storage.delete_auth_code(code.id)

    async def test_refresh_token_lifecycle(self, storage: Storage) -> None:
        token = samples.refresh_token()
        await storage.create_refresh_token(token)
        assert await storage.get_refresh_token(token.id) == token
        with pytest.raises(AlreadyExistsError):
            await storage.create_refresh_token(token)
        other = samples.refresh_token("rt-0", "hash-x")
        await storage.create_refresh_token(other)
        assert sorted(await storage.list_refresh_tokens(), key=lambda t: t.id) == [other, token]

        rotated = await storage.update_refresh_token(
            token.id,
            lambda t: dataclasses.replace(
                t, token_hash="hash-1", obsolete_token_hash=t.token_hash, rotation_key=b""
            ),
        )
        assert rotated.obsolete_token_hash == "hash-0"
        assert await storage.get_refresh_token(token.id) == rotated
        await storage.delete_refresh_token(token.id)
        with pytest.raises(NotFoundError):
            await storage.get_refresh_token(token.id)
        with pytest.raises(NotFoundError):
            await storage.delete_refresh_token(token.id)
        assert await storage.list_refresh_tokens() == [other]

    async def test_offline_session_lifecycle(self, storage: Storage) -> None:
        session = samples.offline_session()
        await storage.create_offline_session(session)
        assert await storage.get_offline_session("user-1", "local") == session
        with pytest.raises(AlreadyExistsError):
            await storage.create_offline_session(session)
        # Same user, other connector: a different key.
        await storage.create_offline_session(samples.offline_session("user-1", "github"))
        with pytest.raises(NotFoundError):
            await storage.get_offline_session("user-1", "ldap")

        ref = RefreshTokenRef("rt-3", "client-3", samples.NOW, samples.NOW)

        def add_ref(old: samples.OfflineSession) -> samples.OfflineSession:
            return dataclasses.replace(old, refresh={**old.refresh, "client-3": ref})

        updated = await storage.update_offline_session("user-1", "local", add_ref)
        assert set(updated.refresh) == {"client-1", "client-2", "client-3"}
        assert await storage.get_offline_session("user-1", "local") == updated

        await storage.delete_offline_session("user-1", "local")
        with pytest.raises(NotFoundError):
            await storage.get_offline_session("user-1", "local")
        with pytest.raises(NotFoundError):
            await storage.delete_offline_session("user-1", "local")
        assert await storage.get_offline_session("user-1", "github") is not None

    async def test_offline_session_returned_map_is_a_copy(self, storage: Storage) -> None:
        await storage.create_offline_session(samples.offline_session())
        got = await storage.get_offline_session("user-1", "local")
        got.refresh.clear()
        assert len((await storage.get_offline_session("user-1", "local")).refresh) == 2

    async def test_empty_offline_session(self, storage: Storage) -> None:
        empty = samples.OfflineSession("user-2", "local")
        await storage.create_offline_session(empty)
        assert await storage.get_offline_session("user-2", "local") == empty

    async def test_password_emails_are_case_insensitive(self, storage: Storage) -> None:
        await storage.create_password(samples.password("Jane@Example.COM"))
        stored = await storage.get_password("jane@example.com")
        assert stored == samples.password("jane@example.com")
        assert await storage.get_password("JANE@EXAMPLE.COM") == stored
        with pytest.raises(AlreadyExistsError):
            await storage.create_password(samples.password("jane@EXAMPLE.com"))

        updated = await storage.update_password(
            "JaNe@example.com",
            lambda p: dataclasses.replace(p, email="Renamed@Example.com", name="J"),
        )
        assert updated.email == "jane@example.com"
        assert updated.name == "J"
        assert await storage.get_password("jane@example.com") == updated
        assert await storage.list_passwords() == [updated]

        await storage.delete_password("JANE@example.com")
        with pytest.raises(NotFoundError):
            await storage.get_password("jane@example.com")
        with pytest.raises(NotFoundError):
            await storage.delete_password("jane@example.com")

    async def test_a_password_user_is_disabled_and_enabled_again(self, storage: Storage) -> None:
        await storage.create_password(samples.password())
        assert not (await storage.get_password("jane@example.com")).disabled
        off = await storage.update_password(
            "jane@example.com", lambda p: dataclasses.replace(p, disabled=True)
        )
        assert off == dataclasses.replace(samples.password("jane@example.com"), disabled=True)
        assert await storage.get_password("jane@example.com") == off
        assert await storage.list_passwords() == [off]
        on = await storage.update_password(
            "jane@example.com", lambda p: dataclasses.replace(p, disabled=False)
        )
        assert await storage.get_password("jane@example.com") == on
        assert not on.disabled
        born_disabled = dataclasses.replace(samples.password("b@example.com"), disabled=True)
        await storage.create_password(born_disabled)
        assert await storage.get_password("b@example.com") == born_disabled

    async def test_list_passwords(self, storage: Storage) -> None:
        assert await storage.list_passwords() == []
        await storage.create_password(samples.password("b@example.com"))
        await storage.create_password(samples.password("A@example.com"))
        emails = sorted(p.email for p in await storage.list_passwords())
        assert emails == ["a@example.com", "b@example.com"]

    async def test_keys_round_trip(self, storage: Storage) -> None:
        assert await storage.get_keys() == Keys()
        jwk: dict[str, object] = {
            "kty": "RSA",
            "kid": "k1",
            "alg": "RS256",
            "use": "sig",
            "n": "sXch" * 64,
            "e": "AQAB",
            "d": "private-part",
            "key_ops": ["sign"],
        }
        public = {k: v for k, v in jwk.items() if k != "d"}
        keys = Keys(
            signing_key=jwk,
            signing_key_pub=public,
            verification_keys=(
                VerificationKey({"kty": "RSA", "kid": "k0", "n": "abc", "e": "AQAB"}, samples.NOW),
                VerificationKey(
                    {"kty": "EC", "kid": "k-1", "crv": "P-256", "x": "x", "y": "y"},
                    samples.NOW.astimezone(samples.PLUS_0530) + timedelta(hours=1),
                ),
            ),
            next_rotation=samples.NOW.astimezone(samples.MINUS_0800) + timedelta(hours=6),
        )
        assert await storage.update_keys(lambda old: keys) == keys
        assert await storage.get_keys() == keys
        cleared = await storage.update_keys(lambda old: dataclasses.replace(old, signing_key=None))
        assert await storage.get_keys() == cleared
        assert cleared.signing_key is None
        assert cleared.signing_key_pub == public
        # The pending key (published before it signs) round-trips and clears too.
        pending = PendingKey(
            {**jwk, "kid": "k2"},
            {**public, "kid": "k2"},
            samples.NOW.astimezone(samples.PLUS_0530) + timedelta(minutes=5),
        )
        with_pending = dataclasses.replace(keys, next_key=pending)
        assert await storage.update_keys(lambda old: with_pending) == with_pending
        assert await storage.get_keys() == with_pending
        assert (await storage.get_keys()).next_key == pending
        promoted = await storage.update_keys(lambda old: dataclasses.replace(old, next_key=None))
        assert promoted.next_key is None
        assert await storage.get_keys() == promoted

    async def test_device_request(self, storage: Storage) -> None:
        req = samples.device_request()
        await storage.create_device_request(req)
        assert await storage.get_device_request(req.user_code) == req
        with pytest.raises(AlreadyExistsError):
            await storage.create_device_request(req)
        with pytest.raises(NotFoundError):
            await storage.get_device_request("NOPE-NOPE")

    async def test_device_token(self, storage: Storage) -> None:
        token = samples.device_token()
        await storage.create_device_token(token)
        assert await storage.get_device_token(token.device_code) == token
        with pytest.raises(AlreadyExistsError):
            await storage.create_device_token(token)
        done = await storage.update_device_token(
            token.device_code, lambda t: dataclasses.replace(t, status="complete", token="{}")
        )
        assert await storage.get_device_token(token.device_code) == done
        with pytest.raises(NotFoundError):
            await storage.get_device_token("missing")
        with pytest.raises(NotFoundError):
            await storage.update_device_token("missing", lambda t: t)

    async def test_revoke_token_is_idempotent(self, storage: Storage) -> None:
        assert not await storage.is_token_revoked("jti-1")
        await storage.revoke_token("jti-1", samples.NOW)
        await storage.revoke_token("jti-1", samples.NOW)
        await storage.revoke_token("jti-1", samples.NOW - timedelta(hours=1))
        assert await storage.is_token_revoked("jti-1")
        assert not await storage.is_token_revoked("jti-2")

    async def test_login_attempts_upsert_and_delete(self, storage: Storage) -> None:
        seen: list[LoginAttempts | None] = []

        def bump(old: LoginAttempts | None) -> LoginAttempts:
            seen.append(old)
            failures = 1 if old is None else old.failures + 1
            return LoginAttempts("local/jane", failures, samples.NOW, None)

        assert await storage.get_login_attempts("local/jane") is None
        first = await storage.update_login_attempts("local/jane", bump)
        assert first == LoginAttempts("local/jane", 1, samples.NOW, None)
        assert await storage.get_login_attempts("local/jane") == first
        second = await storage.update_login_attempts("local/jane", bump)
        assert second is not None
        assert second.failures == 2
        assert seen == [None, first]

        locked = samples.login_attempts("local/jane", locked_until=samples.NOW)
        assert await storage.update_login_attempts("local/jane", lambda old: locked) == locked
        assert await storage.update_login_attempts("local/jane", lambda old: old) == locked

        assert await storage.get_login_attempts("local/jane") == locked
        assert await storage.update_login_attempts("local/jane", lambda old: None) is None
        assert await storage.update_login_attempts("local/jane", lambda old: old) is None
        assert await storage.get_login_attempts("local/jane") is None
        # Deleting what does not exist is fine too.
        assert await storage.update_login_attempts("other", lambda old: None) is None


UPDATES = [
    ("update_client", "create_client", samples.client(), ("client-1",), "get_client"),
    ("update_auth_request", "create_auth_request", samples.auth_request(), ("req-1",),
     "get_auth_request"),
    ("update_auth_code", "create_auth_code", samples.auth_code(), ("code-1",), "get_auth_code"),
    ("update_refresh_token", "create_refresh_token", samples.refresh_token(), ("rt-1",),
     "get_refresh_token"),
    ("update_offline_session", "create_offline_session", samples.offline_session(),
     ("user-1", "local"), "get_offline_session"),
    ("update_password", "create_password", samples.password(), ("jane@example.com",),
     "get_password"),
    ("update_device_token", "create_device_token", samples.device_token(), ("device-1",),
     "get_device_token"),
    ("update_session", "create_session", samples.session(), ("sess-1",), "get_session"),
]  # fmt: skip


class UpdaterConformance(Conformance):
    @pytest.mark.parametrize(("update", "create", "record", "key", "get"), UPDATES)
    async def test_updater_exception_aborts_and_propagates(
        self, storage: Storage, update: str, create: str, record: object, key: tuple[str, ...],
        get: str,
    ) -> None:  # fmt: skip
        await getattr(storage, create)(record)
        before = await getattr(storage, get)(*key)
        with pytest.raises(Boom):
            await getattr(storage, update)(*key, _boom)
        assert await getattr(storage, get)(*key) == before

    @pytest.mark.parametrize("update", [u[0] for u in UPDATES])
    async def test_update_of_missing_record(self, storage: Storage, update: str) -> None:
        calls: list[object] = []
        method: Callable[..., Awaitable[object]] = getattr(storage, update)
        args: tuple[str, ...] = (
            ("nobody", "local") if update == "update_offline_session" else ("missing",)
        )
        with pytest.raises(NotFoundError):
            await method(*args, calls.append)
        assert calls == []

    async def test_failed_keys_update_changes_nothing(self, storage: Storage) -> None:
        keys = Keys(next_rotation=samples.NOW)
        await storage.update_keys(lambda old: keys)
        with pytest.raises(Boom):
            await storage.update_keys(_boom)
        assert await storage.get_keys() == keys

    async def test_failed_login_attempts_update_changes_nothing(self, storage: Storage) -> None:
        attempts = samples.login_attempts()
        await storage.update_login_attempts(attempts.key, lambda old: attempts)
        with pytest.raises(Boom):
            await storage.update_login_attempts(attempts.key, _boom)
        assert await storage.update_login_attempts(attempts.key, lambda old: old) == attempts
        with pytest.raises(Boom):
            await storage.update_login_attempts("fresh", _boom)
        assert await storage.update_login_attempts("fresh", lambda old: old) is None
