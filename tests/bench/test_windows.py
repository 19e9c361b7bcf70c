from collections.abc import Awaitable, Callable, Iterator

import pytest
from bench.cores import CoreShare
from bench.stats import ScenarioResult
from bench.windows import STEAL_LIMIT, Measured, Window, measure_window


def window(*steals: float, ops: int = 10) -> Window:
    result = ScenarioResult("jwks", "peer", (1.0,) * ops, errors=0, elapsed_s=1.0)
    return Window(result, {core: CoreShare(0.9, steal) for core, steal in enumerate(steals)})


def runner(windows: list[Window]) -> tuple[list[int], Callable[[], Awaitable[Window]]]:
    """A stand-in for one measured run: hands out ``windows`` in order, counting calls."""
    calls: list[int] = []
    source: Iterator[Window] = iter(windows)

    async def run() -> Window:
        calls.append(1)
        return next(source)

    return calls, run


def test_window_steal_is_the_worst_core() -> None:
    assert window(0.01, 0.07).steal == 0.07
    assert Window(window().result, {}).steal == 0.0


@pytest.mark.anyio
async def test_a_quiet_window_is_kept_at_once() -> None:
    calls, run = runner([window(0.0, 0.05), window(0.0, 0.0)])
    measured = await measure_window(run)
    assert len(calls) == 1
    assert measured.kept.steal == 0.05  # at the limit is still within it
    assert measured.discarded == ()
    assert not measured.over_limit


@pytest.mark.anyio
async def test_a_window_with_too_much_steal_is_discarded_and_run_again() -> None:
    logged: list[str] = []
    first, second = window(0.06, 0.0, ops=5), window(0.01, 0.02, ops=7)
    calls, run = runner([first, second])
    measured = await measure_window(run, log=logged.append)
    assert len(calls) == 2
    assert measured == Measured(second, (first,), STEAL_LIMIT)
    assert logged == ["    window discarded: 6.0% steal > 5%, running it again"]


@pytest.mark.anyio
async def test_retries_are_bounded_and_the_least_disturbed_window_is_kept() -> None:
    tries = [window(0.2), window(0.08), window(0.3)]
    logged: list[str] = []
    calls, run = runner(tries)
    measured = await measure_window(run, retries=2, log=logged.append)
    assert len(calls) == 3
    assert measured.kept is tries[1]
    assert measured.discarded == (tries[0], tries[2])
    assert measured.over_limit
    assert logged[-1].endswith("no retries left")


@pytest.mark.anyio
async def test_a_stricter_limit_and_no_retries() -> None:
    calls, run = runner([window(0.02)])
    measured = await measure_window(run, steal_limit=0.01, retries=0)
    assert len(calls) == 1
    assert measured.over_limit
    assert measured.discarded == ()
    with pytest.raises(ValueError, match="retries"):
        await measure_window(run, retries=-1)
