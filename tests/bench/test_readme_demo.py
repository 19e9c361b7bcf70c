"""The README's benchmark command "against the demo" works as written: every scenario it
can run against another issuer runs without an error (tokenreview included, with the
demo cluster's kubectl client), against the demo config served by `passgate serve`."""

import shlex
import sys
from pathlib import Path

import pytest
from bench.run import main
from bench.scenarios import SCENARIOS

from deploy.support import REPO, serving_demo

pytestmark = pytest.mark.slow

DEMO_ISSUER = "http://127.0.0.1:5556/dex"


def readme_demo_command() -> list[str]:
    """The command after "the demo works as is:" in the README's Benchmark section."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Benchmark") :]
    after = section[section.index("the demo works as is:") :]
    start = after.index("```sh\n") + len("```sh\n")
    return shlex.split(after[start : after.index("```", start)].replace("\\\n", " "))


def test_the_readme_command_against_the_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = readme_demo_command()
    assert argv[:4] == [".venv/bin/python", "-m", "bench.run", "--issuer"]
    assert argv[4] == DEMO_ISSUER
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)
    passgate = Path(sys.executable).with_name("passgate")
    with serving_demo(tmp_path, passgate) as (issuer, _server):
        # The demo's address is taken by `make run` perhaps: the same config on free ports.
        args = [issuer if arg == DEMO_ISSUER else arg for arg in argv[3:]]
        status = main([*args, "--duration", "0.3", "--warmup", "0", "--concurrency", "2"])
    out, err = capsys.readouterr()
    assert status == 0, err
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in out.splitlines()]
    measured = {row[0]: row for row in rows if len(row) == 10 and row[1] == "other"}
    # forward_auth needs the forwardAuth section the bench writes: not with --issuer.
    assert set(measured) == set(SCENARIOS) - {"forward_auth"}
    for scenario, row in measured.items():
        assert int(row[6]) > 0, row  # ok
        assert row[7] == "0", (scenario, err)  # errors
    assert "tokenreview: tokens of kubectl, the client of cluster 'demo'" in err
