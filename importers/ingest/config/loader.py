"""Read an ingestion config YAML file safely, with errors that name the file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from importers.metadata.rules import KeyPath

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigError(Exception):
    """A config problem, formatted as ``file:line: message`` so users can jump to it."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        location = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{location}: {message}")


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that keeps unquoted dates as the strings the metadata JSON needs."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


@dataclass
class Document:
    """A loaded config with the line of every key and list item (1-based), for ``file:line`` messages."""

    path: Path
    data: dict[str, Any]
    lines: dict[KeyPath, int]
    # (key path, line, line of the first occurrence) of keys written twice in one mapping.
    duplicates: list[tuple[KeyPath, int, int]] = field(default_factory=list)

    def line_of(self, key_path: KeyPath) -> int:
        """Line of ``key_path``, or of its nearest ancestor that exists in the file (missing or migrated keys)."""
        for end in range(len(key_path), 0, -1):
            line = self.lines.get(key_path[:end])
            if line is not None:
                return line
        return 1


def _tag_name(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


#: Constructs the parser notices are unterminated only where it gives up (the next line, or the end of the
#: file): the mistake is where the construct starts, the error's context (a key without its colon, an
#: unclosed quote or bracket).
_UNTERMINATED = (
    "while scanning a simple key",
    "while scanning a quoted scalar",
    "while parsing a flow sequence",
    "while parsing a flow mapping",
)


def _parse(path: Path, text: str) -> tuple[_Loader, Node | None]:
    loader = _Loader(text)
    try:
        return loader, loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        problem, mark = error.problem or str(error), error.problem_mark or error.context_mark
        if error.context in _UNTERMINATED and error.context_mark is not None:
            noticed = error.problem_mark.line if error.problem_mark is not None else error.context_mark.line
            if noticed != error.context_mark.line:
                where = f"on line {noticed + 1}" if noticed < len(text.splitlines()) else "at the end of the file"
                problem += f" {error.context} (noticed {where})"
            mark = error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(path, f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as error:
        raise ConfigError(path, f"invalid YAML: {error}") from None


def _construct(path: Path, loader: _Loader, node: Node) -> Any:
    try:
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as error:
        line = error.problem_mark.line + 1 if error.problem_mark is not None else None
        problem = error.problem or ""
        if "could not determine a constructor for the tag" in problem:
            tag = problem.rsplit(" ", 1)[-1].strip("'")
            # Only the plain YAML types are accepted: python/object and custom tags could run code or hide data.
            raise ConfigError(path, f"unsafe or unknown YAML tag {_tag_name(tag)} is not allowed", line) from None
        raise ConfigError(path, f"invalid YAML: {problem or error}", line) from None


def _find_duplicates(node: Node) -> list[tuple[KeyPath, int, int]]:
    """Keys written twice in one mapping (PyYAML keeps the last one silently); merge keys are not duplicates."""
    found: list[tuple[KeyPath, int, int]] = []
    seen_nodes: set[int] = set()

    def walk(current: Node, path: KeyPath) -> None:
        if id(current) in seen_nodes:  # aliases: check each node once, also breaks cycles
            return
        seen_nodes.add(id(current))
        if isinstance(current, MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in current.value:
                if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG:
                    key, line = key_node.value, key_node.start_mark.line + 1
                    if key in first_line:
                        found.append(((*path, key), line, first_line[key]))
                    first_line.setdefault(key, line)
                    walk(value_node, (*path, key))
        elif isinstance(current, SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index))

    walk(node, ())
    return found


def _line_index(path: Path, loader: _Loader, node: Node) -> dict[KeyPath, int]:
    """Line of each key path; a key's line is that of the key, a list item's that of its first token.

    Raises ConfigError for an alias inside its own anchor: such a config would be infinitely deep.
    """
    lines: dict[KeyPath, int] = {}
    active: set[int] = set()

    def walk(current: Node, key_path: KeyPath) -> None:
        if id(current) in active:
            line = lines.get(key_path, current.start_mark.line + 1)
            raise ConfigError(path, "an alias refers to the anchored block that contains it", line)
        active.add(id(current))
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                key = loader.construct_object(key_node, deep=True) if isinstance(key_node, ScalarNode) else None
                if isinstance(key, str | int):
                    lines.setdefault((*key_path, key), key_node.start_mark.line + 1)
                    walk(value_node, (*key_path, key))
        elif isinstance(current, SequenceNode):
            for index, item in enumerate(current.value):
                lines[(*key_path, index)] = item.start_mark.line + 1
                walk(item, (*key_path, index))
        active.discard(id(current))

    walk(node, ())
    return lines


def load_document(path: str | Path) -> Document:
    """Load a config with the safe YAML loader, keeping line numbers; the top level must be a mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(path, f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "cannot read: not UTF-8 text") from None
    loader, node = _parse(path, text)
    if node is None:
        raise ConfigError(path, "the file is empty; a config is a mapping of keys", 1)
    duplicates = _find_duplicates(node)
    data = _construct(path, loader, node)
    if not isinstance(data, dict):
        found = {list: "a list", str: "a string"}.get(type(data), type(data).__name__)
        raise ConfigError(path, f"top level must be a mapping of keys, found {found}", node.start_mark.line + 1)
    return Document(path, data, _line_index(path, loader, node), duplicates)


def load_config(path: str | Path) -> dict[str, Any]:
    """Load a config file with the safe YAML loader; the top level must be a mapping."""
    return load_document(path).data
