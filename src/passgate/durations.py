"""Go duration strings (``300ms``, ``1.5h``, ``2h45m``), as Dex's config file writes them.

Parsing follows Go's ``time.ParseDuration`` step by step, including its float64 handling
of fractions and its int64-nanosecond range, so a value means the same thing here as in
Dex. A ``timedelta`` holds microseconds: nanoseconds below that are truncated toward zero.
Formatting follows Go's ``Duration.String`` (``72h0m0s``, ``1.5s``, ``300ms``).
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["format_duration", "parse_duration", "parse_duration_ns"]

_NS = 1
_US = 1_000
_MS = 1_000_000
_S = 1_000_000_000
_MIN = 60 * _S
_H = 60 * _MIN

# Go's unitMap: both micro signs (U+00B5 and U+03BC) are accepted.
_UNITS = {
    "ns": _NS,
    "us": _US,
    "\u00b5s": _US,
    "\u03bcs": _US,
    "ms": _MS,
    "s": _S,
    "m": _MIN,
    "h": _H,
}
_MAX = (1 << 63) - 1  # Go's time.Duration is an int64 of nanoseconds
_LIMIT = 1 << 63


def _error(text: str, reason: str = "") -> ValueError:
    detail = f": {reason}" if reason else ""
    return ValueError(f"invalid duration {text!r}{detail} (expected e.g. '300ms', '10m', '24h')")


def _leading_int(s: str) -> tuple[int, str, bool]:
    """Digits at the start of ``s``: value, rest, overflowed."""
    i = 0
    value = 0
    while i < len(s) and "0" <= s[i] <= "9":
        value = value * 10 + (ord(s[i]) - 48)
        if value > _LIMIT:
            return 0, s[i:], True
        i += 1
    return value, s[i:], False


def _leading_fraction(s: str) -> tuple[int, float, str]:
    """Go's leadingFraction: digits after the dot; precision beyond int64 is dropped."""
    i = 0
    value = 0
    scale = 1.0
    overflow = False
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            if value > _MAX // 10:
                overflow = True
            else:
                candidate = value * 10 + (ord(s[i]) - 48)
                if candidate > _LIMIT:
                    overflow = True
                else:
                    value = candidate
                    scale *= 10
        i += 1
    return value, scale, s[i:]


def parse_duration_ns(text: str) -> int:
    """Nanoseconds, exactly as Go's ``time.ParseDuration`` computes them."""
    s = text
    negative = False
    if s and s[0] in "+-":
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise _error(text)
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise _error(text)
        before = len(s)
        value, s, overflow = _leading_int(s)
        if overflow:
            raise _error(text, "out of range")
        has_int = before != len(s)
        fraction, scale, has_fraction = 0, 1.0, False
        if s.startswith("."):
            s = s[1:]
            before = len(s)
            fraction, scale, s = _leading_fraction(s)
            has_fraction = before != len(s)
        if not has_int and not has_fraction:
            raise _error(text)
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise _error(text, "missing unit")
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise _error(text, f"unknown unit {unit_name!r}")
        if value > _LIMIT // unit:
            raise _error(text, "out of range")
        value *= unit
        if fraction > 0:
            # float64 arithmetic on purpose: it is what Go does, digit for digit.
            value += int(float(fraction) * (float(unit) / scale))
            if value > _LIMIT:
                raise _error(text, "out of range")
        total += value
        if total > _LIMIT:
            raise _error(text, "out of range")
    if negative:
        return -total
    if total > _MAX:
        raise _error(text, "out of range")
    return total


def parse_duration(text: str) -> timedelta:
    """A Go duration string as a ``timedelta``; raises ``ValueError`` with the reason."""
    ns = parse_duration_ns(text)
    micros = ns // _US if ns >= 0 else -(-ns // _US)
    return timedelta(microseconds=micros)


def _fraction(value: int, precision: int) -> str:
    whole, rest = divmod(value, 10**precision)
    digits = f"{rest:0{precision}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def format_duration(value: timedelta) -> str:
    """Go's ``Duration.String``: ``0s``, ``1.5µs``, ``300ms``, ``2h45m0s``."""
    ns = ((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds) * _US
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < _S:
        if u < _US:
            return f"{sign}{u}ns"
        if u < _MS:
            return f"{sign}{_fraction(u, 3)}\u00b5s"
        return f"{sign}{_fraction(u, 6)}ms"
    seconds = _fraction(u % _MIN, 9) + "s"
    minutes_total = u // _MIN
    if minutes_total == 0:
        return f"{sign}{seconds}"
    hours, minutes = divmod(minutes_total, 60)
    if hours == 0:
        return f"{sign}{minutes}m{seconds}"
    return f"{sign}{hours}h{minutes}m{seconds}"
