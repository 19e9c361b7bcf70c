import math

import pytest
from bench.stats import (
    ScenarioResult,
    ServerStats,
    markdown_table,
    percentile,
    results_table,
    server_table,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([7.0], 99) == 7
    assert percentile([1.0, 2.0], 50) == 1
    assert percentile([1.0, 2.0], 51) == 2


def test_percentile_of_nothing_is_nan_and_bounds_are_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], -1)


def test_scenario_result_numbers() -> None:
    result = ScenarioResult(
        scenario="jwks",
        backend="sqlite",
        latencies_ms=(3.0, 1.0, 2.0, 4.0),
        errors=1,
        elapsed_s=2.0,
        server_cpu_s=1.5,
        client_cpu_s=0.5,
    )
    assert result.ok == 4
    assert result.rps == 2.0
    assert result.latency(50) == 2.0
    assert result.latency(99) == 4.0
    assert result.server_cpu_percent == 75.0
    assert result.client_cpu_percent == 25.0
    empty = ScenarioResult("login", "postgres", (), errors=3, elapsed_s=0.0)
    assert empty.rps == 0.0
    assert empty.server_cpu_percent is None


def test_markdown_table_aligns_columns() -> None:
    table = markdown_table(["a", "b", "num"], [["xx", "y", "1"], ["x", "yy", "12345"]])
    assert table.splitlines() == [
        "| a  | b  |   num |",
        "| -- | -- | ----: |",
        "| xx | y  |     1 |",
        "| x  | yy | 12345 |",
    ]


def test_results_table() -> None:
    rows = [
        ScenarioResult("discovery", "sqlite", (1.0, 2.0), 0, 0.5, server_cpu_s=0.25),
        ScenarioResult("login", "postgres", (), 2, 1.0, note="failed"),
    ]
    lines = results_table(rows).splitlines()
    assert lines[0].startswith("| scenario       | backend  | rps | p50 ms |")
    assert lines[1].startswith("| -------------- | -------- | --: | -----: |")
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == [
        "discovery", "sqlite", "4.0", "1.00", "2.00", "2.00", "2", "0", "50", "–",
    ]  # fmt: skip
    assert [c.strip() for c in lines[3].split("|")[1:-1]] == [
        "login (failed)", "postgres", "0.0", "–", "–", "–", "0", "2", "–", "–",
    ]  # fmt: skip


def test_open_loop_results_name_the_rate_offered() -> None:
    latencies = tuple(float(v) for v in range(1, 101))
    paced = ScenarioResult("forward_auth", "sqlite", latencies, 0, 1.0, rate=1000.0)
    assert paced.label == "forward_auth (1,000/s offered)"
    behind = ScenarioResult("jwks", "sqlite", (), 0, 1.0, note="x", rate=2500.0, unsent=7)
    assert behind.label == "jwks (2,500/s offered, 7 unsent, x)"
    row = results_table([paced]).splitlines()[2]
    assert [c.strip() for c in row.split("|")[1:-1]][:6] == [
        "forward_auth (1,000/s offered)", "sqlite", "100.0", "50.00", "99.00", "100.00",
    ]  # fmt: skip


def test_server_table() -> None:
    table = server_table([ServerStats("sqlite", 0.4321, (51200, 102400))])
    assert table.splitlines() == [
        "| backend | start-up ms | peak RSS MiB | processes |",
        "| ------- | ----------: | -----------: | --------: |",
        "| sqlite  |         432 |        100.0 |         2 |",
    ]
