"""Request parameters: one value per name, bounded sizes.

RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more
than once." A repeated parameter is an ``invalid_request``, never a silent pick.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from passgate.oauth2.errors import InvalidRequestError

MAX_PARAM_LENGTH = 4096
MAX_PARAMS = 64


class Params(Mapping[str, str]):
    """Single-valued parameters; empty values count as absent (RFC 6749 §3.1)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        values: dict[str, str] = {}
        for count, (name, value) in enumerate(pairs, start=1):
            if count > MAX_PARAMS:
                raise InvalidRequestError("too many parameters")
            if len(value) > MAX_PARAM_LENGTH or len(name) > 256:
                raise InvalidRequestError(f"parameter {name[:64]!r} is too long")
            if "\x00" in value:
                raise InvalidRequestError(f"parameter {name[:64]!r} contains a NUL character")
            if name in values:
                raise InvalidRequestError(f"parameter {name!r} is repeated")
            if value != "":
                values[name] = value
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def require(self, name: str) -> str:
        """The value, or ``invalid_request`` naming the missing parameter."""
        value = self._values.get(name)
        if value is None:
            raise InvalidRequestError(f"missing required parameter {name!r}")
        return value

    def optional(self, name: str) -> str:
        return self._values.get(name, "")
