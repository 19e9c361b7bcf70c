"""OpenID Connect RP-Initiated Logout 1.0: decide what a logout request may do.

``id_token_hint`` names the session to end: an ID token we signed (an expired one is
fine, §2: the signature must still verify with a key we keep). ``client_id``, when sent
with a hint, must be one of its audiences. ``post_logout_redirect_uri`` must exactly
match one of the client's ``postLogoutRedirectURIs`` (§3, the client known from
``client_id`` or the hint), or the request is refused with a page, never a redirect.
Without a valid hint nobody can tell whether the person asked for it, so they confirm
first (§2: a logout request can be forged), and so do they when the hint names another
session than the browser's own. Either way the browser's session ends: single sign-on
ends with it everywhere, and every client of it that registered a back-channel logout
URI is told.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from passgate.oauth2.errors import InvalidRequestError, InvalidTokenError
from passgate.oauth2.params import Params
from passgate.provider import audit as actions
from passgate.provider.audit import AuditLog
from passgate.provider.directory import Directory
from passgate.provider.revocation import Revoker
from passgate.provider.revocation_cache import TokenFacts
from passgate.provider.verify import token_kind
from passgate.storage.models import BrowserSession
from passgate.tokens.issuer import TokenIssuer, VerifiedToken

__all__ = ["LogoutRequest", "check_logout", "end_session"]


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A checked logout request."""

    hint: VerifiedToken | None  # a valid id_token_hint: the session can be ended now
    client_id: str = ""
    client_name: str = ""
    post_logout_redirect_uri: str = ""  # registered for the client, exactly
    state: str = ""

    def seen_from(self, browser: BrowserSession | None) -> LogoutRequest:
        """§2: a hint naming a session other than this browser's (another person, or
        the same person's older or other session) logs nobody out unasked: the request
        becomes one without a hint (the person confirms first, and then only this
        browser's session ends). A browser without a session ends the hinted one."""
        if self.hint is None or browser is None:
            return self
        if TokenFacts.of_token(self.hint).session_id == browser.id:
            return self
        return dataclasses.replace(self, hint=None)

    def redirect(self) -> str:
        """Where the person goes afterwards ("" for Passgate's own page)."""
        uri = self.post_logout_redirect_uri
        if not uri or not self.state:
            return uri
        parts = urlsplit(uri)
        query = urlencode({"state": self.state})
        query = f"{parts.query}&{query}" if parts.query else query
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


async def check_logout(
    params: Params, *, issuer: TokenIssuer, directory: Directory
) -> LogoutRequest:
    """Check the parameters; :class:`InvalidRequestError` for a request to refuse."""
    hint = await _hint(params.optional("id_token_hint"), issuer)
    client_id = params.optional("client_id")
    if hint is not None and client_id and client_id not in hint.audience:
        raise InvalidRequestError("client_id is not an audience of the id_token_hint")
    client_id = client_id or (hint.client_id if hint is not None else "")
    client = await directory.find_client(client_id) if client_id else None
    if client_id and client is None:
        raise InvalidRequestError("unknown client")
    uri = params.optional("post_logout_redirect_uri")
    if uri:
        if client is None:
            raise InvalidRequestError("post_logout_redirect_uri needs client_id or id_token_hint")
        # §3: exact string comparison with a registered value.
        if uri not in client.post_logout_redirect_uris:
            raise InvalidRequestError("post_logout_redirect_uri is not registered for the client")
    return LogoutRequest(
        hint=hint,
        client_id=client.id if client else "",
        client_name=(client.name or client.id) if client else "",
        post_logout_redirect_uri=uri,
        state=params.optional("state")[:512],
    )


async def _hint(value: str, issuer: TokenIssuer) -> VerifiedToken | None:
    if not value:
        return None
    try:
        token = await issuer.verify_token(value, allow_expired=True)
    except InvalidTokenError:
        return None
    return token if token_kind(token) == "id" else None  # an access token is no hint


async def end_session(
    request: LogoutRequest,
    *,
    revoker: Revoker,
    audit: AuditLog,
    browser: BrowserSession | None = None,
    remote_addr: str = "",
) -> bool:
    """End the hinted session and the ``browser``'s own session (unless the hint names
    another person), and record the logout; whether a session ended."""
    hint = request.hint
    user_id, connector_id, session_id = "", "", ""
    if hint is not None:
        facts = TokenFacts.of_token(hint)
        user_id, connector_id, session_id = facts.user_id, facts.connector_id, facts.session_id
    elif browser is not None:
        user_id, connector_id, session_id = browser.user_id, browser.connector_id, browser.id
    email = hint.claims.get("email") if hint is not None else None
    if not isinstance(email, str) or not email:
        email = browser.claims.email if browser is not None and hint is None else ""
    actor = email or user_id or "anonymous"
    ended = False
    if session_id:
        ended = await revoker.revoke_session(
            session_id, actor=actor, reason="RP-initiated logout", revoked_by="logout"
        )
    same_person = browser is not None and (browser.user_id, browser.connector_id) == (
        user_id,
        connector_id,
    )
    if browser is not None and browser.id != session_id and same_person:
        ended = (
            await revoker.end_browser_session(
                browser.id, actor=actor, reason="RP-initiated logout", revoked_by="logout"
            )
            or ended
        )
    await audit.record(
        actions.LOGOUT,
        actor,
        subject=session_id,
        user_id=user_id,
        client_id=request.client_id,
        connector_id=connector_id,
        session_id=session_id,
        remote_addr=remote_addr,
        details={"session_ended": "true" if ended else "false"},
    )
    return ended
