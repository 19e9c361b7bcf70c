"""`python -m bench.run --peer` end to end, for a moment: the real peer (npm ci, node) and
the real Passgate, each pinned in turn, one scenario, the report written as Markdown.
Nothing here judges speed; it checks that both servers answered and the report says so."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench.peerserver import DEFAULT_PEER_DIR, REPO

from testenv import missing

pytestmark = pytest.mark.slow


def test_one_short_window_of_each_server(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing("UPSTREAM", "needs node and npm for the performance peer (make setup)")
    # The bench's own copy of the peer: a clone alone runs this test.
    assert (DEFAULT_PEER_DIR / "server.mjs").is_file(), DEFAULT_PEER_DIR
    markdown = tmp_path / "peer.md"
    argv = ["--peer", "--scenarios", "client_credentials", "--duration", "0.3"]
    argv += ["--warmup", "0.1", "--concurrency", "2", "--steal-limit", "100"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", *argv, "--markdown", str(markdown)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = markdown.read_text()
    assert report.strip() == done.stdout.strip()
    assert "`python -m bench.run --peer --scenarios client_credentials" in report
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in report.splitlines()]
    row = next(r for r in rows if r[0] == "client_credentials")
    passgate, peer, ratio = (float(cell.replace(",", "")) for cell in row[1:4])
    assert passgate > 0
    assert peer > 0
    assert ratio == pytest.approx(passgate / peer, abs=0.01)  # shown with two decimals
    assert row[6] == "1 / 1"  # one signed token in each answer: like with like
    assert row[7].startswith("0: ")  # the server's core, then the load generator's
    assert ", 1: " in row[7]
