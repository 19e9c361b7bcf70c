"""The device authorization grant client (RFC 8628) against a scripted issuer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kube.fake_issuer import ISSUER, FakeIssuer, oauth_error
from passgate.kube import device
from passgate.kube.errors import OIDCError, TokenEndpointError
from passgate.kube.settings import PluginSettings

SETTINGS = PluginSettings(ISSUER, "kubectl", cache_dir=Path("/nonexistent"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def script(issuer: FakeIssuer, answers: list[str]) -> None:
    def handler(form: dict[str, str]) -> httpx.Response:
        assert form["grant_type"] == device.GRANT_TYPE
        assert form["device_code"] == "dev-code"
        assert form["client_id"] == "kubectl"
        answer = answers.pop(0)
        return issuer.tokens() if answer == "ok" else oauth_error(answer)

    issuer.token_handler = handler


def login(issuer: FakeIssuer, clock: Clock, said: list[str]) -> object:
    return device.login(
        issuer.client(), SETTINGS, said.append, sleep=clock.sleep, monotonic=clock.monotonic
    )


def test_polls_honouring_interval_pending_and_slow_down() -> None:
    issuer, clock, said = FakeIssuer(), Clock(), list[str]()
    script(issuer, ["authorization_pending", "slow_down", "authorization_pending", "ok"])
    tokens = login(issuer, clock, said)
    assert getattr(tokens, "refresh_token", None) == "refresh-2"
    assert clock.sleeps == [5, 5, 10, 10]  # RFC 8628 §3.5: slow_down adds 5 seconds
    [request] = [form for path, form in issuer.requests if path == "/device/code"]
    assert request["scope"] == "openid email profile groups offline_access"
    assert request["client_id"] == "kubectl"
    [message] = said
    assert f"{ISSUER}/device" in message
    assert "WDJB-MJHT" in message
    assert f"{ISSUER}/device?user_code=WDJB-MJHT" in message


@pytest.mark.parametrize(
    ("answer", "message"),
    [("expired_token", "expired"), ("access_denied", "denied")],
)
def test_final_errors(answer: str, message: str) -> None:
    issuer, clock = FakeIssuer(), Clock()
    script(issuer, ["authorization_pending", answer])
    with pytest.raises(OIDCError, match=message):
        login(issuer, clock, [])


def test_other_errors_are_raised_as_is() -> None:
    issuer, clock = FakeIssuer(), Clock()
    script(issuer, ["invalid_client"])
    with pytest.raises(TokenEndpointError, match="invalid_client"):
        login(issuer, clock, [])


def test_gives_up_when_the_code_expires() -> None:
    issuer, clock = FakeIssuer(), Clock()
    script(issuer, ["authorization_pending"] * 100)
    with pytest.raises(OIDCError, match="expired"):
        login(issuer, clock, [])
    assert clock.now <= 300 + 5


def test_issuer_without_device_endpoint() -> None:
    issuer = FakeIssuer(device=False)
    with pytest.raises(OIDCError, match="device_authorization_endpoint"):
        login(issuer, Clock(), [])
