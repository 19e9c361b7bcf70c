"""Reading the YAML text: safe types only, duplicate keys refused, line of every key kept.

Dex reads its config with go-yaml (YAML 1.1, like PyYAML), which also refuses a key
defined twice in one mapping; PyYAML would silently keep the last one.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from passgate.config.base import Loc
from passgate.config.errors import ConfigError, ConfigIssue

__all__ = ["read_yaml"]

_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_MAX_DEPTH = 100


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue  # keys merged from an anchor may be overridden, as YAML intends
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _record_lines(node: Node, path: Loc, lines: dict[Loc, int], depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _STR:
                key_path = (*path, key_node.value)
                lines[key_path] = key_node.start_mark.line + 1
                _record_lines(value_node, key_path, lines, depth + 1)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _record_lines(item, (*path, index), lines, depth + 1)


def read_yaml(text: str) -> tuple[Any, dict[Loc, int]]:
    """The document and the 1-based line of every key and list item, by path."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or "invalid YAML"
        context = f" ({error.context})" if error.context and error.problem else ""
        raise ConfigError(
            [
                ConfigIssue(
                    "",
                    f"invalid YAML: {problem}{context}",
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
            ]
        ) from None
    except (yaml.YAMLError, RecursionError) as error:
        raise ConfigError([ConfigIssue("", f"invalid YAML: {error}")]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return data, lines
