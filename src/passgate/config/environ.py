"""``$VAR`` / ``${VAR}`` expansion with Go's ``os.ExpandEnv`` rules, and where Dex applies it.

Dex expands the environment inside ``storage.config``, ``connectors[].config`` and
``signer.config`` only; everything else (bcrypt hashes full of ``$``, redirect URIs) is
taken literally. Unset variables expand to the empty string, as in Go. Here only string
values are expanded (Dex expands the raw JSON text, keys included; no real config relies
on an expanded key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "ENV_EXPANDED_SECTIONS",
    "expand",
    "expand_scoped",
    "expand_tree",
    "from_env",
    "unset_names",
    "value_or_env",
]

#: A problem: the key path (within the model being validated) and the message.
Issue = tuple[tuple[str | int, ...], str]

# (top-level key, nested key): where Dex runs os.ExpandEnv. "connectors" is a list.
ENV_EXPANDED_SECTIONS = (("storage", "config"), ("connectors", "config"), ("signer", "config"))

_SPECIAL = frozenset("*#$@!?-0123456789")


def _is_name_char(c: str) -> bool:
    return c == "_" or ("0" <= c <= "9") or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _shell_name(s: str) -> tuple[str, int]:
    """Go's getShellName: the variable name after ``$`` and how many characters it spans."""
    if s[0] == "{":
        if len(s) > 2 and s[1] in _SPECIAL and s[2] == "}":
            return s[1], 3
        for i in range(1, len(s)):
            if s[i] == "}":
                if i == 1:
                    return "", 2  # "${}" is bad syntax: eaten
                return s[1:i], i + 1
        return "", 1  # unterminated "${": the "{" is eaten
    if s[0] in _SPECIAL:
        return s[0], 1
    i = 0
    while i < len(s) and _is_name_char(s[i]):
        i += 1
    return s[:i], i


def expand(text: str, lookup: Callable[[str], str]) -> str:
    """Go's ``os.Expand``: replace ``$name`` and ``${name}`` with ``lookup(name)``."""
    out: list[str] = []
    i = 0
    j = 0
    while j < len(text):
        if text[j] == "$" and j + 1 < len(text):
            out.append(text[i:j])
            name, width = _shell_name(text[j + 1 :])
            if name:
                out.append(lookup(name))
            elif width == 0:
                out.append("$")  # "$" not followed by a name stays as it is
            j += width
            i = j + 1
        j += 1
    out.append(text[i:])
    return "".join(out)


def unset_names(text: str, environ: Mapping[str, str]) -> list[str]:
    """The variables ``text`` refers to that are unset or empty in ``environ``: what a
    config error about the expanded value should name, since the file shows ``$VAR``."""
    names: list[str] = []

    def lookup(name: str) -> str:
        if name.isidentifier() and not environ.get(name) and name not in names:
            names.append(name)
        return ""

    expand(text, lookup)
    return names


def expand_tree(value: Any, environ: Mapping[str, str]) -> Any:
    """A copy of ``value`` with every string inside it expanded."""
    if isinstance(value, str):
        return expand(value, lambda name: environ.get(name, ""))
    if isinstance(value, dict):
        return {key: expand_tree(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_tree(item, environ) for item in value]
    return value


def _key(mapping: dict[Any, Any], name: str) -> Any:
    """The mapping's own spelling of ``name`` (keys match case-insensitively, as in Dex)."""
    for key in mapping:
        if isinstance(key, str) and key.lower() == name.lower():
            return key
    return None


def _expand_config_of(item: Any, nested: str, environ: Mapping[str, str]) -> Any:
    if not isinstance(item, dict):
        return item
    key = _key(item, nested)
    if key is None:
        return item
    return {**item, key: expand_tree(item[key], environ)}


def expand_scoped(document: dict[Any, Any], environ: Mapping[str, str]) -> dict[Any, Any]:
    """A copy of the config document with the environment expanded where Dex expands it."""
    result = dict(document)
    for section, nested in ENV_EXPANDED_SECTIONS:
        key = _key(result, section)
        if key is None:
            continue
        value = result[key]
        if isinstance(value, list):
            result[key] = [_expand_config_of(item, nested, environ) for item in value]
        else:
            result[key] = _expand_config_of(value, nested, environ)
    return result


def from_env(environ: Mapping[str, str], key: str, variable: str) -> tuple[str, list[Issue]]:
    """The value of ``variable`` (named by the config key ``key``), or the problem."""
    value = environ.get(variable, "")
    if not value:
        return "", [((key,), f"environment variable {variable!r} is not set or empty")]
    return value, []


def value_or_env(
    environ: Mapping[str, str], key: str, value: str, env_key: str, variable: str
) -> tuple[str, list[Issue]]:
    """Dex's ``secret``/``secretEnv`` rule: the value of ``key``, or of the variable that
    ``env_key`` names, never both. The value ("" when absent) and the problems."""
    if value and variable:
        return value, [((env_key,), f"set either {key} or {env_key}, not both")]
    if variable:
        return from_env(environ, env_key, variable)
    return value, []
