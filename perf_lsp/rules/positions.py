"""Positions of CST nodes in one chunk, computed only for the part of the chunk that needs them.

libcst's :class:`~libcst.metadata.PositionProvider` regenerates the code of the whole
module to learn where each node starts and ends. A chunk is one top-level statement,
often a class of thousands of lines (``agent_manager.py`` in letta is one 3,600-line
class); one finding in one method used to cost a code generation of the whole class
(0.4-0.75 s on this machine). Here, when the chunk is a class, only the class-body
statement (method, nested class, assignment) that holds the node is regenerated,
starting at the line where that statement begins. The start lines of the class body's
statements come from :func:`ast.parse` of the chunk (about ten times cheaper than the
code generation), corrected for the comment and blank lines libcst keeps in front of
each statement. Anything else falls back to libcst's provider over the whole chunk.

Positions are libcst's: lines 1-based and chunk-relative, columns in code points.
"""

from __future__ import annotations

import ast
from types import SimpleNamespace

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState


class ChunkPositions:
    """Start and end of CST nodes in one parsed chunk, same values as libcst's PositionProvider.

    ``parents`` maps a node to its parent (filled by the rules' traversal). Looking a
    node up generates code for the class-body statement that contains it, once per
    statement; nodes outside any class-body statement cost one generation of the chunk.
    Raises KeyError for a node that is not in the chunk.
    """

    def __init__(self, module: cst.Module, text: str, parents: dict[cst.CSTNode, cst.CSTNode]) -> None:
        self.module = module
        self.text = text
        self.parents = parents
        self._computed: dict[cst.CSTNode, CodeRange] = {}
        self._starts: dict[cst.CSTNode, int] | None = None
        self._done: set[cst.CSTNode] = set()
        self._whole = False

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._computed.get(node)
        if found is not None:
            return found
        member = self._member_of(node)
        if member is not None and member not in self._done:
            self._done.add(member)
            self._generate_member(member)
        elif not self._whole:
            self._whole = True
            self._computed.update(MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider))
        return self._computed[node]

    # -- which class-body statement holds a node ------------------------------------------
    def _member_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        starts = self.member_starts()
        if not starts:
            return None
        for attempt in range(2):
            current: cst.CSTNode | None = node
            while current is not None:
                if current in starts:
                    return current
                last, current = current, self.parents.get(current)
            if last is self.module or attempt:
                return None
            # Asked before the traversal reached the node (a rule looking ahead from a
            # visit_ method): record the parents of the whole chunk once, then retry.
            self._record_parents()
        return None

    def _record_parents(self) -> None:
        from perf_lsp.rules.base import children  # base imports this module

        stack: list[cst.CSTNode] = [self.module]
        while stack:
            parent = stack.pop()
            for child in children(parent):
                self.parents[child] = parent
                stack.append(child)

    def member_starts(self) -> dict[cst.CSTNode, int]:
        """The first line (1-based, chunk-relative, leading comments included) of each class-body statement.

        Empty when the chunk is not a single class with an indented body, or when the
        :mod:`ast` and libcst views of the body do not line up.
        """
        if self._starts is None:
            self._starts = _member_starts(self.module, self.text)
        return self._starts

    def _generate_member(self, member: cst.CSTNode) -> None:
        block = self.module.body[0].body  # checked by _member_starts
        indent = block.indent if block.indent is not None else self.module.default_indent
        state = PositionProvidingCodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
            provider=SimpleNamespace(_computed=self._computed),
        )
        state.line = self._starts[member]
        state.indent_tokens = [indent]
        member._codegen(state)


def _member_starts(module: cst.Module, text: str) -> dict[cst.CSTNode, int]:
    if len(module.body) != 1 or not isinstance(module.body[0], cst.ClassDef):
        return {}
    block = module.body[0].body
    if not isinstance(block, cst.IndentedBlock):
        return {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.ClassDef):
        return {}
    statements = iter(tree.body[0].body)
    starts: dict[cst.CSTNode, int] = {}
    previous = 0
    for member in block.body:
        count = len(member.body) if isinstance(member, cst.SimpleStatementLine) else 1
        group = [next(statements, None) for _ in range(count)]
        if group[0] is None or group[-1] is None:
            return {}
        first = group[0]
        line = first.lineno
        skipped = len(member.leading_lines)
        decorators = getattr(first, "decorator_list", None)
        if decorators:
            line = decorators[0].lineno
            skipped += len(member.decorators[0].leading_lines) if getattr(member, "decorators", None) else 0
        start = line - skipped
        if start <= previous:
            return {}
        starts[member] = previous = start
    if next(statements, None) is not None:
        return {}
    return starts
