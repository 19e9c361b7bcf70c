"""get-token's decisions with a fake issuer session and an injected clock: the cached
token within the margin, a refresh, a new sign-in, and the non-interactive refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from passgate.kube.cache import CachedTokens, TokenCache
from passgate.kube.credential import get_token, logout
from passgate.kube.errors import OIDCError, SignInRequired, TokenEndpointError
from passgate.kube.settings import PluginSettings, TLSOptions

NOW = 1_800_000_000.0


@dataclass
class FakeSession:
    refresh_error: Exception | None = None
    calls: list[str] = field(default_factory=list)
    closed: int = 0
    issued: int = 0

    def _new(self, refresh: str) -> CachedTokens:
        self.issued += 1
        return CachedTokens(f"id-{self.issued}", int(NOW) + 300, refresh)

    def refresh(self, tokens: CachedTokens) -> CachedTokens:
        self.calls.append(f"refresh:{tokens.refresh_token}")
        if self.refresh_error is not None:
            raise self.refresh_error
        return self._new(tokens.refresh_token + "+")

    def sign_in(self) -> CachedTokens:
        self.calls.append("sign_in")
        return self._new("rt")

    def close(self) -> None:
        self.closed += 1


@dataclass
class Rig:
    settings: PluginSettings
    cache: TokenCache
    session: FakeSession
    said: list[str]
    now: float = NOW

    def run(self, *, interactive: bool = True, **changes: object) -> CachedTokens:
        settings = PluginSettings(**{**self._fields(), **changes})  # type: ignore[arg-type]
        return get_token(
            settings,
            interactive=interactive,
            cache=self.cache,
            say=self.said.append,
            session=lambda _settings, _say: self.session,
            now=lambda: self.now,
        )

    def _fields(self) -> dict[str, object]:
        names = PluginSettings.__dataclass_fields__
        return {name: getattr(self.settings, name) for name in names}

    def seed(self, expires_in: float, refresh: str = "rt") -> CachedTokens:
        tokens = CachedTokens("cached", int(NOW + expires_in), refresh)
        self.cache.save(self.settings.cache_key(), tokens)
        return tokens


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    settings = PluginSettings(
        issuer="https://sso.example.com/dex",
        client_id="kubectl",
        cache_dir=tmp_path / "cache",
        margin_s=30,
    )
    said: list[str] = []
    return Rig(settings, TokenCache(settings.cache_dir, said.append), FakeSession(), said)


def test_fresh_cached_token_is_returned_without_the_network(rig: Rig) -> None:
    cached = rig.seed(expires_in=31)
    assert rig.run(interactive=False) == cached
    assert rig.session.calls == []
    assert rig.session.closed == 0


def test_within_the_margin_the_token_is_refreshed(rig: Rig) -> None:
    rig.seed(expires_in=30)
    tokens = rig.run(interactive=False)
    assert rig.session.calls == ["refresh:rt"]
    assert tokens.id_token == "id-1"
    assert rig.cache.load(rig.settings.cache_key()) == tokens  # the rotated token is saved
    assert tokens.refresh_token == "rt+"
    assert rig.session.closed == 1


def test_margin_follows_the_clock(rig: Rig) -> None:
    rig.seed(expires_in=100)
    assert rig.run(margin_s=60).id_token == "cached"
    rig.now += 41  # 59 s left now
    assert rig.run(margin_s=60).id_token == "id-1"


def test_expired_without_refresh_token_signs_in(rig: Rig) -> None:
    rig.seed(expires_in=-10, refresh="")
    assert rig.run().id_token == "id-1"
    assert rig.session.calls == ["sign_in"]


def test_empty_cache_signs_in_and_saves(rig: Rig) -> None:
    tokens = rig.run()
    assert rig.session.calls == ["sign_in"]
    assert rig.cache.load(rig.settings.cache_key()) == tokens


def test_refused_refresh_falls_back_to_sign_in_when_interactive(rig: Rig) -> None:
    rig.seed(expires_in=-10)
    rig.session.refresh_error = TokenEndpointError("invalid_grant", "revoked")
    assert rig.run().id_token == "id-1"
    assert rig.session.calls == ["refresh:rt", "sign_in"]
    assert any("invalid_grant" in line for line in rig.said)


def test_non_interactive_refuses_to_sign_in_and_says_what_to_run(rig: Rig) -> None:
    rig.seed(expires_in=-10)
    rig.session.refresh_error = TokenEndpointError("invalid_grant")
    with pytest.raises(SignInRequired) as refused:
        rig.run(
            interactive=False,
            extra_scopes=("audience:server:client_id:web",),
            tls=TLSOptions(ca_file="/etc/ca.pem"),
            client_secret="s3cret",
        )
    message = str(refused.value)
    assert "non-interactively" in message
    assert "passgate get-token --issuer-url=https://sso.example.com/dex --client-id=kubectl" in (
        message
    )
    assert "--scope=audience:server:client_id:web" in message
    assert "--certificate-authority=/etc/ca.pem" in message
    assert f"--cache-dir={rig.settings.cache_dir}" in message
    assert "s3cret" not in message
    assert "sign_in" not in rig.session.calls
    assert rig.cache.load(rig.settings.cache_key()) is not None  # nothing thrown away


def test_non_interactive_with_empty_cache_refuses(rig: Rig) -> None:
    with pytest.raises(SignInRequired):
        rig.run(interactive=False)
    assert rig.session.calls == []


def test_network_failure_during_refresh_is_reported_not_a_sign_in(rig: Rig) -> None:
    rig.seed(expires_in=-10)
    rig.session.refresh_error = OIDCError("cannot reach the issuer")
    with pytest.raises(OIDCError, match="cannot reach"):
        rig.run()
    assert rig.session.calls == ["refresh:rt"]
    assert rig.session.closed == 1


def test_force_refresh_refreshes_a_fresh_token(rig: Rig) -> None:
    rig.seed(expires_in=3600)
    assert rig.run(force_refresh=True).id_token == "id-1"
    assert rig.session.calls == ["refresh:rt"]


def test_corrupted_cache_warns_and_signs_in(rig: Rig) -> None:
    rig.seed(expires_in=3600)
    rig.cache.path(rig.settings.cache_key()).write_text("{not json")
    assert rig.run().id_token == "id-1"
    assert any("ignoring corrupted token cache" in line for line in rig.said)


def test_logout_forgets_and_revokes(rig: Rig) -> None:
    rig.seed(expires_in=100, refresh="rt-a")
    other = PluginSettings(rig.settings.issuer, "other", cache_dir=rig.settings.cache_dir)
    rig.cache.save(other.cache_key(), CachedTokens("x", int(NOW), "rt-b"))
    revoked: list[tuple[str, str]] = []

    def revoke(key: object, token: str) -> bool:
        revoked.append((getattr(key, "client_id", ""), token))
        if token == "rt-b":
            raise OIDCError("unreachable")
        return True

    key = rig.settings.cache_key()
    assert logout(rig.cache, rig.said.append, key=key, revoke=revoke) == 1
    assert revoked == [("kubectl", "rt-a")]
    assert rig.cache.load(key) is None
    assert logout(rig.cache, rig.said.append, key=key, revoke=revoke) == 0
    rig.cache.directory.joinpath("broken.json").write_text("{")
    assert logout(rig.cache, rig.said.append, key=None, revoke=revoke) == 2
    assert revoked[-1] == ("other", "rt-b")
    assert any("could not revoke" in line for line in rig.said)
    assert list(rig.cache.directory.glob("*.json")) == []
