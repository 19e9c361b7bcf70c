"""The account page's rules without HTTP (memory storage, a frozen clock): a person sees
and ends only their own sessions (user id *and* connector id), "everything else" keeps
this browser, the claims shown are the ones ID tokens carry, and a password change
checks the current password against the login limiter, stores bcrypt and ends the rest."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import bcrypt
import pytest

from passgate.clock import FrozenClock
from passgate.connectors.local import LocalConnector
from passgate.connectors.mock import MockPasswordConnector
from passgate.keys import KeyManager
from passgate.provider.account import (
    Account,
    AccountError,
    LockedOutError,
    NotYoursError,
    PasswordNotChangeableError,
    ThisBrowserError,
    WrongPasswordError,
)
from passgate.provider.account_views import Owner
from passgate.provider.audit import PASSWORD_CHANGE, SESSION_REVOKE, AuditLog
from passgate.provider.connectors import ConnectorEntry, ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.ids import new_id
from passgate.provider.limits import LoginLimiter
from passgate.provider.revocation import Revoker
from passgate.provider.revocation_cache import RevocationCache, TokenFacts
from passgate.provider.settings import LoginLimits
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import (
    AuditEvent,
    AuditFilter,
    BrowserSession,
    Claims,
    Client,
    OfflineSession,
    Password,
    RefreshToken,
    RefreshTokenRef,
    Session,
)
from passgate.tokens.issuer import TokenIssuer
from passgate.tokens.subject import encode_subject

pytestmark = pytest.mark.anyio

ISSUER = "https://sso.example.com/dex"
PORTAL = "passgate-portal"
JANE = Claims(user_id="jane-id", username="Jane", email="jane@example.com",
              email_verified=True, groups=("dev",))  # fmt: skip
OLD_PASSWORD, NEW_PASSWORD = "old password 1", "new password 2"


def hashed(password: str) -> bytes:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))


class World:
    def __init__(self) -> None:
        self.clock = FrozenClock()
        self.storage = MemoryStorage()
        self.audit = AuditLog(self.storage, self.clock, log_events=False)
        keys = KeyManager(
            self.storage, self.clock, rotation_period=timedelta(hours=6),
            id_token_lifetime=timedelta(hours=1),
        )  # fmt: skip
        self.issuer = TokenIssuer(ISSUER, keys, self.clock, timedelta(hours=1))
        self.cache = RevocationCache(self.storage, self.clock)
        self.revoker = Revoker(
            self.storage, self.clock, self.cache, issuer=self.issuer, audit=self.audit
        )
        static = Password("static@example.com", hashed("static password"), "static", "static-id")
        clients = [Client(id="kubectl", name="kubectl", public=True), Client(id="wiki")]
        self.directory = Directory(self.storage, clients, [static])
        local = LocalConnector(self.directory.get_password)
        self.connectors = ConnectorRegistry(
            [
                ConnectorEntry("local", "local", "Email", local),
                ConnectorEntry("corp", "mockPassword", "Corp", MockPasswordConnector("a", "b")),
            ]
        )
        self.limiter = LoginLimiter(self.storage, self.clock, LoginLimits(per_user=3))
        self.account = Account(
            self.storage, self.clock, revoker=self.revoker, directory=self.directory,
            connectors=self.connectors, issuer=self.issuer, limiter=self.limiter,
            audit=self.audit, own_client=PORTAL, bcrypt_cost=4,
        )  # fmt: skip

    async def browser(self, claims: Claims = JANE, connector: str = "local") -> BrowserSession:
        now = self.clock()
        session = BrowserSession(
            id=new_id(), cookie_hash="h", user_id=claims.user_id, connector_id=connector,
            claims=claims, auth_time=now, created_at=now, last_used=now,
            expiry=now + timedelta(hours=8), absolute_expiry=now + timedelta(days=1),
            refreshed_at=now, clients=(PORTAL,), remote_addr="192.0.2.1",
            user_agent="Firefox",
        )  # fmt: skip
        await self.storage.create_browser_session(session)
        return session

    async def grant(
        self,
        client_id: str,
        *,
        claims: Claims = JANE,
        connector: str = "local",
        through: str = "",
        scopes: tuple[str, ...] = ("openid", "email", "groups", "offline_access"),
    ) -> Session:
        now = self.clock()
        session = Session(
            id=new_id(), user_id=claims.user_id, connector_id=connector, client_id=client_id,
            scopes=scopes, claims=claims, created_at=now, last_used=now,
            browser_session_id=through, remote_addr="198.51.100.7", user_agent="kubectl",
        )  # fmt: skip
        await self.storage.create_session(session)
        return session

    async def stored_user(self) -> Password:
        user = Password("jane@example.com", hashed(OLD_PASSWORD), "jane", JANE.user_id)
        await self.storage.create_password(user)
        return user

    async def active(self, session_id: str) -> bool:
        for record in await self.storage.list_sessions(Owner("jane-id", "local").grant_filter(),
                                                       self.clock()):  # fmt: skip
            if record.id == session_id:
                return True
        browsers = await self.storage.list_browser_sessions(
            Owner("jane-id", "local").browser_filter(), self.clock()
        )
        return any(record.id == session_id for record in browsers)

    async def events(self, action: str) -> list[AuditEvent]:
        return await self.storage.list_audit_events(AuditFilter(action=action, limit=100))


@pytest.fixture
def world() -> World:
    return World()


def jane(this_browser: BrowserSession) -> Owner:
    return Owner("jane-id", "local", "jane@example.com", this_browser.id)


async def test_the_overview_lists_only_the_persons_own_sessions(world: World) -> None:
    here = await world.browser()
    there = await world.browser()
    kubectl = await world.grant("kubectl")
    portal = await world.grant(PORTAL, through=here.id)
    # The same user id at another connector, and another person: not Jane's.
    await world.browser(connector="corp")
    await world.grant("kubectl", connector="corp")
    await world.grant("kubectl", claims=dataclasses.replace(JANE, user_id="bob-id"))
    overview = await world.account.overview(jane(here))
    assert {view.session.id for view in overview.browsers} == {here.id, there.id}
    assert [view.current for view in overview.browsers if view.session.id == here.id] == [True]
    assert [view.session.id for view in overview.grants] == [kubectl.id]  # not the portal's
    assert portal.id not in {view.session.id for view in overview.grants}
    assert overview.grants[0].client == "kubectl"
    assert overview.grants[0].refresh
    assert overview.browsers[0].clients == ()  # the portal is the browser session itself
    assert overview.password == "changeable"


async def test_claims_are_those_the_clients_id_tokens_carry(world: World) -> None:
    here = await world.browser()
    first = await world.grant("kubectl", scopes=("openid", "email"))
    world.clock.advance(timedelta(minutes=1))
    # The newest grant of a client speaks for it; a refresh token's claims are the latest.
    newest = await world.grant("kubectl", through=here.id)
    refreshed = dataclasses.replace(JANE, groups=("dev", "ops"))
    now = world.clock()
    await world.storage.create_refresh_token(
        RefreshToken(
            id="r1", token_hash="x", client_id="kubectl", connector_id="local",
            claims=refreshed, scopes=newest.scopes, created_at=now, last_used=now,
            session_id=newest.id,
        )
    )  # fmt: skip
    ref = RefreshTokenRef(id="r1", client_id="kubectl", created_at=now, last_used=now)
    await world.storage.create_offline_session(
        OfflineSession("jane-id", "local", refresh={"kubectl": ref})
    )
    await world.grant("wiki", scopes=("openid", "profile"))
    overview = await world.account.overview(jane(here))
    by_client = {identity.client_id: identity for identity in overview.identities}
    assert set(by_client) == {"kubectl", "wiki"}
    kubectl = by_client["kubectl"].claims
    expected = world.issuer.claims_of_token(
        claims=refreshed, client_id="kubectl", audience=["kubectl"], scopes=newest.scopes,
        connector_id="local", session_id=here.id,
    )  # fmt: skip
    assert kubectl == {k: v for k, v in expected.items() if k not in ("exp", "iat")}
    assert kubectl["groups"] == ["dev", "ops"]
    assert kubectl["sub"] == encode_subject("jane-id", "local")
    assert kubectl["sid"] == here.id != first.id
    assert by_client["wiki"].claims["name"] == "Jane"
    assert "email" not in by_client["wiki"].claims  # not a granted scope


async def test_ending_one_session_refuses_other_peoples_and_this_browser(world: World) -> None:
    here = await world.browser()
    there = await world.browser()
    kubectl = await world.grant("kubectl")
    bobs = await world.grant("kubectl", claims=dataclasses.replace(JANE, user_id="bob-id"))
    other_connector = await world.browser(connector="corp")
    for forged in (bobs.id, other_connector.id, "no-such-id"):
        with pytest.raises(NotYoursError):
            await world.account.end(jane(here), forged)
    assert (await world.storage.get_session(bobs.id)).revoked_at is None
    with pytest.raises(ThisBrowserError):
        await world.account.end(jane(here), here.id)

    assert await world.account.end(jane(here), kubectl.id)
    assert not await world.account.end(jane(here), kubectl.id)  # had ended already
    assert await world.account.end(jane(here), there.id)
    assert not await world.active(kubectl.id)
    assert not await world.active(there.id)
    assert await world.active(here.id)
    # Refused at once by this replica's rules (TokenReview, introspection, refresh).
    issued = world.clock() - timedelta(seconds=1)
    assert world.cache.is_revoked(TokenFacts(issued_at=issued, session_id=kubectl.id))
    assert world.cache.is_revoked(TokenFacts(issued_at=issued, session_id=there.id))
    assert not world.cache.is_revoked(TokenFacts(issued_at=issued, session_id=here.id))
    revoked = await world.events(SESSION_REVOKE)
    assert {event.subject for event in revoked} == {kubectl.id, there.id}
    assert {event.actor for event in revoked} == {"jane@example.com"}
    assert (await world.storage.get_session(kubectl.id)).revoked_by == "account"


async def test_everything_else_keeps_this_browser_and_what_signed_in_through_it(
    world: World,
) -> None:
    here = await world.browser()
    lost = await world.browser()
    mine = await world.grant("kubectl", through=here.id)
    on_the_lost_laptop = await world.grant("kubectl", through=lost.id)
    device = await world.grant("kubectl")  # device flow: no browser session
    bobs = await world.grant("kubectl", claims=dataclasses.replace(JANE, user_id="bob-id"))
    assert await world.account.end_others(jane(here)) == 2  # the lost browser, the device
    assert await world.active(here.id)
    assert await world.active(mine.id)
    for ended in (lost.id, on_the_lost_laptop.id, device.id):
        assert not await world.active(ended)
    assert (await world.storage.get_session(bobs.id)).revoked_at is None


async def test_changing_the_password(world: World) -> None:
    await world.stored_user()
    here = await world.browser()
    lost = await world.browser()
    ends = await world.grant("kubectl")
    change = world.account.change_password
    with pytest.raises(WrongPasswordError):
        await change(jane(here), current="wrong", new=NEW_PASSWORD, repeated=NEW_PASSWORD,
                     address="192.0.2.9")  # fmt: skip
    with pytest.raises(AccountError, match="at least 8"):
        await change(jane(here), current=OLD_PASSWORD, new="short", repeated="short", address="")
    with pytest.raises(AccountError, match="differ"):
        await change(jane(here), current=OLD_PASSWORD, new=NEW_PASSWORD, repeated="x" * 9,
                     address="")  # fmt: skip
    with pytest.raises(AccountError, match="the one you have"):
        await change(jane(here), current=OLD_PASSWORD, new=OLD_PASSWORD, repeated=OLD_PASSWORD,
                     address="")  # fmt: skip
    assert await world.active(lost.id)  # nothing ended by a refused change

    ended = await change(jane(here), current=OLD_PASSWORD, new=NEW_PASSWORD,
                         repeated=NEW_PASSWORD, address="192.0.2.9")  # fmt: skip
    assert ended == 2
    stored = await world.storage.get_password("jane@example.com")
    assert bcrypt.checkpw(NEW_PASSWORD.encode(), stored.hash)
    assert stored.hash.startswith(b"$2b$04$")  # bcrypt, as Dex reads it
    assert await world.active(here.id)
    assert not await world.active(lost.id)
    assert not await world.active(ends.id)
    events = await world.events(PASSWORD_CHANGE)
    assert [event.outcome for event in events] == ["success"] + ["failure"] * 4
    assert events[0].details == {"sessions_ended": "2"}
    assert events[-1].details == {"reason": "wrong_password"}
    assert {event.actor for event in events} == {"jane@example.com"}
    assert all(NEW_PASSWORD not in str(e) and OLD_PASSWORD not in str(e) for e in events)


async def test_wrong_passwords_count_against_the_login_limiter(world: World) -> None:
    await world.stored_user()
    here = await world.browser()
    for _ in range(3):
        with pytest.raises(WrongPasswordError):
            await world.account.change_password(
                jane(here), current="wrong", new=NEW_PASSWORD, repeated=NEW_PASSWORD,
                address="192.0.2.9",
            )  # fmt: skip
    with pytest.raises(LockedOutError) as locked:
        await world.account.change_password(
            jane(here), current=OLD_PASSWORD, new=NEW_PASSWORD, repeated=NEW_PASSWORD,
            address="192.0.2.9",
        )  # fmt: skip
    assert locked.value.retry_after > 0
    # The same lock as the sign-in form's: the password login is refused too.
    keys = LoginLimiter.keys("local", "jane@example.com", "203.0.113.1")
    with pytest.raises(Exception, match="locked"):
        await world.limiter.check(*keys)


async def test_only_stored_password_database_accounts_change_passwords(world: World) -> None:
    static = Owner("static-id", "local", "static@example.com", "")
    upstream = Owner("jane-id", "corp", "jane@example.com", "")
    assert world.account.password_status("local", "static@example.com") == "static"
    assert world.account.password_status("corp", "jane@example.com") == "elsewhere"
    for owner in (static, upstream):
        with pytest.raises(PasswordNotChangeableError):
            await world.account.change_password(
                owner, current="static password", new=NEW_PASSWORD, repeated=NEW_PASSWORD,
                address="",
            )  # fmt: skip
    # A stored user of the same email but another user id is not this person's account.
    await world.stored_user()
    impostor = Owner("someone-else", "local", "jane@example.com", "")
    with pytest.raises(NotYoursError):
        await world.account.change_password(
            impostor, current=OLD_PASSWORD, new=NEW_PASSWORD, repeated=NEW_PASSWORD, address=""
        )
    stored = await world.storage.get_password("jane@example.com")
    assert bcrypt.checkpw(OLD_PASSWORD.encode(), stored.hash)
