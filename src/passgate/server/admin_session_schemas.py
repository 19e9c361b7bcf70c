"""The admin API's bodies for sessions (a grant's), browser sessions and revocations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import Field

from passgate.admin.revocations import RevocationResult
from passgate.server.admin_bodies import Body, Out, Query, Text
from passgate.storage.models import REVOCATION_KINDS, BrowserSession, Revocation, Session


# -- sessions ------------------------------------------------------------------------------
class SessionQuery(Query):
    user_id: Text = ""
    client_id: Text = ""
    connector_id: Text = ""
    browser_session_id: Text = ""
    include_revoked: bool = False


class SessionOut(Out):
    id: str
    user_id: str
    connector_id: str
    client_id: str
    email: str
    username: str
    scopes: list[str]
    created_at: datetime
    last_used: datetime
    expiry: datetime | None
    remote_addr: str
    user_agent: str
    revoked_at: datetime | None
    revoked_by: str
    browser_session_id: str = Field(
        description="the browser session it was granted through ('' for none): the sid "
        "its tokens carry; else they carry this session's id"
    )

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            id=session.id,
            user_id=session.user_id,
            connector_id=session.connector_id,
            client_id=session.client_id,
            email=session.claims.email,
            username=session.claims.username,
            scopes=list(session.scopes),
            created_at=session.created_at,
            last_used=session.last_used,
            expiry=session.expiry,
            remote_addr=session.remote_addr,
            user_agent=session.user_agent,
            revoked_at=session.revoked_at,
            revoked_by=session.revoked_by,
            browser_session_id=session.browser_session_id,
        )


class SessionList(Out):
    sessions: list[SessionOut]


class BrowserSessionQuery(Query):
    user_id: Text = ""
    connector_id: Text = ""
    include_revoked: bool = False


class BrowserSessionOut(Out):
    id: str = Field(description="the sid of every token minted through it")
    user_id: str
    connector_id: str
    email: str
    username: str
    groups: list[str]
    clients: list[str] = Field(description="every client signed in through it, in order")
    auth_time: datetime = Field(description="when the person last proved who they are")
    acr_values: list[str] = Field(description="what the last sign-in was asked to satisfy")
    with_groups: bool = Field(description="the connector was asked for the person's groups")
    created_at: datetime
    last_used: datetime
    expiry: datetime
    absolute_expiry: datetime
    remember_me: bool
    remote_addr: str
    user_agent: str
    revoked_at: datetime | None
    revoked_by: str

    @classmethod
    def of(cls, session: BrowserSession) -> BrowserSessionOut:
        return cls(
            id=session.id,
            user_id=session.user_id,
            connector_id=session.connector_id,
            email=session.claims.email,
            username=session.claims.username,
            groups=list(session.claims.groups),
            clients=list(session.clients),
            auth_time=session.auth_time,
            acr_values=list(session.acr_values),
            with_groups=session.with_groups,
            created_at=session.created_at,
            last_used=session.last_used,
            expiry=session.expiry,
            absolute_expiry=session.absolute_expiry,
            remember_me=session.remember_me,
            remote_addr=session.remote_addr,
            user_agent=session.user_agent,
            revoked_at=session.revoked_at,
            revoked_by=session.revoked_by,
        )


class BrowserSessionList(Out):
    browser_sessions: list[BrowserSessionOut]


class Reason(Query):
    """Why (ending a browser session, disabling a user): kept in the audit event."""

    reason: Text = ""


# -- revocations ---------------------------------------------------------------------------
RevocationKind = Literal["session", "token", "user", "client", "connector", "all"]
assert set(get_args(RevocationKind)) == set(REVOCATION_KINDS)


class RevocationCreate(Body):
    kind: RevocationKind
    value: Annotated[str, Field(max_length=16 * 1024)] = Field(
        default="",
        description=(
            "the session id (a grant's or a browser session's), token, user id, client id "
            "or connector id; '' for all"
        ),
    )
    reason: Text = ""


class RevocationOut(Out):
    id: str
    kind: str
    value: str = Field(description="for kind token: the jti, never the token")
    issued_before: datetime
    created_at: datetime
    expiry: datetime
    actor: str
    reason: str

    @classmethod
    def of(cls, rule: Revocation) -> RevocationOut:
        return cls.model_validate(rule)


class RevocationResultOut(Out):
    kind: str
    revoked: bool = Field(description="false: nothing was left to revoke")
    sessions_revoked: int
    token_type: str | None = Field(description="for kind token: what the value was")

    @classmethod
    def of(cls, result: RevocationResult) -> RevocationResultOut:
        return cls(
            kind=result.kind,
            revoked=result.revoked,
            sessions_revoked=result.sessions_revoked,
            token_type=result.token_type or None,
        )


class RevocationList(Out):
    revocations: list[RevocationOut]
