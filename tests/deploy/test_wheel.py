"""The wheel: it holds every file the server reads, and installed into a clean venv
outside the source tree (dependencies from the wheelhouse, nothing from the package
index) it runs the demo, where a person signs in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from .support import REPO, WHEELHOUSE, demo_sign_in, missing, serving_demo, version

pytestmark = [pytest.mark.slow]

SOURCE_FILES = ("pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of the source (so the build writes nothing into the tree),
    built with the venv's setuptools: no build isolation, no package index."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCE_FILES:
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--quiet",
         "--wheel-dir", str(root / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [built] = (root / "dist").glob("passgate-*.whl")
    assert built.name == f"passgate-{version()}-py3-none-any.whl"
    return built


def package_files() -> set[str]:
    """Every file of src/passgate, as a path inside the wheel."""
    package = REPO / "src" / "passgate"
    return {
        f"passgate/{path.relative_to(package).as_posix()}"
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"passgate-{version()}.dist-info/entry_points.txt")
    files = package_files()
    assert "passgate/server/static/img/local.svg" in files
    assert files - names == set()
    assert {name for name in names if name.startswith("passgate/")} == files
    assert b"passgate = passgate.cli.main:main" in entry_points
    assert b"kubectl-passgate = passgate.cli.main:main" in entry_points


@pytest.fixture
def clean_venv(wheel: Path, tmp_path: Path) -> Path:
    """A venv outside the source tree with the wheel installed, its dependencies from the
    wheelhouse (``make wheelhouse``): nothing from the package index."""
    if not any(WHEELHOUSE.glob("*.whl")):
        missing(f"the wheelhouse {WHEELHOUSE}", "make wheelhouse (make test does it)")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index",
         "--find-links", str(WHEELHOUSE), "--disable-pip-version-check", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return venv


@pytest.fixture
def demo(clean_venv: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``passgate serve`` of the clean venv on the demo's config (free ports, its SQLite
    file under a var/ of its own), ready; its issuer and process."""
    # Outside the source tree: nothing of the checkout on the path.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    where = subprocess.run(
        [str(clean_venv / "bin" / "python"), "-c", "import passgate; print(passgate.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(clean_venv), where

    with serving_demo(tmp_path, clean_venv / "bin" / "passgate", env) as served:
        yield served


@pytest.mark.anyio
async def test_the_demo_signs_in_from_a_clean_venv(
    demo: tuple[str, subprocess.Popen[bytes]],
) -> None:
    issuer, server = demo
    claims = await demo_sign_in(issuer, issuer)
    assert claims["groups"] == ["admins", "developers"]
    # The chooser's connector logos come from the package's static files.
    async with httpx.AsyncClient() as client:
        logo = await client.get(f"{issuer}/static/img/local.svg")
    assert logo.status_code == 200
    assert logo.headers["content-type"].startswith("image/svg+xml")
    server.terminate()
    assert await anyio.to_thread.run_sync(lambda: server.wait(timeout=30)) == 0
