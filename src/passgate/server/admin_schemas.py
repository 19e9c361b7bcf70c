"""The admin API's request and response bodies (pydantic, at the HTTP edge only): they
validate what arrives, shape what leaves, and are the schemas of the OpenAPI document."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from passgate.admin.audit import MAX_AUDIT_PAGE
from passgate.admin.clients import CLIENT_ID_PATTERN, ClientChanges, ClientView
from passgate.admin.keys import KeyInfo, KeyStatus, PendingKeyInfo
from passgate.admin.users import EMAIL_PATTERN, MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH, UserView
from passgate.config.fields import AbsoluteURL
from passgate.server.admin_bodies import MAX_ITEMS, Body, ErrorBody, LongText, Out, Query, Text
from passgate.server.admin_session_schemas import (
    BrowserSessionList,
    BrowserSessionOut,
    BrowserSessionQuery,
    Reason,
    RevocationCreate,
    RevocationList,
    RevocationOut,
    RevocationResultOut,
    SessionList,
    SessionOut,
    SessionQuery,
)
from passgate.storage.models import AuditEvent

__all__ = [
    "MAX_ITEMS", "Body", "BrowserSessionList", "BrowserSessionOut", "BrowserSessionQuery",
    "ErrorBody", "LongText", "Out", "Query", "Reason", "RevocationCreate", "RevocationList",
    "RevocationOut", "RevocationResultOut", "SessionList", "SessionOut", "SessionQuery", "Text",
]  # fmt: skip

ClientId = Annotated[str, Field(pattern=CLIENT_ID_PATTERN)]
RedirectURIs = Annotated[
    list[Annotated[AbsoluteURL, Field(max_length=2000)]], Field(max_length=MAX_ITEMS)
]
Strings = Annotated[list[Text], Field(max_length=MAX_ITEMS)]
Secret = Annotated[str, Field(min_length=1, max_length=512)]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_BYTES)]
Hash = Annotated[str, Field(min_length=1, max_length=100)]
#: OpenID Back-Channel Logout 1.0 §2.2: an http(s) URL, or "" for none.
BackchannelURI = Annotated[str, Field(max_length=2000, pattern=r"^(https?://[^/?#\s]+[^\s#]*)?$")]
SharedWith = Annotated[
    list[Annotated[str, Field(pattern=r"^(\*|[A-Za-z0-9._~@:+-]{1,128})$")]],
    Field(max_length=MAX_ITEMS),
]


# -- clients -------------------------------------------------------------------------------
class ClientFields(Body):
    secret: Secret | None = Field(
        default=None,
        description="set by hand (stored as a bcrypt hash); kept when absent; a confidential "
        "client without one gets a generated secret, returned once",
    )
    public: bool = False
    name: Text = ""
    logo_url: LongText = ""
    redirect_uris: RedirectURIs = Field(default_factory=list)
    post_logout_redirect_uris: RedirectURIs = Field(default_factory=list)
    trusted_peers: Annotated[list[ClientId], Field(max_length=MAX_ITEMS)] = Field(
        default_factory=list
    )
    allowed_connectors: Strings = Field(default_factory=list)
    backchannel_logout_uri: BackchannelURI = ""
    sso_shared_with: SharedWith | None = Field(
        default=None,
        description="clients that may reuse a browser session this client signed in ('*': "
        "all); absent: sessions.ssoSharedWithDefault on create, unchanged on update",
    )

    def changes(self) -> ClientChanges:
        return client_changes(self)


class ClientCreate(ClientFields):
    id: ClientId | None = Field(default=None, description="generated when absent")


class ClientPatch(Body):
    secret: Secret | None = None
    public: bool | None = None
    name: Text | None = None
    logo_url: LongText | None = None
    redirect_uris: RedirectURIs | None = None
    post_logout_redirect_uris: RedirectURIs | None = None
    trusted_peers: Annotated[list[ClientId], Field(max_length=MAX_ITEMS)] | None = None
    allowed_connectors: Strings | None = None
    backchannel_logout_uri: BackchannelURI | None = None
    sso_shared_with: SharedWith | None = None

    def changes(self) -> ClientChanges:
        return client_changes(self)


def client_changes(body: BaseModel) -> ClientChanges:
    """The fields of a client body as :class:`ClientChanges` (lists as tuples; ``None``
    stays None: unchanged)."""
    values: dict[str, Any] = {}
    for name in ClientChanges.__dataclass_fields__:
        value = getattr(body, name)
        values[name] = tuple(value) if isinstance(value, list) else value
    return ClientChanges(**values)


class ClientOut(Out):
    id: str
    name: str
    public: bool
    logo_url: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    trusted_peers: list[str]
    allowed_connectors: list[str]
    backchannel_logout_uri: str
    sso_shared_with: list[str] | None
    static: bool = Field(description="from the config file (staticClients): read-only")
    has_secret: bool
    secret: str | None = Field(
        description="a generated secret, only in the answer of the call that made it "
        "(storage keeps a hash: no call returns it again)"
    )

    @classmethod
    def of(cls, view: ClientView) -> ClientOut:
        client = view.client
        return cls(
            id=client.id,
            name=client.name,
            public=client.public,
            logo_url=client.logo_url,
            redirect_uris=list(client.redirect_uris),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            trusted_peers=list(client.trusted_peers),
            allowed_connectors=list(client.allowed_connectors),
            backchannel_logout_uri=client.backchannel_logout_uri,
            sso_shared_with=None
            if client.sso_shared_with is None
            else list(client.sso_shared_with),
            static=view.static,
            has_secret=client.has_secret,
            secret=view.new_secret or None,
        )


class ClientList(Out):
    clients: list[ClientOut]


# -- users ---------------------------------------------------------------------------------
class PasswordBody(Body):
    password: Password | None = Field(default=None, description="in the clear; stored as bcrypt")
    hash: Hash | None = Field(default=None, description="a bcrypt hash, instead of password")


class UserCreate(PasswordBody):
    email: Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
    username: Text = ""
    user_id: Text = ""
    name: Text = ""
    preferred_username: Text = ""
    email_verified: bool = True
    groups: Strings = Field(default_factory=list)


class UserOut(Out):
    email: str
    username: str
    user_id: str
    name: str
    preferred_username: str
    email_verified: bool
    groups: list[str]
    static: bool = Field(description="from the config file (staticPasswords): read-only")
    disabled: bool = Field(description="refused at sign-in, the password grant and refresh")

    @classmethod
    def of(cls, view: UserView) -> UserOut:
        user = view.user
        return cls(
            email=user.email,
            username=user.username,
            user_id=user.user_id,
            name=user.name,
            preferred_username=user.preferred_username,
            email_verified=user.email_verified,
            groups=list(user.groups),
            static=view.static,
            disabled=user.disabled,
        )


class UserList(Out):
    users: list[UserOut]


# -- keys ----------------------------------------------------------------------------------
class KeyOut(Out):
    kid: str
    algorithm: str
    expiry: datetime | None = Field(description="when it stops verifying; null: it signs now")

    @classmethod
    def of(cls, info: KeyInfo) -> KeyOut:
        return cls.model_validate(info)


class PendingKeyOut(Out):
    kid: str
    algorithm: str
    signs_at: datetime = Field(
        description="when replicas start signing with it; it is in the JWKS already"
    )

    @classmethod
    def of(cls, info: PendingKeyInfo) -> PendingKeyOut:
        return cls.model_validate(info)


class KeyStatusOut(Out):
    signing_key: KeyOut | None
    next_key: PendingKeyOut | None = Field(
        description="the next signing key, published before it signs; null when none is yet"
    )
    next_rotation: datetime | None
    verification_keys: list[KeyOut]
    encryption_key_id: str = Field(
        description="the id of the encryption key (signer.config.encryptionKey) the private "
        "key is encrypted with in storage; empty when it is stored in the clear"
    )

    @classmethod
    def of(cls, status: KeyStatus) -> KeyStatusOut:
        return cls(
            signing_key=KeyOut.of(status.signing) if status.signing else None,
            next_key=PendingKeyOut.of(status.pending) if status.pending else None,
            next_rotation=status.next_rotation,
            verification_keys=[KeyOut.of(info) for info in status.verification],
            encryption_key_id=status.encrypted_with,
        )


class KeyRotateQuery(Query):
    now: bool = Field(
        default=False,
        description="a compromised key: sign with a new key at once and drop the current "
        "one from the JWKS (verifiers refuse new tokens until they fetch it again)",
    )


# -- audit ---------------------------------------------------------------------------------
def _rfc3339(value: object) -> object:
    # pydantic would also read "0.5" as a Unix time; the document says RFC 3339.
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z")
    return value


_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d")
Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class AuditQueryParams(Query):
    action: Text = Field(default="", description="a prefix: admin.client matches its verbs")
    actor: Text = ""
    user_id: Text = ""
    client_id: Text = ""
    session_id: Text = ""
    since: Time | None = None
    until: Time | None = None
    before_seq: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_AUDIT_PAGE)] = 100


class AuditEventOut(Out):
    seq: int
    id: str
    time: datetime
    action: str
    actor: str
    outcome: str
    subject: str
    user_id: str
    client_id: str
    connector_id: str
    session_id: str
    remote_addr: str
    details: dict[str, str]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls.model_validate(event)


class AuditList(Out):
    events: list[AuditEventOut]
    next_before_seq: int | None = Field(description="pass as before_seq for the next page")
