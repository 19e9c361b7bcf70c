"""Reading a config file: YAML → environment expansion → validation → one error report.

Every problem comes back at once in a :class:`ConfigError`, each with the key path in
the file's own spelling (keys match case-insensitively, so ``redirectUris`` is reported
as written) and its line, with "did you mean" for misspelt keys.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from passgate.config.base import Loc, allowed_keys, format_loc
from passgate.config.checks import run_checks
from passgate.config.environ import expand_scoped, unset_names
from passgate.config.errors import ConfigError, ConfigIssue
from passgate.config.model import Config, partial_sections
from passgate.config.source import read_yaml

__all__ = ["check_config", "load_config", "parse_config"]

_PLAIN_MESSAGES = {
    "missing": "missing required key",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
}


def _child(node: Any, part: str | int) -> tuple[Any, str | int]:
    """The child of ``node`` at ``part`` (``None`` if absent) and the file's spelling of
    ``part`` (keys match case-insensitively)."""
    if isinstance(node, dict) and isinstance(part, str):
        if part in node:
            return node[part], part
        for key in node:
            if isinstance(key, str) and key.lower() == part.lower():
                return node[key], key
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part], part
    return None, part


def _spelled(raw: Any, loc: Loc) -> Loc:
    out: list[str | int] = []
    node = raw
    for part in loc:
        node, spelled = _child(node, part)
        out.append(spelled)
    return tuple(out)


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` → ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin is typing.Union or origin is types.UnionType:
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _model_at(raw: Any, loc: Loc) -> type[BaseModel] | None:
    """The config model that validates the mapping at ``loc``, following the file's types."""
    annotation: Any = Config
    node = raw
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(part, str):
                return None
            fields = {(f.alias or n).lower(): f for n, f in annotation.model_fields.items()}
            field = fields.get(part.lower())
            if field is None:
                return None
            chooser = getattr(annotation, "config_model_for", None)
            if part.lower() == "config" and chooser is not None:
                annotation = chooser(_child(node, "type")[0])
            else:
                annotation = field.annotation
        elif typing.get_origin(annotation) is list and isinstance(part, int):
            annotation = typing.get_args(annotation)[0]
        else:
            return None
        node = _child(node, part)[0]
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _message(error: ErrorDetails, raw: Any, loc: Loc) -> str:
    kind = error["type"]
    if kind == "extra_forbidden" and loc:
        model = _model_at(raw, loc[:-1])
        key = str(loc[-1])
        if model is not None:
            choices = {alias.lower(): alias for alias in allowed_keys(model)}
            close = difflib.get_close_matches(key.lower(), list(choices), n=1, cutoff=0.6)
            if close:
                return f"unknown key (did you mean {choices[close[0]]!r}?)"
        return "unknown key"
    if kind in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[kind]
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "connector_unsupported" and len(loc) > 1:
        message = message.replace(" is recognised", f" ({format_loc(loc[:-1])}) is recognised", 1)
    if message.startswith("Input should be"):
        message = "must be" + message.removeprefix("Input should be")
    return message


def _case_duplicates(raw: Any, node: Any, loc: Loc = ()) -> list[tuple[Loc, str]]:
    """Keys written twice in one mapping with different case (``redirectURIs`` and
    ``redirectUris``): Go silently keeps the last; here it is an error."""
    found: list[tuple[Loc, str]] = []
    if isinstance(node, dict):
        model = _model_at(raw, loc)
        if model is not None:
            known = {alias.lower() for alias in allowed_keys(model)}
            first: dict[str, str] = {}
            for key in node:
                if isinstance(key, str) and key.lower() in known:
                    if key.lower() in first:
                        message = (
                            f"duplicate of {first[key.lower()]!r} "
                            "(keys are matched case-insensitively)"
                        )
                        found.append(((*loc, key), message))
                    else:
                        first[key.lower()] = key
        for key, value in node.items():
            if isinstance(key, str):
                found += _case_duplicates(raw, value, (*loc, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _case_duplicates(raw, item, (*loc, index))
    return found


def _line(lines: Mapping[Loc, int], loc: Loc) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _issue(raw: Any, lines: Mapping[Loc, int], loc: Loc, message: str) -> ConfigIssue:
    spelled = _spelled(raw, loc)
    return ConfigIssue(format_loc(spelled), message, _line(lines, spelled))


def _node(tree: Any, loc: Loc) -> Any:
    for part in loc:
        tree = _child(tree, part)[0]
    return tree


def _with_unset(message: str, raw: Any, data: Any, loc: Loc, env: Mapping[str, str]) -> str:
    """Name the unset variables behind a value that expansion changed, so "must not be
    empty" for ``bindPW: $LDAP_PASSWORD`` says which variable to set."""
    written, expanded = _node(raw, loc), _node(data, loc)
    if not isinstance(written, str) or written == expanded:
        return message
    names = unset_names(written, env)
    if not names:
        return message
    listed = ", ".join(f"${name}" for name in names)
    verb = "is" if len(names) == 1 else "are"
    return f"{message} ({listed} {verb} not set in the environment)"


def _issues(
    exc: ValidationError, raw: Any, data: Any, lines: Mapping[Loc, int], env: Mapping[str, str]
) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        spelled = _spelled(raw, loc)
        message = _with_unset(_message(error, raw, spelled), raw, data, loc, env)
        issues.append(_issue(raw, lines, loc, message))
    return issues


def parse_config(text: str, environ: Mapping[str, str] | None = None) -> Config:
    """Validate a config file's text. ``environ`` (default ``os.environ``) feeds ``$VAR``
    expansion and ``idEnv``/``secretEnv``/``hashFromEnv``. Raises :class:`ConfigError`."""
    raw, lines = read_yaml(text)
    if raw is None:
        raise ConfigError([ConfigIssue("", "the config file is empty")])
    if not isinstance(raw, dict):
        message = "the config file must be a mapping of keys (issuer, storage, web, ...)"
        raise ConfigError([ConfigIssue("", message, line=1)])
    env: Mapping[str, str] = os.environ if environ is None else environ
    data = expand_scoped(raw, env)
    context = {"environ": env}
    issues = [_issue(raw, lines, loc, message) for loc, message in _case_duplicates(raw, raw)]
    try:
        config = Config.model_validate(data, context=context)
    except ValidationError as exc:
        issues += _issues(exc, raw, data, lines, env)
    else:
        if not issues:
            return config
    # Cross-section rules on the sections that did validate, so nothing waits for a rerun.
    findings = run_checks(partial_sections(data, context))
    issues += [
        _issue(raw, lines, loc, _with_unset(message, raw, data, loc, env))
        for loc, message in findings.errors
    ]
    unique = list(dict.fromkeys(issues))
    unique.sort(key=lambda issue: issue.line if issue.line is not None else 1 << 30)
    raise ConfigError(unique)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file. ``OSError`` if it cannot be read,
    :class:`ConfigError` for anything wrong in it."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            [ConfigIssue("", f"the config file is not UTF-8 text (byte {error.start})")]
        ) from None
    return parse_config(text, environ)


def check_config(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> tuple[Config | None, list[str]]:
    """For ``passgate check-config``: the config (``None`` when unusable) and the lines to
    print: the problems, or the warnings of a valid file (``warning: path: message``)."""
    try:
        config = load_config(path, environ)
    except OSError as error:
        return None, [f"{path}: cannot read: {error.strerror or error}"]
    except ConfigError as error:
        count = len(error.errors)
        header = f"{path}: {count} problem{'s' if count != 1 else ''}"
        return None, [header, *(f"  {issue}" for issue in error.errors)]
    return config, [f"warning: {warning}" for warning in config.warnings]
