"""The provider's knobs, resolved from the config file once at start-up."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
PASSWORD = "password"
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
IMPLEMENTED_GRANTS = frozenset(
    {AUTHORIZATION_CODE, REFRESH_TOKEN, PASSWORD, CLIENT_CREDENTIALS, DEVICE_CODE}
)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """``expiry.refreshTokens`` (Dex semantics); ``None`` means unlimited."""

    reuse_interval: timedelta = timedelta(seconds=3)
    valid_if_not_used_for: timedelta | None = None
    absolute_lifetime: timedelta | None = None
    disable_rotation: bool = False


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Failed password attempts allowed per user (and per client address) in ``window``."""

    per_user: int = 5
    per_address: int = 30
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    issuer: str
    id_token_lifetime: timedelta = timedelta(hours=24)
    auth_request_lifetime: timedelta = timedelta(hours=24)
    # RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
    auth_code_lifetime: timedelta = timedelta(minutes=10)
    # ``expiry.deviceRequests``: how long a device code and its user code live (RFC 8628).
    device_request_lifetime: timedelta = timedelta(minutes=5)
    refresh: RefreshPolicy = field(default_factory=RefreshPolicy)
    response_types: tuple[str, ...] = ("code",)
    grant_types: tuple[str, ...] = (
        AUTHORIZATION_CODE,
        REFRESH_TOKEN,
        PASSWORD,
        CLIENT_CREDENTIALS,
        DEVICE_CODE,
    )
    skip_approval_screen: bool = False
    always_show_login_screen: bool = False
    password_connector: str = ""
    pkce_enforce: bool = False
    pkce_methods: tuple[str, ...] = ("S256", "plain")
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    #: Built-in clients whose redirect URIs follow a rule rather than a list (client id
    #: → whether a URI may receive its codes): forward-auth's callback on each site.
    redirect_rules: Mapping[str, Callable[[str], bool]] = field(default_factory=dict)
    #: Built-in clients that are Passgate itself: never an approval screen.
    first_party_clients: frozenset[str] = frozenset()

    @property
    def device_callback_uri(self) -> str:
        """Where the device flow's browser sign-in returns (Dex ``/device/callback``).
        It is Passgate's own endpoint, so no client needs to register it."""
        return self.issuer.rstrip("/") + "/device/callback"
