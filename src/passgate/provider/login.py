"""Signing a person in to an authorization request, then consent and the code
(RFC 6749 §4.1.2, OIDC Core §3.1.2.5)."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from passgate.clock import Clock
from passgate.connectors.base import Identity, PasswordConnector, Scopes
from passgate.oauth2.errors import AccessDeniedError, OAuthError
from passgate.oauth2.scopes import GROUPS, OFFLINE_ACCESS
from passgate.provider.connectors import ConnectorEntry
from passgate.provider.identity import claims_of
from passgate.provider.ids import new_secret, secret_hash
from passgate.provider.limits import LoginLimiter
from passgate.provider.sessions import Origin, Sessions
from passgate.provider.settings import ProviderSettings
from passgate.provider.sso import SingleSignOn
from passgate.storage.base import NotFoundError, Storage
from passgate.storage.models import AuthCode, AuthRequest, BrowserSession

#: An unredeemed code's session outlives the code a little (a code is still good at the
#: very instant of its expiry); then garbage collection removes it.
CODE_SESSION_GRACE = timedelta(minutes=1)


class RequestExpiredError(OAuthError):
    """The sign-in request is unknown or too old; the person must start again."""


async def load_request(storage: Storage, request_id: str, clock: Clock) -> AuthRequest:
    try:
        request = await storage.get_auth_request(request_id)
    except NotFoundError:
        raise RequestExpiredError("this sign-in request is unknown or has expired") from None
    if request.expiry < clock():
        raise RequestExpiredError("this sign-in request has expired")
    return request


def scopes_for(scopes: tuple[str, ...]) -> Scopes:
    return Scopes(offline_access=OFFLINE_ACCESS in scopes, groups=GROUPS in scopes)


async def check_password(
    entry: ConnectorEntry,
    connector: PasswordConnector,
    scopes: Scopes,
    *,
    username: str,
    password: str,
    limiter: LoginLimiter,
    address: str,
    client_id: str,
    sessions: Sessions | None,
) -> Identity | None:
    """One password attempt (the login form or the password grant), counted against the
    limits of the user and of ``address`` and, when wrong, recorded in the audit log;
    ``None`` when wrong. Raises :class:`~passgate.provider.limits.TooManyAttempts` while
    locked out."""
    limiter_keys = LoginLimiter.keys(entry.id, username, address)
    await limiter.check(*limiter_keys)
    identity = await connector.login(scopes, username, password)
    if identity is None:
        await limiter.failed(*limiter_keys)
        if sessions is not None:
            await sessions.login_failed(
                connector_id=entry.id, username=username, client_id=client_id,
                remote_addr=address,
            )  # fmt: skip
        return None
    await limiter.succeeded(limiter_keys[0])
    return identity


async def finish_login(
    storage: Storage,
    request: AuthRequest,
    entry: ConnectorEntry,
    identity: Identity,
    clock: Clock,
    *,
    browser_session: BrowserSession | None = None,
) -> AuthRequest:
    """Record who signed in (into ``browser_session``, the browser's session, when there
    is one: ``auth_time`` is then the session's); the request then waits for approval."""
    auth_time = clock() if browser_session is None else browser_session.auth_time

    def mark(old: AuthRequest) -> AuthRequest:
        if old.logged_in:  # single use: a replayed login or callback cannot re-enter
            raise RequestExpiredError("this sign-in request was already completed")
        return dataclasses.replace(
            old,
            logged_in=True,
            claims=claims_of(identity),
            connector_id=entry.id,
            connector_data=identity.connector_data,
            auth_time=auth_time,
            browser_session_id="" if browser_session is None else browser_session.id,
        )

    return await storage.update_auth_request(request.id, mark)


def _with_query(uri: str, params: dict[str, str]) -> str:
    """Add parameters to the redirect URI, keeping its own query (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    query = urlencode(params)
    query = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_redirect(error: OAuthError) -> str:
    """The redirect that carries an error to the client (RFC 6749 §4.1.2.1)."""
    assert error.redirect_uri is not None
    params = error.to_dict()
    if error.state:
        params["state"] = error.state
    return _with_query(error.redirect_uri, params)


async def issue_code(
    storage: Storage,
    request: AuthRequest,
    settings: ProviderSettings,
    clock: Clock,
    *,
    sessions: Sessions | None = None,
    origin: Origin | None = None,
    sso: SingleSignOn | None = None,
    consented: bool = False,
) -> str:
    """Turn an approved, signed-in request into a code; returns the client redirect.
    With ``sessions`` the sign-in starts a session (from ``origin``) that owns what the
    code issues; with ``sso`` it is made through the browser's session (the person
    ``consented`` on the approval page or not)."""
    if not request.logged_in or request.claims is None:
        raise RequestExpiredError("this sign-in request is not signed in")
    try:
        # Deleting first makes approval single-use: a second POST finds nothing to approve.
        await storage.delete_auth_request(request.id)
    except NotFoundError:
        raise RequestExpiredError("this sign-in request was already completed") from None
    code = new_secret()
    expiry = clock() + settings.auth_code_lifetime
    session_id = ""
    device = request.redirect_uri == settings.device_callback_uri
    # The device's tokens are its own: signing out of the browser does not end them.
    through = "" if device else request.browser_session_id
    if device and sso is not None and request.browser_session_id:
        await sso.active(request)  # but a browser that signed out since cannot approve
    if sessions is not None:
        session = await sessions.start(
            claims=request.claims,
            connector_id=request.connector_id,
            client_id=request.client_id,
            scopes=request.scopes,
            origin=origin or Origin(),
            until=expiry + CODE_SESSION_GRACE,
            via="device" if device else "sso" if request.sso else "browser",
            browser_session_id=through if sso is not None else "",
        )
        session_id = session.id
    if sso is not None and through and session_id:
        await sso.join(request, session_id, consented=consented)

    await storage.create_auth_code(
        AuthCode(
            id=secret_hash(code),
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            scopes=request.scopes,
            connector_id=request.connector_id,
            claims=request.claims,
            expiry=expiry,
            nonce=request.nonce,
            connector_data=request.connector_data,
            pkce=request.pkce,
            auth_time=request.auth_time,
            session_id=session_id,
        )
    )
    params = {"code": code}
    if request.state:
        params["state"] = request.state
    return _with_query(request.redirect_uri, params)


async def deny(storage: Storage, request: AuthRequest) -> str:
    await _forget(storage, request.id)
    error = AccessDeniedError("the user denied the request")
    return error_redirect(error.redirect_to(request.redirect_uri, request.state))


async def _forget(storage: Storage, request_id: str) -> None:
    with contextlib.suppress(NotFoundError):
        await storage.delete_auth_request(request_id)
