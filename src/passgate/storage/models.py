"""What storage holds: frozen records that every backend stores and returns unchanged.

Timestamps are timezone-aware UTC datetimes. Secrets (client secrets of static
clients aside) are never stored in the clear: refresh tokens keep only SHA-256
hashes, passwords only bcrypt hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Claims:
    """The identity a connector vouched for, as it is copied into tokens."""

    user_id: str
    username: str
    preferred_username: str = ""
    email: str = ""
    email_verified: bool = False
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PKCE:
    """RFC 7636 §4.3: the challenge sent with the authorization request."""

    code_challenge: str = ""
    code_challenge_method: str = ""


@dataclass(frozen=True, slots=True)
class Client:
    """An OAuth 2.0 client (relying party)."""

    id: str
    secret: str = ""
    redirect_uris: tuple[str, ...] = ()
    trusted_peers: tuple[str, ...] = ()
    public: bool = False
    name: str = ""
    logo_url: str = ""
    post_logout_redirect_uris: tuple[str, ...] = ()
    allowed_connectors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """An authorization request in progress: created by /auth, completed by a connector login."""

    id: str
    client_id: str
    response_types: tuple[str, ...]
    scopes: tuple[str, ...]
    redirect_uri: str
    expiry: datetime
    state: str = ""
    nonce: str = ""
    force_approval_prompt: bool = False
    logged_in: bool = False
    claims: Claims | None = None
    connector_id: str = ""
    connector_data: bytes = b""
    pkce: PKCE = field(default_factory=PKCE)
    hmac_key: bytes = b""
    max_age: int | None = None
    auth_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuthCode:
    """An authorization code: single use; once redeemed it is kept (``redeemed``) until it
    expires, so a replay can be detected and what the code issued revoked (RFC 6749 §4.1.2)."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    connector_id: str
    claims: Claims
    expiry: datetime
    nonce: str = ""
    connector_data: bytes = b""
    pkce: PKCE = field(default_factory=PKCE)
    auth_time: datetime | None = None
    redeemed: bool = False
    refresh_token_id: str = ""
    access_token_id: str = ""
    session_id: str = ""  # the Session this sign-in created (its tokens carry it as ``sid``)


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A refresh token family. The token handed out is ``<id>.<secret>``; only SHA-256 hashes
    of the current and of the previous (obsolete) secret are kept."""

    id: str
    token_hash: str
    client_id: str
    connector_id: str
    claims: Claims
    scopes: tuple[str, ...]
    created_at: datetime
    last_used: datetime
    obsolete_token_hash: str = ""
    rotation_key: bytes = b""
    nonce: str = ""
    connector_data: bytes = b""
    auth_time: datetime | None = None
    session_id: str = ""  # the Session that owns this token; revoking it ends the token


@dataclass(frozen=True, slots=True)
class RefreshTokenRef:
    """What an offline session remembers of one client's refresh token."""

    id: str
    client_id: str
    created_at: datetime
    last_used: datetime


@dataclass(frozen=True, slots=True)
class OfflineSession:
    """Per user and connector: the refresh tokens held by each client (one per client)."""

    user_id: str
    connector_id: str
    refresh: dict[str, RefreshTokenRef] = field(default_factory=dict)
    connector_data: bytes = b""


@dataclass(frozen=True, slots=True)
class Password:
    """A user of the password database (``enablePasswordDB``); ``hash`` is bcrypt."""

    email: str
    hash: bytes
    username: str
    user_id: str
    name: str = ""
    preferred_username: str = ""
    email_verified: bool = True
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public JWK that no longer signs but must still verify until ``expiry``."""

    public_jwk: dict[str, object]
    expiry: datetime


@dataclass(frozen=True, slots=True)
class Keys:
    """The signing key set shared by every replica (see keys/rotation)."""

    signing_key: dict[str, object] | None = None
    signing_key_pub: dict[str, object] | None = None
    verification_keys: tuple[VerificationKey, ...] = ()
    next_rotation: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """RFC 8628 device authorization request (issue 4 builds the flow; GC covers it now)."""

    user_code: str
    device_code: str
    client_id: str
    scopes: tuple[str, ...]
    expiry: datetime
    client_secret: str = ""


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """RFC 8628 state of a device code as the device polls for it."""

    device_code: str
    status: str
    expiry: datetime
    last_request_time: datetime
    poll_interval_seconds: int
    token: str = ""
    pkce: PKCE = field(default_factory=PKCE)


@dataclass(frozen=True, slots=True)
class RevokedToken:
    """A JWT access token id (``jti``) that must be refused until it expires."""

    id: str
    expiry: datetime


@dataclass(frozen=True, slots=True)
class Session:
    """One sign-in of one person at one client. It owns the refresh tokens of that grant,
    and every token minted under it carries its id as ``sid``: ending the session ends
    them all (refresh, introspection, TokenReview)."""

    id: str
    user_id: str
    connector_id: str
    client_id: str
    scopes: tuple[str, ...]
    claims: Claims
    created_at: datetime
    last_used: datetime
    #: After this nothing issued under the session can be valid (``None``: until its
    #: refresh tokens are gone or it is revoked); garbage collection removes it then.
    expiry: datetime | None = None
    remote_addr: str = ""
    user_agent: str = ""
    revoked_at: datetime | None = None
    revoked_by: str = ""  # who or what ended it: "logout", "reuse", "admin:<name>", ...


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions: every set field must match; an empty filter matches all."""

    user_id: str = ""
    client_id: str = ""
    connector_id: str = ""
    include_revoked: bool = False  # revoked and expired sessions are left out by default


#: ``Revocation.kind`` values.
REVOCATION_KINDS = ("session", "token", "user", "client", "connector", "all")


@dataclass(frozen=True, slots=True)
class Revocation:
    """A rule that refuses tokens: those of a session (``sid``), one token (``jti``), or
    every token of a user, client or connector (or all tokens) issued at or before
    ``issued_before``. Every replica reads new rules from storage to refuse the tokens
    within a second."""

    id: str
    kind: str  # one of REVOCATION_KINDS
    value: str  # the session id, jti, user id, client id or connector id; "" for "all"
    issued_before: datetime
    created_at: datetime
    expiry: datetime  # no token the rule covers can be valid after this: then it is removed
    actor: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One append-only audit record: who did what, to what, when and from where."""

    id: str
    time: datetime
    action: str  # dotted: "login.success", "token.refresh", "admin.client.create", ...
    actor: str  # a user id or email, a client id, "admin:<name>", "system"
    outcome: str = "success"  # "success" or "failure"
    subject: str = ""  # what it was done to: a session id, client id, email, ...
    user_id: str = ""
    client_id: str = ""
    connector_id: str = ""
    session_id: str = ""
    remote_addr: str = ""
    details: dict[str, str] = field(default_factory=dict)
    seq: int = 0  # assigned by storage on append: increasing, the order of events


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events, newest first: every set field must match (``action`` as a prefix)."""

    action: str = ""
    actor: str = ""
    user_id: str = ""
    client_id: str = ""
    session_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None  # a page cursor: only events older than this one
    limit: int = 100


@dataclass(frozen=True, slots=True)
class LoginAttempts:
    """Failed password attempts for one key (connector + username, or client address)."""

    key: str
    failures: int
    expiry: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class GCResult:
    """How many expired records one garbage collection removed."""

    auth_requests: int = 0
    auth_codes: int = 0
    device_requests: int = 0
    device_tokens: int = 0
    revoked_tokens: int = 0
    login_attempts: int = 0
    sessions: int = 0
    revocations: int = 0
    audit_events: int = 0

    def is_empty(self) -> bool:
        return not any(
            (
                self.auth_requests,
                self.auth_codes,
                self.device_requests,
                self.device_tokens,
                self.revoked_tokens,
                self.login_attempts,
                self.sessions,
                self.revocations,
                self.audit_events,
            )
        )
