"""Sessions and revocation rules: round trips, the list filters and their order, atomic
bulk revocation (racing revokers never both report one session), and their expiry."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import anyio
import pytest

from conformance import samples
from conformance.base import Conformance, StorageFactory
from passgate.storage.base import REVOKED_SESSION_KEPT, AlreadyExistsError, NotFoundError, Storage
from passgate.storage.models import GCResult, Session, SessionFilter

NOW = samples.NOW
PAST = NOW - timedelta(seconds=1)
FUTURE = NOW + timedelta(seconds=1)
PAST_STEP = timedelta(seconds=1)
H = timedelta(hours=1)


def _ids(sessions: list[Session]) -> list[str]:
    return [s.id for s in sessions]


async def _population(storage: Storage) -> None:
    """Sessions of two users at two clients and two connectors, some ended."""
    for s in (
        # Its wall clock (15:39+05:30) reads later than the others'; its instant is oldest.
        samples.session("a", created_at=(NOW - 5 * H).astimezone(samples.PLUS_0530)),
        samples.session("b", client_id="client-2", connector_id="github", created_at=NOW - 4 * H),
        samples.session("c", user_id="user-2", created_at=NOW - 3 * H),
        # Same instant as "c" written in another zone: the id breaks the tie.
        samples.session("d", created_at=(NOW - 3 * H).astimezone(samples.MINUS_0800)),
        samples.session("e", user_id="user-2", client_id="client-2", created_at=NOW - 2 * H),
        samples.session("expired", created_at=NOW - 6 * H, expiry=NOW),
        samples.session("expires-later", created_at=NOW - 7 * H, expiry=FUTURE),
        samples.session("revoked", created_at=NOW - 8 * H, revoked_at=NOW - H),
    ):
        await storage.create_session(s)


class SessionConformance(Conformance):
    async def test_session_lifecycle(self, storage: Storage) -> None:
        full = samples.session(expiry=NOW + 8 * H, revoked_at=NOW.astimezone(samples.PLUS_0530))
        await storage.create_session(full)
        assert await storage.get_session("sess-1") == full
        with pytest.raises(AlreadyExistsError):
            await storage.create_session(dataclasses.replace(full, user_id="someone else"))
        assert await storage.get_session("sess-1") == full
        with pytest.raises(NotFoundError):
            await storage.get_session("missing")

        bare = dataclasses.replace(
            samples.session("bare"), scopes=(), remote_addr="", user_agent="", revoked_by=""
        )
        await storage.create_session(bare)
        assert await storage.get_session("bare") == bare
        assert (await storage.get_session("bare")).expiry is None

    async def test_update_session_is_compare_and_swap(self, storage: Storage) -> None:
        await storage.create_session(samples.session())
        seen: list[Session] = []

        def touch(old: Session) -> Session:
            seen.append(old)
            return dataclasses.replace(old, last_used=FUTURE, expiry=NOW + H)

        updated = await storage.update_session("sess-1", touch)
        assert seen == [samples.session()]
        assert updated == dataclasses.replace(samples.session(), last_used=FUTURE, expiry=NOW + H)
        assert await storage.get_session("sess-1") == updated
        cleared = await storage.update_session(
            "sess-1", lambda s: dataclasses.replace(s, expiry=None)
        )
        assert (await storage.get_session("sess-1")).expiry is None
        assert cleared.expiry is None

    async def test_list_sessions_filters_and_order(self, storage: Storage) -> None:
        assert await storage.list_sessions(SessionFilter(), NOW) == []
        await _population(storage)

        def listed(**which: Any) -> Awaitable[list[Session]]:
            return storage.list_sessions(SessionFilter(**which), NOW)

        # Active only, newest first by (created_at, id): "expired" has expiry == now.
        assert _ids(await listed()) == ["e", "d", "c", "b", "a", "expires-later"]
        assert _ids(await listed(include_revoked=True)) == [
            "e", "d", "c", "b", "a", "expired", "expires-later", "revoked",
        ]  # fmt: skip
        assert _ids(await listed(user_id="user-2")) == ["e", "c"]
        assert _ids(await listed(user_id="user-1")) == ["d", "b", "a", "expires-later"]
        assert _ids(await listed(client_id="client-2")) == ["e", "b"]
        assert _ids(await listed(connector_id="github")) == ["b"]
        assert _ids(await listed(user_id="user-1", client_id="client-1", connector_id="local")) == [
            "d", "a", "expires-later",
        ]  # fmt: skip
        assert _ids(await listed(user_id="user-1", include_revoked=True, client_id="client-1")) == [
            "d", "a", "expired", "expires-later", "revoked",
        ]  # fmt: skip
        assert await listed(user_id="nobody", include_revoked=True) == []
        # Records come back whole.
        (b,) = await listed(connector_id="github")
        assert b == await storage.get_session("b")
        # Later, "expires-later" has expired too.
        later = await storage.list_sessions(SessionFilter(user_id="user-1"), FUTURE)
        assert _ids(later) == ["d", "b", "a"]

    async def test_revoke_sessions_marks_each_once(self, storage: Storage) -> None:
        await _population(storage)
        by = SessionFilter(user_id="user-1", client_id="client-1")
        marked = await storage.revoke_sessions(by, NOW, "admin:ops")
        # Expired but never revoked counts as not revoked yet; "revoked" does not.
        assert sorted(marked) == ["a", "d", "expired", "expires-later"]
        assert await storage.revoke_sessions(by, FUTURE, "admin:other") == []
        for session_id in marked:
            got = await storage.get_session(session_id)
            assert (got.revoked_at, got.revoked_by) == (NOW, "admin:ops")
        # The one revoked before keeps its time and reason.
        assert await storage.get_session("revoked") == samples.session(
            "revoked", created_at=NOW - 8 * H, revoked_at=NOW - H
        )
        # The others are untouched.
        assert (await storage.get_session("b")).revoked_at is None
        assert _ids(await storage.list_sessions(SessionFilter(), NOW)) == ["e", "c", "b"]

        assert await storage.revoke_sessions(SessionFilter(connector_id="ldap"), NOW, "x") == []
        # An empty filter means every session.
        assert sorted(await storage.revoke_sessions(SessionFilter(), FUTURE, "logout")) == [
            "b", "c", "e",
        ]  # fmt: skip
        assert await storage.revoke_sessions(SessionFilter(), FUTURE, "logout") == []
        assert await storage.list_sessions(SessionFilter(), NOW) == []
        assert len(await storage.list_sessions(SessionFilter(include_revoked=True), NOW)) == 8

    async def test_tokens_carry_their_session_id(self, storage: Storage) -> None:
        code = samples.auth_code()
        token = samples.refresh_token()
        assert (code.session_id, token.session_id) == ("sess-1", "sess-1")
        await storage.create_auth_code(code)
        await storage.create_refresh_token(token)
        assert (await storage.get_auth_code(code.id)).session_id == "sess-1"
        assert (await storage.get_refresh_token(token.id)).session_id == "sess-1"
        moved = await storage.update_refresh_token(
            token.id, lambda t: dataclasses.replace(t, session_id="sess-2")
        )
        assert await storage.get_refresh_token(token.id) == moved
        assert moved.session_id == "sess-2"
        # The default (no session) round-trips as well.
        await storage.create_auth_code(dataclasses.replace(code, id="code-2", session_id=""))
        await storage.create_refresh_token(dataclasses.replace(token, id="rt-2", session_id=""))
        assert (await storage.get_auth_code("code-2")).session_id == ""
        assert (await storage.get_refresh_token("rt-2")).session_id == ""


class RevocationConformance(Conformance):
    async def test_revocation_round_trip_and_duplicates(self, storage: Storage) -> None:
        assert await storage.list_revocations() == []
        rule = samples.revocation()
        await storage.add_revocation(rule)
        assert await storage.list_revocations() == [rule]
        with pytest.raises(AlreadyExistsError):
            await storage.add_revocation(dataclasses.replace(rule, kind="all", value=""))
        assert await storage.list_revocations() == [rule]
        everything = samples.revocation("rev-all", kind="all", value="", created_at=FUTURE)
        everything = dataclasses.replace(everything, actor="", reason="")
        await storage.add_revocation(everything)
        assert await storage.list_revocations() == [rule, everything]

    async def test_list_revocations_since_oldest_first(self, storage: Storage) -> None:
        rules = [
            samples.revocation("r3", created_at=NOW + H),
            samples.revocation("r1", kind="session", value="sess-1", created_at=NOW - H),
            # Same instant as r2b, another zone: the id breaks the tie.
            samples.revocation("r2b", kind="token", value="jti", created_at=NOW),
            samples.revocation("r2a", kind="client", created_at=NOW.astimezone(samples.PLUS_0530)),
        ]
        for rule in rules:
            await storage.add_revocation(rule)
        order = ["r1", "r2a", "r2b", "r3"]
        assert [r.id for r in await storage.list_revocations()] == order
        assert [r.id for r in await storage.list_revocations(None)] == order
        # ``since`` is inclusive, and compares instants.
        since = NOW.astimezone(samples.MINUS_0800)
        assert [r.id for r in await storage.list_revocations(since)] == ["r2a", "r2b", "r3"]
        assert [
            r.id for r in await storage.list_revocations(since + timedelta(microseconds=1))
        ] == ["r3"]
        assert await storage.list_revocations(NOW + 2 * H) == []
        by_id = {r.id: r for r in rules}
        assert await storage.list_revocations() == [by_id[i] for i in order]


class SessionExpiryConformance(Conformance):
    async def test_gc_deletes_expired_sessions_and_revocations(self, storage: Storage) -> None:
        for name, expiry in (("old", PAST), ("edge", NOW), ("new", FUTURE), ("never", None)):
            await storage.create_session(samples.session(name, expiry=expiry))
            await storage.create_session(
                samples.session(f"revoked-{name}", expiry=expiry, revoked_at=PAST)
            )
            if expiry is not None:
                await storage.add_revocation(samples.revocation(name, expiry=expiry))
        # Expiry is compared as an instant, whatever zone it was written in.
        await storage.create_session(
            samples.session("zoned", expiry=PAST.astimezone(samples.PLUS_0530))
        )
        # Revoked over a day ago: gone whatever its expiry; revoked a day ago exactly: kept.
        long_ago = NOW - REVOKED_SESSION_KEPT
        await storage.create_session(
            samples.session("revoked-long-ago", expiry=None, revoked_at=long_ago - PAST_STEP)
        )
        await storage.create_session(
            samples.session("revoked-a-day-ago", expiry=FUTURE, revoked_at=long_ago)
        )

        assert await storage.garbage_collect(NOW) == GCResult(sessions=4, revocations=1)

        left = await storage.list_sessions(SessionFilter(include_revoked=True), NOW)
        assert sorted(_ids(left)) == [
            "edge", "never", "new", "revoked-a-day-ago", "revoked-edge", "revoked-never",
            "revoked-new",
        ]  # fmt: skip
        with pytest.raises(NotFoundError):
            await storage.get_session("old")
        assert [r.id for r in await storage.list_revocations()] == ["edge", "new"]
        assert await storage.garbage_collect(NOW) == GCResult()


ROUNDS = 8
SESSIONS = 12


async def _revoke(
    storage: Storage, name: str, which: SessionFilter, reported: dict[str, list[str]]
) -> None:
    reported[name] = await storage.revoke_sessions(which, NOW, name)


async def _race_revocations(first: Storage, second: Storage) -> None:
    """Two admins (or an admin and a logout) revoke the same sessions at once: every
    session is reported by exactly one of them, with that one's mark stored."""
    for race in range(ROUNDS):
        ids = {f"race{race}-{i}" for i in range(SESSIONS)}
        for session_id in sorted(ids):
            await first.create_session(samples.session(session_id, user_id=f"racer-{race}"))
        reported: dict[str, list[str]] = {}
        async with anyio.create_task_group() as tg:
            which = SessionFilter(user_id=f"racer-{race}")
            tg.start_soon(_revoke, first, "admin:a", which, reported)
            tg.start_soon(_revoke, second, "admin:b", SessionFilter(client_id="client-1"), reported)

        a, b = set(reported["admin:a"]), set(reported["admin:b"])
        assert len(a) == len(reported["admin:a"])
        assert len(b) == len(reported["admin:b"])
        assert not a & b, f"reported twice: {sorted(a & b)}"
        assert a | b == ids
        for name, marked in reported.items():
            for session_id in marked:
                assert (await second.get_session(session_id)).revoked_by == name


class SessionConcurrencyConformance(Conformance):
    async def test_racing_revocations_report_each_session_once(self, storage: Storage) -> None:
        await _race_revocations(storage, storage)


class SharedSessionConformance(Conformance):
    async def test_racing_revocations_across_replicas(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        await _race_revocations(storage, await storage_factory())

    async def test_replicas_see_revocations(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        other = await storage_factory()
        await storage.create_session(samples.session())
        await storage.add_revocation(samples.revocation())
        assert await other.revoke_sessions(SessionFilter(), NOW, "logout") == ["sess-1"]
        assert (await storage.get_session("sess-1")).revoked_by == "logout"
        assert await other.list_revocations() == [samples.revocation()]
