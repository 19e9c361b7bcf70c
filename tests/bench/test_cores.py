from pathlib import Path

import pytest
from bench.cores import CoreMeter, CoreShare, CoreTicks, parse_stat, shares

BEFORE = """\
cpu  300 0 100 1000 10 0 5 20 0 0
cpu0 100 0 50 500 5 0 5 10 0 0
cpu1 200 0 50 500 5 0 0 10 0 0
intr 1 2 3
ctxt 99
"""
# cpu0: 100 ticks later, 60 busy (user 50, system 5, softirq 5), 30 idle, 10 stolen.
# cpu1: 200 ticks later, 20 busy, 180 idle, no steal.
AFTER = """\
cpu  370 0 105 1210 10 0 10 30 0 0
cpu0 150 0 55 530 5 0 10 20 0 0
cpu1 220 0 50 680 5 0 0 10 0 0
"""


def test_parse_stat_reads_each_core_and_skips_the_total_and_other_lines() -> None:
    cores = parse_stat(BEFORE)
    assert sorted(cores) == [0, 1]
    assert cores[0] == CoreTicks(100, 0, 50, 500, 5, 0, 5, 10)
    assert cores[0].busy == 155  # user, nice, system, irq, softirq
    assert cores[0].total == 155 + 500 + 5 + 10


def test_parse_stat_without_a_steal_column() -> None:
    assert parse_stat("cpu3 1 2 3 4 5 6 7\n")[3].steal == 0


def test_shares_between_two_samples() -> None:
    result = shares(parse_stat(BEFORE), parse_stat(AFTER), [0, 1])
    assert (result[0].busy, result[0].steal) == pytest.approx((0.6, 0.1))
    assert (result[1].busy, result[1].steal) == pytest.approx((0.1, 0.0))


def test_a_core_whose_counters_did_not_move_counts_as_idle() -> None:
    sample = parse_stat(BEFORE)
    assert shares(sample, sample, [0]) == {0: CoreShare(busy=0.0, steal=0.0)}


def test_meter_keeps_its_samples_and_reports_the_last_window(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    meter = CoreMeter(stat)
    assert meter.window([0]) == {}
    stat.write_text(BEFORE)
    assert meter() == float(670 + 765)
    stat.write_text(AFTER)
    meter()
    assert meter.window([0])[0].steal == pytest.approx(0.1)
    assert len(meter.samples) == 2


def test_meter_reads_this_machine() -> None:
    meter = CoreMeter()
    meter()
    meter()
    window = meter.window([0])
    assert 0.0 <= window[0].busy <= 1.0
    assert 0.0 <= window[0].steal <= 1.0
