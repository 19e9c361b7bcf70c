"""Sign-in with the device authorization grant (RFC 8628), for machines without a browser:
the person opens the verification URI elsewhere and types the user code."""

from __future__ import annotations

import time
from collections.abc import Callable

from passgate.kube.cache import CachedTokens
from passgate.kube.errors import OIDCError, TokenEndpointError
from passgate.kube.oidc_client import OIDCClient
from passgate.kube.settings import PluginSettings

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
DEFAULT_INTERVAL_S = 5  # RFC 8628 §3.2
SLOW_DOWN_S = 5  # RFC 8628 §3.5

Say = Callable[[str], None]


def login(
    client: OIDCClient,
    settings: PluginSettings,
    say: Say,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> CachedTokens:
    endpoint = client.provider().device_authorization_endpoint
    if not endpoint:
        raise OIDCError(
            f"{settings.issuer} does not advertise a device_authorization_endpoint: "
            "use --grant-type=authcode"
        )
    # RFC 8628 §3.1: the client's identity and the scope.
    body = client.post_form(endpoint, {"scope": " ".join(settings.scopes)}, "device authorization")
    try:
        device_code = _text(body, "device_code")
        user_code = _text(body, "user_code")
        verification_uri = _text(body, "verification_uri")
        expires_in = _seconds(body, "expires_in", None)
        interval = _seconds(body, "interval", DEFAULT_INTERVAL_S)
    except (KeyError, TypeError) as error:
        raise OIDCError(f"the device authorization response is incomplete: {error}") from None
    complete = body.get("verification_uri_complete")
    # RFC 8628 §3.3: show the URI and the code; the complete URI saves typing it.
    lines = [f"To sign in to {settings.issuer}, open {verification_uri}"]
    lines.append(f"and enter the code:  {user_code}")
    if isinstance(complete, str) and complete:
        lines.append(f"(or open {complete} directly)")
    say("\n".join(lines) + "\n")
    deadline = monotonic() + min(expires_in, settings.login_timeout_s)
    form = {"grant_type": GRANT_TYPE, "device_code": device_code}
    while True:
        sleep(interval)  # RFC 8628 §3.5: wait at least `interval` between requests
        if monotonic() > deadline:
            raise OIDCError("the device code expired before the sign-in was completed")
        try:
            return client.tokens(form, nonce=None)
        except TokenEndpointError as error:
            if error.error == "authorization_pending":
                continue
            if error.error == "slow_down":
                interval += SLOW_DOWN_S
                continue
            if error.error == "expired_token":
                raise OIDCError(
                    "the device code expired before the sign-in was completed"
                ) from None
            if error.error == "access_denied":
                raise OIDCError("the sign-in was denied") from None
            raise


def _text(body: dict[str, object], name: str) -> str:
    value = body[name]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} is not a string")
    return value


def _seconds(body: dict[str, object], name: str, default: int | None) -> int:
    value = body.get(name, default)
    if value is None:
        raise KeyError(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TypeError(f"{name} is not a positive integer")
    return value
