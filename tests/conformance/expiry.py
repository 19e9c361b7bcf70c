"""Garbage collection and time zones: GC deletes exactly what expired before ``now``,
comparing instants, whatever zone the datetimes were written in."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, tzinfo

import pytest

from conformance import samples
from conformance.base import Conformance
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import (
    AuditFilter,
    GCResult,
    Keys,
    LoginAttempts,
    SessionFilter,
    VerificationKey,
)

NOW = samples.NOW
PAST = NOW - timedelta(seconds=1)
FUTURE = NOW + timedelta(seconds=1)


async def _present(storage: Storage, kind: str, key: str) -> bool:
    getter = {
        "auth_request": storage.get_auth_request,
        "auth_code": storage.get_auth_code,
        "device_request": storage.get_device_request,
        "device_token": storage.get_device_token,
    }[kind]
    try:
        await getter(key)
    except NotFoundError:
        return False
    return True


async def _attempts(storage: Storage, key: str) -> LoginAttempts | None:
    return await storage.update_login_attempts(key, lambda old: old)


class ExpiryConformance(Conformance):
    async def test_gc_on_empty_storage(self, storage: Storage) -> None:
        assert await storage.garbage_collect(NOW) == GCResult()

    async def test_gc_deletes_exactly_the_expired_records(self, storage: Storage) -> None:
        for name, expiry in (("old", PAST), ("edge", NOW), ("new", FUTURE)):
            await storage.create_auth_request(samples.auth_request(name, expiry=expiry))
            await storage.create_auth_code(samples.auth_code(name, expiry=expiry))
            await storage.create_device_request(samples.device_request(name, expiry=expiry))
            await storage.create_device_token(samples.device_token(name, expiry=expiry))
            await storage.revoke_token(name, expiry)
        attempts = {
            "window-over": samples.login_attempts("window-over", expiry=PAST),
            "window-open": samples.login_attempts("window-open", expiry=FUTURE),
            "still-locked": samples.login_attempts(
                "still-locked", expiry=PAST, locked_until=FUTURE
            ),
            "lock-over": samples.login_attempts("lock-over", expiry=PAST, locked_until=PAST),
        }
        for key, record in attempts.items():
            await storage.update_login_attempts(key, lambda old, r=record: r)
        # Records that never expire must survive.
        await storage.create_client(samples.client())
        await storage.create_refresh_token(samples.refresh_token())

        result = await storage.garbage_collect(NOW)

        assert result == GCResult(
            auth_requests=1,
            auth_codes=1,
            device_requests=1,
            device_tokens=1,
            revoked_tokens=1,
            login_attempts=2,
        )
        for kind in ("auth_request", "auth_code", "device_request", "device_token"):
            assert not await _present(storage, kind, "old"), kind
            # Expiry equal to now has not passed yet.
            assert await _present(storage, kind, "edge"), kind
            assert await _present(storage, kind, "new"), kind
        assert not await storage.is_token_revoked("old")
        assert await storage.is_token_revoked("edge")
        assert await storage.is_token_revoked("new")
        assert await _attempts(storage, "window-over") is None
        assert await _attempts(storage, "lock-over") is None
        assert await _attempts(storage, "window-open") == attempts["window-open"]
        assert await _attempts(storage, "still-locked") == attempts["still-locked"]
        assert await storage.get_client("client-1") == samples.client()
        assert await storage.get_refresh_token("rt-1") == samples.refresh_token()

        assert await storage.garbage_collect(NOW) == GCResult()

    async def test_gc_compares_instants_not_wall_clocks(self, storage: Storage) -> None:
        # 12:00+05:30 is 06:30Z: expired at 08:00Z although its wall clock reads later.
        early = datetime(2026, 1, 1, 12, 0, tzinfo=samples.PLUS_0530)
        # 04:00-08:00 is 12:00Z: not expired at 08:00Z although its wall clock reads earlier.
        late = datetime(2026, 1, 1, 4, 0, tzinfo=samples.MINUS_0800)
        await storage.create_auth_request(samples.auth_request("early", expiry=early))
        await storage.create_auth_request(samples.auth_request("late", expiry=late))
        await storage.revoke_token("early", early)
        await storage.revoke_token("late", late)
        now = datetime(2026, 1, 1, 8, 0, tzinfo=UTC).astimezone(samples.MINUS_0800)

        result = await storage.garbage_collect(now)

        assert (result.auth_requests, result.revoked_tokens) == (1, 1)
        assert not await _present(storage, "auth_request", "early")
        assert await _present(storage, "auth_request", "late")
        assert await storage.is_token_revoked("late")

    async def test_revoking_again_keeps_the_later_expiry(self, storage: Storage) -> None:
        await storage.revoke_token("jti", FUTURE + timedelta(hours=1))
        await storage.revoke_token("jti", PAST)
        assert (await storage.garbage_collect(FUTURE)).revoked_tokens == 0
        assert await storage.is_token_revoked("jti")
        await storage.revoke_token("jti", FUTURE + timedelta(hours=2))
        assert (await storage.garbage_collect(FUTURE + timedelta(hours=1, seconds=1))).is_empty()
        assert (await storage.garbage_collect(FUTURE + timedelta(hours=3))).revoked_tokens == 1
        assert not await storage.is_token_revoked("jti")

    @pytest.mark.parametrize("zone", [samples.PLUS_0530, samples.MINUS_0800, UTC])
    async def test_datetimes_come_back_as_the_same_instant(
        self, storage: Storage, zone: tzinfo
    ) -> None:
        at = NOW.astimezone(zone)
        req = dataclasses.replace(samples.auth_request(), expiry=at, auth_time=at)
        await storage.create_auth_request(req)
        got = await storage.get_auth_request(req.id)
        assert got.expiry == NOW
        assert got.auth_time == NOW
        # Microseconds survive.
        assert got.expiry.microsecond == NOW.microsecond

        token = dataclasses.replace(samples.refresh_token(), created_at=at, last_used=at)
        await storage.create_refresh_token(token)
        got_token = await storage.get_refresh_token(token.id)
        assert (got_token.created_at, got_token.last_used) == (NOW, NOW)

        keys = Keys(verification_keys=(VerificationKey({"kid": "k"}, at),), next_rotation=at)
        await storage.update_keys(lambda old: keys)
        got_keys = await storage.get_keys()
        assert got_keys.next_rotation == NOW
        assert got_keys.verification_keys[0].expiry == NOW

        session = samples.offline_session()
        await storage.create_offline_session(session)
        refs = (await storage.get_offline_session("user-1", "local")).refresh
        assert refs["client-2"].created_at == NOW
        assert refs["client-2"].last_used == NOW


class UTCConformance(Conformance):
    """For backends that serialize: every datetime read back is timezone-aware UTC, and a
    naive datetime (which names no instant) is refused rather than guessed."""

    async def test_every_datetime_is_returned_in_utc(self, storage: Storage) -> None:
        await storage.create_auth_request(samples.auth_request())
        await storage.create_auth_code(samples.auth_code())
        await storage.create_refresh_token(samples.refresh_token())
        await storage.create_offline_session(samples.offline_session())
        await storage.create_device_request(samples.device_request())
        await storage.create_device_token(samples.device_token())
        keys = Keys(
            verification_keys=(VerificationKey({}, NOW.astimezone(samples.PLUS_0530)),),
            next_rotation=NOW.astimezone(samples.MINUS_0800),
        )
        await storage.update_keys(lambda old: keys)
        attempts = samples.login_attempts(locked_until=NOW.astimezone(samples.PLUS_0530))
        await storage.update_login_attempts(attempts.key, lambda old: attempts)

        req = await storage.get_auth_request("req-1")
        code = await storage.get_auth_code("code-1")
        token = await storage.get_refresh_token("rt-1")
        refs = (await storage.get_offline_session("user-1", "local")).refresh.values()
        got_keys = await storage.get_keys()
        device = await storage.get_device_token("device-1")
        got_attempts = await _attempts(storage, attempts.key)
        assert got_attempts is not None
        values = [
            req.expiry, req.auth_time, code.expiry, code.auth_time, token.created_at,
            token.last_used, token.auth_time, *(r.created_at for r in refs),
            *(r.last_used for r in refs), got_keys.next_rotation,
            got_keys.verification_keys[0].expiry, device.expiry, device.last_request_time,
            (await storage.get_device_request("ABCD-EFGH")).expiry, got_attempts.expiry,
            got_attempts.locked_until,
        ]  # fmt: skip
        for value in values:
            assert value is not None
            assert value.tzinfo is UTC, value

    async def test_naive_datetimes_are_refused(self, storage: Storage) -> None:
        naive = datetime(2026, 1, 1, 12, 0)
        with pytest.raises(ValueError, match="naive"):
            await storage.create_auth_request(samples.auth_request(expiry=naive))
        with pytest.raises(ValueError, match="naive"):
            await storage.revoke_token("jti", naive)
        with pytest.raises(ValueError, match="naive"):
            await storage.garbage_collect(naive)
        with pytest.raises(ValueError, match="naive"):
            await storage.update_keys(lambda old: Keys(next_rotation=naive))
        with pytest.raises(NotFoundError):
            await storage.get_auth_request("req-1")

    async def test_session_audit_and_revocation_times_are_utc(self, storage: Storage) -> None:
        zoned = NOW.astimezone(samples.PLUS_0530)
        await storage.create_session(samples.session(expiry=zoned, revoked_at=zoned))
        await storage.add_revocation(samples.revocation(created_at=zoned, expiry=zoned))
        await storage.append_audit_event(samples.audit_event(time=zoned))
        (session,) = await storage.list_sessions(SessionFilter(include_revoked=True), NOW)
        (rule,) = await storage.list_revocations()
        (event,) = await storage.list_audit_events(AuditFilter())
        values = [
            session.created_at, session.last_used, session.expiry, session.revoked_at,
            rule.issued_before, rule.created_at, rule.expiry, event.time,
        ]  # fmt: skip
        for value in values:
            assert value is not None
            assert value.tzinfo is UTC, value
        assert session == await storage.get_session(session.id)
        assert session.expiry == NOW

    async def test_naive_times_in_sessions_and_audit_are_refused(self, storage: Storage) -> None:
        naive = datetime(2026, 1, 1, 12, 0)
        with pytest.raises(ValueError, match="naive"):
            await storage.create_session(samples.session(created_at=naive))
        with pytest.raises(ValueError, match="naive"):
            await storage.list_sessions(SessionFilter(), naive)
        with pytest.raises(ValueError, match="naive"):
            await storage.revoke_sessions(SessionFilter(), naive, "x")
        with pytest.raises(ValueError, match="naive"):
            await storage.add_revocation(samples.revocation(created_at=naive))
        with pytest.raises(ValueError, match="naive"):
            await storage.list_revocations(naive)
        with pytest.raises(ValueError, match="naive"):
            await storage.append_audit_event(samples.audit_event(time=naive))
        with pytest.raises(ValueError, match="naive"):
            await storage.list_audit_events(AuditFilter(since=naive))
        with pytest.raises(ValueError, match="naive"):
            await storage.delete_audit_events(naive)
        assert await storage.list_sessions(SessionFilter(include_revoked=True), NOW) == []
        assert await storage.list_revocations() == []
        assert await storage.list_audit_events(AuditFilter()) == []
