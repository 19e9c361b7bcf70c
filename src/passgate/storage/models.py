"""What storage holds: frozen records that every backend stores and returns unchanged.

Timestamps are timezone-aware UTC datetimes. Secrets are never stored in the clear:
refresh tokens keep only SHA-256 hashes, passwords only bcrypt hashes, clients only a
hash of their secret (``Client.secret_hash``; see ``provider/client_secrets``).
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
    #: The secret in the clear: only clients of the config file (``staticClients``) have
    #: one. A stored client with one is a row from before hashing (migration 0005), which
    #: start-up replaces by ``secret_hash``.
    secret: str = ""
    redirect_uris: tuple[str, ...] = ()
    trusted_peers: tuple[str, ...] = ()
    public: bool = False
    name: str = ""
    logo_url: str = ""
    post_logout_redirect_uris: tuple[str, ...] = ()
    allowed_connectors: tuple[str, ...] = ()
    #: OpenID Back-Channel Logout 1.0 §2.2: where logout tokens go ("" for none).
    backchannel_logout_uri: str = ""
    #: Which clients may reuse a browser session this client signed in (Dex
    #: ``ssoSharedWith``; ``"*"`` for all); ``None``: ``sessions.ssoSharedWithDefault``.
    sso_shared_with: tuple[str, ...] | None = None
    #: What a stored client keeps of its secret: ``<scheme>$<hash>`` (schemes in
    #: ``provider/client_secrets``); "" for none.
    secret_hash: str = ""

    @property
    def has_secret(self) -> bool:
        return bool(self.secret or self.secret_hash)


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
    #: The browser session the person is signed in with ("" until then).
    browser_session_id: str = ""
    #: Signed in by that existing session, without seeing a sign-in page.
    sso: bool = False
    acr_values: tuple[str, ...] = ()  # OIDC Core §3.1.2.1, as requested
    login_hint: str = ""  # OIDC Core §3.1.2.1: a username to suggest


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
    #: Refused at the password form, the password grant and refresh; the record stays
    #: (its user id, groups and audit trail) until it is enabled again or deleted.
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public JWK that no longer signs but must still verify until ``expiry``."""

    public_jwk: dict[str, object]
    expiry: datetime


@dataclass(frozen=True, slots=True)
class PendingKey:
    """The next signing key: published (in every JWKS) at once, signing only from
    ``signs_at``, so that every verifier has it before a token needs it."""

    private_jwk: dict[str, object]
    public_jwk: dict[str, object]
    signs_at: datetime


@dataclass(frozen=True, slots=True)
class Keys:
    """The signing key set shared by every replica (see keys/rotation)."""

    signing_key: dict[str, object] | None = None
    signing_key_pub: dict[str, object] | None = None
    verification_keys: tuple[VerificationKey, ...] = ()
    next_rotation: datetime | None = None
    next_key: PendingKey | None = None


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
    """One grant: a person signed in at one client. It owns the refresh tokens of that
    grant, and ending it ends every token minted under it (refresh, introspection,
    TokenReview). Its tokens carry the browser session's id as ``sid`` when the grant was
    made through one (then several clients share a ``sid``), else this session's id."""

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
    browser_session_id: str = ""  # the BrowserSession it was granted through ("" for none)

    @property
    def sid(self) -> str:
        """The ``sid`` its tokens carry."""
        return self.browser_session_id or self.id


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions: every set field must match; an empty filter matches all."""

    user_id: str = ""
    client_id: str = ""
    connector_id: str = ""
    browser_session_id: str = ""
    include_revoked: bool = False  # revoked and expired sessions are left out by default


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """One person signed in at one browser: the single sign-on session behind the session
    cookie. Later sign-ins of that browser at any client reuse it without a password, and
    the tokens they get carry its id as ``sid``; ending it ends them all. The cookie is
    ``<id>.<secret>``; only the secret's SHA-256 is kept."""

    id: str
    cookie_hash: str
    user_id: str
    connector_id: str
    claims: Claims
    auth_time: datetime  # when the person last proved who they are (OIDC Core §2)
    created_at: datetime
    last_used: datetime
    #: The earlier of ``absolute_expiry`` and ``last_used`` plus the idle timeout.
    expiry: datetime
    absolute_expiry: datetime
    refreshed_at: datetime  # when the connector last vouched for ``claims``
    connector_data: bytes = b""
    remember_me: bool = False  # the cookie outlives the browser
    clients: tuple[str, ...] = ()  # every client that signed in through it, in order
    #: The scopes the person approved, per client (OIDC Core §3.1.2.4 consent).
    consents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    acr_values: tuple[str, ...] = ()  # what the sign-in was asked for (OIDC Core §3.1.2.1)
    remote_addr: str = ""
    user_agent: str = ""
    revoked_at: datetime | None = None
    revoked_by: str = ""
    #: The connector was asked for the person's groups (the ``groups`` scope): only then
    #: may a client that wants groups sign in through the session.
    with_groups: bool = False


@dataclass(frozen=True, slots=True)
class BrowserSessionFilter:
    """Which browser sessions: every set field must match; empty matches all."""

    user_id: str = ""
    connector_id: str = ""
    include_revoked: bool = False  # revoked and expired sessions are left out by default


#: What an admin revokes (a session id names a grant's session or a browser session).
REVOCATION_KINDS = ("session", "token", "user", "client", "connector", "all")
#: ``Revocation.kind`` values: those, and the rule that ends one client's grant under a
#: browser session other clients share.
RULE_KINDS = (*REVOCATION_KINDS, "grant")


@dataclass(frozen=True, slots=True)
class Revocation:
    """A rule that refuses tokens: those of a session (``sid``), one token (``jti``), or
    every token of a grant (``value`` is ``"<sid> <client id>"``), user, client or
    connector (or all tokens) issued at or before ``issued_before``. Every replica reads
    new rules from storage to refuse the tokens within a second."""

    id: str
    kind: str  # one of RULE_KINDS
    value: str  # the sid, "<sid> <client id>", jti, user, client or connector id; "" for all
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
class ServerSecret:
    """A random key every replica shares (e.g. the one that signs forward-auth cookies):
    made once by whichever replica needs it first, never replaced by another key. Its
    ``value`` may be re-encrypted in place (``update_secret``) when the configured
    encryption key changes (see ``keys/server_secrets``)."""

    name: str
    value: bytes
    created_at: datetime


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
    browser_sessions: int = 0

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
                self.browser_sessions,
            )
        )
