import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from bench.peerserver import (
    BUNDLED_LOCK,
    DEFAULT_PEER_DIR,
    PeerError,
    PeerSetup,
    cache_key,
    check_peer_dir,
    install,
    lock_for,
    peer_target,
    prepare_run_dir,
)

# A stand-in for npm: `npm ci` in a folder with package-lock.json makes the package's
# folder and notes the call; FAIL in the environment makes it fail like npm does.
FAKE_NPM = """#!/bin/sh
echo "$PWD $*" >> "$CALLS"
if [ -n "$FAIL" ]; then echo "npm error code E404" >&2; exit 1; fi
test -f package-lock.json || exit 3
mkdir -p node_modules/oidc-provider
"""


def make_peer(root: Path, lock: bool = False) -> Path:
    """A read-only peer folder, as the shared folder is."""
    peer = root / "peer"
    peer.mkdir()
    dependencies = json.loads(BUNDLED_LOCK.read_text())["packages"][""]["dependencies"]
    (peer / "package.json").write_text(json.dumps({"dependencies": dependencies}))
    (peer / "server.mjs").write_text("// the peer\n")
    if lock:
        (peer / "package-lock.json").write_text('{"own": true}')
    for path in [*peer.iterdir(), peer]:
        path.chmod(stat.S_IRUSR | stat.S_IXUSR if path.is_dir() else stat.S_IRUSR)
    return peer


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    npm = tmp_path / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(0o755)
    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.delenv("FAIL", raising=False)
    return str(npm), calls


def test_the_default_peer_is_the_benchs_copy_of_the_shared_one() -> None:
    assert DEFAULT_PEER_DIR.parts[-2:] == ("bench", "peer")
    check_peer_dir(DEFAULT_PEER_DIR)
    shared = DEFAULT_PEER_DIR.parents[2] / "shared" / "peers" / "oidc-provider"
    if shared.is_dir():  # beside the checkout in the project's workspace, not in a clone
        for name in ("package.json", "server.mjs"):
            assert (DEFAULT_PEER_DIR / name).read_bytes() == (shared / name).read_bytes()


def test_a_missing_peer_is_named_with_where_it_should_be(tmp_path: Path) -> None:
    with pytest.raises(PeerError, match=r"peer is missing.*nowhere.*--peer-dir"):
        check_peer_dir(tmp_path / "nowhere")


def test_the_bundled_lock_is_for_the_peers_dependencies(tmp_path: Path) -> None:
    peer = make_peer(tmp_path)
    assert lock_for(peer) == BUNDLED_LOCK.read_bytes()


def test_a_lock_the_peer_brings_wins(tmp_path: Path) -> None:
    assert lock_for(make_peer(tmp_path, lock=True)) == b'{"own": true}'


def test_a_peer_asking_for_other_packages_needs_a_new_lock(tmp_path: Path) -> None:
    peer = tmp_path / "peer"
    peer.mkdir()
    (peer / "package.json").write_text('{"dependencies": {"oidc-provider": "10.0.0"}}')
    with pytest.raises(PeerError, match="remake the lock"):
        lock_for(peer)


def test_cache_key_follows_both_files() -> None:
    key = cache_key(b"{}", b"lock")
    assert key == cache_key(b"{}", b"lock")
    assert len({key, cache_key(b"{ }", b"lock"), cache_key(b"{}", b"lock2")}) == 3


def test_install_runs_npm_ci_once_then_uses_the_cache(
    tmp_path: Path, fake_npm: tuple[str, Path]
) -> None:
    npm, calls = fake_npm
    peer, cache = make_peer(tmp_path), tmp_path / "cache"
    logged: list[str] = []
    modules = install(peer, npm, cache, logged.append)
    assert (modules / "oidc-provider").is_dir()
    assert modules.parent.parent == cache
    assert calls.read_text().split()[1:] == ["ci", "--no-audit", "--no-fund"]
    assert install(peer, npm, cache, logged.append) == modules
    assert len(calls.read_text().splitlines()) == 1
    assert "cached" in logged[-1]
    assert [p.name for p in cache.iterdir()] == [modules.parent.name]  # no staging left


def test_a_failed_npm_ci_says_so_and_caches_nothing(
    tmp_path: Path, fake_npm: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL", "1")
    cache = tmp_path / "cache"
    with pytest.raises(PeerError, match=r"npm ci failed \(exit 1\):\nnpm error code E404"):
        install(make_peer(tmp_path), fake_npm[0], cache)
    assert list(cache.iterdir()) == []


def test_the_run_dir_is_a_fresh_copy_over_the_cached_packages(tmp_path: Path) -> None:
    peer, modules = make_peer(tmp_path), tmp_path / "modules"
    modules.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    script = prepare_run_dir(peer, modules, run)
    assert script == run / "server.mjs"
    assert script.read_text() == "// the peer\n"
    assert os.access(script, os.W_OK)
    assert (run / "node_modules").resolve() == modules.resolve()


def test_the_peer_runs_pinned_with_its_settings(tmp_path: Path) -> None:
    server = PeerSetup("node", tmp_path / "server.mjs", auto_consent=True).server(
        5600, frozenset({0}), tmp_path / "log"
    )
    assert server.command == [
        shutil.which("taskset"),
        "-c",
        "0",
        "node",
        str(tmp_path / "server.mjs"),
    ]
    assert server.env is not None
    assert (server.env["PORT"], server.env["AUTO_CONSENT"]) == ("5600", "1")
    assert "PATH" in server.env


def test_peer_target() -> None:
    target = peer_target(5600)
    assert target.issuer == "http://127.0.0.1:5600"
    assert (target.client_id, target.client_secret) == ("bench", "bench-secret")
    assert target.redirect_uri == "http://127.0.0.1:9/callback"
