"""The admin service layer without HTTP: rules, static records read-only, and one audit
event for every call (success or failure)."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import pytest

from passgate.admin.audit import Actor, Auditor, AuditQuery
from passgate.admin.auth import (
    AdminAuthenticator,
    AdminTokenHash,
    NotAnAdminError,
    hash_token,
    new_admin_token,
)
from passgate.admin.clients import ClientChanges, ClientService
from passgate.admin.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from passgate.admin.keys import KeyService
from passgate.admin.sessions import SessionService
from passgate.admin.users import NewUser, Secret, UserService
from passgate.clock import FrozenClock
from passgate.keys import KeyManager
from passgate.oauth2.errors import InvalidClientError
from passgate.provider.audit import AuditLog
from passgate.provider.client_secrets import ClientSecrets
from passgate.provider.directory import Directory
from passgate.provider.revocation import Revoker
from passgate.provider.revocation_cache import RevocationCache
from passgate.storage.base import StorageError
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import (
    AuditEvent,
    AuditFilter,
    Claims,
    Client,
    Password,
    Session,
    SessionFilter,
)
from passgate.tokens.issuer import TokenIssuer

pytestmark = pytest.mark.anyio

ACTOR = Actor("admin:ci", "192.0.2.1")
STATIC_CLIENT = Client(id="static-app", secret="s3cret", redirect_uris=("https://a/cb",))
STATIC_USER = Password(
    email="static@example.com", hash=b"$2b$04$" + b"x" * 53, username="s", user_id="u-static"
)


class World:
    def __init__(self) -> None:
        self.clock = FrozenClock()
        self.storage = MemoryStorage()
        self.auditor = Auditor(AuditLog(self.storage, self.clock, log_events=False))
        directory = Directory(self.storage, [STATIC_CLIENT], [STATIC_USER])
        self.secrets = ClientSecrets(b"pepper" * 6, self.clock, bcrypt_cost=4)
        self.clients = ClientService(directory, self.auditor, self.secrets)
        keys = KeyManager(
            self.storage, self.clock, rotation_period=timedelta(hours=6),
            id_token_lifetime=timedelta(hours=1),
        )  # fmt: skip
        issuer = TokenIssuer("https://sso.example.com/dex", keys, self.clock, timedelta(hours=1))
        cache = RevocationCache(self.storage, self.clock)
        revoker = Revoker(self.storage, self.clock, cache, issuer=issuer)
        self.users = UserService(directory, self.auditor, revoker, bcrypt_cost=4)
        self.sessions = SessionService(self.storage, self.clock, self.auditor, revoker)
        self.audit = AuditQuery(self.storage, self.auditor)

    async def accepts(self, client_id: str, secret: str) -> bool:
        """Whether the token endpoint would take ``secret`` for the stored client."""
        client = await self.storage.get_client(client_id)
        try:
            await self.secrets.check(client, secret, "client_secret_post")
        except InvalidClientError:
            return False
        return True

    async def events(self) -> list[AuditEvent]:
        return list(reversed(await self.storage.list_audit_events(AuditFilter(limit=1000))))

    async def last(self) -> AuditEvent:
        return (await self.events())[-1]


@pytest.fixture
def world() -> World:
    return World()


async def test_client_create_generates_id_and_secret_once(world: World) -> None:
    view = await world.clients.create(None, ClientChanges(name="App"), ACTOR)
    assert view.client.id
    assert view.new_secret
    # Storage keeps a peppered hash of it, never the secret.
    stored = await world.storage.get_client(view.client.id)
    assert stored == view.client
    assert stored.secret == ""
    assert stored.secret_hash.startswith("hmac-sha256$")
    assert view.new_secret not in repr(stored)
    assert await world.accepts(view.client.id, view.new_secret)
    assert not await world.accepts(view.client.id, view.new_secret + "x")
    again = await world.clients.get(view.client.id, ACTOR)
    assert again.new_secret == ""
    assert again.static is False
    event = (await world.events())[0]
    assert (event.action, event.actor, event.outcome) == (
        "admin.client.create",
        "admin:ci",
        "success",
    )
    assert event.client_id == view.client.id
    assert event.remote_addr == "192.0.2.1"
    assert view.new_secret not in repr(await world.events())


async def test_public_client_gets_no_secret_and_given_secret_is_kept(world: World) -> None:
    public = await world.clients.create("cli", ClientChanges(public=True), ACTOR)
    assert (public.client.secret, public.client.secret_hash, public.new_secret) == ("", "", "")
    assert not public.client.has_secret
    given = await world.clients.create("web", ClientChanges(secret="given-secret"), ACTOR)
    assert (given.client.secret, given.new_secret) == ("", "")
    assert given.client.secret_hash.startswith("bcrypt-hmac-sha256$$2b$04$")
    assert await world.accepts("web", "given-secret")
    assert not await world.accepts("web", "given-secreT")


async def test_client_rules_and_conflicts(world: World) -> None:
    with pytest.raises(BadRequestError):
        await world.clients.create("has space", ClientChanges(), ACTOR)
    await world.clients.create("app", ClientChanges(), ACTOR)
    with pytest.raises(ConflictError, match="exists already"):
        await world.clients.create("app", ClientChanges(), ACTOR)
    for call in (
        world.clients.create("static-app", ClientChanges(), ACTOR),
        world.clients.update("static-app", ClientChanges(name="x"), ACTOR),
        world.clients.delete("static-app", ACTOR),
    ):
        with pytest.raises(ConflictError, match="staticClients"):
            await call
    with pytest.raises(NotFoundError):
        await world.clients.delete("nope", ACTOR)
    failures = [e for e in await world.events() if e.outcome == "failure"]
    assert [e.details["error"] for e in failures] == [
        "invalid_request", "conflict", "conflict", "conflict", "conflict", "not_found",
    ]  # fmt: skip


async def test_client_update_and_list(world: World) -> None:
    await world.clients.create("app", ClientChanges(secret="one", name="A"), ACTOR)
    updated = await world.clients.update(
        "app", ClientChanges(name="B", redirect_uris=("https://b/cb",)), ACTOR
    )
    assert updated.client.name == "B"
    assert await world.accepts("app", "one")  # the secret is kept
    assert updated.client.redirect_uris == ("https://b/cb",)
    assert (await world.last()).details == {"fields": "name,redirect_uris"}
    # Turning a public client confidential without a secret generates one.
    await world.clients.create("cli", ClientChanges(public=True), ACTOR)
    made = await world.clients.update("cli", ClientChanges(public=False), ACTOR)
    assert made.new_secret
    assert made.client.secret_hash.startswith("hmac-sha256$")
    assert await world.accepts("cli", made.new_secret)
    views = await world.clients.list_clients(ACTOR)
    assert [(v.client.id, v.static) for v in views] == [
        ("app", False), ("cli", False), ("static-app", True),
    ]  # fmt: skip
    await world.clients.delete("app", ACTOR)
    assert (await world.last()).action == "admin.client.delete"


async def test_users(world: World) -> None:
    secret = Secret(password="correct horse")
    view = await world.users.create(NewUser("Jane@Example.com", secret, groups=("g",)), ACTOR)
    user = view.user
    assert (user.email, user.username, user.groups) == ("jane@example.com", "jane", ("g",))
    assert bcrypt.checkpw(b"correct horse", user.hash)
    assert user.user_id
    with pytest.raises(ConflictError):
        await world.users.create(NewUser("jane@example.com", secret), ACTOR)
    await world.users.set_password("JANE@example.com", Secret(password="battery staple"), ACTOR)
    stored = await world.storage.get_password("jane@example.com")
    assert bcrypt.checkpw(b"battery staple", stored.hash)
    listed = await world.users.list_users(ACTOR)
    assert [(v.user.email, v.static) for v in listed] == [
        ("jane@example.com", False), ("static@example.com", True),
    ]  # fmt: skip
    await world.users.delete("jane@example.com", ACTOR)
    with pytest.raises(NotFoundError):
        await world.users.delete("jane@example.com", ACTOR)
    events = [(e.action, e.outcome, e.subject) for e in await world.events()]
    assert events == [
        ("admin.user.create", "success", "jane@example.com"),
        ("admin.user.create", "failure", "jane@example.com"),
        ("admin.user.password", "success", "jane@example.com"),
        ("admin.user.list", "success", ""),
        ("admin.user.delete", "success", "jane@example.com"),
        ("admin.user.delete", "failure", "jane@example.com"),
    ]
    text = repr(await world.events())
    assert "correct horse" not in text
    assert "battery staple" not in text


async def test_disabling_a_user_ends_their_sessions_and_enabling_keeps_them_ended(
    world: World,
) -> None:
    new = NewUser("kim@example.com", Secret(password="p" * 8))
    user = (await world.users.create(new, ACTOR)).user
    assert not user.disabled
    await world.storage.create_session(
        Session(
            id="s1", user_id=user.user_id, connector_id="local", client_id="app", scopes=(),
            claims=Claims(user.user_id, "kim"), created_at=world.clock(), last_used=world.clock(),
        )
    )  # fmt: skip
    off = await world.users.set_disabled("KIM@example.com", True, ACTOR, reason="left")
    assert (off.user.disabled, off.sessions_ended) == (True, 1)
    assert (await world.storage.get_password("kim@example.com")).disabled
    assert await world.storage.list_sessions(SessionFilter(), world.clock()) == []
    on = await world.users.set_disabled("kim@example.com", False, ACTOR)
    assert (on.user.disabled, on.sessions_ended) == (False, 0)
    with pytest.raises(ConflictError, match="staticPasswords"):
        await world.users.set_disabled("static@example.com", True, ACTOR)
    with pytest.raises(NotFoundError):
        await world.users.set_disabled("nobody@example.com", True, ACTOR)
    admin_events = [e for e in await world.events() if e.action.startswith("admin.user.")]
    assert [(e.action, e.outcome, e.user_id, e.details) for e in admin_events[1:]] == [
        ("admin.user.disable", "success", user.user_id, {"reason": "left", "sessions": "1"}),
        ("admin.user.enable", "success", user.user_id, {}),
        ("admin.user.disable", "failure", "", {"error": "conflict"}),
        ("admin.user.disable", "failure", "", {"error": "not_found"}),
    ]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (Secret(), "either password or hash"),
        (Secret(password="x", hash="y"), "either password or hash"),
        (Secret(password="short"), "at least 8"),
        (Secret(password="a" * 73), "at most 72 bytes"),
        (Secret(password="nul\x00in the middle"), "NUL"),
        (Secret(hash="not bcrypt"), "bcrypt"),
    ],
)
async def test_user_secret_rules(world: World, secret: Secret, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        await world.users.create(NewUser("a@example.com", secret), ACTOR)


async def test_static_user_read_only_and_bad_email(world: World) -> None:
    with pytest.raises(ConflictError, match="staticPasswords"):
        await world.users.set_password("STATIC@example.com", Secret(password="12345678"), ACTOR)
    with pytest.raises(ConflictError):
        await world.users.delete("static@example.com", ACTOR)
    with pytest.raises(BadRequestError, match="email"):
        await world.users.create(NewUser("no-at-sign", Secret(password="12345678")), ACTOR)
    hashed = bcrypt.hashpw(b"password", bcrypt.gensalt(4)).decode()
    view = await world.users.create(NewUser("h@example.com", Secret(hash=hashed)), ACTOR)
    assert view.user.hash == hashed.encode()


async def test_sessions_filter(world: World) -> None:
    now = world.clock()
    for index, (user, client) in enumerate([("u1", "a"), ("u1", "b"), ("u2", "a")]):
        await world.storage.create_session(
            Session(
                id=f"s{index}", user_id=user, connector_id="local", client_id=client,
                scopes=("openid",), claims=Claims(user_id=user, username=user),
                created_at=now, last_used=now,
            )
        )  # fmt: skip
    found = await world.sessions.list_sessions(SessionFilter(user_id="u1"), ACTOR)
    assert sorted(s.id for s in found) == ["s0", "s1"]
    found = await world.sessions.list_sessions(SessionFilter(client_id="a"), ACTOR)
    assert sorted(s.id for s in found) == ["s0", "s2"]
    assert (await world.last()).client_id == "a"


async def test_audit_query_limits(world: World) -> None:
    with pytest.raises(BadRequestError):
        await world.audit.events(AuditFilter(limit=0), ACTOR)
    later = world.clock() + timedelta(hours=1)
    with pytest.raises(BadRequestError):
        await world.audit.events(AuditFilter(since=later, until=world.clock()), ACTOR)
    events = await world.audit.events(AuditFilter(action="admin.audit"), ACTOR)
    assert [e.outcome for e in events] == ["failure", "failure"]


async def test_storage_failure_is_unavailable_and_audited(world: World) -> None:
    async def broken() -> list[Client]:
        raise StorageError("database is down")

    world.storage.list_clients = broken  # type: ignore[method-assign]
    with pytest.raises(UnavailableError):
        await world.clients.list_clients(ACTOR)
    event = await world.last()
    assert (event.outcome, event.details) == ("failure", {"error": "temporarily_unavailable"})


async def test_keys_status_and_rotation(world: World) -> None:
    manager = KeyManager(
        world.storage, world.clock, rotation_period=timedelta(hours=6),
        id_token_lifetime=timedelta(hours=1),
    )  # fmt: skip
    await manager.start()
    service = KeyService(world.storage, manager, world.clock, world.auditor)
    before = await service.status(ACTOR)
    assert before.signing is not None
    assert before.verification == ()
    after = await service.rotate(ACTOR)
    assert after.signing == before.signing  # publish first, sign later
    assert after.pending is not None
    assert after.pending.kid != before.signing.kid
    assert after.pending.signs_at == world.clock() + manager.propagation_delay
    event = await world.last()
    assert event.action == "admin.keys.rotate"
    assert event.details == {
        "kid": after.pending.kid,
        "previous_kid": before.signing.kid,
        "signs_at": after.pending.signs_at.isoformat(),
    }
    world.clock.advance(manager.propagation_delay)
    await manager.refresh()
    promoted = await service.status(ACTOR)
    assert promoted.signing is not None
    assert promoted.signing.kid == after.pending.kid
    assert [key.kid for key in promoted.verification] == [before.signing.kid]
    assert promoted.verification[0].expiry is not None
    assert promoted.verification[0].expiry > world.clock()
    assert promoted.pending is None
    for jwk in (await manager.jwks())["keys"]:
        assert "d" not in jwk  # no private material anywhere

    now = await service.rotate(ACTOR, now=True)
    assert now.signing is not None
    assert now.signing.kid != after.pending.kid
    assert (await world.last()).details["at_once"] == "yes"


async def test_authenticator() -> None:
    token = new_admin_token()
    assert hash_token(token).startswith("sha256:")
    assert len(hash_token(token)) == 71

    async def verify(value: str) -> dict[str, object] | None:
        return {"admin-token": {"email": "a@x", "groups": ["ops"]},
                "user-token": {"email": "u@x", "groups": "devs"}}.get(value)  # fmt: skip

    auth = AdminAuthenticator([AdminTokenHash("ci", hash_token(token))], ["ops"], verify)
    assert await auth.authenticate(f"Bearer {token}", "ip") == Actor("admin:ci", "ip")
    assert await auth.authenticate("bearer admin-token") == Actor("admin:a@x")
    with pytest.raises(NotAnAdminError) as refused:
        await auth.authenticate("Bearer user-token")
    assert refused.value.who == "u@x"
    assert refused.value.status_code == 403
    for header in (None, "", "Basic abc", "Bearer ", "Bearer nope", "Bearer " + "x" * 20000):
        with pytest.raises(UnauthorizedError):
            await auth.authenticate(header)
    tokens_only = AdminAuthenticator([AdminTokenHash("ci", hash_token(token))])
    with pytest.raises(UnauthorizedError):
        await tokens_only.authenticate("Bearer admin-token")
