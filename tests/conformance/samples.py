"""Records with every field set to a non-default value, so a round trip proves each one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from passgate.storage.models import (
    PKCE,
    AuditEvent,
    AuthCode,
    AuthRequest,
    BrowserSession,
    Claims,
    Client,
    DeviceRequest,
    DeviceToken,
    LoginAttempts,
    OfflineSession,
    Password,
    RefreshToken,
    RefreshTokenRef,
    Revocation,
    Session,
)

NOW = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)
# Non-UTC zones, on both sides of UTC, with a non-whole-hour offset too.
PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
MINUS_0800 = timezone(timedelta(hours=-8))

CLAIMS = Claims(
    user_id="user-1",
    username="Jane Doe",
    preferred_username="jane",
    email="jane@example.com",
    email_verified=True,
    groups=("admins", "dev ops", "ünïcode"),
)
PKCE_S256 = PKCE("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256")


def client(client_id: str = "client-1") -> Client:
    return Client(
        id=client_id,
        secret="s3cret",
        redirect_uris=("https://app.example.com/cb", "http://127.0.0.1/callback"),
        trusted_peers=("peer-a", "peer-b"),
        public=True,
        name="App ☃",
        logo_url="https://app.example.com/logo.png",
        post_logout_redirect_uris=("https://app.example.com/bye",),
        allowed_connectors=("local", "github"),
        backchannel_logout_uri="https://app.example.com/backchannel?tenant=1",
        sso_shared_with=("*", "client-2"),
    )


def auth_request(req_id: str = "req-1", *, expiry: datetime | None = None) -> AuthRequest:
    return AuthRequest(
        id=req_id,
        client_id="client-1",
        response_types=("code", "id_token"),
        scopes=("openid", "email", "groups", "offline_access"),
        redirect_uri="https://app.example.com/cb",
        expiry=expiry or NOW + timedelta(minutes=10),
        state="st'ate;--",
        nonce="n-0S6_WzA2Mj",
        force_approval_prompt=True,
        logged_in=True,
        claims=CLAIMS,
        connector_id="local",
        connector_data=b"\x00\x01\xffbinary",
        pkce=PKCE_S256,
        hmac_key=bytes(range(32)),
        max_age=300,
        auth_time=NOW.astimezone(PLUS_0530),
        browser_session_id="bs-1",
        sso=True,
        acr_values=("urn:mace:incommon:iap:silver", "0"),
        login_hint="jane@example.com",
    )


def auth_code(code_id: str = "code-1", *, expiry: datetime | None = None) -> AuthCode:
    return AuthCode(
        id=code_id,
        client_id="client-1",
        redirect_uri="https://app.example.com/cb",
        scopes=("openid", "profile"),
        connector_id="local",
        claims=CLAIMS,
        expiry=expiry or NOW + timedelta(minutes=1),
        nonce="nonce",
        connector_data=b"\xde\xad\xbe\xef",
        pkce=PKCE("plain-verifier-value", "plain"),
        auth_time=NOW,
        redeemed=True,
        refresh_token_id="rt-1",
        access_token_id="at-1",
        session_id="sess-1",
    )


def refresh_token(token_id: str = "rt-1", token_hash: str = "hash-0") -> RefreshToken:
    return RefreshToken(
        id=token_id,
        token_hash=token_hash,
        client_id="client-1",
        connector_id="local",
        claims=CLAIMS,
        scopes=("openid", "offline_access"),
        created_at=NOW.astimezone(MINUS_0800),
        last_used=NOW + timedelta(seconds=1),
        obsolete_token_hash="hash-old",
        rotation_key=b"\x10" * 16,
        nonce="nonce",
        connector_data=b'{"refresh":"upstream"}',
        auth_time=NOW - timedelta(hours=1),
        session_id="sess-1",
    )


def offline_session(user_id: str = "user-1", connector_id: str = "local") -> OfflineSession:
    return OfflineSession(
        user_id=user_id,
        connector_id=connector_id,
        refresh={
            "client-1": RefreshTokenRef("rt-1", "client-1", NOW, NOW + timedelta(seconds=5)),
            "client-2": RefreshTokenRef(
                "rt-2", "client-2", NOW.astimezone(PLUS_0530), NOW.astimezone(MINUS_0800)
            ),
        },
        connector_data=b"upstream-data",
    )


def password(email: str = "Jane@Example.COM") -> Password:
    return Password(
        email=email,
        hash=b"$2b$10$abcdefghijklmnopqrstuuO5mJ0VqZ6Y7n1QqS0b6Zq8y9vXxW2y",
        username="jane",
        user_id="user-1",
        name="Jane Doe",
        preferred_username="jdoe",
        email_verified=False,
        groups=("a", "b"),
    )


def device_request(
    user_code: str = "ABCD-EFGH", *, expiry: datetime | None = None
) -> DeviceRequest:
    return DeviceRequest(
        user_code=user_code,
        device_code=f"device-{user_code}",
        client_id="client-1",
        scopes=("openid", "groups"),
        expiry=expiry or NOW + timedelta(minutes=5),
        client_secret="device-secret",
    )


def device_token(device_code: str = "device-1", *, expiry: datetime | None = None) -> DeviceToken:
    return DeviceToken(
        device_code=device_code,
        status="pending",
        expiry=expiry or NOW + timedelta(minutes=5),
        last_request_time=NOW.astimezone(MINUS_0800),
        poll_interval_seconds=5,
        token="",
        pkce=PKCE_S256,
    )


def login_attempts(
    key: str = "local/jane", *, expiry: datetime | None = None, locked_until: datetime | None = None
) -> LoginAttempts:
    return LoginAttempts(
        key=key, failures=3, expiry=expiry or NOW + timedelta(minutes=15), locked_until=locked_until
    )


def session(
    session_id: str = "sess-1",
    *,
    user_id: str = "user-1",
    client_id: str = "client-1",
    connector_id: str = "local",
    created_at: datetime | None = None,
    expiry: datetime | None = None,
    revoked_at: datetime | None = None,
    browser_session_id: str = "bs-1",
) -> Session:
    created = created_at or NOW.astimezone(PLUS_0530)
    return Session(
        id=session_id,
        user_id=user_id,
        connector_id=connector_id,
        client_id=client_id,
        scopes=("openid", "email", "offline_access"),
        claims=CLAIMS,
        created_at=created,
        last_used=created + timedelta(minutes=3),
        expiry=expiry,
        remote_addr="2001:db8::1",
        user_agent="kubectl/v1.30.0 (linux/amd64) ☃",
        revoked_at=revoked_at,
        revoked_by="" if revoked_at is None else "admin:ops",
        browser_session_id=browser_session_id,
    )


def browser_session(
    session_id: str = "bs-1",
    *,
    user_id: str = "user-1",
    connector_id: str = "local",
    created_at: datetime | None = None,
    expiry: datetime | None = None,
    revoked_at: datetime | None = None,
) -> BrowserSession:
    created = created_at or NOW.astimezone(PLUS_0530)
    return BrowserSession(
        id=session_id,
        cookie_hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        user_id=user_id,
        connector_id=connector_id,
        claims=CLAIMS,
        auth_time=created + timedelta(seconds=1),
        created_at=created,
        last_used=created + timedelta(minutes=3),
        expiry=expiry or NOW + timedelta(hours=8),
        absolute_expiry=(NOW + timedelta(hours=24)).astimezone(MINUS_0800),
        refreshed_at=created + timedelta(minutes=2),
        connector_data=b"\x00upstream\xff",
        remember_me=True,
        clients=("client-2", "client-1"),
        consents={"client-1": ("openid", "email"), "client-2": ()},
        acr_values=("urn:mace:incommon:iap:silver",),
        remote_addr="2001:db8::1",
        user_agent="Mozilla/5.0 ☃",
        revoked_at=revoked_at,
        revoked_by="" if revoked_at is None else "logout",
        with_groups=True,
    )


def revocation(
    revocation_id: str = "rev-1",
    *,
    kind: str = "user",
    value: str = "user-1",
    created_at: datetime | None = None,
    expiry: datetime | None = None,
) -> Revocation:
    created = created_at or NOW
    return Revocation(
        id=revocation_id,
        kind=kind,
        value=value,
        issued_before=created.astimezone(MINUS_0800),
        created_at=created,
        expiry=expiry or NOW + timedelta(hours=24),
        actor="admin:ops",
        reason="lost laptop; ticket #42 ☃",
    )


def audit_event(
    event_id: str = "ev-1",
    *,
    action: str = "login.success",
    time: datetime | None = None,
    actor: str = "jane@example.com",
    user_id: str = "user-1",
    client_id: str = "client-1",
    session_id: str = "sess-1",
) -> AuditEvent:
    return AuditEvent(
        id=event_id,
        time=time or NOW.astimezone(PLUS_0530),
        action=action,
        actor=actor,
        outcome="failure",
        subject="sess-1",
        user_id=user_id,
        client_id=client_id,
        connector_id="local",
        session_id=session_id,
        remote_addr="192.0.2.7",
        details={"reason": "bad password", "quote": 'it\'s "fine"; --', "ü": "☃"},
    )
