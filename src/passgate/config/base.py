"""The shared base of every config model: Dex's key matching and multi-error reporting.

Dex decodes its YAML through Go's ``encoding/json``, which matches keys to fields
case-insensitively and treats ``null`` as "leave the zero value". :class:`DexModel`
does the same once, for every model: keys are mapped to the field aliases (the Dex
camelCase names) by lower-case comparison, a ``null`` value means "use the default",
and unknown keys are refused. (Two spellings of one key are reported by the loader.)
Validators report several problems at once by raising one ``ValidationError`` with a
location per problem, which pydantic nests under the model's own location.
"""

from __future__ import annotations

import functools
import os
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, ValidationInfo
from pydantic import model_validator as _model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

__all__ = [
    "DexModel",
    "Loc",
    "allowed_keys",
    "collect_notes",
    "custom_error",
    "environ_of",
    "fold_keys",
    "format_loc",
    "raise_issues",
    "with_more_issues",
]

Loc = tuple[str | int, ...]


def custom_error(message: str, kind: str = "config") -> PydanticCustomError:
    """A validation error whose text is ``message`` verbatim (braces and all)."""
    return PydanticCustomError(kind, "{detail}", {"detail": message})


def raise_issues(title: str, issues: Iterable[tuple[Loc, str]]) -> None:
    """Raise one ``ValidationError`` holding every issue; pydantic nests it under the
    caller's location, so ``loc`` is relative to the model being validated."""
    details = [
        InitErrorDetails(type=custom_error(message), loc=loc, input=None) for loc, message in issues
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


_KNOWN_ERROR_TYPES = frozenset(typing.get_args(core_schema.ErrorType))


def with_more_issues(
    title: str, exc: ValidationError, extra: Iterable[tuple[Loc, str]]
) -> ValidationError:
    """``exc`` plus ``extra`` issues at locations ``exc`` does not already cover: lets a
    model report its own rules even when some of its fields failed."""
    details: list[InitErrorDetails] = []
    covered: set[Loc] = set()
    for error in exc.errors():
        loc = tuple(error["loc"])
        covered.add(loc)
        if error["type"] in _KNOWN_ERROR_TYPES:
            kind: str | PydanticCustomError = error["type"]
            details.append(
                InitErrorDetails(type=kind, loc=loc, input=error["input"], ctx=error.get("ctx", {}))
            )
        else:
            kind = PydanticCustomError(error["type"], "{detail}", {"detail": error["msg"]})
            details.append(InitErrorDetails(type=kind, loc=loc, input=error["input"]))
    details += [
        InitErrorDetails(type=custom_error(message), loc=loc, input=None)
        for loc, message in extra
        if loc not in covered
    ]
    return ValidationError.from_exception_data(title, details)


def environ_of(info: ValidationInfo) -> Mapping[str, str]:
    """The environment the loader was given (``context={"environ": ...}``), else the process's."""
    context = info.context
    if isinstance(context, Mapping):
        environ = context.get("environ")
        if isinstance(environ, Mapping):
            return environ
    return os.environ


def _nullable(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return type(None) in typing.get_args(annotation)
    return annotation is Any or annotation is None


@functools.cache
def _alias_table(model: type[BaseModel]) -> dict[str, tuple[str, bool]]:
    """lower-case key → (alias, nullable) for every field of ``model``."""
    table: dict[str, tuple[str, bool]] = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        table[alias.lower()] = (alias, _nullable(field.annotation))
    return table


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The Dex spelling of every key ``model`` accepts."""
    return [alias for alias, _ in _alias_table(model).values()]


def fold_keys(model: type[BaseModel], data: Mapping[Any, Any]) -> dict[Any, Any]:
    """``data`` with keys renamed to ``model``'s aliases by case-insensitive match; ``null``
    values of non-nullable fields dropped (Go leaves the zero value). Unknown keys stay
    as written so that ``extra="forbid"`` reports them in the user's spelling. Two
    spellings of one key: the last wins, as in Go; the loader reports them as an error."""
    table = _alias_table(model)
    folded: dict[Any, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key.lower() not in table:
            folded[key] = value
            continue
        alias, nullable = table[key.lower()]
        folded.pop(alias, None)  # two spellings of one key: the last wins, as in Go
        if value is None and not nullable:
            continue
        folded[alias] = value
    return folded


class DexModel(BaseModel):
    """Base of the config schema: Dex key spelling as aliases, snake_case attributes."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=False,
        hide_input_in_errors=True,  # secrets must not end up in error output
    )

    # Notes for Config.warnings: (location relative to this model, message).
    _notes: list[tuple[Loc, str]] = PrivateAttr(default_factory=list)

    @_model_validator(mode="before")
    @classmethod
    def _match_keys_like_go(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, Mapping):
            return fold_keys(cls, data)
        return data

    def _settle(self, **changes: Any) -> None:
        """Set resolved field values from this model's own after-validator (frozen
        afterwards: pydantic wants validators to return ``self``, not a copy)."""
        for name, value in changes.items():
            object.__setattr__(self, name, value)

    def note(self, loc: Loc, message: str) -> None:
        """Record a non-fatal notice; the loader reports it in ``Config.warnings``."""
        self._notes.append((loc, message))

    def notes(self) -> list[tuple[Loc, str]]:
        return list(self._notes)


def format_loc(loc: Iterable[str | int]) -> str:
    """``("staticClients", 1, "redirectURIs", 0)`` → ``staticClients[1].redirectURIs[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def collect_notes(model: BaseModel, prefix: Loc = ()) -> list[tuple[Loc, str]]:
    """Every note recorded by ``model`` and the models inside it, with full locations."""
    found: list[tuple[Loc, str]] = []
    if isinstance(model, DexModel):
        found += [(prefix + loc, message) for loc, message in model.notes()]
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += collect_notes(value, (*prefix, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += collect_notes(item, (*prefix, key, index))
    return found
