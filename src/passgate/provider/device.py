"""The device authorization grant (RFC 8628), as Dex serves it.

The device asks ``/device/code`` for a device code and a short user code, shows the
person the user code and polls ``/token``. The person enters the code at ``/device``,
confirms, and is sent through the ordinary ``/auth`` sign-in (connectors, chooser,
approval) with the device's client and scopes and ``redirect_uri=<issuer>/device/callback``.
The code that arrives there is redeemed here, so the client never sees it and no client
has to register that redirect URI (Dex asks for ``/device/callback``; registering it
remains harmless). The sign-in's ``state`` and PKCE verifier are MACs keyed by the stored
device-code hash; ``state`` also binds the browser that confirmed the code.

Storage keeps the device code only as its SHA-256, like authorization codes. The device
token's ``token`` field holds JSON: the client id, and once approved the redeemed grant.
Tokens are minted when the device picks them up, so no bearer token waits in storage.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from passgate.clock import Clock
from passgate.oauth2 import pkce
from passgate.oauth2.errors import (
    AuthorizationPendingError,
    ExpiredTokenError,
    InvalidGrantError,
    InvalidScopeError,
    OAuthError,
    ServerError,
    SlowDownError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from passgate.oauth2.params import Params
from passgate.oauth2.scopes import OPENID, split
from passgate.provider.authorize import check_scopes
from passgate.provider.connectors import ConnectorRegistry
from passgate.provider.directory import Directory
from passgate.provider.ids import mac, mac_matches, new_secret, secret_hash
from passgate.provider.issue import Grant, RedeemedCode, ResponseMinter, TokenResponse
from passgate.provider.settings import AUTHORIZATION_CODE, DEVICE_CODE, ProviderSettings
from passgate.storage.base import AlreadyExistsError, NotFoundError
from passgate.storage.codec import claims_from_json, claims_json
from passgate.storage.models import Client, DeviceRequest, DeviceToken

# RFC 8628 §6.1: base-20 without vowels (no words, no look-alikes), 8 characters shown
# as XXXX-XXXX: 20^8 ≈ 2^34.5 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
# RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
POLL_INTERVAL = 5
# RFC 8628 §3.5: slow_down adds 5 seconds to the interval for all subsequent requests.
SLOW_DOWN_STEP = 5
# Polls are timed on arrival; allow for a little network jitter before calling one early.
POLL_LEEWAY = timedelta(milliseconds=500)

PENDING, COMPLETE, DENIED, SPENT = "pending", "complete", "denied", "spent"

Authenticate = Callable[[Params, str | None], Awaitable[Client]]
Redeem = Callable[[Client, str, str, str], Awaitable[RedeemedCode]]


class UserCodeError(OAuthError):
    """The user code is unknown, expired or already used: the person sees the entry page
    again with this message."""


class DeviceDeniedError(OAuthError):
    """RFC 8628 §3.5 ``access_denied``: the person declined (400 at the token endpoint)."""

    error = "access_denied"


def new_user_code() -> str:
    chars = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_user_code(value: str) -> str | None:
    """RFC 8628 §6.1: compare case-insensitively and ignore the dash (and spaces); the
    canonical ``XXXX-XXXX`` form, or ``None`` when it cannot be a user code."""
    if not value.isascii() or len(value) > 32:
        return None
    chars = "".join(c for c in value.upper() if c not in "- \t")
    if len(chars) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in chars):
        return None
    return f"{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """RFC 8628 §3.2 device authorization response."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int = POLL_INTERVAL

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class PendingDevice:
    """A user code waiting for the person: what the verification page shows."""

    request: DeviceRequest
    client: Client

    @property
    def user_code(self) -> str:
        return self.request.user_code

    @property
    def _key(self) -> bytes:
        # The stored device-code hash: server-side, unguessable, one per device request.
        return self.request.device_code.encode("ascii")

    def form_token(self, browser: str) -> str:
        """CSRF token of the confirmation form, bound to this browser."""
        return mac(self._key, "device-verify", self.user_code, browser)

    def form_token_matches(self, browser: str, presented: str) -> bool:
        return bool(browser) and mac_matches(
            self._key, presented, "device-verify", self.user_code, browser
        )

    def state(self, browser: str) -> str:
        return f"{self.user_code}.{mac(self._key, 'device-state', self.user_code, browser)}"

    def state_matches(self, browser: str, state: str) -> bool:
        """``state`` came back to the browser that started this sign-in (its MAC)."""
        code, _, signature = state.partition(".")
        return (
            bool(browser)
            and code == self.user_code
            and mac_matches(self._key, signature, "device-state", self.user_code, browser)
        )

    def verifier(self) -> str:
        """The sign-in's PKCE verifier (RFC 7636 §4.1: 64 hex characters)."""
        return mac(self._key, "device-pkce", self.user_code)


def _blob(token: DeviceToken) -> dict[str, Any]:
    value = json.loads(token.token or "{}")
    return value if isinstance(value, dict) else {}


def _grant_json(redeemed: RedeemedCode) -> dict[str, object]:
    grant = redeemed.grant
    return {
        "claims": claims_json(grant.claims),
        "scopes": list(grant.scopes),
        "connector_id": grant.connector_id,
        "nonce": grant.nonce,
        "auth_time": grant.auth_time.isoformat() if grant.auth_time else None,
        "connector_data": base64.b64encode(grant.connector_data).decode("ascii"),
        "refresh_id": redeemed.refresh_id,
        "jti": redeemed.jti,
        "session_id": grant.session_id,
    }


def _grant_from_json(client_id: str, data: dict[str, Any]) -> RedeemedCode:
    auth_time = data.get("auth_time")
    grant = Grant(
        client_id=client_id,
        claims=claims_from_json(data["claims"]),
        scopes=tuple(data["scopes"]),
        connector_id=data["connector_id"],
        nonce=data.get("nonce", ""),
        auth_time=datetime.fromisoformat(auth_time) if auth_time else None,
        connector_data=base64.b64decode(data.get("connector_data", "")),
        session_id=data.get("session_id", ""),
    )
    return RedeemedCode(grant, data["refresh_id"], data["jti"])


class DeviceFlow:
    """The RFC 8628 endpoints' decisions; the web layer only parses and renders."""

    def __init__(
        self,
        *,
        directory: Directory,
        connectors: ConnectorRegistry,
        minter: ResponseMinter,
        settings: ProviderSettings,
        clock: Clock,
        authenticate: Authenticate,
        redeem: Redeem,
    ) -> None:
        self._directory = directory
        self._storage = directory.storage
        self._connectors = connectors
        self._minter = minter
        self._settings = settings
        self._clock = clock
        self._authenticate = authenticate
        self._redeem = redeem

    @property
    def verification_uri(self) -> str:
        return self._settings.issuer.rstrip("/") + "/device"

    # -- RFC 8628 §3.1/§3.2: the device authorization request --------------------------
    async def start(self, form: Params, authorization: str | None) -> DeviceAuthorization:
        """Authenticate the client as /token does, check the scopes as /auth does, and
        store a device code and a user code."""
        if DEVICE_CODE not in self._settings.grant_types:
            raise UnsupportedGrantTypeError("the device flow is not enabled")
        client = await self._authenticate(form, authorization)
        # RFC 6749 §3.3: no scope means the default, as for the password grant.
        scopes = split(form.optional("scope") or OPENID)
        if OPENID not in scopes:
            raise InvalidScopeError("the 'openid' scope is required")
        await check_scopes(self._directory, client.id, scopes)
        if not self._connectors.for_client(client, AUTHORIZATION_CODE):
            raise UnauthorizedClientError("no connector is available to this client")
        # Dex extension: the device may bind its polls to PKCE (RFC 7636 §4.3).
        challenge = pkce.parse_challenge(
            form.optional("code_challenge"),
            form.optional("code_challenge_method"),
            self._settings.pkce_methods,
        )
        now = self._clock()
        lifetime = self._settings.device_request_lifetime
        device_code = new_secret()
        key = secret_hash(device_code)
        user_code = await self._store_request(key, client.id, scopes, now + lifetime)
        await self._storage.create_device_token(
            DeviceToken(
                device_code=key,
                status=PENDING,
                expiry=now + lifetime,
                last_request_time=now,
                poll_interval_seconds=0,  # not polled yet: the first poll is never early
                token=json.dumps({"client_id": client.id}),
                pkce=challenge,
            )
        )
        return DeviceAuthorization(
            device_code=device_code,
            user_code=user_code,
            verification_uri=self.verification_uri,
            verification_uri_complete=f"{self.verification_uri}?user_code={user_code}",
            expires_in=int(lifetime.total_seconds()),
        )

    async def _store_request(
        self, key: str, client_id: str, scopes: tuple[str, ...], expiry: datetime
    ) -> str:
        for _ in range(5):  # a clash among live codes is rare; try a few fresh ones
            user_code = new_user_code()
            try:
                await self._storage.create_device_request(
                    DeviceRequest(user_code, key, client_id, scopes, expiry)
                )
            except AlreadyExistsError:
                continue
            return user_code
        raise ServerError("could not allocate a user code")

    # -- RFC 8628 §3.3: the person at the verification URI ------------------------------
    async def find(self, user_code: str) -> PendingDevice:
        """The device request a person's code names, still waiting for them."""
        canonical = normalize_user_code(user_code)
        if canonical is None:
            raise UserCodeError("That is not a valid code. Check it and try again.")
        try:
            request = await self._storage.get_device_request(canonical)
            token = await self._storage.get_device_token(request.device_code)
        except NotFoundError:
            raise UserCodeError("This code is unknown or has expired.") from None
        if request.expiry < self._clock():
            raise UserCodeError("This code has expired. Start again on your device.")
        if token.status != PENDING:
            raise UserCodeError("This code was already used.")
        client = await self._directory.find_client(request.client_id)
        if client is None:
            raise UserCodeError("This code is unknown or has expired.")
        return PendingDevice(request, client)

    def sign_in_params(self, pending: PendingDevice, browser: str) -> dict[str, str]:
        """The /auth request that signs the person in on the device's behalf."""
        verifier = pending.verifier()
        s256 = pkce.S256 in self._settings.pkce_methods
        return {
            "client_id": pending.client.id,
            "redirect_uri": self._settings.device_callback_uri,
            "response_type": "code",
            "scope": " ".join(pending.request.scopes),
            "state": pending.state(browser),
            "code_challenge": pkce.s256_challenge(verifier) if s256 else verifier,
            "code_challenge_method": pkce.S256 if s256 else pkce.PLAIN,
        }

    async def _from_state(self, state: str, browser: str) -> PendingDevice:
        user_code, _, _ = state.partition(".")
        pending = await self.find(user_code)
        if not pending.state_matches(browser, state):
            raise UserCodeError("This sign-in was started in another browser. Start again.")
        return pending

    async def complete(self, state: str, code: str, browser: str) -> Client:
        """The sign-in came back with a code: redeem it and hold the grant for the device."""
        pending = await self._from_state(state, browser)
        redeemed = await self._redeem(
            pending.client, code, self._settings.device_callback_uri, pending.verifier()
        )
        blob = json.dumps({"client_id": pending.client.id, "grant": _grant_json(redeemed)})
        await self._finish(
            pending, lambda old: dataclasses.replace(old, status=COMPLETE, token=blob)
        )
        return pending.client

    async def deny(self, state: str, browser: str) -> Client:
        """The person declined on the approval screen (RFC 8628 §3.5 ``access_denied``)."""
        pending = await self._from_state(state, browser)
        await self._finish(pending, lambda old: dataclasses.replace(old, status=DENIED))
        return pending.client

    async def _finish(
        self, pending: PendingDevice, change: Callable[[DeviceToken], DeviceToken]
    ) -> None:
        def once(old: DeviceToken) -> DeviceToken:
            if old.status != PENDING:  # single use: a second browser finds it done
                raise UserCodeError("This code was already used.")
            return change(old)

        try:
            await self._storage.update_device_token(pending.request.device_code, once)
        except NotFoundError:
            raise UserCodeError("This code is unknown or has expired.") from None

    # -- RFC 8628 §3.4/§3.5: the device polls the token endpoint ------------------------
    async def poll(self, client: Client, form: Params) -> TokenResponse:
        key = secret_hash(form.require("device_code"))
        try:
            token = await self._storage.get_device_token(key)
        except NotFoundError:
            raise InvalidGrantError("invalid or expired device code") from None
        if _blob(token).get("client_id") != client.id:
            raise InvalidGrantError("the device code was issued to another client")
        pkce.verify(token.pkce, form.optional("code_verifier"))
        now = self._clock()
        outcome: list[DeviceToken] = []  # the state the update saw (the updater may rerun)

        def step(old: DeviceToken) -> DeviceToken:
            outcome[:] = [old]
            if old.status == SPENT:
                raise InvalidGrantError("the device code was already used")
            if old.expiry < now:
                raise ExpiredTokenError("the device code has expired")
            if old.status == DENIED:
                raise DeviceDeniedError("the user denied the request")
            if old.status == COMPLETE:  # hand the grant out once; keep nothing of it
                return dataclasses.replace(
                    old, status=SPENT, token=json.dumps({"client_id": client.id})
                )
            interval = old.poll_interval_seconds or POLL_INTERVAL
            due = old.last_request_time + timedelta(seconds=interval)
            if old.poll_interval_seconds and now + POLL_LEEWAY < due:
                interval += SLOW_DOWN_STEP
            return dataclasses.replace(old, last_request_time=now, poll_interval_seconds=interval)

        try:
            new = await self._storage.update_device_token(key, step)
        except NotFoundError:
            raise InvalidGrantError("invalid or expired device code") from None
        old = outcome[0]
        if new.status == SPENT:
            grant = _blob(old)["grant"]
            redeemed = _grant_from_json(client.id, grant)
            return await self._minter.mint(
                redeemed.grant,
                jti=redeemed.jti,
                new_refresh_id=redeemed.refresh_id,
                grant_type=DEVICE_CODE,
            )
        if new.poll_interval_seconds > (old.poll_interval_seconds or POLL_INTERVAL):
            raise SlowDownError(f"poll at most every {new.poll_interval_seconds} seconds")
        raise AuthorizationPendingError("the user has not finished signing in yet")
