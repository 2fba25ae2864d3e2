"""A cheap :mod:`ast` look at a chunk, so rules can skip chunks before libcst parses them.

A walk over the chunk's statements (already parsed when the document was split)
finds its ``def``s, loops, imports and the like; a walk over every node, done
only when a rule asks for expressions, collects the calls and their qualified
names and any node by type. A libcst parse
plus one traversal costs ~10x more (``benchmarks/bench_check.py`` prints ``ast.parse``
and ``libcst.parse_module`` side by side), so a rule whose
:meth:`~perf_lsp.rules.base.Rule.wants` says no saves that for the chunk.
"""

from __future__ import annotations

import ast
from collections import deque
from functools import cached_property

from perf_lsp.analysis.imports import dotted_name, import_bindings
from perf_lsp.analysis.module import ModuleContext


class ChunkSummary:
    """Facts about one chunk (or one unit of a split class) from its :mod:`ast` nodes; computed on first use.

    ``nodes``: statements (a unit's may also hold its class headers' decorator,
    base and keyword expressions); ``local_imports``: the names the chunk's own
    imports bind, when known (a unit's: its class's); default: those in ``nodes``.
    ``text``: the text the rules' text prefilters saw, when known: a rule may skip
    the walk of every expression when a word it needs is not in it.

    Two indexes, each built on first use: :attr:`statements` walks the statements
    only (the bodies of ``def``, ``class``, ``if``...: about a tenth of the nodes),
    :attr:`by_type` every node.
    """

    def __init__(
        self,
        nodes: tuple[ast.AST, ...],
        module_ctx: ModuleContext,
        local_imports: dict[str, str] | None = None,
        text: str | None = None,
    ) -> None:
        self.nodes = nodes
        self.module_ctx = module_ctx
        self._imports = local_imports
        self.text = text

    def may_contain(self, word: str) -> bool:
        """False only when ``text`` is known and ``word`` is not in it."""
        return self.text is None or word in self.text

    @cached_property
    def by_type(self) -> dict[type, list[ast.AST]]:
        """Every node of the chunk by its type (``ast.Call`` -> the calls...), each list in the order of a
        breadth-first walk of all the statements together (:func:`ast.walk` of a module made of them); the
        ``Load``/``Store``/``Del`` context markers are left out. One walk, shared by every rule's
        :meth:`~perf_lsp.rules.base.Rule.wants`: ``summary.by_type.get(ast.Call, ())``."""
        found: dict[type, list[ast.AST]] = {}
        todo = deque(self.nodes)
        pop, append, skip, ast_type = todo.popleft, todo.append, _CONTEXTS, ast.AST
        while todo:
            node = pop()
            kind = type(node)
            bucket = found.get(kind)
            if bucket is None:
                bucket = found[kind] = []
            bucket.append(node)
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, ast_type):
                    if type(value) not in skip:
                        append(value)
                elif type(value) is list:
                    for item in value:
                        if isinstance(item, ast_type):
                            append(item)
        return found

    def of_type(self, *kinds: type) -> list[ast.AST]:
        """The chunk's nodes of exactly these types (no subclasses), type by type (:attr:`by_type`)."""
        found = self.by_type
        return [node for kind in kinds for node in found.get(kind, ())]

    @cached_property
    def statements(self) -> dict[type, list[ast.stmt]]:
        """The chunk's statements by type, nested ones included (a ``def``'s body, a loop's ``else``...),
        in source order; expressions are not walked (no statement is inside one)."""
        found: dict[type, list[ast.stmt]] = {}
        stack = [node for node in reversed(self.nodes) if isinstance(node, ast.stmt)]
        pop, extend = stack.pop, stack.extend
        while stack:
            node = pop()
            kind = type(node)
            bucket = found.get(kind)
            if bucket is None:
                bucket = found[kind] = []
            bucket.append(node)
            for block in _BLOCKS.get(kind, ()):
                extend(reversed(getattr(node, block)))
            if kind in _TRIES:
                for handler in reversed(node.handlers):
                    extend(reversed(handler.body))
            elif kind is ast.Match:
                for case in reversed(node.cases):
                    extend(reversed(case.body))
        return found

    def statements_of(self, *kinds: type) -> list[ast.stmt]:
        """The chunk's statements of exactly these types, type by type (:attr:`statements`)."""
        found = self.statements
        return [node for kind in kinds for node in found.get(kind, ())]

    @cached_property
    def _imports_found(self) -> list[tuple[str, str]]:
        return [pair for node in self.statements_of(ast.Import, ast.ImportFrom) for pair in import_bindings(node)]

    def _imports_in_order(self, walk) -> dict[str, str]:
        pairs = self._imports_found
        if len(set(pairs)) == len(dict(pairs)):
            return dict(pairs)  # no name bound to two different things: the order does not matter
        imports: dict[str, str] = {}
        for node in walk():
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.update(import_bindings(node))
        return imports

    @cached_property
    def text_imports(self) -> dict[str, str]:
        """Names the chunk's ``import`` statements bind, as :func:`perf_lsp.analysis.imports.imports_in` reads
        them from the chunk's text (a breadth-first walk of all its statements together: a later binding wins)."""
        return self._imports_in_order(lambda: ast.walk(ast.Module(body=list(self.nodes), type_ignores=[])))

    @property
    def local_imports(self) -> dict[str, str]:
        """Names the chunk's own ``import`` statements bind (statement by statement, a later binding winning)."""
        if self._imports is not None:
            return self._imports
        return self._statement_imports

    @cached_property
    def _statement_imports(self) -> dict[str, str]:
        return self._imports_in_order(lambda: (node for top in self.nodes for node in ast.walk(top)))

    @property
    def calls(self) -> list[ast.Call]:
        """Every call in the chunk, as :mod:`ast` nodes."""
        return self.by_type.get(ast.Call, [])

    @cached_property
    def has_loops(self) -> bool:
        """Whether the chunk has a loop or a comprehension anywhere."""
        if any(kind in self.statements for kind in _LOOP_STATEMENTS):
            return True
        return any(kind in self.by_type for kind in _COMPREHENSIONS)

    @cached_property
    def has_awaited_pair(self) -> bool:
        """Whether an ``async def`` in the chunk has two ``x = await ...`` statements in a row in one block."""
        return any(_has_awaited_pair(node) for node in self.statements.get(ast.AsyncFunctionDef, ()))

    @property
    def has_async_def(self) -> bool:
        """Whether the chunk defines an ``async def`` anywhere (nested ones included)."""
        return ast.AsyncFunctionDef in self.statements

    @cached_property
    def call_names(self) -> list[tuple[str | None, str | None]]:
        """(dotted callee as written, qualified name through imports) for every call in the chunk."""
        out: list[tuple[str | None, str | None]] = []
        local = self.local_imports
        for call in self.calls:
            name = dotted_name(call.func)
            qualified = None
            if name:
                head, _, rest = name.partition(".")
                base = local.get(head) or self.module_ctx.imported(head)
                if base:
                    qualified = f"{base}.{rest}" if rest else base
            out.append((name, qualified))
        return out


_CONTEXTS = frozenset({ast.Load, ast.Store, ast.Del})
_LOOP_STATEMENTS = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_BLOCKS: dict[type, tuple[str, ...]] = {
    ast.FunctionDef: ("body",),
    ast.AsyncFunctionDef: ("body",),
    ast.ClassDef: ("body",),
    ast.For: ("body", "orelse"),
    ast.AsyncFor: ("body", "orelse"),
    ast.While: ("body", "orelse"),
    ast.If: ("body", "orelse"),
    ast.With: ("body",),
    ast.AsyncWith: ("body",),
    ast.Try: ("body", "orelse", "finalbody"),
}
_TRIES = tuple(kind for kind in (ast.Try, getattr(ast, "TryStar", None)) if kind is not None)
_BLOCKS.update({kind: ("body", "orelse", "finalbody") for kind in _TRIES})
"""The statement lists of each compound statement (``except`` and ``case`` bodies apart)."""


def _awaited_assignment(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Await)


def _has_awaited_pair(func: ast.AsyncFunctionDef) -> bool:
    blocks = [func.body]
    for node in ast.walk(func):
        if node is func:
            continue
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                blocks.append(block)
        if isinstance(node, ast.Try):
            blocks.extend(h.body for h in node.handlers)
    for block in blocks:
        for first, second in zip(block, block[1:]):
            if _awaited_assignment(first) and _awaited_assignment(second):
                return True
    return False
