"""Browser (single sign-on) sessions: round trips, compare-and-swap updates, the list filter
and its order, atomic bulk revocation that racing revokers (two replicas, a logout and an
admin) never both report, garbage collection, and the grant sessions made through one."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import anyio
import pytest

from conformance import samples
from conformance.base import Boom, Conformance, StorageFactory
from passgate.storage.base import REVOKED_SESSION_KEPT, AlreadyExistsError, NotFoundError, Storage
from passgate.storage.models import (
    BrowserSession,
    BrowserSessionFilter,
    GCResult,
    ServerSecret,
    SessionFilter,
)

NOW = samples.NOW
PAST = NOW - timedelta(seconds=1)
FUTURE = NOW + timedelta(seconds=1)
H = timedelta(hours=1)


def _ids(sessions: list[BrowserSession]) -> list[str]:
    return [s.id for s in sessions]


async def _population(storage: Storage) -> None:
    for s in (
        samples.browser_session("a", created_at=(NOW - 5 * H).astimezone(samples.PLUS_0530)),
        samples.browser_session("b", connector_id="github", created_at=NOW - 4 * H),
        samples.browser_session("c", user_id="user-2", created_at=NOW - 3 * H),
        # Same instant as "c" in another zone: the id breaks the tie.
        samples.browser_session("d", created_at=(NOW - 3 * H).astimezone(samples.MINUS_0800)),
        samples.browser_session("expired", created_at=NOW - 6 * H, expiry=NOW),
        samples.browser_session("revoked", created_at=NOW - 8 * H, revoked_at=NOW - H),
    ):
        await storage.create_browser_session(s)


class BrowserSessionConformance(Conformance):
    async def test_browser_session_lifecycle(self, storage: Storage) -> None:
        full = samples.browser_session(revoked_at=NOW.astimezone(samples.PLUS_0530))
        await storage.create_browser_session(full)
        assert await storage.get_browser_session("bs-1") == full
        with pytest.raises(AlreadyExistsError):
            await storage.create_browser_session(dataclasses.replace(full, user_id="other"))
        assert await storage.get_browser_session("bs-1") == full
        with pytest.raises(NotFoundError):
            await storage.get_browser_session("missing")
        bare = dataclasses.replace(
            samples.browser_session("bare"),
            connector_data=b"",
            remember_me=False,
            clients=(),
            consents={},
            acr_values=(),
            remote_addr="",
            user_agent="",
            with_groups=False,
        )
        await storage.create_browser_session(bare)
        assert await storage.get_browser_session("bare") == bare

    async def test_returned_records_are_copies(self, storage: Storage) -> None:
        await storage.create_browser_session(samples.browser_session())
        got = await storage.get_browser_session("bs-1")
        got.consents["client-3"] = ("openid",)
        assert "client-3" not in (await storage.get_browser_session("bs-1")).consents

    async def test_update_is_compare_and_swap(self, storage: Storage) -> None:
        await storage.create_browser_session(samples.browser_session())
        seen: list[BrowserSession] = []

        def join(old: BrowserSession) -> BrowserSession:
            seen.append(old)
            return dataclasses.replace(
                old,
                clients=(*old.clients, "client-3"),
                consents={**old.consents, "client-3": ("openid", "groups")},
                last_used=FUTURE,
            )

        updated = await storage.update_browser_session("bs-1", join)
        assert seen == [samples.browser_session()]
        assert updated.clients == ("client-2", "client-1", "client-3")
        assert await storage.get_browser_session("bs-1") == updated

        def boom(old: BrowserSession) -> BrowserSession:
            raise Boom

        with pytest.raises(Boom):
            await storage.update_browser_session("bs-1", boom)
        assert await storage.get_browser_session("bs-1") == updated
        with pytest.raises(NotFoundError):
            await storage.update_browser_session("missing", join)

    async def test_list_filters_and_order(self, storage: Storage) -> None:
        assert await storage.list_browser_sessions(BrowserSessionFilter(), NOW) == []
        await _population(storage)

        async def listed(**which: object) -> list[str]:
            found = await storage.list_browser_sessions(BrowserSessionFilter(**which), NOW)
            return _ids(found)

        # Active only, newest first by (created_at, id): "expired" has expiry == now.
        assert await listed() == ["d", "c", "b", "a"]
        assert await listed(include_revoked=True) == ["d", "c", "b", "a", "expired", "revoked"]
        assert await listed(user_id="user-2") == ["c"]
        assert await listed(connector_id="github") == ["b"]
        assert await listed(user_id="user-1", connector_id="local") == ["d", "a"]
        assert await listed(user_id="nobody", include_revoked=True) == []
        (b,) = await storage.list_browser_sessions(BrowserSessionFilter(connector_id="github"), NOW)
        assert b == await storage.get_browser_session("b")

    async def test_revoke_marks_each_once(self, storage: Storage) -> None:
        await _population(storage)
        by_user = BrowserSessionFilter(user_id="user-1")
        marked = await storage.revoke_browser_sessions(by_user, NOW, "admin:ops")
        assert sorted(marked) == ["a", "b", "d", "expired"]
        assert await storage.revoke_browser_sessions(by_user, FUTURE, "admin:other") == []
        for session_id in marked:
            got = await storage.get_browser_session(session_id)
            assert (got.revoked_at, got.revoked_by) == (NOW, "admin:ops")
        assert (await storage.get_browser_session("revoked")).revoked_by == "logout"
        assert _ids(await storage.list_browser_sessions(BrowserSessionFilter(), NOW)) == ["c"]
        # An empty filter means every one.
        everything = BrowserSessionFilter()
        assert await storage.revoke_browser_sessions(everything, FUTURE, "all") == ["c"]
        assert await storage.list_browser_sessions(everything, NOW) == []

    async def test_grant_sessions_by_browser_session(self, storage: Storage) -> None:
        await storage.create_session(samples.session("g1", browser_session_id="bs-1"))
        await storage.create_session(samples.session("g2", browser_session_id="bs-1"))
        await storage.create_session(samples.session("g3", browser_session_id="bs-2"))
        await storage.create_session(samples.session("device", browser_session_id=""))
        which = SessionFilter(browser_session_id="bs-1")
        assert sorted(s.id for s in await storage.list_sessions(which, NOW)) == ["g1", "g2"]
        assert sorted(await storage.revoke_sessions(which, NOW, "logout")) == ["g1", "g2"]
        assert await storage.revoke_sessions(which, NOW, "logout") == []
        assert (await storage.get_session("g3")).revoked_at is None
        assert (await storage.get_session("device")).browser_session_id == ""


class SecretConformance(Conformance):
    async def test_a_secret_is_made_once(self, storage: Storage) -> None:
        with pytest.raises(NotFoundError):
            await storage.get_secret("forward-auth")
        first = ServerSecret("forward-auth", bytes(range(32)), NOW.astimezone(samples.PLUS_0530))
        await storage.create_secret(first)
        assert await storage.get_secret("forward-auth") == first
        with pytest.raises(AlreadyExistsError):
            await storage.create_secret(ServerSecret("forward-auth", b"other", NOW))
        assert (await storage.get_secret("forward-auth")).value == bytes(range(32))


class BrowserSessionExpiryConformance(Conformance):
    async def test_gc_deletes_expired_and_long_revoked(self, storage: Storage) -> None:
        for name, expiry in (("old", PAST), ("edge", NOW), ("new", FUTURE)):
            await storage.create_browser_session(samples.browser_session(name, expiry=expiry))
        await storage.create_browser_session(
            samples.browser_session("zoned", expiry=PAST.astimezone(samples.PLUS_0530))
        )
        long_ago = NOW - REVOKED_SESSION_KEPT
        await storage.create_browser_session(
            samples.browser_session("revoked-long-ago", revoked_at=long_ago - timedelta(seconds=1))
        )
        await storage.create_browser_session(
            samples.browser_session("revoked-a-day-ago", revoked_at=long_ago)
        )
        assert await storage.garbage_collect(NOW) == GCResult(browser_sessions=3)
        left = await storage.list_browser_sessions(BrowserSessionFilter(include_revoked=True), NOW)
        assert sorted(_ids(left)) == ["edge", "new", "revoked-a-day-ago"]
        assert await storage.garbage_collect(NOW) == GCResult()


ROUNDS = 8
SESSIONS = 12


async def _revoke(
    storage: Storage, name: str, which: BrowserSessionFilter, reported: dict[str, list[str]]
) -> None:
    reported[name] = await storage.revoke_browser_sessions(which, NOW, name)


async def _race(first: Storage, second: Storage) -> None:
    """A logout, an admin and a "revoke everything" at once: each session is reported by
    exactly one of them, with that one's mark stored."""
    for race in range(ROUNDS):
        ids = {f"race{race}-{i}" for i in range(SESSIONS)}
        for session_id in sorted(ids):
            await first.create_browser_session(
                samples.browser_session(session_id, user_id=f"racer-{race}")
            )
        reported: dict[str, list[str]] = {}
        async with anyio.create_task_group() as tg:
            which = BrowserSessionFilter(user_id=f"racer-{race}")
            tg.start_soon(_revoke, first, "admin:a", which, reported)
            tg.start_soon(_revoke, second, "admin:b", BrowserSessionFilter(), reported)
        a, b = set(reported["admin:a"]), set(reported["admin:b"])
        assert not a & b, f"reported twice: {sorted(a & b)}"
        assert ids <= a | b
        for name, marked in reported.items():
            for session_id in marked:
                assert (await second.get_browser_session(session_id)).revoked_by == name


class BrowserSessionConcurrencyConformance(Conformance):
    async def test_racing_revocations_report_each_once(self, storage: Storage) -> None:
        await _race(storage, storage)


class SharedBrowserSessionConformance(Conformance):
    async def test_racing_revocations_across_replicas(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        await _race(storage, await storage_factory())

    async def test_replicas_share_a_secret(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        other = await storage_factory()
        await storage.create_secret(ServerSecret("k", b"\x00\xff", NOW))
        assert (await other.get_secret("k")).value == b"\x00\xff"
        with pytest.raises(AlreadyExistsError):
            await other.create_secret(ServerSecret("k", b"mine", NOW))

    async def test_replicas_see_each_others_updates(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        other = await storage_factory()
        await storage.create_browser_session(samples.browser_session())
        await other.update_browser_session(
            "bs-1", lambda s: dataclasses.replace(s, clients=(*s.clients, "client-9"))
        )
        assert (await storage.get_browser_session("bs-1")).clients[-1] == "client-9"
        assert await other.revoke_browser_sessions(BrowserSessionFilter(), NOW, "logout") == [
            "bs-1"
        ]
        assert (await storage.get_browser_session("bs-1")).revoked_by == "logout"
