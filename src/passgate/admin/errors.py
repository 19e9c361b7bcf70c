"""The admin API's one error type: a status, a short code and a description, rendered by
the web layer as ``{"error": ..., "error_description": ...}``."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AdminError",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "UnauthorizedError",
    "UnavailableError",
]


class AdminError(Exception):
    """Base: subclasses set ``status_code`` and ``error``."""

    status_code: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def to_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class BadRequestError(AdminError):
    """The request is malformed or a value breaks a rule."""


class UnauthorizedError(AdminError):
    """No credentials, or credentials that are not valid (RFC 6750 §3.1 ``invalid_token``)."""

    status_code = 401
    error = "invalid_token"


class ForbiddenError(AdminError):
    """Valid credentials of someone who is not an admin (RFC 6750 §3.1)."""

    status_code = 403
    error = "insufficient_scope"


class NotFoundError(AdminError):
    status_code = 404
    error = "not_found"


class ConflictError(AdminError):
    """The record exists already, or comes from the config file and is read-only."""

    status_code = 409
    error = "conflict"


class UnavailableError(AdminError):
    """Storage or a dependency failed; the request may be retried."""

    status_code = 503
    error = "temporarily_unavailable"
