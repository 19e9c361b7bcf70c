"""The performance peer (panva's oidc-provider, in memory, configured like the benchmark):
installed once with ``npm ci`` into a cache under ``var/`` keyed by its package files, then
run from a fresh copy for each measurement.

``bench/peer/`` holds a copy of the project's shared peer (``../shared/peers/
oidc-provider``: ``package.json`` and ``server.mjs``), so that a clone alone, as CI has it,
can run the comparison; ``--peer-dir`` names another copy. The shared peer ships no
``package-lock.json``, which ``npm ci`` needs, so ``bench/peer/`` keeps one made from the
peer's ``package.json``; a lock the other copy brings itself wins. To remake it after the
``package.json`` changed::

    cd bench/peer && npm install --package-lock-only --no-audit --no-fund
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.launcher import Server, pinned
from bench.target import Target

REPO = Path(__file__).resolve().parent.parent
#: The bench's copy of the project's shared peer (``../shared/peers/oidc-provider``).
DEFAULT_PEER_DIR = Path(__file__).resolve().parent / "peer"
#: ``npm ci`` results, one folder per package.json + lock hash (``var/`` is git-ignored).
DEFAULT_CACHE = REPO / "var" / "bench-peer"
BUNDLED_LOCK = Path(__file__).resolve().parent / "peer" / "package-lock.json"
PACKAGE = "oidc-provider"

# The peer's one confidential client and its redirect URI (shared/peers/README.md);
# nothing listens at the redirect: the login reads the code from the Location header.
CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret"
REDIRECT_URI = "http://127.0.0.1:9/callback"


class PeerError(RuntimeError):
    """The peer cannot be found, installed or started; the message says what to do."""


def check_peer_dir(peer_dir: Path) -> None:
    """Say clearly where the peer was looked for when it is not there."""
    if not (peer_dir / "package.json").is_file() or not (peer_dir / "server.mjs").is_file():
        raise PeerError(
            f"the performance peer is missing: no package.json and server.mjs in {peer_dir} "
            "(bench/peer/ holds the bench's copy of ../shared/peers/oidc-provider; "
            "--peer-dir names another)"
        )


def lock_for(peer_dir: Path) -> bytes:
    """The peer's own ``package-lock.json``, else the bench's, which must be for the same
    dependencies (``npm ci`` would refuse it, less clearly)."""
    own = peer_dir / "package-lock.json"
    if own.is_file():
        return own.read_bytes()
    package = json.loads((peer_dir / "package.json").read_text())
    lock = BUNDLED_LOCK.read_bytes()
    root = json.loads(lock).get("packages", {}).get("", {})
    if root.get("dependencies") != package.get("dependencies"):
        raise PeerError(
            f"{BUNDLED_LOCK.relative_to(REPO)} locks {root.get('dependencies')}, but the "
            f"peer's package.json asks for {package.get('dependencies')}: remake the lock "
            "as bench/peerserver.py's docstring says"
        )
    return lock


def cache_key(package_json: bytes, lock: bytes) -> str:
    """The install cache's folder name: what ``npm ci`` installs depends on these only."""
    digest = hashlib.sha256(package_json + b"\0" + lock).hexdigest()
    return digest[:16]


def _copy_files(source: Path, into: Path) -> None:
    """The peer's top-level files, without their modes: the shared copy is read-only."""
    for path in source.iterdir():
        if path.is_file():
            shutil.copyfile(path, into / path.name)


def install(
    peer_dir: Path,
    npm: str,
    cache: Path = DEFAULT_CACHE,
    log: Callable[[str], None] = lambda _: None,
) -> Path:
    """The ``node_modules`` of the peer, from the cache or from ``npm ci`` in a temporary
    copy of the peer that then becomes the cache entry."""
    check_peer_dir(peer_dir)
    lock = lock_for(peer_dir)
    entry = cache / cache_key((peer_dir / "package.json").read_bytes(), lock)
    if (entry / "node_modules" / PACKAGE).is_dir():
        log(f"peer: npm packages cached in {entry}")
        return entry / "node_modules"
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=cache))
    try:
        _copy_files(peer_dir, staging)
        (staging / "package-lock.json").write_bytes(lock)
        log(f"peer: npm ci --no-audit --no-fund in a copy of {peer_dir}")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=staging,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise PeerError(f"npm ci failed (exit {done.returncode}):\n{tail}")
        if not entry.exists():  # another run may have finished the same install first
            staging.rename(entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry / "node_modules"


def prepare_run_dir(peer_dir: Path, node_modules: Path, into: Path) -> Path:
    """A fresh copy of the peer's files in ``into`` using the cached packages: the peer's
    server.mjs is read anew on every run, the install is not."""
    _copy_files(peer_dir, into)
    (into / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return into / "server.mjs"


def peer_target(port: int) -> Target:
    """The peer's issuer and client; devInteractions takes any login name and password."""
    return Target(
        issuer=f"http://127.0.0.1:{port}",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        username="bench",
        password="any-password",
    )


@dataclass(frozen=True, slots=True)
class PeerSetup:
    """How to start the peer: node, its copied server script and the settings it reads."""

    node: str
    script: Path
    auto_consent: bool = False

    def server(self, port: int, cpus: frozenset[int] | None, log: Path) -> Server:
        """The peer on ``port``, pinned to ``cpus`` (``taskset``)."""
        env = {"PORT": str(port), "AUTO_CONSENT": "1" if self.auto_consent else "0"}
        command = pinned([self.node, str(self.script)], cpus)
        return Server(command, log, env=env)
