"""The one protocol error type. Every OAuth/OIDC failure raises an :class:`OAuthError`
subclass; the web layer renders it as RFC 6749 §5.2 JSON, as a §4.1.2.1 redirect once the
redirect URI is trusted, or as an HTML page for a person."""

from __future__ import annotations

import re
from typing import ClassVar

# RFC 6749 §4.1.2.1 / §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION_FORBIDDEN = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class OAuthError(Exception):
    """An RFC 6749 error. Subclasses set ``error`` and ``status_code``."""

    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400

    def __init__(self, description: str = "", *, headers: dict[str, str] | None = None) -> None:
        self.description = _DESCRIPTION_FORBIDDEN.sub("?", description)
        self.headers: dict[str, str] = dict(headers or {})
        # Set once the redirect URI is trusted: the error then goes back to the client
        # as a redirect (RFC 6749 §4.1.2.1) instead of a page for the person.
        self.redirect_uri: str | None = None
        self.state = ""
        super().__init__(f"{self.error}: {self.description}" if description else self.error)

    def redirect_to(self, redirect_uri: str, state: str) -> OAuthError:
        """Mark the error as one to send to the (validated) redirect URI; returns self."""
        self.redirect_uri = redirect_uri
        self.state = state
        return self

    def to_dict(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequestError(OAuthError):
    """The request is missing a required parameter, includes an unsupported parameter value,
    repeats a parameter, or is otherwise malformed (RFC 6749 §5.2)."""

    error = "invalid_request"


class InvalidClientError(OAuthError):
    """Client authentication failed (RFC 6749 §5.2). 401 with ``WWW-Authenticate`` when the
    client tried HTTP Basic."""

    error = "invalid_client"
    status_code = 401


class InvalidGrantError(OAuthError):
    """The grant (code, refresh token, credentials) is invalid, expired, revoked, does not
    match the redirect URI, or was issued to another client (RFC 6749 §5.2)."""

    error = "invalid_grant"


class UnauthorizedClientError(OAuthError):
    """The client is not authorized to use this grant or response type (RFC 6749 §5.2)."""

    error = "unauthorized_client"


class UnsupportedGrantTypeError(OAuthError):
    """The grant type is not supported by the authorization server (RFC 6749 §5.2)."""

    error = "unsupported_grant_type"


class UnsupportedResponseTypeError(OAuthError):
    """The server does not support this response type (RFC 6749 §4.1.2.1)."""

    error = "unsupported_response_type"


class InvalidScopeError(OAuthError):
    """The requested scope is invalid, unknown or malformed (RFC 6749 §5.2)."""

    error = "invalid_scope"


class AccessDeniedError(OAuthError):
    """The resource owner or authorization server denied the request (RFC 6749 §4.1.2.1)."""

    error = "access_denied"
    status_code = 403


class LoginRequiredError(OAuthError):
    """``prompt=none`` but the person must sign in (OIDC Core §3.1.2.6)."""

    error = "login_required"


class ConsentRequiredError(OAuthError):
    """``prompt=none`` but consent is needed (OIDC Core §3.1.2.6)."""

    error = "consent_required"


class InteractionRequiredError(OAuthError):
    """``prompt=none`` but the person must do something else first, such as choose
    another way to sign in (OIDC Core §3.1.2.6)."""

    error = "interaction_required"


class RequestNotSupportedError(OAuthError):
    """The ``request`` parameter (a request object) is not supported (OIDC Core §3.1.2.6)."""

    error = "request_not_supported"


class RequestURINotSupportedError(OAuthError):
    """The ``request_uri`` parameter is not supported (OIDC Core §3.1.2.6)."""

    error = "request_uri_not_supported"


class InvalidTokenError(OAuthError):
    """The access token is expired, revoked, malformed or invalid (RFC 6750 §3.1)."""

    error = "invalid_token"
    status_code = 401


class MissingTokenError(InvalidTokenError):
    """No access token at all: RFC 6750 §3.1 says the challenge then carries no error code."""


class ServerError(OAuthError):
    """An unexpected condition; the detail is logged, never sent (RFC 6749 §4.1.2.1)."""

    error = "server_error"
    status_code = 500


class TemporarilyUnavailableError(OAuthError):
    """The server cannot handle the request now (RFC 6749 §4.1.2.1)."""

    error = "temporarily_unavailable"
    status_code = 503


class SlowDownError(OAuthError):
    """Device flow: the client polls too fast (RFC 8628 §3.5)."""

    error = "slow_down"


class AuthorizationPendingError(OAuthError):
    """Device flow: the person has not finished yet (RFC 8628 §3.5)."""

    error = "authorization_pending"


class ExpiredTokenError(OAuthError):
    """Device flow: the device code expired (RFC 8628 §3.5)."""

    error = "expired_token"


class TooManyRequestsError(OAuthError):
    """Too many failed attempts; try again later."""

    error = "invalid_request"
    status_code = 429
