"""YAML text -> plain data plus a way back to line and column for any path in it.

``yaml.safe_load`` silently keeps the last of two duplicate keys and forgets where each
value was written, so policies are composed into a node tree (libyaml when available)
and walked here: duplicate keys, aliases, merge keys and non-standard tags become errors,
and every path can later be located for an error message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from authserver.policy.issues import Path, PolicyIssue, format_path, type_name

_TAG = "tag:yaml.org,2002:"
STR, SEQ, MAP = _TAG + "str", _TAG + "seq", _TAG + "map"
MERGE, VALUE = _TAG + "merge", _TAG + "value"
_SCALAR_TYPES = ("int", "float", "bool", "null", "timestamp")
_BaseLoader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_RESOLVERS = _BaseLoader.yaml_implicit_resolvers
_PLAIN_STR_SAFE = None not in _RESOLVERS  # no resolver that looks at every first character


# mypy takes no variable as a base class: the base is chosen at import (libyaml's or not).
class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader whose tag resolution skips the regexes for most plain strings.

    Only scalars starting with a character some implicit resolver cares about (digits,
    ``y``/``n``/``t``/``f``/``o``, ``~``, ``<``...) go through PyYAML's resolver; this keeps
    composing a 10,000-scope policy fast without changing any result.
    """

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        if (
            kind is ScalarNode
            and _PLAIN_STR_SAFE
            and value
            and value[0] not in _RESOLVERS
            and implicit[0]
        ):
            return STR
        return super().resolve(kind, value, implicit)


def compose(text: str) -> tuple[Node | None, PolicyIssue | None]:
    """Compose one YAML document into a node tree, or report the syntax error's position."""
    loader = _Loader(text)
    try:
        return loader.get_single_node(), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        parts = [p for p in (exc.context, exc.problem) if p]
        message = "YAML syntax error: " + ", ".join(parts)
        if mark is None:
            return None, PolicyIssue(1, 1, "", message)
        return None, PolicyIssue(mark.line + 1, mark.column + 1, "", message)
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        return None, PolicyIssue(line, column, "", f"YAML syntax error: {exc.reason}")
    finally:
        loader.dispose()


def _line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a reader error offset (libyaml counts UTF-8 bytes)."""
    if yaml.__with_libyaml__:
        offset = len(text.encode()[:offset].decode(errors="ignore"))
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _at(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class Converter:
    """Turns a node tree into dicts, lists and scalars, collecting YAML-level errors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.errors: list[PolicyIssue] = []
        self._tracking = "&" in text  # no anchor, no alias: skip the bookkeeping
        self._seen: set[int] = set()
        self.has_alias = False
        self._constructor = yaml.constructor.SafeConstructor()

    def error(self, node: Node, path: Path, message: str) -> None:
        self.errors.append(PolicyIssue(*_at(node), format_path(path), message))

    def convert(self, node: Node, path: Path = ()) -> object:
        """Plain data for ``node``, as ``yaml.safe_load`` would build it (first key wins).

        An alias is never expanded: a node reached a second time is one, and converting it
        again is how a few hundred bytes of nested aliases ("billion laughs", CWE-776) cost
        minutes. Each node is converted at most once, so the work is linear in the text.
        """
        if self._tracking and self._reached_before(node):
            return None  # report_aliases says where; the loader stops there
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, SequenceNode):
            self._check_tag(node, path, SEQ)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        self._check_tag(node, path, MAP)
        return self._mapping(cast(MappingNode, node), path)  # the third and last kind

    def _reached_before(self, node: Node) -> bool:
        """A node reached twice was reached through an alias."""
        if id(node) in self._seen:
            self.has_alias = True
            return True
        self._seen.add(id(node))
        return False

    def _check_tag(self, node: Node, path: Path, expected: str) -> None:
        if node.tag != expected:
            self.error(node, path, f"unsupported YAML tag {node.tag!r}")

    def _scalar(self, node: ScalarNode, path: Path) -> object:
        tag = node.tag
        if tag == STR or tag == VALUE:
            return node.value
        kind = tag[len(_TAG) :] if tag.startswith(_TAG) else None
        if kind not in _SCALAR_TYPES:
            self.error(node, path, f"unsupported YAML tag {tag!r}")
            return node.value
        try:
            return getattr(self._constructor, f"construct_yaml_{kind}")(node)
        except Exception:  # PyYAML raises various types for e.g. "!!int abc"
            self.error(node, path, f"invalid !!{kind} value {node.value!r}")
            return node.value

    def _mapping(self, node: MappingNode, path: Path) -> dict:
        result: dict = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in result:
                self.error(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first defined on line {first_line[key]})",
                )
                continue
            first_line[key] = key_node.start_mark.line + 1
            result[key] = self.convert(value_node, (*path, key))
        return result

    def _key(self, node: Node, path: Path) -> str | None:
        """A mapping key as a string; merge keys, complex and non-string keys are errors."""
        if self._tracking and self._reached_before(node):
            return None
        if not isinstance(node, ScalarNode):
            self.error(node, path, "mapping keys must be plain strings, not lists or mappings")
            return None
        if node.tag == MERGE:
            self.error(node, path, "merge keys (<<) are not supported: write the keys out")
            return None
        if node.tag != STR:
            value = self._scalar(node, path)
            if not isinstance(value, str):
                self.error(
                    node,
                    (*path, node.value),
                    f"key {node.value!r} is read as a {type_name(value)}: quote it",
                )
        return node.value

    def report_aliases(self) -> None:
        """Aliases are refused: a policy is small enough to write out, and aliases hide
        what a role grants from a reviewer. Only runs when the text has an anchor."""
        if not self.has_alias:
            return
        for event in _alias_events(self.text):
            mark = event.start_mark  # the parser marks every event; the stubs allow None
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            message = f"YAML aliases (*{event.anchor}) are not supported: write the value out"
            self.errors.append(PolicyIssue(line, column, "", message))


def _alias_events(text: str) -> Iterator[yaml.AliasEvent]:
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.AliasEvent):
            yield event


class NodeLocator:
    """Maps a data path back to the line and column of its node (1-based)."""

    def __init__(self, root: Node) -> None:
        self._root = root
        self._indexes: dict[int, dict[str, tuple[Node, Node]]] = {}

    def __call__(self, path: Path, key: bool) -> tuple[int, int]:
        node, key_node = self._root, None
        for part in path:
            child = self._child(node, part)
            if child is None:
                break  # a missing key: point at the mapping that should hold it
            key_node, node = child
        else:
            if key and key_node is not None:
                return _at(key_node)
        return _at(node)

    def _child(self, node: Node, part: object) -> tuple[Node, Node] | None:
        if isinstance(node, SequenceNode) and type(part) is int and 0 <= part < len(node.value):
            item = node.value[part]
            return item, item
        if isinstance(node, MappingNode):
            index = self._indexes.get(id(node))
            if index is None:
                index = self._indexes[id(node)] = self._index(node)
            # Keys are str; a part of another type is simply not found (None).
            return index.get(part)  # type: ignore[call-overload]
        return None

    @staticmethod
    def _index(node: MappingNode) -> dict[str, tuple[Node, Node]]:
        index: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                index.setdefault(key_node.value, (key_node, value_node))
        return index
