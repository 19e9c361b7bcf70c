"""Reading YAML: syntax errors with line and column, duplicate keys, line numbers."""

from __future__ import annotations

import pytest

from passgate.config import ConfigError, parse_config
from passgate.config.source import read_yaml


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {})
    return caught.value


def test_syntax_error_reports_line_and_column() -> None:
    error = error_of("issuer: https://a\nstorage:\n  type: memory\n web: x\n")
    [issue] = error.errors
    assert issue.path == ""
    assert issue.message.startswith("invalid YAML: ")
    assert issue.line == 4
    assert issue.column is not None
    assert str(issue).startswith("line 4, column ")


def test_tabs_are_a_syntax_error_with_position() -> None:
    [issue] = error_of("issuer: x\n\tstorage: y\n").errors
    assert issue.line == 2


def test_duplicate_keys_are_refused_like_go_yaml() -> None:
    [issue] = error_of("issuer: https://a\nissuer: https://b\n").errors
    assert "duplicate key 'issuer'" in issue.message
    assert issue.line == 2


def test_merge_keys_may_be_overridden() -> None:
    data, _ = read_yaml("base: &b {a: 1, b: 2}\nchild:\n  <<: *b\n  b: 3\n")
    assert data["child"] == {"a": 1, "b": 3}


def test_lines_of_keys_and_items() -> None:
    _, lines = read_yaml("a:\n  b:\n    - x\n    - y: 1\n")
    assert lines[("a",)] == 1
    assert lines[("a", "b")] == 2
    assert lines[("a", "b", 0)] == 3
    assert lines[("a", "b", 1, "y")] == 4


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_document(text: str) -> None:
    [issue] = error_of(text).errors
    assert issue.message == "the config file is empty"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    [issue] = error_of(text).errors
    assert "must be a mapping" in issue.message


def test_several_documents_are_refused() -> None:
    [issue] = error_of("issuer: a\n---\nissuer: b\n").errors
    assert issue.message.startswith("invalid YAML")


def test_python_tags_are_not_constructed() -> None:
    [issue] = error_of("issuer: !!python/object/apply:os.system ['true']\n").errors
    assert issue.message.startswith("invalid YAML")
