"""YAML loading that remembers where every node came from.

PyYAML's SafeLoader composes the document into nodes (never arbitrary Python objects);
this module turns the nodes into plain data itself, so it can record a 1-based
(line, col) for every path and refuse duplicate keys, which PyYAML silently accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from motcua.workflows.dsl.diagnostics import DataPath, DefinitionError, Diagnostic

Position = tuple[int, int]

MAX_DEPTH = 100
MAX_NODES = 200_000  # after alias expansion; stops "billion laughs" documents

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class Positions(dict[DataPath, Position]):
    """Path -> (line, col) of each value; `.key_positions`: where each mapping key is."""

    def __init__(self) -> None:
        super().__init__()
        self.key_positions: dict[DataPath, Position] = {}

    def at(self, path: DataPath) -> Position:
        """Position of `path`, or of its nearest ancestor that exists."""
        for end in range(len(path), -1, -1):
            found = self.get(tuple(path[:end]))
            if found is not None:
                return found
        return (1, 1)

    def key_at(self, path: DataPath) -> Position:
        """Where the key of a mapping entry is written (the value's position otherwise)."""
        return self.key_positions.get(tuple(path)) or self.at(path)

    def alias(self, written: DataPath, read_as: DataPath) -> None:
        """Locate what is under `read_as` where it is written, under `written` (a typo'd key
        the validator reads as the key it looks like)."""
        for table in (self, self.key_positions):
            for path, position in list(table.items()):
                if path[: len(written)] == written:
                    table.setdefault(read_as + path[len(written) :], position)


def _mark(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.positions = Positions()
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.active: set[int] = set()

    def error(self, code: str, pos: Position, message: str, path: DataPath) -> None:
        self.diagnostics.append(Diagnostic(self.filename, pos[0], pos[1], code, message, path))

    def build(self, node: Node, path: DataPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Abort("E001", _mark(node), f"document too large (over {MAX_NODES} nodes)")
        if len(path) > MAX_DEPTH:
            raise _Abort("E001", _mark(node), f"document nested deeper than {MAX_DEPTH} levels")
        if id(node) in self.active:
            raise _Abort("E001", _mark(node), "an alias refers to a node that contains it")
        self.positions.setdefault(path, _mark(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ_TAG:
                    self.error("E001", _mark(node), f"unsupported YAML tag {node.tag!r}", path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _MAP_TAG:
                    self.error("E001", _mark(node), f"unsupported YAML tag {node.tag!r}", path)
                return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise _Abort("E001", _mark(node), "unknown YAML node")

    def scalar(self, node: ScalarNode, path: DataPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as e:  # noqa: BLE001 - bad tags, impossible dates, ...
            problem = getattr(e, "problem", None) or str(e)
            self.error("E001", _mark(node), f"cannot read value: {problem}", path)
            return None

    def key(self, node: Node, path: DataPath) -> tuple[bool, Any]:
        if not isinstance(node, ScalarNode):
            self.error("E004", _mark(node), "a mapping key must be a plain scalar", path)
            return False, None
        try:
            value = self.loader.construct_object(node, deep=True)
            hash(value)
        except Exception as e:  # noqa: BLE001
            problem = getattr(e, "problem", None) or str(e)
            self.error("E001", _mark(node), f"cannot read key: {problem}", path)
            return False, None
        return True, value

    def mapping(self, node: MappingNode, path: DataPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            ok, key = self.key(key_node, path)
            if not ok:
                continue
            child = (*path, key)
            if key in out:
                first = self.positions.key_positions.get(child, _mark(key_node))
                self.error(
                    "E015",
                    _mark(key_node),
                    f"duplicate key '{key}' (first written at line {first[0]})",
                    child,
                )
                continue
            self.positions.key_positions[child] = _mark(key_node)
            out[key] = self.build(value_node, child)
        for merged in merges:
            sources = merged.value if isinstance(merged, SequenceNode) else [merged]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.error("E001", _mark(source), "'<<' merges only mappings", path)
                    continue
                if id(source) in self.active:
                    raise _Abort("E001", _mark(source), "a merge refers to its own mapping")
                self.active.add(id(source))
                try:
                    for key_node, value_node in source.value:
                        ok, key = self.key(key_node, path)
                        if ok and key not in out and key_node.tag != _MERGE_TAG:
                            self.positions.key_positions[(*path, key)] = _mark(key_node)
                            out[key] = self.build(value_node, (*path, key))
                finally:
                    self.active.discard(id(source))
        return out


class _Abort(Exception):
    def __init__(self, code: str, pos: Position, message: str) -> None:
        super().__init__(message)
        self.code, self.pos, self.message = code, pos, message


def _syntax(filename: str, text: str, e: Exception) -> Diagnostic:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(p for p in (e.context, e.problem) if p) or "YAML syntax error"
        return Diagnostic(filename, line, col, "E001", f"YAML syntax error: {message}")
    if isinstance(e, yaml.reader.ReaderError):
        before = text[: e.position]
        line = before.count("\n") + 1
        col = e.position - (before.rfind("\n") + 1) + 1
        return Diagnostic(filename, line, col, "E001", f"YAML syntax error: {e.reason}")
    if isinstance(e, RecursionError):
        return Diagnostic(filename, 1, 1, "E001", "YAML document nested too deeply")
    return Diagnostic(filename, 1, 1, "E001", f"YAML error: {e}")


def load_yaml(source: str | Path, *, filename: str) -> tuple[Any, Positions]:
    """Parse YAML text (a `str`) or a file (a `Path`) into plain data plus positions.

    Raises DefinitionError (E001 syntax, E015 duplicate keys, ...) with every problem found.
    An empty document loads as None.
    """
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise DefinitionError(
                [Diagnostic(filename, 1, 1, "E001", f"cannot read file: {reason}")]
            ) from None
    else:
        text = source
    if _FastLoader is not yaml.SafeLoader:
        try:
            return _load(_FastLoader, text, filename)
        except (DefinitionError, yaml.YAMLError, RecursionError):
            pass  # the pure-Python parser below reports it, with its positions and wording
    return _load(yaml.SafeLoader, text, filename)


# libyaml's parser is about ten times faster; the pure-Python one stays the reference for
# diagnostics, so a broken file is always reported the same way on every machine.
_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(loader_class: type[yaml.SafeLoader], text: str, filename: str) -> tuple[Any, Positions]:
    try:
        loader = loader_class(text)
    except yaml.YAMLError as e:
        raise DefinitionError([_syntax(filename, text, e)]) from None
    try:
        try:
            node = loader.get_single_node()
        except (yaml.YAMLError, RecursionError) as e:
            raise DefinitionError([_syntax(filename, text, e)]) from None
        if node is None:
            return None, Positions()
        builder = _Builder(loader, filename)
        try:
            data = builder.build(node, ())
        except _Abort as e:
            builder.diagnostics.append(Diagnostic(filename, *e.pos, e.code, e.message))
            data = None
        if builder.diagnostics:
            raise DefinitionError(builder.diagnostics)
        return data, builder.positions
    finally:
        loader.dispose()
