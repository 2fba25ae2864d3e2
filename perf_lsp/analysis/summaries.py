"""Summaries: a cheap :mod:`ast` look at a chunk, and the facts about one function that several rules ask.

:class:`ChunkSummary`: a cheap :mod:`ast` look at a chunk, so rules can skip chunks before libcst parses them.

A walk over the chunk's statements (already parsed when the document was split)
finds its ``def``s, loops, imports and the like; a walk over every node, done
only when a rule asks for expressions, collects the calls and their qualified
names and any node by type. A libcst parse
plus one traversal costs ~10x more (``benchmarks/bench_check.py`` prints ``ast.parse``
and ``libcst.parse_module`` side by side), so a rule whose
:meth:`~perf_lsp.rules.base.Rule.wants` says no saves that for the chunk.

:func:`function_summary`: what one function's own code does (it awaits, loops, is
a generator, declares globals, the names its ``=`` stores into, the names it binds
to an HTTP client, which of its locals' objects leave it), each fact computed on
first use and kept for the function's node, so two rules asking about one function
walk it once; :func:`built_value_escapes`: whether an object a function builds
outlives the call (returned, yielded or stored: the function is a factory or a
pool's owner, not a per-call cost).
"""

from __future__ import annotations

import ast
from collections import defaultdict, deque
from collections.abc import Iterable
from functools import cached_property

import libcst as cst

from perf_lsp.analysis.bindings import all_params, stored_names
from perf_lsp.analysis.blocking import CHAIN_METHODS
from perf_lsp.analysis.concurrency import HTTP_CLIENTS
from perf_lsp.analysis.imports import dotted_name, import_bindings
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.analysis.semantic import SemanticModel, assigned_target
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, SCOPES, dotted, node_memo, walk


class ChunkSummary:
    """Facts about one chunk (or one unit of a split class) from its :mod:`ast` nodes; computed on first use.

    ``nodes``: statements (a unit's may also hold its class headers' decorator,
    base and keyword expressions); ``local_imports``: the names the chunk's own
    imports bind, when known (a unit's: its class's); default: those in ``nodes``.
    ``text``: the text the rules' text prefilters saw, when known: a rule may skip
    the walk of every expression when a word it needs is not in it. ``own_nodes``:
    for a unit, those of ``nodes`` on its own lines (its member), the only places its
    findings can be (the other members are there for context: a helper's body, what
    ``__init__`` assigns); :attr:`own` summarises them. None: all of them.

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
        own_nodes: tuple[ast.AST, ...] | None = None,
    ) -> None:
        self.nodes = nodes
        self.module_ctx = module_ctx
        self._imports = local_imports
        self.text = text
        self._own_nodes = own_nodes
        self.facts_read: set[str] = set()
        """The lazy module facts a prefilter read through :meth:`module_fact` (the engine keys the result on them)."""
        self._own_calls: dict[int, list[ast.Call]] = {}

    @cached_property
    def own(self) -> "ChunkSummary":
        """The summary of the nodes a finding can be on (``own_nodes``): this one for a whole statement.
        A rule's prefilter looks there for the node it would report, and in this summary for context."""
        if self._own_nodes is None or len(self._own_nodes) == len(self.nodes):
            return self
        own = ChunkSummary(self._own_nodes, self.module_ctx, self._imports, self.text)
        own.facts_read = self.facts_read  # one record of the facts read
        own._own_calls = self._own_calls
        return own

    def may_contain(self, word: str) -> bool:
        """False only when ``text`` is known and ``word`` is not in it."""
        return self.text is None or word in self.text

    def module_fact(self, name: str):
        """The lazy module fact ``name`` (:data:`~perf_lsp.analysis.module.LAZY_FACTS`: ``blocking_helpers``...),
        for a prefilter that cannot decide without it; recorded in :attr:`facts_read`, so that a result decided
        on it is not reused once it changes. Read it last, only when the chunk's own code cannot decide: the
        module computes it on first use (a scan of every function)."""
        self.facts_read.add(name)
        return getattr(self.module_ctx, name)

    # -- names through imports -------------------------------------------------------------------
    @cached_property
    def _import_table(self) -> dict[str, tuple[str, ...]]:
        table: defaultdict[str, set[str]] = defaultdict(set)
        for local, qualified in self._imports_found:
            table[local].add(qualified)
        for local, qualified in (self._imports or {}).items():
            table[local].add(qualified)
        return {local: tuple(found) for local, found in table.items()}

    def qualified_names(self, name: str) -> set[str]:
        """Every qualified name the dotted ``name`` (``rx.sub``) may stand for through an import: any of the
        chunk's (whichever binding of the head wins) or the module's. A superset of what the rules' resolution
        (:meth:`perf_lsp.analysis.semantic.SemanticModel.qualified_name`) gives; empty when nothing imports
        the head."""
        head, _, rest = name.partition(".")
        found: set[str] = set()
        for qualified in (*self._import_table.get(head, ()), self.module_ctx.imported(head)):
            if qualified:
                found.add(f"{qualified}.{rest}" if rest else qualified)
        return found

    def imported(self, name: str) -> bool:
        """Whether an import of the chunk (or, for a unit, its class) or of the module binds ``name``."""
        return name in self.local_imports or self.module_ctx.imported(name) is not None

    def may_name_any(self, qualified: Iterable[str]) -> bool:
        """Whether code of this chunk can name one of the ``qualified`` names (``requests.Session``) through
        imports: an import of the chunk or the module binds it, or a package or module above it
        (``requests``, ``requests.sessions``), or a module-level name is built by a call of it
        (``ModuleContext.bindings``). False means no expression of the chunk resolves to one."""
        wanted = frozenset(qualified)
        bound = {qn for found in self._import_table.values() for qn in found}
        bound.update(qn for _, qn in self.module_ctx.imports)
        for qn in bound:
            if qn in wanted or any(name.startswith(qn + ".") for name in wanted):
                return True
        return any(qn in wanted for _, qn in self.module_ctx.bindings)

    # -- functions and their calls ---------------------------------------------------------------
    @cached_property
    def sync_functions(self) -> dict[str, list[ast.FunctionDef]]:
        """The chunk's ``def`` (not ``async def``) statements by name, nested ones included."""
        found: defaultdict[str, list[ast.FunctionDef]] = defaultdict(list)
        for node in self.statements.get(ast.FunctionDef, ()):
            found[node.name].append(node)
        return dict(found)

    def own_calls(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Call]:
        """The calls that run in ``func``'s own code: its body, comprehensions included, and its decorators,
        defaults and annotations (their calls belong to it too); not those of nested ``def``s, ``lambda``s and
        classes. Remembered per function for the summary's life."""
        found = self._own_calls.get(id(func))
        if found is None:
            found = self._own_calls[id(func)] = _own_calls(func)
        return found

    @cached_property
    def by_type(self) -> dict[type, list[ast.AST]]:
        """Every node of the chunk by its type (``ast.Call`` -> the calls...), each list in the order of a
        breadth-first walk of all the statements together (:func:`ast.walk` of a module made of them); the
        ``Load``/``Store``/``Del`` context markers are left out. One walk, shared by every rule's
        :meth:`~perf_lsp.rules.base.Rule.wants`: ``summary.by_type.get(ast.Call, ())``."""
        found: defaultdict[type, list[ast.AST]] = defaultdict(list)
        todo = deque(self.nodes)
        pop, append, skip, ast_type = todo.popleft, todo.append, _CONTEXTS, ast.AST
        while todo:
            node = pop()
            kind = type(node)
            found[kind].append(node)
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, ast_type):
                    if type(value) not in skip:
                        append(value)
                elif type(value) is list:
                    for item in value:
                        if isinstance(item, ast_type):
                            append(item)
        return dict(found)  # a plain dict: a lookup never adds a key

    def of_type(self, *kinds: type) -> list[ast.AST]:
        """The chunk's nodes of exactly these types (no subclasses), type by type (:attr:`by_type`)."""
        found = self.by_type
        return [node for kind in kinds for node in found.get(kind, ())]

    @cached_property
    def statements(self) -> dict[type, list[ast.stmt]]:
        """The chunk's statements by type, nested ones included (a ``def``'s body, a loop's ``else``...),
        in source order; expressions are not walked (no statement is inside one)."""
        found: defaultdict[type, list[ast.stmt]] = defaultdict(list)
        stack = [node for node in reversed(self.nodes) if isinstance(node, ast.stmt)]
        pop, extend = stack.pop, stack.extend
        while stack:
            node = pop()
            kind = type(node)
            found[kind].append(node)
            for block in _BLOCKS.get(kind, ()):
                extend(reversed(getattr(node, block)))
            if kind in _TRIES:
                for handler in reversed(node.handlers):
                    extend(reversed(handler.body))
            elif kind is ast.Match:
                for case in reversed(node.cases):
                    extend(reversed(case.body))
        return dict(found)

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
    def _in_loops(self) -> tuple[list, list]:
        awaits: list[tuple[ast.AST | None, ast.Await, ast.AST]] = []
        calls: list[tuple[ast.Call, ast.AST]] = []
        _loop_walk(self.nodes, awaits, calls)
        return awaits, calls

    @property
    def awaits_in_loops(self) -> list[tuple[ast.AST | None, ast.Await, ast.AST]]:
        """(the nearest ``def`` around it or None, ``await <call>``, the innermost loop that runs it once per
        iteration) for every awaited call that runs in a loop of its own function (or of the chunk's top
        level). The loop as :meth:`~perf_lsp.analysis.semantic.SemanticModel.repeating_loop` finds it: a
        ``for``/``async for`` loop's body (not its iterable or ``else``), a ``while`` loop's test and body, a
        comprehension's element, conditions and inner iterables (not its first iterable); the body of a
        ``def``, ``lambda`` or class in between is code of its own (a ``lambda``'s or a class's: no ``def``).
        A ``def``'s decorators, defaults and annotations and a class's bases count as the code around them:
        a superset of what ``repeating_loop`` finds, as a prefilter needs."""
        return self._in_loops[0]

    @property
    def calls_in_loops(self) -> list[tuple[ast.Call, ast.AST]]:
        """(call, the innermost loop that runs it once per iteration) for every call in a loop of its own
        function or of the chunk's top level (the loop as for :attr:`awaits_in_loops`)."""
        return self._in_loops[1]

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


def _own_calls(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Call]:
    found: list[ast.Call] = []
    todo: list[ast.AST] = [func]
    pop, append, skip, ast_type, call = todo.pop, todo.append, _CONTEXTS, ast.AST, ast.Call
    while todo:
        node = pop()
        kind = type(node)
        if kind is call:
            found.append(node)
        elif kind in _OWN_BOUNDARIES and node is not func:
            continue
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


_OWN_BOUNDARIES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef})
_COMPREHENSION_TYPES = frozenset({ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp})


def _loop_walk(nodes: tuple[ast.AST, ...], awaits: list, calls: list) -> None:
    """Fill :attr:`ChunkSummary.awaits_in_loops` and :attr:`ChunkSummary.calls_in_loops` in one walk."""
    # (node, innermost repeating loop, nearest def); a def, lambda or class starts its own code
    todo: list[tuple[ast.AST, ast.AST | None, ast.AST | None]] = [(node, None, None) for node in reversed(nodes)]
    pop, append, skip, ast_type = todo.pop, todo.append, _CONTEXTS, ast.AST
    while todo:
        node, loop, func = pop()
        kind = type(node)
        if kind in _OWN_BOUNDARIES:
            inner = node if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef else None
            for name in node._fields:  # decorators, defaults and bases run outside, the body inside
                value = getattr(node, name, None)
                own = name == "body" or (name == "args" and kind is ast.Lambda)
                if isinstance(value, ast_type):
                    append((value, None, inner) if own else (value, loop, func))
                elif type(value) is list:
                    for item in value:
                        if isinstance(item, ast_type):
                            append((item, None, inner) if own else (item, loop, func))
            continue
        if kind is ast.For or kind is ast.AsyncFor:
            append((node.target, loop, func))
            append((node.iter, loop, func))
            todo.extend((stmt, node, func) for stmt in node.body)
            todo.extend((stmt, loop, func) for stmt in node.orelse)
            continue
        if kind is ast.While:
            append((node.test, node, func))
            todo.extend((stmt, node, func) for stmt in node.body)
            todo.extend((stmt, loop, func) for stmt in node.orelse)
            continue
        if kind in _COMPREHENSION_TYPES:
            for index, generator in enumerate(node.generators):
                append((generator.iter, loop if index == 0 else node, func))
                append((generator.target, node, func))
                todo.extend((test, node, func) for test in generator.ifs)
            todo.extend((getattr(node, name), node, func) for name in ("elt", "key", "value") if hasattr(node, name))
            continue
        if loop is not None:
            if kind is ast.Call:
                calls.append((node, loop))
            elif kind is ast.Await and type(node.value) is ast.Call:
                awaits.append((func, node, loop))
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast_type):
                if type(value) not in skip:
                    append((value, loop, func))
            elif type(value) is list:
                for item in value:
                    if isinstance(item, ast_type):
                        append((item, loop, func))


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
    # the blocks of every statement inside (nested ``def``s' and classes' too): statements hold
    # statements only through these fields, so expressions are never walked
    blocks = [func.body]
    todo = list(func.body)
    while todo:
        node = todo.pop()
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if type(block) is list and block and isinstance(block[0], ast.stmt):
                blocks.append(block)
                todo.extend(block)
        for holder in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
            blocks.append(holder.body)
            todo.extend(holder.body)
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

    def escapes(self, name: str) -> bool:
        """Whether the object in local ``name`` leaves the function: declared ``global``/``nonlocal``,
        or returned, yielded or stored in an attribute or item, directly or through other locals
        assigned from it (see :func:`built_value_escapes`)."""
        return self._escapes.escapes(name)

    @cached_property
    def _escapes(self) -> "_LocalEscapeFinder":
        finder = _LocalEscapeFinder()
        self.func.body.visit(finder)
        return finder

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


# -- what leaves a function: the objects it returns, yields or stores ---------------------------
def built_value_escapes(node: cst.Call, func: cst.FunctionDef, ctx: SemanticModel) -> bool:
    """True when the object ``node`` builds outlives the call of ``func`` (whether a function that builds it is a factory).

    It does when it is returned or yielded (as is, or inside what is returned:
    ``return cls(model=...)``), stored in an attribute or item (``self.x = ...``),
    or assigned to a local that is itself returned, yielded, stored, declared
    ``global``/``nonlocal`` or used to build something that is. ``await`` around
    the call is looked through (``pool = await asyncpg.create_pool()``), and so are
    chains that return the same object (``return Model(p).eval().to(device)``), a
    default (``client = client or OpenAI()``, ``... if c is None else OpenAI()``), and
    an attribute that is not called (``self.client = OpenAI(**p).embeddings``
    stores the client with its sub-resource). Using the object
    (``return client.get(url)``, ``OpenAI().models.list()``) is not leaving.
    """
    holder: cst.CSTNode = node
    parent = ctx.parent(node)
    if isinstance(parent, cst.Await):
        holder = parent
    child: cst.CSTNode = holder
    for anc in ctx.ancestors(holder):
        if isinstance(anc, cst.Attribute) and child is anc.value:
            # ``Client(...).method()`` uses the object; ``Client(...).embeddings`` (a sub-resource that
            # keeps a reference to it) carries it on to wherever the attribute goes
            outer: cst.CSTNode = anc
            while isinstance(ctx.parent(outer), cst.Attribute) and ctx.parent(outer).value is outer:
                outer = ctx.parent(outer)
            grand = ctx.parent(outer)
            if isinstance(grand, cst.Call) and grand.func is outer:
                if outer is anc and anc.attr.value in CHAIN_METHODS:
                    # ``Model(...).eval()``, ``.to(device)``: the same object, carried on to where the chain goes
                    holder = child = grand
                    continue
                break
            holder = outer
            child = anc
            continue
        if isinstance(anc, cst.Call) and child is anc.func:
            break
        if (isinstance(anc, cst.BooleanOperation) and child is anc.right) or (
            isinstance(anc, cst.IfExp) and child is not anc.test
        ):
            # ``client or make()``, ``c if c is not None else make()``: a default, which goes where the whole goes
            holder = child = anc
            continue
        if isinstance(anc, (cst.Return, cst.Yield)):
            return True
        if isinstance(anc, (cst.BaseSmallStatement, cst.BaseCompoundStatement, cst.Lambda)):
            break
        child = anc
    target = assigned_target(holder, ctx)
    if isinstance(target, (cst.Attribute, cst.Subscript)):
        return True
    if isinstance(target, cst.Name):
        return function_summary(ctx, func).escapes(target.value)
    return False


class _LocalEscapeFinder(cst.CSTVisitor):
    """What a function does with the objects of its locals: the values it returns, yields or stores in
    an attribute or item (outlets), its assignments to names, and its ``global``/``nonlocal`` names.
    Each value is kept as the names it passes on (:func:`passed_names`)."""

    def __init__(self) -> None:
        super().__init__()
        self._declared: set[str] = set()
        self._assignments: list[tuple[str, frozenset[str]]] = []
        self._outlets: list[frozenset[str]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        # a nested def has its own scope; what it reads goes wherever the function goes (a closure)
        self._assignments.append((node.name.value, _captured_names(node)))
        return False

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            self._outlets.append(passed_names(node.value))

    def visit_Yield(self, node: cst.Yield) -> None:
        if isinstance(node.value, cst.BaseExpression):
            self._outlets.append(passed_names(node.value))

    def visit_Global(self, node: cst.Global) -> None:
        self._declared.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._declared.update(item.name.value for item in node.names)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, (cst.Attribute, cst.Subscript)):
                self._outlets.append(passed_names(node.value))
            elif isinstance(target.target, cst.Name):
                self._assignments.append((target.target.value, passed_names(node.value)))

    def escapes(self, name: str) -> bool:
        """Whether local ``name``'s object leaves the function: declared global/nonlocal, or passed
        (directly or through other locals assigned from it) to an outlet."""
        if name in self._declared:
            return True
        names = {name}
        changed = True
        while changed:
            changed = False
            for target, passed in self._assignments:
                if target not in names and not passed.isdisjoint(names):
                    names.add(target)
                    changed = True
        return any(not passed.isdisjoint(names) for passed in self._outlets)


class _PassFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def visit_Call(self, node: cst.Call) -> bool:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in CHAIN_METHODS:
            func.value.visit(self)  # ``model.eval()``, ``model.to(device)``: the same object
        elif not isinstance(func, cst.Name):  # calling the object is a use, not a pass
            func.visit(self)
        for arg in node.args:
            arg.visit(self)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return False  # ``client.config`` is a use of the object, not the object

    def visit_Name(self, node: cst.Name) -> None:
        self.found.add(node.value)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        self.found |= _captured_names(node)  # a lambda carries what it reads
        return False


def _captured_names(node: cst.CSTNode) -> frozenset[str]:
    """Every name read anywhere inside ``node`` (a nested ``def`` or ``lambda``): what a closure keeps."""
    return frozenset(n.value for n in walk(node) if isinstance(n, cst.Name))


def passed_names(expr: cst.BaseExpression) -> frozenset[str]:
    """The names ``expr`` hands on as a value, not only as a callee or receiver: ``f(a, b.c)`` -> ``{"a"}``
    (``f`` is called, ``b.c`` uses ``b``). Keyword names count too (``g(x=a)`` -> ``{"x", "a"}``),
    which is conservative: a local named like a keyword is taken as passed."""
    finder = _PassFinder()
    expr.visit(finder)
    return frozenset(finder.found)


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
