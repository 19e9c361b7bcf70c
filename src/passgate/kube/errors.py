"""The plugin's errors; each message is written for the person at the terminal."""

from __future__ import annotations


class PluginError(Exception):
    """get-token or logout cannot go on; the CLI prints the message and exits 1."""


class OIDCError(PluginError):
    """Talking to the issuer failed."""


class TokenEndpointError(OIDCError):
    """The token or device endpoint answered an RFC 6749 §5.2 (RFC 8628 §3.5) error."""

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}" if description else error)


class SignInRequired(PluginError):
    """A new sign-in is needed but kubectl runs the plugin non-interactively."""
