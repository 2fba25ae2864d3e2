"""Summaries: a cheap :mod:`ast` look at a chunk, and the facts about one function that several rules ask.

:class:`ChunkSummary`: a cheap :mod:`ast` look at a chunk, so rules can skip chunks before libcst parses them.

One :func:`ast.walk` over the chunk's statements (already parsed when the document
was split) collects the calls and their qualified names, the chunk's own imports,
and whether an ``async def`` has two awaited assignments in a row. A libcst parse
plus one traversal costs ~10x more (``benchmarks/bench_check.py`` prints ``ast.parse``
and ``libcst.parse_module`` side by side), so a rule whose
:meth:`~perf_lsp.rules.base.Rule.wants` says no saves that for the chunk.

:func:`function_summary`: what one function's own code does (it awaits, loops, is
a generator, declares globals, the names its ``=`` stores into, the names it binds
to an HTTP client), each fact computed on first use and kept for the function's
node, so two rules asking about one function walk it once.
"""

from __future__ import annotations

import ast
from functools import cached_property

import libcst as cst

from perf_lsp.analysis.bindings import all_params, stored_names
from perf_lsp.analysis.concurrency import HTTP_CLIENTS
from perf_lsp.analysis.imports import dotted_name, import_bindings
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, SCOPES, dotted, node_memo, walk


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
    def _walk(self) -> tuple[dict[str, str], list[ast.Call], bool, bool, bool]:
        imports: dict[str, str] = {}
        calls: list[ast.Call] = []
        loops = False
        async_def = False
        awaited_pairs = False
        for top in self.nodes:
            for node in ast.walk(top):
                if isinstance(node, ast.Call):
                    calls.append(node)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    imports.update(import_bindings(node))
                elif isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                    loops = True
                if isinstance(node, ast.AsyncFunctionDef):
                    async_def = True
                    if not awaited_pairs:
                        awaited_pairs = _has_awaited_pair(node)
        return imports, calls, loops, awaited_pairs, async_def

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


# -- one function ------------------------------------------------------------------------------
class FunctionSummary:
    """What one ``def``'s own code does; nested functions, lambdas and classes left out.

    Facts of the node alone (:attr:`awaits`, :attr:`loops`, :attr:`yields`,
    :attr:`declared`, :attr:`assigned`) are kept for the node for as long as it lives
    (an unchanged function keeps its node from one keystroke to the next); facts that
    resolve names through imports (:attr:`http_clients`) for the chunk's analysis.
    Obtain one with :func:`function_summary`. Shared: do not mutate what it returns.
    """

    def __init__(self, func: cst.FunctionDef, ctx: SemanticModel) -> None:
        self.func = func
        self.ctx = ctx
        self._own = _own_facts(func)

    @property
    def awaits(self) -> bool:
        """An ``await``, ``async for`` or ``async with`` in the function's own code (comprehensions included)."""
        return self._own.awaits

    @property
    def loops(self) -> bool:
        """A ``for``/``while`` loop or a comprehension in the function's own code."""
        return self._own.loops

    @property
    def yields(self) -> bool:
        """The function is a generator: ``yield``/``yield from`` in its own code."""
        return self._own.yields

    @property
    def declared(self) -> frozenset[str]:
        """The names the function declares ``global`` or ``nonlocal``."""
        return self._own.declared

    @property
    def assigned(self) -> frozenset[str]:
        """The names an ``=`` in the function's own code stores into (``a, b = ...`` -> a, b)."""
        return self._own.assigned

    @cached_property
    def http_clients(self) -> frozenset[str]:
        """Names the function binds to an HTTP client: ``async with aiohttp.ClientSession() as session``,
        ``client = httpx.AsyncClient()``, a parameter annotated ``session: aiohttp.ClientSession``
        (:data:`~perf_lsp.analysis.concurrency.HTTP_CLIENTS`). Such a ``session`` is a connection
        pool that serves concurrent requests, not a database session."""
        ctx = self.ctx
        names: set[str] = set()
        for param in all_params(self.func.params):
            if param.annotation is not None and ctx.qualified_name(param.annotation.annotation) in HTTP_CLIENTS:
                names.add(param.name.value)
        for inner in walk(self.func.body, stop=FUNCTION_BOUNDARIES):
            if isinstance(inner, cst.WithItem) and inner.asname is not None and _builds_http_client(inner.item, ctx):
                name = dotted(inner.asname.name)
                if name:
                    names.add(name)
            elif isinstance(inner, cst.Assign) and len(inner.targets) == 1 and _builds_http_client(inner.value, ctx):
                name = dotted(inner.targets[0].target)
                if name:
                    names.add(name)
        return frozenset(names)


def function_summary(ctx: SemanticModel, func: cst.FunctionDef) -> FunctionSummary:
    """The :class:`FunctionSummary` of ``func``, one per function and chunk analysis."""
    return ctx.memo(FunctionSummary, func, ctx)


def _builds_http_client(expr: cst.BaseExpression, ctx: SemanticModel) -> bool:
    return isinstance(expr, cst.Call) and ctx.qualified_name(expr.func) in HTTP_CLIENTS


class _OwnFacts:
    __slots__ = ("awaits", "loops", "yields", "declared", "assigned")

    def __init__(self, func: cst.FunctionDef) -> None:
        awaits = loops = yields = False
        declared: set[str] = set()
        assigned: set[str] = set()
        for node in walk(func.body, stop=FUNCTION_BOUNDARIES):
            kind = type(node)
            if kind is cst.Await:
                awaits = True
            elif kind in _LOOPS:
                loops = True
                if kind is cst.For and node.asynchronous is not None:
                    awaits = True
            elif kind is cst.With and node.asynchronous is not None:
                awaits = True
        for node in walk(func.body, stop=SCOPES):
            kind = type(node)
            if kind is cst.Yield:
                yields = True
            elif kind is cst.Global or kind is cst.Nonlocal:
                declared.update(item.name.value for item in node.names)
            elif kind is cst.Assign:
                for target in node.targets:
                    assigned |= stored_names(target.target)
        self.awaits, self.loops, self.yields = awaits, loops, yields
        self.declared, self.assigned = frozenset(declared), frozenset(assigned)


_LOOPS = frozenset({cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp})


# Per function node, for as long as the node lives (see :func:`~perf_lsp.analysis.tree.node_memo`).
_OWN_FACTS: dict[int, tuple[cst.FunctionDef, _OwnFacts]] = node_memo()


def _own_facts(func: cst.FunctionDef) -> _OwnFacts:
    entry = _OWN_FACTS.get(id(func))
    if entry is None or entry[0] is not func:
        if len(_OWN_FACTS) > 4096:
            _OWN_FACTS.clear()
        entry = _OWN_FACTS[id(func)] = (func, _OwnFacts(func))
    return entry[1]
