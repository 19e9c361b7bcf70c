"""The token cache: atomic 0600 files in a 0700 directory, unusable files ignored with a
warning, and a per-key lock that serialises processes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from passgate.kube.cache import (
    CachedTokens,
    CacheKey,
    LockTimeout,
    TokenCache,
    default_cache_dir,
)

KEY = CacheKey.of("https://sso.example.com/dex", "kubectl", ["openid", "groups", "openid"])
TOKENS = CachedTokens("id.token.sig", 1_800_000_000, "refresh")
SRC = str(Path(__file__).resolve().parents[2] / "src")


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


@pytest.fixture
def warnings() -> Warnings:
    return Warnings()


@pytest.fixture
def cache(tmp_path: Path, warnings: Warnings) -> TokenCache:
    return TokenCache(tmp_path / "cache", warnings)


def test_round_trip_with_private_modes(cache: TokenCache, warnings: Warnings) -> None:
    assert cache.load(KEY) is None
    cache.save(KEY, TOKENS)
    assert cache.load(KEY) == TOKENS
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.path(KEY).stat().st_mode) == 0o600
    assert [path.name for path in cache.directory.iterdir()] == [cache.path(KEY).name]
    assert warnings == []


def test_key_is_the_issuer_client_and_scope_set() -> None:
    assert KEY.scopes == ("groups", "openid")
    same = CacheKey.of(KEY.issuer, KEY.client_id, ["groups", "openid"])
    assert same.name == KEY.name
    for other in (
        CacheKey.of(KEY.issuer + "/", KEY.client_id, KEY.scopes),
        CacheKey.of(KEY.issuer, "other", KEY.scopes),
        CacheKey.of(KEY.issuer, KEY.client_id, [*KEY.scopes, "profile"]),
    ):
        assert other.name != KEY.name


def test_loose_directory_mode_is_tightened(cache: TokenCache) -> None:
    cache.directory.mkdir(mode=0o755)
    cache.directory.chmod(0o755)
    cache.save(KEY, TOKENS)
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700


def test_replacing_keeps_one_file(cache: TokenCache) -> None:
    cache.save(KEY, TOKENS)
    newer = CachedTokens("newer", TOKENS.expires_at + 60, "refresh-2")
    cache.save(KEY, newer)
    assert cache.load(KEY) == newer
    assert len(list(cache.directory.iterdir())) == 1


@pytest.mark.parametrize(
    "content",
    [
        b'{"version": 1, "id_token": ',
        b"[]",
        b'{"version": 99}',
        b"\xff\xfe not utf-8",
        json.dumps({"version": 1, "issuer": KEY.issuer}).encode(),
    ],
)
def test_corrupted_file_is_ignored_with_a_warning(
    cache: TokenCache, warnings: Warnings, content: bytes
) -> None:
    cache.save(KEY, TOKENS)
    cache.path(KEY).write_bytes(content)
    assert cache.load(KEY) is None
    [warning] = warnings
    assert str(cache.path(KEY)) in warning
    assert "ignoring" in warning
    cache.save(KEY, TOKENS)  # and it is simply replaced
    assert cache.load(KEY) == TOKENS


def test_wrong_types_are_corruption(cache: TokenCache, warnings: Warnings) -> None:
    cache.save(KEY, TOKENS)
    body = json.loads(cache.path(KEY).read_text())
    for field, value in (("expires_at", "soon"), ("expires_at", True), ("scopes", "openid")):
        cache.path(KEY).write_text(json.dumps({**body, field: value}))
        assert cache.load(KEY) is None
    assert len(warnings) == 3


def test_unreadable_file_is_ignored_with_a_warning(cache: TokenCache, warnings: Warnings) -> None:
    cache.path(KEY).mkdir(parents=True)  # a directory where the file should be
    assert cache.load(KEY) is None
    assert "unreadable" in warnings[0]


def test_a_file_of_another_key_is_not_used(cache: TokenCache, warnings: Warnings) -> None:
    other = CacheKey.of(KEY.issuer, "someone-else", KEY.scopes)
    cache.save(other, TOKENS)
    cache.path(other).rename(cache.path(KEY))
    assert cache.load(KEY) is None
    assert "another key" in warnings[0]


def test_entries_and_delete(cache: TokenCache) -> None:
    assert cache.entries() == []
    cache.save(KEY, TOKENS)
    [(path, entry)] = cache.entries()
    assert entry is not None
    assert (entry.key, entry.tokens) == (KEY, TOKENS)
    assert cache.delete(KEY)
    assert not cache.delete(KEY)
    assert not path.exists()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, "~/.kube/cache/passgate"), ({"KUBECACHEDIR": "/var/kube"}, "/var/kube/passgate")],
)
def test_default_directory(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: str
) -> None:
    monkeypatch.delenv("KUBECACHEDIR", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert default_cache_dir() == Path(expected).expanduser()


def test_fresh_is_more_than_the_margin_before_exp() -> None:
    assert TOKENS.fresh(TOKENS.expires_at - 31, 30)
    assert not TOKENS.fresh(TOKENS.expires_at - 30, 30)
    assert not TOKENS.fresh(TOKENS.expires_at + 1, 0)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from passgate.kube.cache import CacheKey, TokenCache
    key = CacheKey.of(*sys.argv[2:4], [])
    cache = TokenCache(Path(sys.argv[1]), print)
    with cache.lock(key, timeout_s=float(sys.argv[4])):
        print("locked", time.monotonic(), flush=True)
        time.sleep(float(sys.argv[5]))
        # Still holding it: a time taken after the release could come after the other
        # process has already taken the lock and said so.
        print("releasing", time.monotonic(), flush=True)
    """
)


def holder(cache: TokenCache, timeout: float, hold: float) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", HOLDER, str(cache.directory), "iss", "cid", str(timeout)]
    return subprocess.Popen(
        [*argv, str(hold)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": SRC},
    )


def test_lock_serialises_two_processes(cache: TokenCache) -> None:
    first = holder(cache, 10, 1.0)
    assert first.stdout is not None
    assert first.stdout.readline().startswith("locked")  # the first holds the lock now
    second = holder(cache, 10, 0)
    first_out, _ = first.communicate(timeout=20)
    second_out, second_err = second.communicate(timeout=20)
    assert second.returncode == 0, second_err
    releasing = float(first_out.split()[-1])
    locked = float(second_out.split()[1])
    assert locked >= releasing  # the second waited for the first to finish


def test_lock_gives_up_after_its_timeout(cache: TokenCache) -> None:
    key = CacheKey.of("iss", "cid", [])
    first = holder(cache, 10, 3.0)
    assert first.stdout is not None
    assert first.stdout.readline().startswith("locked")
    waits: list[str] = []
    started = time.monotonic()
    with (
        pytest.raises(LockTimeout),
        cache.lock(key, timeout_s=0.3, on_wait=lambda: waits.append("w")),
    ):
        pass
    assert 0.3 <= time.monotonic() - started < 2.5
    assert waits == ["w"]  # told once
    first.kill()
    first.communicate()
    with cache.lock(key, timeout_s=1):  # a dead holder's lock is gone with it
        pass
