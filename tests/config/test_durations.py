"""Go duration strings, checked against Go's own test vectors and by property."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passgate.durations import format_duration, parse_duration, parse_duration_ns

NS = 1
US = 1000 * NS
MS = 1000 * US
S = 1000 * MS
M = 60 * S
H = 60 * M
MAX_NS = (1 << 63) - 1
MIN_NS = -(1 << 63)

# Go's time_test.go parseDurationTests, in nanoseconds.
GO_VECTORS = [
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", 1 * S),
    ("1.00s", 1 * S),
    ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12\u00b5s", 12 * US),
    ("12\u03bcs", 12 * US),
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000 * NS),
    ("0.3333333333333333333h", 20 * M),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", MAX_NS),
    ("9223372036854775.807us", MAX_NS),
    ("9223372036854ms775us807ns", MAX_NS),
    ("9223372036s854ms775us807ns", MAX_NS),
    ("-9223372036854775808ns", MIN_NS),
    ("-9223372036854775.808us", MIN_NS),
    ("-9223372036854ms775us808ns", MIN_NS),
    ("-2562047h47m16.854775808s", MIN_NS),
    ("0.100000000000000000000h", 6 * M),
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
]

GO_ERRORS = [
    "",
    "3",
    "-",
    "s",
    ".",
    "-.",
    ".s",
    "+.s",
    "1d",
    "\x85\x85",
    "\xffff",
    "hello \xffff world",
    "9223372036854775808ns",
    "9223372036854775.808us",
    "9223372036854ms775us808ns",
    "-9223372036854775809ns",
    "1.5.5s",
    "10 m",
    " 10m",
    "10m ",
    "1h-5m",
]


@pytest.mark.parametrize(("text", "expected"), GO_VECTORS)
def test_parse_matches_go_to_the_nanosecond(text: str, expected: int) -> None:
    assert parse_duration_ns(text) == expected


@pytest.mark.parametrize(("text", "expected"), GO_VECTORS)
def test_timedelta_truncates_nanoseconds_toward_zero(text: str, expected: int) -> None:
    micros = abs(expected) // US * (-1 if expected < 0 else 1)  # toward zero
    assert parse_duration(text) == timedelta(microseconds=micros)


@pytest.mark.parametrize("text", GO_ERRORS)
def test_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_errors_say_why() -> None:
    with pytest.raises(ValueError, match="unknown unit 'd'"):
        parse_duration("10d")
    with pytest.raises(ValueError, match="missing unit"):
        parse_duration("10")
    with pytest.raises(ValueError, match="out of range"):
        parse_duration("3000000h")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(microseconds=1), "1\u00b5s"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(milliseconds=300), "300ms"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(minutes=1), "1m0s"),
        (timedelta(hours=2, minutes=45), "2h45m0s"),
        (timedelta(hours=72), "72h0m0s"),
        (timedelta(hours=-1), "-1h0m0s"),
        (timedelta(hours=1, seconds=0.000001), "1h0m0.000001s"),
    ],
)
def test_format_is_go_duration_string(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


_GO_RANGE = timedelta(microseconds=MAX_NS // US)


@given(st.timedeltas(min_value=-_GO_RANGE, max_value=_GO_RANGE))
def test_format_then_parse_round_trips(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


_UNIT_NS = {"ns": NS, "us": US, "\u00b5s": US, "ms": MS, "s": S, "m": M, "h": H}


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(_UNIT_NS))),
        min_size=1,
        max_size=6,
    )
)
def test_components_add_up(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{value}{unit}" for value, unit in parts)
    total = sum(value * _UNIT_NS[unit] for value, unit in parts)
    if total > MAX_NS:  # Go's int64 nanoseconds: about 2562047h
        with pytest.raises(ValueError, match="out of range"):
            parse_duration_ns(text)
    else:
        assert parse_duration_ns(text) == total


# The grammar Go accepts (before range and unit-name checks).
_GRAMMAR = re.compile(r"[-+]?(0|([0-9]*(\.[0-9]*)?[^0-9.]+)+)")


@given(st.text(max_size=20))
def test_garbage_is_a_value_error_never_a_crash(text: str) -> None:
    try:
        parse_duration(text)
    except ValueError:
        return
    assert _GRAMMAR.fullmatch(text), text


@given(st.text(alphabet=st.characters(blacklist_characters="0123456789."), min_size=1))
def test_no_digits_no_duration(text: str) -> None:
    if text in ("-", "+"):
        text += "x"
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
