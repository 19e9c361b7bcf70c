"""Browser sessions without HTTP (FrozenClock, memory storage): asking the connector again
when another replica already did (once, under the storage's lock), what the connector is
asked for, and ending a session that an earlier end left half done."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from passgate.clock import FrozenClock
from passgate.connectors.base import ConnectorError, Identity, RefreshConnector, Scopes
from passgate.provider.browser import BrowserSessions, BrowserSignIn, SessionPolicy
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.revocation import Revoker
from passgate.provider.revocation_cache import RevocationCache
from passgate.provider.sessions import Origin, Sessions
from passgate.provider.settings import RefreshPolicy
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Claims, Session

pytestmark = pytest.mark.anyio

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CLAIMS = Claims(user_id="u1", username="Jane", email="jane@example.com", groups=("ops",))


class RotatingUpstream(RefreshConnector):
    """An upstream whose refresh tokens are single use, as GitLab's and Entra's are."""

    def __init__(self) -> None:
        self.current = b"rt-1"
        self.asked: list[Scopes] = []

    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        self.asked.append(scopes)
        if identity.connector_data != self.current:
            raise ConnectorError("invalid_grant: refresh token already used")
        self.current = self.current + b"'"
        return dataclasses.replace(identity, connector_data=self.current)


@pytest.fixture
def world() -> tuple[FrozenClock, MemoryStorage, BrowserSessions]:
    clock, storage = FrozenClock(T0), MemoryStorage()
    return clock, storage, BrowserSessions(storage, clock, SessionPolicy())


async def test_a_refresh_another_replica_won_is_a_success_not_a_sign_out(
    world: tuple[FrozenClock, MemoryStorage, BrowserSessions],
) -> None:
    clock, _storage, browser = world
    upstream = RotatingUpstream()
    entry = ConnectorEntry("gitlab", "gitlab", "GitLab", upstream)
    sign_in = BrowserSignIn(CLAIMS, "gitlab", connector_data=b"rt-1", with_groups=True)
    session, _cookie, _ = await browser.sign_in(sign_in, None)
    clock.advance(timedelta(hours=25))
    # Two replicas hold the same record; the first rotates the upstream's token.
    first = await browser.refresh(session, entry)
    assert first.connector_data == b"rt-1'"
    clock.advance(timedelta(seconds=1))
    second = await browser.refresh(session, entry)  # the other, with the stale copy
    assert second == first  # the winner's answer, not an error
    assert len(upstream.asked) == 1  # and the upstream token was not spent twice
    # A session that signed in with groups is asked with groups, and only then.
    assert upstream.asked[0] == Scopes(offline_access=True, groups=True)
    plain, _cookie, _ = await browser.sign_in(
        dataclasses.replace(sign_in, with_groups=False, connector_data=upstream.current), None
    )
    await browser.refresh(plain, entry)
    assert upstream.asked[-1] == Scopes(offline_access=True, groups=False)
    # A refusal nobody else answered for still raises.
    with pytest.raises(ConnectorError):
        await browser.refresh(dataclasses.replace(first, connector_data=b"rt-0"), entry)


async def test_ending_an_ended_session_again_sweeps_what_escaped(
    world: tuple[FrozenClock, MemoryStorage, BrowserSessions],
) -> None:
    clock, storage, browser = world
    cache = RevocationCache(storage, clock)
    await cache.load()
    sessions = Sessions(storage, clock, token_lifetime=timedelta(hours=1), policy=RefreshPolicy())
    revoker = Revoker(storage, clock, cache, issuer=_Lifetimes())  # type: ignore[arg-type]
    session, _cookie, _ = await browser.sign_in(BrowserSignIn(CLAIMS, "local"), None)
    assert await revoker.end_browser_session(session.id, actor="admin:ops")
    # A grant stored after the first end's sweep (an end cut short, or a race).
    late: Session = await sessions.start(
        claims=CLAIMS, connector_id="local", client_id="kubectl", scopes=("openid",),
        origin=Origin(), until=clock() + timedelta(hours=1), via="sso",
        browser_session_id=session.id,
    )  # fmt: skip
    assert not await revoker.end_browser_session(session.id, actor="admin:ops")
    assert (await storage.get_session(late.id)).revoked_at is not None


@dataclasses.dataclass
class _Lifetimes:
    """The one thing the revoker asks of the token issuer here."""

    id_token_lifetime: timedelta = timedelta(hours=1)
