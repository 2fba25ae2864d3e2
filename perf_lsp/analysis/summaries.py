"""A cheap :mod:`ast` look at a chunk, so rules can skip chunks before libcst parses them.

One :func:`ast.walk` over the chunk's statements (already parsed when the document
was split) collects the calls and their qualified names, the chunk's own imports,
and whether an ``async def`` has two awaited assignments in a row. A libcst parse
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
    """

    def __init__(
        self, nodes: tuple[ast.AST, ...], module_ctx: ModuleContext, local_imports: dict[str, str] | None = None
    ) -> None:
        self.nodes = nodes
        self.module_ctx = module_ctx
        self._imports = local_imports

    @cached_property
    def by_type(self) -> dict[type, list[ast.AST]]:
        """Every node of the chunk by its type (``ast.Call`` -> the calls...), each list in the order of a
        breadth-first walk of all the statements together; the ``Load``/``Store``/``Del`` context markers are left out. One walk, shared by every rule's
        :meth:`~perf_lsp.rules.base.Rule.wants`: ``summary.by_type.get(ast.AugAssign, ())``."""
        return self._index[0]

    @cached_property
    def _index(self) -> tuple[dict[type, list[ast.AST]], list[ast.stmt]]:
        """(nodes by type, the ``import`` statements in walk order), in one breadth-first walk of all the
        statements together (:func:`ast.walk` of a module made of them)."""
        found: dict[type, list[ast.AST]] = {}
        imports: list[ast.stmt] = []
        todo = deque(self.nodes)
        pop, append, skip, ast_type, import_types = todo.popleft, todo.append, _CONTEXTS, ast.AST, _IMPORTS
        while todo:
            node = pop()
            kind = type(node)
            bucket = found.get(kind)
            if bucket is None:
                bucket = found[kind] = []
            bucket.append(node)
            if kind in import_types:
                imports.append(node)
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, ast_type):
                    if type(value) not in skip:
                        append(value)
                elif type(value) is list:
                    for item in value:
                        if isinstance(item, ast_type):
                            append(item)
        return found, imports

    def of_type(self, *kinds: type) -> list[ast.AST]:
        """The chunk's nodes of exactly these types (no subclasses), type by type."""
        found = self.by_type
        return [node for kind in kinds for node in found.get(kind, ())]

    @cached_property
    def text_imports(self) -> dict[str, str]:
        """Names the chunk's ``import`` statements bind, as :func:`perf_lsp.analysis.imports.imports_in` reads
        them from the chunk's text (one breadth-first walk of all its statements: a later binding wins)."""
        imports: dict[str, str] = {}
        for node in self._index[1]:
            imports.update(import_bindings(node))
        return imports

    @cached_property
    def _walk(self) -> tuple[dict[str, str], list[ast.Call], bool, bool, bool]:
        found = self.by_type
        pairs = [pair for node in self._index[1] for pair in import_bindings(node)]
        if len({local for local, _ in pairs}) == len(pairs):
            imports = dict(pairs)  # no name bound twice: the order of the walk does not matter
        else:
            imports = {}
            for top in self.nodes:  # statement by statement
                for node in ast.walk(top):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        imports.update(import_bindings(node))
        calls = found.get(ast.Call, [])
        loops = any(kind in found for kind in _LOOPS)
        asyncs = found.get(ast.AsyncFunctionDef, ())
        return imports, calls, loops, any(_has_awaited_pair(node) for node in asyncs), bool(asyncs)

    @property
    def local_imports(self) -> dict[str, str]:
        """Names the chunk's own ``import`` statements bind."""
        return self._walk[0] if self._imports is None else self._imports

    @property
    def calls(self) -> list[ast.Call]:
        """Every call in the chunk, as :mod:`ast` nodes."""
        return self._walk[1]

    @property
    def has_loops(self) -> bool:
        """Whether the chunk has a loop or a comprehension anywhere."""
        return self._walk[2]

    @property
    def has_awaited_pair(self) -> bool:
        """Whether an ``async def`` in the chunk has two ``x = await ...`` statements in a row in one block."""
        return self._walk[3]

    @property
    def has_async_def(self) -> bool:
        """Whether the chunk defines an ``async def`` anywhere (nested ones included)."""
        return self._walk[4]

    @cached_property
    def call_names(self) -> list[tuple[str | None, str | None]]:
        """(dotted callee as written, qualified name through imports) for every call in the chunk."""
        out: list[tuple[str | None, str | None]] = []
        local = self.local_imports
        for call in self._walk[1]:
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
_IMPORTS = frozenset({ast.Import, ast.ImportFrom})
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


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
