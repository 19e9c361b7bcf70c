"""get-token's decisions: the cached ID token, a silent refresh, or a new sign-in.

The order follows what kubectl needs (DESIGN §4): a cached ID token with more than the
margin left is returned without any network call (and without importing the network
code); otherwise, under the key's lock, the refresh token is tried, and only an
interactive run signs in again. Everything the person must see goes through ``say``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Protocol

from passgate.kube.cache import (
    CachedTokens,
    CacheEntry,
    CacheKey,
    TokenCache,
    default_cache_dir,
)
from passgate.kube.errors import PluginError, SignInRequired, TokenEndpointError
from passgate.kube.settings import PluginSettings

Say = Callable[[str], None]
# Waiting for a parallel run covers its whole sign-in, plus a little.
LOCK_SLACK_S = 30.0


class IssuerSession(Protocol):
    """The network side, replaceable in tests."""

    def refresh(self, tokens: CachedTokens) -> CachedTokens: ...

    def sign_in(self) -> CachedTokens: ...

    def close(self) -> None: ...


SessionFactory = Callable[[PluginSettings, Say], IssuerSession]
# Revokes one refresh token (RFC 7009); False when the issuer offers no endpoint for it.
Revoker = Callable[[CacheKey, str], bool]
LOGOUT_LOCK_TIMEOUT_S = 10.0


def get_token(
    settings: PluginSettings,
    *,
    interactive: bool,
    cache: TokenCache,
    say: Say,
    session: SessionFactory | None = None,
    now: Callable[[], float] = time.time,
) -> CachedTokens:
    key = settings.cache_key()
    if not settings.force_refresh:
        cached = cache.load(key)
        if cached is not None and cached.fresh(now(), settings.margin_s):
            return cached
    with cache.lock(
        key,
        timeout_s=settings.login_timeout_s + LOCK_SLACK_S,
        on_wait=lambda: say("Waiting for another passgate run to finish signing in…"),
    ):
        # A parallel run may have signed in or refreshed while we waited for the lock.
        cached = cache.load(key)
        fresh = cached is not None and cached.fresh(now(), settings.margin_s)
        if cached is not None and fresh and not settings.force_refresh:
            return cached
        if not interactive and (cached is None or not cached.refresh_token):
            raise SignInRequired(sign_in_required_message(settings))  # nothing to try
        issuer = (session or network_session)(settings, say)
        try:
            tokens = _renew(issuer, cached, settings, interactive=interactive, say=say)
        finally:
            issuer.close()
        cache.save(key, tokens)
        return tokens


def _renew(
    issuer: IssuerSession,
    cached: CachedTokens | None,
    settings: PluginSettings,
    *,
    interactive: bool,
    say: Say,
) -> CachedTokens:
    if cached is not None and cached.refresh_token:
        try:
            return issuer.refresh(cached)
        except TokenEndpointError as error:  # expired, revoked, or the user was disabled
            say(f"Could not refresh the token ({error}).")
    if not interactive:
        raise SignInRequired(sign_in_required_message(settings))
    tokens = issuer.sign_in()
    say(f"Signed in to {settings.issuer}.")
    return tokens


def sign_in_required_message(settings: PluginSettings) -> str:
    command = settings.sign_in_command(default_cache_dir())
    return (
        f"sign-in required for {settings.issuer} (client {settings.client_id}), but kubectl "
        "runs this plugin non-interactively (its stdin is not a terminal), so no browser is "
        "opened.\nSign in by running kubectl from a terminal, or run:\n\n"
        f"    {command} >{os.devnull}\n"
    )


def browser_available() -> bool:
    """Whether ``webbrowser`` can show a page here: BROWSER, a display, or a desktop OS."""
    import sys

    if sys.platform in ("darwin", "win32"):
        return True
    return any(os.environ.get(name) for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"))


class NetworkSession:
    """The real issuer over HTTPS (imports httpx and joserfc only when built)."""

    def __init__(self, settings: PluginSettings, say: Say) -> None:
        from passgate.kube.oidc_client import OIDCClient, http_client

        self.settings = settings
        self.say = say
        self.client = OIDCClient(
            http_client(settings.tls), settings.issuer, settings.client_id, settings.client_secret
        )

    def refresh(self, tokens: CachedTokens) -> CachedTokens:
        return self.client.refresh(tokens)

    def close(self) -> None:
        self.client.http.close()

    def sign_in(self) -> CachedTokens:
        from passgate.kube import device, loopback

        if self.grant_type() == "device":
            return device.login(self.client, self.settings, self.say)
        return loopback.login(self.client, self.settings, self.say)

    def grant_type(self) -> str:
        """``auto``: the code flow where a browser can open (or the person asked for the
        URL only), the device flow on a headless machine when the issuer offers it."""
        chosen = self.settings.grant_type
        if chosen != "auto":
            return chosen
        if browser_available() or not self.settings.open_browser:
            return "authcode"
        if self.client.provider().device_authorization_endpoint:
            return "device"
        return "authcode"


def network_session(settings: PluginSettings, say: Say) -> IssuerSession:
    return NetworkSession(settings, say)


def logout(cache: TokenCache, say: Say, *, key: CacheKey | None, revoke: Revoker) -> int:
    """Forget one key's tokens (every cached entry when ``key`` is None) and revoke their
    refresh tokens; a failed revocation is a warning, the local copy is gone anyway.
    Returns how many entries were removed."""
    if key is None:
        targets = cache.entries()
    else:
        tokens = cache.load(key)
        targets = [(cache.path(key), CacheEntry(key, tokens) if tokens else None)]
    removed = 0
    for path, entry in targets:
        if entry is None:  # unreadable: nothing to revoke
            removed += cache.delete_path(path)
            continue
        with cache.lock(entry.key, timeout_s=LOGOUT_LOCK_TIMEOUT_S):
            removed += cache.delete_path(path)
        if not entry.tokens.refresh_token:
            continue
        where = f"{entry.key.issuer} (client {entry.key.client_id})"
        try:
            if revoke(entry.key, entry.tokens.refresh_token):
                say(f"Revoked the refresh token at {where}.")
            else:
                say(
                    f"{entry.key.issuer} offers no revocation endpoint: the refresh token "
                    "stays valid until it expires."
                )
        except PluginError as error:
            say(f"warning: could not revoke the refresh token at {where}: {error}")
    return removed


def network_revoker(settings: PluginSettings) -> Revoker:
    """Revokes with the connection options given on the command line; the client secret
    only goes to the issuer and client it was given for."""

    def revoke(key: CacheKey, refresh_token: str) -> bool:
        from passgate.kube.oidc_client import OIDCClient, http_client

        same = (key.issuer, key.client_id) == (settings.issuer, settings.client_id)
        secret = settings.client_secret if same else ""
        with http_client(settings.tls) as http:
            return OIDCClient(http, key.issuer, key.client_id, secret).revoke(refresh_token)

    return revoke
