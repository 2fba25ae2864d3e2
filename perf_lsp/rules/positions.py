"""Positions of CST nodes in one chunk, computed only for the part of the chunk that needs them.

libcst's :class:`~libcst.metadata.PositionProvider` regenerates the code of the whole
module to learn where each node starts and ends. A chunk is one top-level statement,
often a class of thousands of lines (``agent_manager.py`` in letta is one 3,600-line
class) or a long function (``streaming_chat_response_handler`` in open-webui is one
2,385-line function); one finding in it used to cost a code generation of the whole
chunk (0.4-1 s on this machine). Here only the innermost statement of a nested block
that holds the node is regenerated, starting at the line where that statement begins:
the chunk's top-level statement is entered through the body of a ``def``/``class``,
``if``/``elif``/``else``, ``for``/``while`` (and their ``else``), ``with``, ``try``
(its handlers, ``else`` and ``finally``) and ``match`` cases, down to the statement
that holds the node and has no block on the way to it. The start lines of block
statements come from :func:`ast.parse` of the chunk (about ten times cheaper than the
code generation), corrected for the comment and blank lines libcst keeps in front of
each statement; the code generated for a statement must be the chunk's text from
that line on, else the whole chunk is generated instead. Anything else (the
top-level statement's own header, a chunk :mod:`ast` cannot parse) falls back to
libcst's provider over the whole chunk.

Positions are libcst's: lines 1-based and chunk-relative, columns in code points.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from types import SimpleNamespace

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import NEWLINE_RE, PositionProvidingCodegenState

from perf_lsp.analysis.reparse import COMPOUND_AST


class ChunkPositions:
    """Start and end of CST nodes in one parsed chunk, same values as libcst's PositionProvider.

    ``parents`` maps a node to its parent (filled by the rules' traversal). Looking a
    node up generates code for the innermost block statement that contains it (see the
    module docstring), once per statement; nodes outside any block statement cost one
    generation of the chunk. Raises KeyError for a node that is not in the chunk.
    """

    def __init__(
        self,
        module: cst.Module,
        text: str,
        parents: dict[cst.CSTNode, cst.CSTNode],
        tree: ast.Module | None = None,
    ) -> None:
        self.module = module
        self.text = text
        self.parents = parents
        self._computed: dict[cst.CSTNode, CodeRange] = {}
        self._starts: dict[cst.CSTNode, int] | None = None
        self._tree: ast.Module | None = tree  # ``text``'s ast.parse when the caller has it
        self._parsed = tree is not None
        self._blocks: dict[cst.CSTNode, dict[cst.CSTNode, tuple[int, ast.stmt]]] = {}
        self._located: dict[cst.CSTNode, tuple[int, ast.stmt, tuple[str, ...]]] = {}
        self._done: set[cst.CSTNode] = set()
        self._offsets: list[int] | None = None
        self._whole = False

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._computed.get(node)
        if found is not None:
            return found
        member = self._member_of(node)
        if member is not None and member not in self._done:
            self._done.add(member)
            self._generate_member(member)
        if node not in self._computed and not self._whole:
            self._whole = True
            self._computed.update(MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider))
        return self._computed[node]

    # -- which block statement holds a node ------------------------------------------------
    def _member_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The innermost statement of a nested block that holds ``node`` (or is it), when its start is known."""
        path = self._path(node)
        tree = self._ast()
        if path is None or tree is None:
            return None
        found: cst.CSTNode | None = None
        block: cst.CSTNode = self.module
        statements: Sequence[cst.CSTNode] = self.module.body
        nodes: list[ast.stmt] = tree.body
        indents: tuple[str, ...] = ()
        index = 1  # path[0] is the module
        while index < len(path):
            starts = self._block_starts(block, statements, nodes)
            stmt = path[index]
            if stmt not in starts:
                return found
            start, first = starts[stmt]
            if block is not self.module:  # the chunk's own top-level statement is the whole chunk
                self._located[stmt] = (start, first, indents)
                found = stmt
            entered = _enter_block(stmt, first, path, index + 1)
            if entered is None:
                return found
            index, inner, nodes = entered
            indents = (*indents, inner.indent if inner.indent is not None else self.module.default_indent)
            block, statements = inner, inner.body
        return found

    def _path(self, node: cst.CSTNode) -> list[cst.CSTNode] | None:
        """``node``'s ancestors from the module down, ``node`` last; None when it is not in the chunk."""
        for attempt in range(2):
            path: list[cst.CSTNode] = []
            current: cst.CSTNode | None = node
            while current is not None:
                path.append(current)
                current = self.parents.get(current)
            if path[-1] is self.module:
                path.reverse()
                return path
            if attempt:
                return None
            # Asked before the traversal reached the node (a rule looking ahead from a
            # visit_ method): record the parents of the whole chunk once, then retry.
            self._record_parents()
        return None

    def _record_parents(self) -> None:
        from perf_lsp.analysis.tree import children

        stack: list[cst.CSTNode] = [self.module]
        while stack:
            parent = stack.pop()
            for child in children(parent):
                self.parents[child] = parent
                stack.append(child)

    def _ast(self) -> ast.Module | None:
        if not self._parsed:
            self._parsed = True
            try:
                self._tree = ast.parse(self.text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                self._tree = None
        return self._tree

    def _block_starts(
        self, block: cst.CSTNode, statements: Sequence[cst.CSTNode], nodes: list[ast.stmt]
    ) -> dict[cst.CSTNode, tuple[int, ast.stmt]]:
        found = self._blocks.get(block)
        if found is None:
            found = self._blocks[block] = _block_starts(statements, nodes)
        return found

    def member_starts(self) -> dict[cst.CSTNode, int]:
        """The first line (1-based, chunk-relative, leading comments included) of each class-body statement.

        Empty when the chunk is not a single class with an indented body, or when the
        :mod:`ast` and libcst views of the body do not line up.
        """
        if self._starts is None:
            self._starts = _member_starts(self.module, self.text)
        return self._starts

    def _generate_member(self, member: cst.CSTNode) -> None:
        """Positions of ``member`` and the nodes in it, kept only when the code generated for ``member`` is the
        chunk's text from its start line on (else the whole chunk is generated)."""
        start, first, indents = self._located[member]
        computed: dict[cst.CSTNode, CodeRange] = {}
        state = PositionProvidingCodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
            provider=SimpleNamespace(_computed=computed),
        )
        state.line = start
        state.indent_tokens = list(indents)
        member._codegen(state)
        if self.text.startswith("".join(state.tokens), self._line_offset(start)):
            self._computed.update(computed)

    def _line_offset(self, line: int) -> int:
        """Where 1-based ``line`` starts in the text (lines end as libcst counts them: \\r\\n, \\r or \\n)."""
        if self._offsets is None:
            self._offsets = [0, 0, *(match.end() for match in NEWLINE_RE.finditer(self.text))]
        return self._offsets[line] if line < len(self._offsets) else len(self.text) + 1


def _enter_block(
    stmt: cst.CSTNode, node: ast.stmt, path: list[cst.CSTNode], index: int
) -> tuple[int, cst.IndentedBlock, list[ast.stmt]] | None:
    """Follow ``path`` from compound statement ``stmt`` (``node`` in :mod:`ast`) into the indented block
    it goes through: (index of the block's statement in ``path``, the block, its statements in ast).
    None when ``path`` does not go into one (a header, a one-line body) or the two trees differ."""
    if not isinstance(node, COMPOUND_AST.get(type(stmt), ())):
        return None
    owner: cst.CSTNode = stmt
    counterpart: ast.AST | list[ast.stmt] = node
    while index < len(path):
        step = path[index]
        if isinstance(step, cst.IndentedBlock):
            if step is not getattr(owner, "body", None):
                return None
            statements = counterpart if isinstance(counterpart, list) else getattr(counterpart, "body", None)
            return (index + 1, step, statements) if isinstance(statements, list) else None
        if isinstance(owner, (cst.If, cst.For, cst.While)) and step is owner.orelse:
            if isinstance(step, cst.If):  # ``elif``: an ``if`` alone in the ast's ``orelse``
                orelse = counterpart.orelse
                if len(orelse) != 1 or not isinstance(orelse[0], ast.If):
                    return None
                counterpart = orelse[0]
            else:
                counterpart = counterpart.orelse
        elif isinstance(owner, (cst.Try, cst.TryStar)) and step is owner.orelse:
            counterpart = counterpart.orelse
        elif isinstance(owner, (cst.Try, cst.TryStar)) and step is owner.finalbody:
            counterpart = counterpart.finalbody
        elif isinstance(owner, (cst.Try, cst.TryStar)) and isinstance(step, (cst.ExceptHandler, cst.ExceptStarHandler)):
            position = next((i for i, h in enumerate(owner.handlers) if h is step), None)
            if position is None or len(owner.handlers) != len(counterpart.handlers):
                return None
            counterpart = counterpart.handlers[position]
        elif isinstance(owner, cst.Match) and isinstance(step, cst.MatchCase):
            position = next((i for i, c in enumerate(owner.cases) if c is step), None)
            if position is None or len(owner.cases) != len(counterpart.cases):
                return None
            counterpart = counterpart.cases[position]
        else:
            return None
        owner = step
        index += 1
    return None


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
    return {member: start for member, (start, _) in _block_starts(block.body, tree.body[0].body).items()}


def _block_starts(statements: Sequence[cst.CSTNode], nodes: list[ast.stmt]) -> dict[cst.CSTNode, tuple[int, ast.stmt]]:
    """For each statement of a block: its first line (leading comments included) and its first ast statement.

    Empty when the libcst and ast statements do not line up.
    """
    remaining = iter(nodes)
    starts: dict[cst.CSTNode, tuple[int, ast.stmt]] = {}
    previous = 0
    for member in statements:
        count = len(member.body) if isinstance(member, cst.SimpleStatementLine) else 1
        group = [next(remaining, None) for _ in range(count)]
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
        starts[member] = (start, first)
        previous = start
    if next(remaining, None) is not None:
        return {}
    return starts
