"""Connector capability interfaces: how the server talks to an upstream identity source.

Like Dex's ``connector`` package, each capability is a tiny interface and every
one returns the neutral :class:`Identity`. The server checks capabilities with
``isinstance`` and knows nothing else about a connector; a connector knows
nothing about HTTP routing.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Scopes:
    """What the client asked for that changes what a connector must do."""

    offline_access: bool = False
    groups: bool = False


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed in, in the connector's words. ``connector_data`` is opaque state the
    connector needs to refresh (an upstream refresh token, a DN, ...)."""

    user_id: str
    username: str
    preferred_username: str = ""
    email: str = ""
    email_verified: bool = False
    groups: tuple[str, ...] = ()
    connector_data: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        # A NUL cannot be stored (PostgreSQL text and jsonb refuse it) nor shown safely:
        # an upstream that sends one sent garbage, refused like any other bad answer.
        texts = (self.user_id, self.username, self.preferred_username, self.email, *self.groups)
        if any("\x00" in text for text in texts):
            raise ConnectorError("the upstream identity contains a NUL character")


class ConnectorError(Exception):
    """The upstream failed or answered something unusable; shown to the person, logged."""


class UpstreamUnavailableError(ConnectorError):
    """The upstream could not give an answer now (unreachable, timed out, 5xx, rate
    limited, garbage): says nothing about the person, so a refresh keeps its session."""


class UserNotInRequiredGroupsError(ConnectorError):
    """The person authenticated but is not allowed here (org, group or domain); a 403 page."""


class Connector(abc.ABC):  # noqa: B024 - a marker base with no abstract method of its own
    """Base of every connector; concrete ones add one or more capabilities below."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release upstream clients."""


class PasswordConnector(Connector):
    """Username and password checked by the connector (local database, LDAP)."""

    #: The label of the username field on the login form ("Email Address", "Username").
    prompt: str = "Username"

    @abc.abstractmethod
    async def login(self, scopes: Scopes, username: str, password: str) -> Identity | None:
        """The identity, or ``None`` when the credentials are wrong."""


class CallbackConnector(Connector):
    """Redirect-based login (OAuth 2.0 / OIDC upstreams)."""

    @abc.abstractmethod
    async def login_url(self, scopes: Scopes, callback_url: str, state: str) -> str: ...

    @abc.abstractmethod
    async def handle_callback(
        self, scopes: Scopes, callback_url: str, query: dict[str, str]
    ) -> Identity: ...

    async def begin(self, scopes: Scopes, callback_url: str, state: str) -> tuple[str, bytes]:
        """The upstream URL, and secret state kept with the sign-in request until the
        callback (a PKCE verifier). The server calls this; override it to keep state."""
        return await self.login_url(scopes, callback_url, state), b""

    async def finish(
        self, scopes: Scopes, callback_url: str, query: dict[str, str], saved: bytes
    ) -> Identity:
        """Complete the callback with what :meth:`begin` saved."""
        return await self.handle_callback(scopes, callback_url, query)


class PostConnector(Connector):
    """SAML 2.0 Web Browser SSO with the HTTP-POST binding both ways (Dex's
    ``SAMLConnector``): the browser posts a request to the IdP and brings its signed
    answer back by POST. ``saved`` (the request's ID, for ``InResponseTo``) is kept with
    the sign-in request between the two, as :meth:`CallbackConnector.begin` does."""

    @abc.abstractmethod
    async def post_login(
        self, scopes: Scopes, callback_url: str, state: str
    ) -> tuple[str, str, bytes]:
        """``(IdP URL to post to, base64 SAMLRequest, saved state)``."""

    @abc.abstractmethod
    async def handle_post(self, scopes: Scopes, saml_response: str, saved: bytes) -> Identity:
        """The identity in the base64 ``SAMLResponse``; :class:`ConnectorError` if it is
        not a valid answer to the saved request."""

    @abc.abstractmethod
    def metadata(self) -> bytes:
        """This service provider's SAML metadata document (an ``EntityDescriptor``)."""


class RefreshConnector(Connector):
    """Asked again on every refresh, so upstream changes (groups, a disabled user) apply."""

    #: Whether asking again needs what the sign-in stored (an upstream token; OAuth
    #: connectors keep one only when ``offline_access`` was asked for, as Dex does).
    #: Without it there is nothing to ask the upstream with, and nothing is asked.
    needs_stored_data: bool = True

    @abc.abstractmethod
    async def refresh(self, scopes: Scopes, identity: Identity) -> Identity:
        """The up-to-date identity; raise :class:`ConnectorError` if the user is gone."""
