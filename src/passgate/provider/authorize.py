"""The authorization endpoint's decisions (RFC 6749 §4.1.1, OIDC Core §3.1.2)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from passgate.clock import Clock
from passgate.oauth2 import pkce
from passgate.oauth2.errors import (
    InvalidRequestError,
    InvalidScopeError,
    LoginRequiredError,
    OAuthError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from passgate.oauth2.params import Params
from passgate.oauth2.redirect import is_valid_redirect_uri
from passgate.oauth2.scopes import OPENID, classify, split
from passgate.provider.connectors import ConnectorEntry, ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.ids import new_id
from passgate.provider.settings import AUTHORIZATION_CODE, DEVICE_CODE, ProviderSettings
from passgate.provider.sso import Reuse, SingleSignOn
from passgate.storage.models import AuthRequest, BrowserSession, Client

_PROMPTS = frozenset({"none", "login", "consent", "select_account"})
MAX_AGE_LIMIT = 2**31 - 1


class UntrustedRedirectError(OAuthError):
    """The client or redirect URI cannot be trusted: tell the person, never redirect
    (RFC 6749 §4.1.2.1)."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """A stored authorization request and where the person goes next: signed in already
    by the browser's session (``request.logged_in``), asked which account to use
    (``reuse.choose_account``), or to the chooser or the one connector."""

    request: AuthRequest
    client: Client
    connectors: tuple[ConnectorEntry, ...]
    show_chooser: bool
    reuse: Reuse = field(default_factory=Reuse)


async def trusted_peer(directory: Directory, client_id: str, peer_id: str) -> bool:
    """Dex cross-client trust: the peer lists the requesting client in ``trustedPeers``."""
    if peer_id == client_id:
        return True
    peer = await directory.find_client(peer_id)
    return peer is not None and client_id in peer.trusted_peers


async def check_scopes(directory: Directory, client_id: str, scopes: tuple[str, ...]) -> None:
    checked = classify(scopes)
    if checked.unrecognized:
        raise InvalidScopeError("unrecognized scope(s): " + " ".join(checked.unrecognized)[:200])
    for peer in checked.peers:
        if not await trusted_peer(directory, client_id, peer):
            raise InvalidScopeError(f"client {client_id!r} is not a trusted peer of {peer!r}")


async def authorize(
    params: Params,
    *,
    directory: Directory,
    connectors: ConnectorRegistry,
    settings: ProviderSettings,
    clock: Clock,
    sso: SingleSignOn | None = None,
    session: BrowserSession | None = None,
) -> Authorization:
    """Validate an authorization request and store it. Errors before the redirect URI is
    trusted raise :class:`UntrustedRedirectError`; later ones carry the redirect. With
    ``sso``, the browser's ``session`` may sign the person in at once."""
    client_id = params.get("client_id", "")
    if not client_id:
        raise UntrustedRedirectError("missing required parameter 'client_id'")
    client = await directory.find_client(client_id)
    if client is None:
        raise UntrustedRedirectError(f"unknown client {client_id[:64]!r}")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        # OIDC Core §3.1.2.1: redirect_uri is REQUIRED.
        raise UntrustedRedirectError("missing required parameter 'redirect_uri'")
    rule = settings.redirect_rules.get(client.id)
    allowed = (
        rule(redirect_uri) if rule is not None else is_valid_redirect_uri(client, redirect_uri)
    )
    if not allowed and not _device_sign_in(redirect_uri, settings):
        raise UntrustedRedirectError("redirect_uri is not registered for this client")
    state = params.get("state", "")
    try:
        request = _validate(params, client, redirect_uri, state, settings, clock)
        await check_scopes(directory, client.id, request.scopes)
        usable = tuple(connectors.for_client(client, AUTHORIZATION_CODE))
        if not usable:
            raise UnauthorizedClientError("no connector is available to this client")
        wanted = params.get("connector_id", "")
        if wanted:
            usable = tuple(entry for entry in usable if entry.id == wanted)
            if not usable:
                raise InvalidRequestError(f"connector {wanted[:64]!r} is not available")
        prompt = frozenset(params.get("prompt", "").split())
        if sso is not None:
            hint = params.get("id_token_hint", "")
            reuse = await sso.decide(request, client, usable, prompt, hint, session)
        elif "none" in prompt:
            # OIDC Core §3.1.2.6: no sign-in session exists to reuse without showing a page.
            raise LoginRequiredError("prompt=none but the user must sign in")
        else:
            reuse = Reuse()
    except OAuthError as error:
        raise error.redirect_to(redirect_uri, state) from None
    if sso is not None and reuse.session is not None:
        request = sso.signed_in(request, reuse.session)
    # Several connectors always need a choice; one is skipped unless the config says not to
    # (Dex ``alwaysShowLoginScreen``) and the client did not name it with connector_id.
    show_chooser = len(usable) > 1 or (
        settings.always_show_login_screen and not params.get("connector_id")
    )
    await directory.storage.create_auth_request(request)
    return Authorization(request, client, usable, show_chooser, reuse)


def _device_sign_in(redirect_uri: str, settings: ProviderSettings) -> bool:
    """RFC 8628 §3.3: the device flow signs the person in through this endpoint and the
    code returns to Passgate itself (``provider.device``), never to the client."""
    return redirect_uri == settings.device_callback_uri and DEVICE_CODE in settings.grant_types


def _validate(
    params: Params,
    client: Client,
    redirect_uri: str,
    state: str,
    settings: ProviderSettings,
    clock: Clock,
) -> AuthRequest:
    response_type = params.get("response_type", "")
    if not response_type:
        raise InvalidRequestError("missing required parameter 'response_type'")
    response_types = tuple(sorted(set(response_type.split())))
    if response_types != ("code",) or "code" not in settings.response_types:
        raise UnsupportedResponseTypeError(f"response_type {response_type[:32]!r} unsupported")
    mode = params.get("response_mode", "")
    if mode and mode != "query":
        raise InvalidRequestError(f"response_mode {mode[:32]!r} is not supported")
    # OIDC Core §6: request objects are optional; refuse them explicitly (§3.1.2.6).
    if params.get("request"):
        raise RequestNotSupportedError("request objects are not supported")
    if params.get("request_uri"):
        raise RequestURINotSupportedError("request_uri is not supported")
    scopes = split(params.get("scope", ""))
    if OPENID not in scopes:
        raise InvalidScopeError("the 'openid' scope is required")
    prompt = params.get("prompt", "").split()
    if not set(prompt) <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise InvalidRequestError("invalid prompt value")
    max_age: int | None = None
    if "max_age" in params:
        raw = params["max_age"]
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
            raise InvalidRequestError("max_age must be a non-negative integer")
        # Storage keeps a 32-bit integer; 68 years is as good as unlimited.
        max_age = min(int(raw), MAX_AGE_LIMIT)
    challenge = pkce.parse_challenge(
        params.get("code_challenge", ""),
        params.get("code_challenge_method", ""),
        settings.pkce_methods,
    )
    if not challenge.code_challenge and (client.public or settings.pkce_enforce):
        # RFC 9700 §2.1.1 / RFC 8252 §8.1: public clients MUST use PKCE.
        raise InvalidRequestError("code_challenge (PKCE) is required for this client")
    return AuthRequest(
        id=new_id(),
        client_id=client.id,
        response_types=response_types,
        scopes=scopes,
        redirect_uri=redirect_uri,
        expiry=clock() + settings.auth_request_lifetime,
        state=state,
        nonce=params.get("nonce", ""),
        force_approval_prompt="consent" in prompt,
        pkce=challenge,
        hmac_key=secrets.token_bytes(32),
        max_age=max_age,
        acr_values=tuple(params.get("acr_values", "").split())[:10],
        login_hint=params.get("login_hint", "")[:256],
    )
