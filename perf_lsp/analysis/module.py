"""Module-level name facts: what each imported name refers to, and what module-level
names were built from.

This is the light, import-based resolver the rules use first. It reads the module
with :mod:`ast` (about 10x cheaper than a libcst parse: ``ast.parse`` of the
standard library's 6,425-line ``_pydecimal.py`` took ~33 ms on a 2-core machine;
``benchmarks/bench_check.py`` prints both side by side) and never runs libcst's
Scope/QualifiedName providers. Qualified names are spelled as imported
(``re.compile``, ``asyncio.gather``); a name that is not imported resolves to
``None``. Where names cannot decide (``self.embedder.encode``, a factory's
result), a rule attaches a :class:`perf_lsp.analysis.resolve.TypeQuestion` to its
finding and the engine answers it with jedi
(:class:`perf_lsp.analysis.resolve.TypeResolver`), when it is given a resolver.

The module facts are rule-agnostic: the module's sync functions that block
(:func:`perf_lsp.analysis.blocking.module_blocking_helpers`) and the module-level
names its functions change (:func:`module_mutated_globals`).
"""

from __future__ import annotations

import ast
import weakref
from collections.abc import Callable, Iterable
from dataclasses import InitVar, dataclass, field
from functools import cached_property

from perf_lsp.analysis.blocking import FunctionFacts, module_blocking_helpers, module_function_facts
from perf_lsp.analysis.imports import dotted_name, import_bindings, resolve_dotted


@dataclass(frozen=True)
class ModuleContext:
    """What the whole module tells a rule about names.

    ``imports`` maps a local name to its qualified name (``{"rx": "re",
    "ST": "sentence_transformers.SentenceTransformer"}``); ``bindings`` maps a
    module-level variable to the qualified name of the callable that built it
    (``{"model": "sentence_transformers.SentenceTransformer"}``);
    ``import_lines`` lists, for each top-level import statement, its last line
    (1-based), so a fix can put a new import after the imports that precede it;
    ``header_end`` is the last line of the module docstring, ``from __future__``
    imports or leading comments (0 when there are none); ``factories`` maps a
    qualified name to a module-level function cached with ``functools.cache`` or
    ``lru_cache`` whose body is ``return <that callable>(*args, **kwargs)`` (what
    PFL101's fix writes), so a second fix reuses it; ``blocking_helpers`` maps a
    module-level sync function that blocks (opens a file, sleeps, calls
    ``requests``...) to the blocking call inside it, so PFL303 can report
    ``helper()`` called from an ``async def`` elsewhere in the module;
    ``guarded_imports`` lists the names bound only by imports nested in a top-level
    ``try`` or ``if`` (an optional dependency, ``if TYPE_CHECKING:``): the module may
    run without them, so a fix may neither rely on them nor add an unconditional
    import of their package;
    ``mutated_globals`` lists the names a function of the module rebinds
    (``global NAME``) or changes in place (``NAME.x = ...``, ``NAME[k] = ...``,
    ``NAME.update(...)``), so PFL301 keeps apart an await that may change one and a
    later one that reads it. ``imported_helpers`` maps a name the module imports from
    another module of the project to what calling that function does
    (:class:`~perf_lsp.analysis.blocking.FunctionFacts`), when a project index gave them
    (:class:`~perf_lsp.analysis.hotness.FileHotness`); empty otherwise.

    ``blocking_helpers`` and ``mutated_globals`` (:data:`LAZY_FACTS`) scan every
    function of the module, so a context built from ``body`` (the module's top-level
    :mod:`ast` statements) computes them on first use: only when a rule that reads
    them (``Rule.module_facts``) has a candidate. Given explicitly, they are used as
    given. They are not in :attr:`fingerprint`; :meth:`facts` gives them for a cache
    key that depends on them.
    """

    imports: tuple[tuple[str, str], ...] = ()
    bindings: tuple[tuple[str, str], ...] = ()
    import_lines: tuple[int, ...] = ()
    header_end: int = 0
    factories: tuple[tuple[str, str], ...] = ()
    given_blocking_helpers: InitVar[tuple[tuple[str, str], ...] | None] = None
    guarded_imports: tuple[str, ...] = ()
    given_mutated_globals: InitVar[tuple[str, ...] | None] = None
    imported_helpers: tuple[tuple[str, FunctionFacts], ...] = ()
    body: tuple[ast.stmt, ...] = field(default=(), compare=False, repr=False)
    _imports: dict = field(default_factory=dict, compare=False, repr=False)
    _bindings: dict = field(default_factory=dict, compare=False, repr=False)
    _lazy: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self, given_blocking_helpers, given_mutated_globals) -> None:
        object.__setattr__(self, "_imports", dict(self.imports))
        object.__setattr__(self, "_bindings", dict(self.bindings))
        lazy = {"blocking_helpers": given_blocking_helpers, "mutated_globals": given_mutated_globals}
        if not self.body:
            lazy = {name: () if value is None else value for name, value in lazy.items()}
        object.__setattr__(self, "_lazy", {name: value for name, value in lazy.items() if value is not None})

    @property
    def fingerprint(self) -> tuple:
        """What chunk analysis depends on (line numbers excluded), for cache keys; without the lazy
        facts (:data:`LAZY_FACTS`): a key that depends on them adds :meth:`facts`."""
        return (self.imports, self.bindings, self.factories, self.guarded_imports, self.imported_helpers)

    def facts(self, names: Iterable[str]) -> tuple:
        """``(name, value)`` of these lazy facts (:data:`LAZY_FACTS`), in the order given; computes them if needed."""
        return tuple((name, self._fact(name)) for name in names)

    def _fact(self, name: str) -> tuple:
        value = self._lazy.get(name)
        if value is None:
            value = self._lazy[name] = _LAZY_FACTS[name](self)
        return value

    @property
    def blocking_helpers(self) -> tuple[tuple[str, str], ...]:
        """Module-level sync functions that block, each with the blocking call inside it (computed on first use)."""
        return self._fact("blocking_helpers")

    @property
    def helper_facts(self) -> tuple[tuple[str, FunctionFacts], ...]:
        """What the module's functions do for their callers, by local name (``func``, ``Class.method``;
        see :func:`~perf_lsp.analysis.blocking.module_function_facts`; computed on first use)."""
        return self._fact("helper_facts")

    @property
    def mutated_globals(self) -> tuple[str, ...]:
        """The names a function of the module rebinds or changes in place (computed on first use)."""
        return self._fact("mutated_globals")

    @cached_property
    def import_roots(self) -> frozenset[str]:
        """The top-level packages the module's imports name (``{"os", "sqlalchemy"}``)."""
        return frozenset(qualified.split(".", 1)[0] for _, qualified in self.imports)

    def imported(self, name: str) -> str | None:
        """The qualified name a module-level import binds to ``name``, or None."""
        return self._imports.get(name)

    def binding(self, name: str) -> str | None:
        """The qualified name of the callable that built module-level ``name``, or None."""
        return self._bindings.get(name)

    def alias_for(self, qualified: str) -> str | None:
        """A local name bound to exactly ``qualified`` by an import, or None.

        ``alias_for("re")`` is ``"rx"`` after ``import re as rx``.
        """
        for local, qn in self.imports:
            if qn == qualified:
                return local
        return None

    def factory_for(self, qualified: str) -> str | None:
        """The name of a cached module-level factory of ``qualified``, or None."""
        for qn, name in self.factories:
            if qn == qualified:
                return name
        return None

    def import_anchor(self, before_line: int) -> int:
        """The line after which a new import goes for a fix at ``before_line`` (1-based).

        The last top-level import that ends before ``before_line``; else the end of
        the module header; 0 means "at the very top".
        """
        anchor = 0
        for end in self.import_lines:
            if end < before_line:
                anchor = max(anchor, end)
        if anchor:
            return anchor
        return self.header_end if self.header_end < before_line else 0


def _nested_imports(stmt: ast.stmt) -> list[ast.stmt]:
    """Import statements directly at top level or one level inside ``try``/``if``."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [stmt]
    found: list[ast.stmt] = []
    if isinstance(stmt, (ast.Try, ast.If)):
        blocks = [stmt.body, stmt.orelse]
        if isinstance(stmt, ast.Try):
            blocks += [h.body for h in stmt.handlers] + [stmt.finalbody]
        for block in blocks:
            for inner in block:
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.append(inner)
    return found


def build_module_context(statements: list[tuple[ast.stmt, int]]) -> ModuleContext:
    """Collect imports, module-level bindings and the header end from top-level statements.

    Each statement comes with the number of lines to add to its own line numbers
    to get document lines (0 when it was parsed with the whole document).
    """
    body = [stmt for stmt, _ in statements]
    shift_of = {id(stmt): shift for stmt, shift in statements}
    imports: dict[str, str] = {}
    import_lines: list[int] = []
    guarded: set[str] = set()
    unguarded: set[str] = set()
    for stmt in body:
        top = isinstance(stmt, (ast.Import, ast.ImportFrom))
        for imp in _nested_imports(stmt):
            for local, qn in import_bindings(imp):
                imports.setdefault(local, qn)
                (unguarded if top else guarded).add(local)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            import_lines.append((stmt.end_lineno or stmt.lineno) + shift_of[id(stmt)])
    bindings: dict[str, str] = {}
    for stmt in body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
            if isinstance(target, ast.Name):
                ann = dotted_name(stmt.annotation)
                qn = resolve_dotted(ann, imports) if ann else None
                if qn:
                    bindings[target.id] = qn
                    continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            func = dotted_name(value.func)
            qn = resolve_dotted(func, imports) if func else None
            if qn:
                bindings[target.id] = qn
    factories: dict[str, str] = {}
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef) and stmt.body and _is_cached(stmt, imports):
            last = stmt.body[-1]
            if isinstance(last, ast.Return) and isinstance(last.value, ast.Call):
                call = last.value
                spread = (
                    len(call.args) == 1
                    and isinstance(call.args[0], ast.Starred)
                    and len(call.keywords) == 1
                    and call.keywords[0].arg is None
                )
                func = dotted_name(call.func)
                own = {**imports, **_own_imports(stmt)}  # the factory may import its callee itself
                qn = resolve_dotted(func, own) if func else None
                if spread and qn:
                    factories.setdefault(qn, stmt.name)
    header_end = 0
    for stmt in body:
        is_doc = (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        )
        is_future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        if is_doc or is_future:
            header_end = (stmt.end_lineno or stmt.lineno) + shift_of[id(stmt)]
        else:
            break
    return ModuleContext(
        imports=tuple(sorted(imports.items())),
        bindings=tuple(sorted(bindings.items())),
        import_lines=tuple(import_lines),
        header_end=header_end,
        factories=tuple(sorted(factories.items())),
        guarded_imports=tuple(sorted(guarded - unguarded)),
        body=tuple(body),
    )


_LAZY_FACTS: dict[str, Callable[[ModuleContext], tuple]] = {
    "blocking_helpers": lambda ctx: module_blocking_helpers(ctx.body, ctx._imports),
    "mutated_globals": lambda ctx: module_mutated_globals(ctx.body),
    "helper_facts": lambda ctx: module_function_facts(ctx.body, ctx._imports),
    "io_functions": lambda ctx: _io_functions(ctx),
}


def _io_functions(ctx: ModuleContext) -> tuple:
    from perf_lsp.analysis.effects import module_io_functions  # effects reads libcst facts that import this module

    return module_io_functions(ctx.body, ctx._imports)

LAZY_FACTS: tuple[str, ...] = tuple(_LAZY_FACTS)
"""The :class:`ModuleContext` facts computed on first use: a rule that reads one names it in ``Rule.module_facts``."""


def _own_imports(func: ast.FunctionDef) -> dict[str, str]:
    """Names bound by the imports directly in ``func``'s body (``import redis`` in a factory)."""
    found: dict[str, str] = {}
    for stmt in func.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            found.update(import_bindings(stmt))
    return found


def _is_cached(func: ast.FunctionDef, imports: dict[str, str]) -> bool:
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = dotted_name(target)
        qn = resolve_dotted(name, imports) if name else None
        if qn in ("functools.cache", "functools.lru_cache"):
            return True
    return False


_MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault", "add",
        "discard", "sort", "reverse", "__setitem__", "__delitem__",
    }
)
"""Container methods that change the object in place (``CACHE.update(...)``)."""


def module_mutated_globals(body: Iterable[ast.stmt]) -> tuple[str, ...]:
    """Names that a function of the module rebinds or changes in place, sorted.

    Meant for :class:`perf_lsp.analysis.module.ModuleContext` (its lazy ``mutated_globals``
    fact): a ``global NAME`` in any function or method, and the first
    name of ``NAME.attr = ...``, ``NAME[k] = ...``, ``del NAME[k]``, ``NAME.x += ...`` or
    ``NAME.update(...)`` (a container method that changes it, called as a statement or
    as an assignment's or ``return``'s value) where neither the function nor an
    enclosing one binds ``NAME``. PFL301 uses it: an awaited call of the module's own
    code may change such a name, so a later call that reads it is not gathered with
    it. Judged with :mod:`ast`, statements only (expressions are not walked: it runs
    whenever a rule asks a rebuilt module context for it, about 25 ms for 6,500 lines), one
    top-level statement at a time (remembered per node).
    """
    found: set[str] = set()
    for stmt in body:
        names = _GLOBALS_CACHE.get(stmt)
        if names is None:
            names = _GLOBALS_CACHE[stmt] = frozenset(_statement_mutated_globals(stmt))
        found |= names
    return tuple(sorted(found))


# Per statement node, for as long as the node lives: the editor keeps unchanged statements'
# nodes between keystrokes; a whole-document parse makes new ones and the old entries go.
_GLOBALS_CACHE: weakref.WeakKeyDictionary[ast.stmt, frozenset[str]] = weakref.WeakKeyDictionary()


_AST_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


_EMPTY: frozenset[str] = frozenset()


_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statement_mutated_globals(stmt: ast.stmt) -> set[str]:
    out: set[str] = set()
    for func in _functions_in([stmt]):
        names = _FUNCTION_GLOBALS.get(func)
        if names is None:
            found: set[str] = set()
            _scope_mutations(func, _EMPTY, found)
            names = _FUNCTION_GLOBALS[func] = frozenset(found)
        out |= names
    return out


# Per function node too: a keystroke in a method gives its class a new node (the split re-parses
# the edited member alone and splices it into a copy of the class), whose other methods keep theirs.
_FUNCTION_GLOBALS: weakref.WeakKeyDictionary[ast.AST, frozenset[str]] = weakref.WeakKeyDictionary()


def _functions_in(statements: list) -> list[ast.AST]:
    """The functions defined in ``statements`` outside any function (methods of classes included)."""
    found: list[ast.AST] = []
    stack = list(statements)
    while stack:
        node = stack.pop()
        if isinstance(node, _AST_FUNCTIONS):
            found.append(node)
            continue
        for block in _BLOCK_FIELDS:
            stack.extend(getattr(node, block, ()) or ())
    return found


def _scope_mutations(func: ast.AST, enclosing: frozenset[str], out: set[str]) -> None:
    """Add to ``out`` what ``func`` (and the functions nested in it) changes outside every enclosing function.

    Statement by statement (expressions are not walked, which keeps this cheap: it runs
    whenever the module context is rebuilt): ``global``, assignment, ``del`` and
    augmented-assignment targets, and a container method called as a statement or as
    an assignment's or ``return``'s value. A name bound by the function or by an
    enclosing one is not a global (``results.append`` in a nested helper).
    """
    args = func.args  # type: ignore[attr-defined]
    bound = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    bound |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    roots: set[str] = set()
    nested: list[ast.AST] = []
    stack: list = list(func.body)  # type: ignore[attr-defined]
    while stack:
        node = stack.pop()
        if isinstance(node, _AST_FUNCTIONS):
            nested.append(node)
            bound.add(node.name)
            continue
        if isinstance(node, ast.ClassDef):
            bound.add(node.name)
            nested.extend(_functions_in(node.body))
            continue
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Expr, ast.Return)):
            value = node.value
        elif isinstance(node, ast.Global):
            declared.update(node.names)
            out.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            declared.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".", 1)[0] for alias in node.names}
        for target in targets:
            for leaf in _ast_leaves(target):
                if isinstance(leaf, ast.Name):
                    bound.add(leaf.id)
                else:
                    root = _ast_root(leaf)
                    if root is not None:
                        roots.add(root)
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in _MUTATING_METHODS:
            root = _ast_root(value.func.value)
            if root is not None:
                roots.add(root)
        for block in _BLOCK_FIELDS:
            stack.extend(getattr(node, block, ()) or ())
    bound -= declared
    out.update(root for root in roots if root not in bound and (root in declared or root not in enclosing))
    inner_enclosing = frozenset(enclosing | bound)
    for inner in nested:
        _scope_mutations(inner, inner_enclosing, out)


def _ast_leaves(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [leaf for element in target.elts for leaf in _ast_leaves(element)]
    if isinstance(target, ast.Starred):
        return _ast_leaves(target.value)
    return [target]


def _ast_root(expr: ast.expr) -> str | None:
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None
