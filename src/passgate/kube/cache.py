"""The plugin's token cache: one JSON file per (issuer, client id, scope set).

kubectl keeps nothing on disk and runs the plugin for every command (DESIGN §4), so the
plugin keeps the ID and refresh tokens itself: directory 0700, files 0600, written
atomically (temp file, fsync, rename) so a reader never sees half a file, and an exclusive
``flock`` per key so parallel kubectl runs sign in or refresh once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from passgate.kube.files import atomic_write

FORMAT_VERSION = 1
LOCK_POLL_S = 0.05

Warn = Callable[[str], None]


def default_cache_dir() -> Path:
    """``$KUBECACHEDIR/passgate`` (kubectl's cache root), else ``~/.kube/cache/passgate``."""
    root = os.environ.get("KUBECACHEDIR") or os.path.join("~", ".kube", "cache")
    return Path(root).expanduser() / "passgate"


@dataclass(frozen=True, slots=True)
class CacheKey:
    issuer: str
    client_id: str
    scopes: tuple[str, ...]  # sorted, without duplicates

    @classmethod
    def of(cls, issuer: str, client_id: str, scopes: tuple[str, ...] | list[str]) -> CacheKey:
        return cls(issuer, client_id, tuple(sorted(set(scopes))))

    @property
    def name(self) -> str:
        """A file name that reveals nothing and cannot collide across keys."""
        raw = json.dumps([self.issuer, self.client_id, list(self.scopes)])
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class CachedTokens:
    id_token: str
    expires_at: int  # the ID token's ``exp`` (seconds since the epoch)
    refresh_token: str = ""

    def fresh(self, now: float, margin_s: float) -> bool:
        """Usable as is: more than ``margin_s`` left before ``exp``."""
        return self.expires_at - now > margin_s


@dataclass(frozen=True, slots=True)
class CacheEntry:
    key: CacheKey
    tokens: CachedTokens


class LockTimeout(Exception):
    """Another run held the lock for longer than we were willing to wait."""


class TokenCache:
    def __init__(self, directory: Path, warn: Warn) -> None:
        self.directory = directory
        self._warn = warn

    def path(self, key: CacheKey) -> Path:
        return self.directory / f"{key.name}.json"

    def load(self, key: CacheKey) -> CachedTokens | None:
        """The cached tokens, or None when there are none or the file is unusable."""
        entry = self._read(self.path(key))
        if entry is None:
            return None
        if entry.key != key:  # a hash collision or a file copied by hand
            self._warn(f"ignoring token cache {self.path(key)}: it belongs to another key")
            return None
        return entry.tokens

    def entries(self) -> list[tuple[Path, CacheEntry | None]]:
        """Every cache file with what it holds (None when unreadable)."""
        if not self.directory.is_dir():
            return []
        return [(path, self._read(path)) for path in sorted(self.directory.glob("*.json"))]

    def _read(self, path: Path) -> CacheEntry | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            self._warn(f"ignoring unreadable token cache {path}: {error}")
            return None
        try:
            return _decode(text)
        except (ValueError, KeyError, TypeError) as error:
            self._warn(f"ignoring corrupted token cache {path}: {error}")
            return None

    def save(self, key: CacheKey, tokens: CachedTokens) -> None:
        """Write atomically with mode 0600: the new file replaces the old in one rename."""
        self._ensure_directory()
        target = self.path(key)
        body = json.dumps(
            {
                "version": FORMAT_VERSION,
                "issuer": key.issuer,
                "client_id": key.client_id,
                "scopes": list(key.scopes),
                "id_token": tokens.id_token,
                "expires_at": tokens.expires_at,
                "refresh_token": tokens.refresh_token,
            },
            indent=1,
        ).encode()
        atomic_write(target, body)

    def delete(self, key: CacheKey) -> bool:
        return _unlink(self.path(key))

    def delete_path(self, path: Path) -> bool:
        return _unlink(path)

    @contextlib.contextmanager
    def lock(
        self, key: CacheKey, *, timeout_s: float, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """Hold the key's exclusive lock; waits (polling, so it can give up) while another
        run signs in or refreshes. The lock file stays: deleting it would race."""
        self._ensure_directory()
        fd = os.open(self.directory / f"{key.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout_s
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"another passgate run held {self.directory} too long")
                if not told and on_wait is not None:
                    on_wait()
                    told = True
                time.sleep(LOCK_POLL_S)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = self.directory.stat().st_mode & 0o777
        if mode != 0o700:
            self.directory.chmod(0o700)


def _decode(text: str) -> CacheEntry:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError("unknown format")
    strings = ("issuer", "client_id", "id_token", "refresh_token")
    if not all(isinstance(data[name], str) for name in strings):
        raise TypeError("a token field is not a string")
    scopes = data["scopes"]
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise TypeError("scopes is not a list of strings")
    expires_at = data["expires_at"]
    if isinstance(expires_at, bool) or not isinstance(expires_at, int):
        raise TypeError("expires_at is not an integer")
    key = CacheKey.of(data["issuer"], data["client_id"], scopes)
    return CacheEntry(key, CachedTokens(data["id_token"], expires_at, data["refresh_token"]))


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
