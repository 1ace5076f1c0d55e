"""Reading a spec file's text into plain data, within limits no real spec comes near (private:
use `corelib.spec.load_spec`).

Past them a file is an attack or a mistake: the parsers would recurse out of
the stack (deep nesting), refuse a long integer with ValueError, or expand
YAML aliases without end (a 400-byte "billion laughs" is a billion strings
once walked). Each is refused with one line naming the file, the line and the
field.
"""

from __future__ import annotations

import json
from typing import Any

from corelib.errors import one_line
from corelib.spec.fields import SpecError

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "MAX_ALIASED", "read_json", "read_yaml"]

MAX_DEPTH = 100  # lists and mappings inside each other
MAX_DIGITS = 100  # digits of an integer
MAX_ALIASED = 100_000  # values that YAML aliases (*name) repeat, counted as if each were copied out


def read_json(text: str, source: str) -> Any:
    """The JSON document in `text`, within the limits above; `source` names the file in errors."""
    try:
        raw = json.loads(text, parse_int=lambda digits: int(digits) if len(digits.lstrip("-")) <= MAX_DIGITS
                         else _LongInt(len(digits.lstrip("-"))))
    except json.JSONDecodeError as exc:
        raise SpecError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:  # the decoder recurses once per level: ~1000 levels end it
        raise SpecError(f"{source}: {_json_depth_position(text)}lists and mappings nested more than "
                        f"{MAX_DEPTH} levels deep") from None
    stack: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while stack:  # no recursion here either: a path is carried along for the message
        value, where, depth = stack.pop()
        if isinstance(value, _LongInt):
            raise SpecError(f"{source}: {where or 'the spec'}: an integer of {value.digits} digits; "
                            f"a spec's integers have at most {MAX_DIGITS}")
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            child_where = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key
            if depth + 1 > MAX_DEPTH:
                raise SpecError(f"{source}: {_cut_path(child_where)}: lists and mappings nested more than "
                                f"{MAX_DEPTH} levels deep")
            stack.append((child, child_where, depth + 1))
    return raw


class _LongInt:
    """What the JSON reader makes of an integer too long for a spec, to be refused naming its field."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _json_depth_position(text: str) -> str:
    """ "line L, column C: " of the bracket that passes MAX_DEPTH ("" if none does)."""
    import re

    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group()
        depth += 1 if token in "[{" else -1 if token in "]}" else 0
        if depth > MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            column = match.start() - text.rfind("\n", 0, match.start())
            return f"line {line}, column {column}: "
    return ""


def _cut_path(where: str) -> str:
    return where if len(where) <= 60 else where[:45] + "..." + where[-12:]


def read_yaml(text: str, source: str) -> Any:
    """The YAML document in `text`, read as plain data (a SafeLoader) within the limits above."""
    import yaml

    try:
        return yaml.load(text, Loader=_spec_loader())  # a SafeLoader: plain data only, never objects or code
    except _Refused as exc:
        raise SpecError(f"{source}: line {exc.mark.line + 1}, column {exc.mark.column + 1}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: invalid YAML{where}: {problem}") from None
    except (ValueError, OverflowError) as exc:  # what PyYAML lets through: "\U10010000" (chr), a 13th month
        raise SpecError(f"{source}: invalid YAML: {one_line(exc)}") from None


class _Refused(Exception):
    """A YAML spec past one of the limits above; `mark` is where in the file."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.mark = mark


_LOADER: list[type] = []


def _spec_loader() -> type:
    """yaml.SafeLoader, composing within MAX_DEPTH, MAX_DIGITS and MAX_ALIASED (made on first use:
    importing yaml is no work for import time)."""
    if _LOADER:
        return _LOADER[0]
    import yaml

    class SpecLoader(yaml.SafeLoader):
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._path: list[str] = []  # the keys and indices leading to the node being composed
            self._sizes: dict[int, int] = {}  # id(node): the values it holds, counted through aliases
            self._aliased = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            where = self._where(parent, index)
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                node = super().compose_node(parent, index)
                if id(node) not in self._sizes:  # `&a [*a]`: a value inside itself
                    raise _Refused(f"{where}: an alias inside the value it names (a value that contains itself)",
                                   mark)
                self._aliased += self._sizes[id(node)]
                if self._aliased > MAX_ALIASED:
                    raise _Refused(f"{where}: aliases (*name) repeat more than {MAX_ALIASED:,} values in all; "
                                   "write the values out, or use fewer aliases", mark)
                return node
            if len(self._path) >= MAX_DEPTH and self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
                raise _Refused(f"{where}: lists and mappings nested more than {MAX_DEPTH} levels deep",
                               self.peek_event().start_mark)
            self._path.append(self._step(parent, index))
            try:
                node = super().compose_node(parent, index)
            finally:
                self._path.pop()
            if isinstance(node, yaml.ScalarNode):
                size = 1
                digits = len(node.value.replace("_", "").lstrip("+-"))
                if node.tag == "tag:yaml.org,2002:int" and digits > MAX_DIGITS:
                    raise _Refused(f"{where}: an integer of {digits} digits; a spec's integers have at most "
                                   f"{MAX_DIGITS}", node.start_mark)
            elif isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._sizes[id(item)] for item in node.value)
            else:
                size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            self._sizes[id(node)] = size
            return node

        def _step(self, parent: Any, index: Any) -> str:
            if isinstance(index, int):
                return f"[{index}]"
            if isinstance(index, yaml.ScalarNode):
                return f".{index.value}"
            return "" if parent is None else "(a key)"

        def _where(self, parent: Any, index: Any) -> str:
            return _cut_path(("".join(self._path) + self._step(parent, index)).lstrip(".")) or "the spec"

    _LOADER.append(SpecLoader)
    return SpecLoader
