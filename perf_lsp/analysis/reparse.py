"""libcst parses that reuse a recent tree when an edit stays inside one simple statement line.

A keystroke inside a method changes one line of its unit (:mod:`perf_lsp.analysis.units`);
parsing the unit again with libcst costs 10-15 times what :func:`ast.parse` does
(``benchmarks/bench_units.py``: a 240-line unit of ``_pydecimal.py``, ~13 ms of CPU for
libcst against ~1.2 ms for ast). :class:`Reparser` keeps the last few trees it
parsed; when the new text differs from one of them only inside one
``SimpleStatementLine`` (an assignment, a call, a ``return``, several small statements
joined by ``;``), it parses that statement alone and rebuilds only its ancestors, the
rest of the tree is shared.

The result is the tree libcst would have parsed from the new text: the statement is
parsed from its own lines with the block indentation removed (libcst keeps a simple
statement's indentation in the blocks around it, not in the statement), keeps the
comment and blank lines in front of it (``leading_lines``, outside the changed lines),
and must come back as exactly one statement line with the same number of small
statements as :mod:`ast` sees there. Anything else (a change to a compound statement's
header, a new line that starts a statement, text with a carriage return or a form feed,
whose round trip libcst does not guarantee) parses the whole text.
``tests/test_reparse.py`` compares the result with a full parse on random edits.
"""

from __future__ import annotations

import ast
import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import libcst as cst
from libcst._nodes.base import CSTNode
from libcst._nodes.internal import CodegenState

from perf_lsp.text import split_lines

_VALIDATING = threading.Lock()
_validate_node = CSTNode.__post_init__


def _trust(self: CSTNode) -> None:  # the parser's nodes are valid by construction
    return None


def parse_module(text: str) -> cst.Module:
    """:func:`libcst.parse_module` without validating each node the parser builds again.

    libcst validates every node in its constructor (``CSTNode.__post_init__``), the
    parser's nodes too, though its grammar only builds valid ones; that is about a
    fifth of a parse (``_pydecimal.py``: 552 -> 443 ms of CPU here), and libcst's own
    comment there says it would rather not validate a tree it parsed. Validation is
    off only inside this call, under a lock; nodes built anywhere else are validated
    as always. Raises what :func:`libcst.parse_module` raises.
    """
    with _VALIDATING:
        CSTNode.__post_init__ = _trust
        try:
            return cst.parse_module(text)
        finally:
            CSTNode.__post_init__ = _validate_node


TooDeep = Callable[[Sequence[ast.stmt], Sequence[str], int], bool]
"""``too_deep(statements, lines, blocks)``: see :meth:`Reparser.reuse`."""

MAX_CHANGED_LINES = 40
"""An edit over more lines than this parses the whole text."""


class Reparser:
    """libcst's :func:`~libcst.parse_module` with the last ``keep`` trees reused for edits inside one statement.

    Thread-safe (one lock around each parse). Raises what :func:`libcst.parse_module` raises for text that does not parse.
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._recent: OrderedDict[str, cst.Module] = OrderedDict()
        self._lock = threading.RLock()  # reuse() keeps what it spliced under the same lock
        self.reused = 0
        """How many parses were answered from a recent tree (both spliced and identical)."""

    def parse(self, text: str, tree: ast.Module | None = None) -> cst.Module:
        """The libcst module of ``text``; ``tree``: its :func:`ast.parse` (needed to reuse a tree)."""
        module = self.reuse(text, tree)
        return module if module is not None else self.parse_whole(text)

    def parse_whole(self, text: str) -> cst.Module:
        """``text`` parsed whole (:func:`parse_module`), kept for the next edits."""
        module = parse_module(text)
        self._keep(text, module)
        return module

    def reuse(self, text: str, tree: ast.Module | None, too_deep: TooDeep | None = None) -> cst.Module | None:
        """The module of ``text`` made from a recent tree (the same text, or an edit inside one statement
        line), or None when it must be parsed whole (:meth:`parse`).

        ``too_deep(statements, lines, blocks)``: whether the edited statement (its ast
        statements, the text's lines, how many indented blocks it sits in) is too deep
        for libcst; then None. The recent trees' texts were checked when they were
        parsed, so a caller that passes it needs to check only what it gets None for.
        """
        with self._lock:
            module = self._recent.get(text)
            if module is not None:
                self._recent.move_to_end(text)
                self.reused += 1
                return module
            if tree is None or "\r" in text or "\x0c" in text:
                return None
            module = self._splice(text, tree, too_deep)
            if module is not None:
                self.reused += 1
                self._keep(text, module)
            return module

    def _keep(self, text: str, module: cst.Module) -> None:
        with self._lock:
            self._recent[text] = module
            while len(self._recent) > self.keep:
                self._recent.popitem(last=False)

    def clear(self) -> None:
        """Forget every kept tree."""
        self._recent.clear()

    def _splice(self, text: str, tree: ast.Module, too_deep: TooDeep | None) -> cst.Module | None:
        new_lines = split_lines(text)
        best: tuple[int, int, int, str] | None = None  # (changed lines, prefix, suffix, old text)
        for old_text in reversed(self._recent):
            old_lines = split_lines(old_text)
            prefix, suffix = _common(old_lines, new_lines)
            changed = len(new_lines) - prefix - suffix
            if changed <= 0 or len(old_lines) - prefix - suffix < 0:
                continue
            if best is None or changed < best[0]:
                best = (changed, prefix, suffix, old_text)
            if changed == 1:
                break
        if best is None or best[0] > MAX_CHANGED_LINES:
            return None
        _, prefix, suffix, old_text = best
        old = self._recent[old_text]
        first, last = prefix + 1, len(new_lines) - suffix  # changed lines of the new text, 1-based
        found = _locate(old, tree, first, last)
        if found is None:
            return None
        path, node, group = found
        start = group[0].lineno
        end = max(s.end_lineno or s.lineno for s in group)
        if not (start <= first and last <= end) or end > len(new_lines):
            return None
        if too_deep is not None and too_deep(group, new_lines, sum(isinstance(p, cst.IndentedBlock) for p in path)):
            return None
        head = new_lines[start - 1]
        indent = head[: len(head) - len(head.lstrip(" \t"))]
        if group[0].col_offset != len(indent.encode("utf-8")):
            return None
        indents = _indents(old, path)
        before = len(node.leading_lines)
        old_end = end - (len(new_lines) - len(old_lines_of(old_text)))
        if start - 1 - before < 0 or _generated(node, old, indents) != "".join(
            old_lines_of(old_text)[start - 1 - before : old_end]
        ):
            return None  # the old tree's statement there is not these lines: the edit changed more
        # libcst keeps a continuation line's block indentation out of its whitespace
        # (``ParenthesizedWhitespace.indent``): parse the lines with it removed.
        statement = "".join(line[len(indent) :] if line.startswith(indent) else line for line in new_lines[start - 1 : end])
        if not statement.endswith("\n"):
            return None
        try:
            parsed = parse_module(statement)
        except Exception:  # noqa: BLE001 - whatever libcst raises, the full parse decides
            return None
        if (
            len(parsed.body) != 1
            or not isinstance(parsed.body[0], cst.SimpleStatementLine)
            or parsed.header
            or parsed.footer
            or parsed.body[0].leading_lines
            or len(parsed.body[0].body) != len(group)
            or parsed.default_newline != old.default_newline
        ):
            return None
        replacement = parsed.body[0].with_changes(leading_lines=node.leading_lines)
        if _generated(replacement, old, indents) != "".join(new_lines[start - 1 - before : end]):
            return None  # e.g. a multi-line string whose lines the indentation removal changed
        return _rebuild(path, replacement)


def old_lines_of(text: str) -> list[str]:
    """``text``'s lines (line endings kept), as libcst counts them."""
    return split_lines(text)


def _indents(module: cst.Module, path: Sequence[cst.CSTNode]) -> list[str]:
    """The indentation tokens libcst writes before a statement at the end of ``path``."""
    return [
        step.indent if step.indent is not None else module.default_indent
        for step in path
        if isinstance(step, cst.IndentedBlock)
    ]


def _generated(node: cst.CSTNode, module: cst.Module, indents: list[str]) -> str:
    """The code libcst writes for ``node`` (a statement line, leading lines included) inside blocks ``indents``."""
    state = CodegenState(default_indent=module.default_indent, default_newline=module.default_newline)
    state.indent_tokens = list(indents)
    node._codegen(state)
    return "".join(state.tokens)


def _common(old: Sequence[str], new: Sequence[str]) -> tuple[int, int]:
    """(lines equal at the start, lines equal at the end, not overlapping)."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def _locate(
    module: cst.Module, tree: ast.Module, first: int, last: int
) -> tuple[list[cst.CSTNode], cst.SimpleStatementLine, list[ast.stmt]] | None:
    """The statement line of ``module`` that holds new lines ``first``..``last`` (1-based), found through ``tree``.

    ``tree`` is the new text's ast; outside the changed lines the old tree and the
    new text have the same statements, so the blocks pair up. Returns (the path of
    cst nodes from the module to the statement line, the statement line, its ast
    statements), or None when the lines are not inside one simple statement line.
    """
    path: list[cst.CSTNode] = [module]
    statements: Sequence[cst.CSTNode] = module.body
    nodes: list[ast.stmt] = tree.body
    while True:
        pairs = pair_statements(statements, nodes)
        if pairs is None:
            return None
        hit = next(((stmt, group) for stmt, group in pairs if _span(group)[0] <= first and last <= _span(group)[1]), None)
        if hit is None:
            return None
        stmt, group = hit
        path.append(stmt)
        if isinstance(stmt, cst.SimpleStatementLine):
            return path, stmt, group
        inner = _enter(stmt, group[0], first, last)
        if inner is None:
            return None
        steps, statements, nodes = inner
        path.extend(steps)


COMPOUND_AST: dict[type, tuple[type, ...]] = {
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef),
    cst.ClassDef: (ast.ClassDef,),
    cst.If: (ast.If,),
    cst.For: (ast.For, ast.AsyncFor),
    cst.While: (ast.While,),
    cst.With: (ast.With, ast.AsyncWith),
    cst.Try: (ast.Try,),
    cst.Match: (ast.Match,),
}
"""libcst's compound statements and the :mod:`ast` statements each one is."""
if hasattr(ast, "TryStar"):  # Python 3.11+
    COMPOUND_AST[cst.TryStar] = (ast.TryStar,)
_ANY_COMPOUND = tuple({kind for kinds in COMPOUND_AST.values() for kind in kinds})


def _span(group: list[ast.stmt]) -> tuple[int, int]:
    start = min([group[0].lineno, *(d.lineno for d in getattr(group[0], "decorator_list", ()))])
    return start, max(s.end_lineno or s.lineno for s in group)


def pair_statements(statements: Sequence[cst.CSTNode], nodes: list[ast.stmt]) -> list[tuple[cst.CSTNode, list[ast.stmt]]] | None:
    """Each cst statement of a block with its ast statements (a statement line holds one per small statement).

    None when the two lists do not line up (counts or kinds differ)."""
    pairs: list[tuple[cst.CSTNode, list[ast.stmt]]] = []
    at = 0
    for stmt in statements:
        count = len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        group = nodes[at : at + count]
        if len(group) != count:
            return None
        if isinstance(stmt, cst.SimpleStatementLine):
            if any(isinstance(n, _ANY_COMPOUND) for n in group):
                return None
        else:
            kinds = COMPOUND_AST.get(type(stmt))
            if kinds is None or not isinstance(group[0], kinds):
                return None
        pairs.append((stmt, group))
        at += count
    return pairs if at == len(nodes) else None


def _blocks(stmt: cst.CSTNode, node: ast.stmt) -> list[tuple[list[cst.CSTNode], cst.BaseSuite, list[ast.stmt]]]:
    """The indented blocks of compound statement ``stmt`` paired with ``node``'s statement lists.

    Each item: (the cst nodes between ``stmt`` and the block, the block, its ast
    statements). Empty when the two do not correspond.
    """
    found: list[tuple[list[cst.CSTNode], cst.BaseSuite, list[ast.stmt]]] = []
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef, cst.With)):
        found.append(([], stmt.body, node.body))
    elif isinstance(stmt, (cst.For, cst.While, cst.If)):
        found.append(([], stmt.body, node.body))
        orelse = stmt.orelse
        if isinstance(orelse, cst.Else):
            found.append(([orelse], orelse.body, node.orelse))
        elif isinstance(orelse, cst.If):  # elif: an If alone in ast's orelse
            if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
                for steps, block, body in _blocks(orelse, node.orelse[0]):
                    found.append(([orelse, *steps], block, body))
    elif isinstance(stmt, (cst.Try, cst.TryStar)):
        found.append(([], stmt.body, node.body))
        if len(stmt.handlers) == len(node.handlers):
            for handler, ast_handler in zip(stmt.handlers, node.handlers):
                found.append(([handler], handler.body, ast_handler.body))
        if stmt.orelse is not None:
            found.append(([stmt.orelse], stmt.orelse.body, node.orelse))
        if stmt.finalbody is not None:
            found.append(([stmt.finalbody], stmt.finalbody.body, node.finalbody))
    elif isinstance(stmt, cst.Match) and len(stmt.cases) == len(node.cases):
        for case, ast_case in zip(stmt.cases, node.cases):
            found.append(([case], case.body, ast_case.body))
    return found


def _enter(
    stmt: cst.CSTNode, node: ast.stmt, first: int, last: int
) -> tuple[list[cst.CSTNode], Sequence[cst.CSTNode], list[ast.stmt]] | None:
    """The indented block of ``stmt`` whose statements hold lines ``first``..``last``: (cst nodes down to and
    including the block, its cst statements, its ast statements); None when no block does."""
    for steps, block, body in _blocks(stmt, node):
        if not isinstance(block, cst.IndentedBlock) or not body:
            continue
        if _span(body[:1])[0] <= first and last <= max(s.end_lineno or s.lineno for s in body):
            return [*steps, block], block.body, body
    return None


def _rebuild(path: list[cst.CSTNode], replacement: cst.CSTNode) -> cst.Module:
    """The root of ``path`` with its last node replaced by ``replacement``, rebuilding only the nodes on the path."""
    new = replacement
    for index in range(len(path) - 1, 0, -1):
        parent, old = path[index - 1], path[index]
        changes = {}
        for field in dataclasses.fields(parent):
            value = getattr(parent, field.name)
            if value is old:
                changes[field.name] = new
                break
            if isinstance(value, (tuple, list)) and any(item is old for item in value):
                changes[field.name] = type(value)(new if item is old else item for item in value)
                break
        else:
            raise ValueError(f"{type(old).__name__} is not a child of {type(parent).__name__}")
        new = parent.with_changes(**changes)
    return new  # type: ignore[return-value]


def unowned_members(module: cst.Module, tree: ast.Module, owns) -> set[cst.CSTNode]:
    """The class-body statements of ``module`` (a unit's tree, :mod:`perf_lsp.analysis.units`) on none of
    whose lines ``owns(line)`` is true (1-based lines of the unit's text); ``tree`` is the text's ast.

    Nested classes that hold owned lines are entered; everything else outside the
    class bodies is left in. Empty when the trees do not line up.
    """
    found: set[cst.CSTNode] = set()
    blocks: list[tuple[Sequence[cst.CSTNode], list[ast.stmt]]] = [(module.body, tree.body)]
    while blocks:
        statements, nodes = blocks.pop()
        pairs = pair_statements(statements, nodes)
        if pairs is None:
            return set()
        for stmt, group in pairs:
            if not isinstance(stmt, cst.ClassDef) or not isinstance(stmt.body, cst.IndentedBlock):
                continue
            for member, member_group in pair_statements(stmt.body.body, group[0].body) or ():
                first, last = _span(member_group)
                lines = range(first - len(_leading(member)), last + 1)
                if not any(owns(line) for line in lines):
                    found.add(member)
                elif isinstance(member, cst.ClassDef) and not all(owns(line) for line in lines):
                    blocks.append(([member], member_group))
    return found


def _leading(stmt: cst.CSTNode) -> Sequence[cst.EmptyLine]:
    decorators = getattr(stmt, "decorators", ())
    return decorators[0].leading_lines if decorators else getattr(stmt, "leading_lines", ())
