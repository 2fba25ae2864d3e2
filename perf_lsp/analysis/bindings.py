"""What a document binds and reads, from :mod:`ast`: the facts fixes need about names.

A fix that adds a name must not clash with a real binding (any scope's assignments,
parameters, imports, ``global`` names, names read anywhere, builtins), and words in
strings, comments or attribute names do not count. A fix that removes the last use
of an import removes that import too, so the engine needs every chunk's reads.

Built per top-level statement ("chunk") from the :mod:`ast` nodes the document split
already made, and cached by the chunk's text: a fix-all round pays only for the
statements the previous round changed. ``ast.parse`` of a 6,400-line document costs
about 33 ms on a 2-core machine (``benchmarks/bench_check.py`` prints it).
"""

from __future__ import annotations

import ast
import builtins
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from perf_lsp.analysis.imports import import_bindings
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, SCOPES, children, dotted, node_memo, walk

BUILTINS = frozenset(dir(builtins))
"""Builtin names (``len``, ``print``, ``Exception``...): a new name never shadows one."""

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A Python identifier (ASCII), to find names in text that does not parse or in string annotations."""
DYNAMIC = frozenset({"eval", "exec", "globals", "locals", "vars", "__import__"})
"""Builtins that read names by string: where they are called, no import counts as unused."""


@dataclass
class ChunkNames:
    """The names one top-level statement binds and reads (any scope inside it).

    ``loads``: how often each name is read (string annotations count; attribute
    names and keyword-argument names do not); ``bound``: names bound anywhere in the
    chunk (assignments, parameters, imports, ``def``/``class``, ``except ... as``,
    ``global``/``nonlocal``, match captures); ``module_bound``: names the chunk binds
    at module level (its statements, ``if``/``try``/``with``/``for`` bodies included);
    ``local_bound``: names bound inside its functions, classes and comprehensions;
    ``imports``: name -> qualified names imported under it, any scope;
    ``exported``: the strings the chunk puts in ``__all__``; ``runs_code``: the
    statement calls something when the module is imported (a decorator, a call
    outside any function body; imports do not count); ``dynamic``: it reads names
    through ``eval``/``exec``/``globals()``/``locals()``/``vars()``/``getattr``...;
    ``assigned``: ``NAME = value`` statements at module level, name -> value;
    ``binding_count``/``import_count``: binding sites per name, all kinds / imports;
    ``import_loads``: names read when the module is imported (outside function bodies).
    """

    loads: Counter = field(default_factory=Counter)
    bound: set[str] = field(default_factory=set)
    module_bound: set[str] = field(default_factory=set)
    local_bound: set[str] = field(default_factory=set)
    imports: dict[str, set[str]] = field(default_factory=dict)
    exported: set[str] = field(default_factory=set)
    runs_code: bool = False
    dynamic: bool = False
    assigned: dict[str, ast.expr] = field(default_factory=dict)
    binding_count: Counter = field(default_factory=Counter)
    import_count: Counter = field(default_factory=Counter)
    import_loads: set[str] = field(default_factory=set)


class _Collector:
    def __init__(self, out: ChunkNames) -> None:
        self.out = out

    def bind(self, name: str, module_level: bool) -> None:
        out = self.out
        out.bound.add(name)
        out.binding_count[name] += 1
        (out.module_bound if module_level else out.local_bound).add(name)

    def statement(self, node: ast.AST, module_level: bool) -> None:
        """Walk ``node``; ``module_level``: its bindings are the module's."""
        stack: list[tuple[ast.AST, bool, bool]] = [(node, module_level, module_level)]
        out = self.out
        while stack:
            current, at_module, runs = stack.pop()
            kind = type(current)
            if kind is ast.Name:
                if isinstance(current.ctx, ast.Load):
                    out.loads[current.id] += 1
                    if runs:
                        out.import_loads.add(current.id)
                    if current.id in DYNAMIC:
                        out.dynamic = True
                else:
                    self.bind(current.id, at_module)
                continue
            if kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
                self.bind(current.name, at_module)
                if current.decorator_list and runs:
                    out.runs_code = True
                for deco in current.decorator_list:
                    stack.append((deco, at_module, runs))
                if kind is ast.ClassDef:
                    for base in (*current.bases, *current.keywords):
                        stack.append((base, at_module, runs))
                    for stmt in current.body:  # a class body runs where it is defined
                        stack.append((stmt, False, runs))
                else:
                    self._arguments(current.args, at_module, runs, stack)
                    if current.returns is not None:
                        self._annotation(current.returns)
                        stack.append((current.returns, at_module, runs))
                    for stmt in current.body:
                        stack.append((stmt, False, False))
                for param in getattr(current, "type_params", ()) or ():
                    self.bind(param.name, False)
                continue
            if kind is ast.Lambda:
                self._arguments(current.args, at_module, runs, stack)
                stack.append((current.body, False, False))
                continue
            if kind in (ast.Import, ast.ImportFrom):
                for local, qualified in import_bindings(current):
                    self.bind(local, at_module)
                    out.import_count[local] += 1
                    out.imports.setdefault(local, set()).add(qualified)
                continue
            if kind in (ast.Global, ast.Nonlocal):
                for name in current.names:
                    out.bound.add(name)
                    out.binding_count[name] += 1
                continue
            if kind is ast.Call and runs:
                out.runs_code = True
            if kind is ast.ExceptHandler and current.name:
                self.bind(current.name, at_module)
            elif kind in (ast.MatchAs, ast.MatchStar) and current.name:
                self.bind(current.name, at_module)
            elif kind is ast.MatchMapping and current.rest:
                self.bind(current.rest, at_module)
            elif kind is ast.AnnAssign:
                self._annotation(current.annotation)
            elif kind in (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp):
                for child in ast.iter_child_nodes(current):
                    stack.append((child, False, runs))
                continue
            if kind in (ast.Assign, ast.AugAssign, ast.AnnAssign) and at_module:
                targets = current.targets if kind is ast.Assign else [current.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id == "__all__":
                        out.exported.update(_strings(current.value))
                if kind is ast.Assign and len(targets) == 1 and isinstance(targets[0], ast.Name):
                    out.assigned[targets[0].id] = current.value
            elif kind is ast.Call and _is_all_method(current.func):
                for arg in current.args:
                    out.exported.update(_strings(arg))
            for child in ast.iter_child_nodes(current):
                stack.append((child, at_module, runs))

    def _arguments(self, args: ast.arguments, at_module: bool, runs: bool, stack: list) -> None:
        for arg in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg):
            if arg is None:
                continue
            self.bind(arg.arg, False)
            if arg.annotation is not None:
                self._annotation(arg.annotation)
                stack.append((arg.annotation, at_module, runs))
        for default in (*args.defaults, *args.kw_defaults):
            if default is not None:
                stack.append((default, at_module, runs))

    def _annotation(self, node: ast.expr) -> None:
        """Names written inside string annotations (``"json.Encoder"``) are reads too."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                for word in IDENTIFIER.findall(sub.value):
                    self.out.loads[word] += 1


def _is_all_method(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr in ("append", "extend")
        and isinstance(func.value, ast.Name)
        and func.value.id == "__all__"
    )


def _strings(node: ast.AST | None) -> set[str]:
    if node is None:
        return set()
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def collect(nodes: Iterable[ast.stmt]) -> ChunkNames:
    """The :class:`ChunkNames` of top-level statements ``nodes``."""
    out = ChunkNames()
    collector = _Collector(out)
    for node in nodes:
        collector.statement(node, True)
    return out


_PLAIN_DEFINITION = re.compile(r"(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_][A-Za-z0-9_]*)")


def _words(text: str) -> ChunkNames:
    """For a statement that does not parse (or is too deep to): every identifier counts as bound and read.

    Except at module level for an undecorated ``def``/``class`` with no ``global``,
    ``nonlocal`` or ``:=`` in it: that binds its own name at module level and nothing
    else (a constant a fix adds above it may then read a module name the body mentions).
    """
    words = set(IDENTIFIER.findall(text))
    module_bound = set(words)
    plain = _PLAIN_DEFINITION.match(text.lstrip())
    if plain and ":=" not in text and not words & {"global", "nonlocal"}:
        module_bound = {plain.group(1)}
    return ChunkNames(loads=Counter(words), bound=words, module_bound=module_bound, runs_code=True, dynamic=True)


_CACHE: OrderedDict[str, ChunkNames | None] = OrderedDict()
_CACHE_SIZE = 4096
_LOCK = threading.Lock()


def chunk_names(text: str, nodes: Sequence[ast.stmt]) -> tuple[ChunkNames, bool]:
    """The names of one chunk (``text`` and its ast ``nodes``), cached by text.

    Returns (names, parsed): ``parsed`` is False when the chunk has no ast (it does
    not parse): then every identifier of its text counts, conservatively.
    """
    with _LOCK:
        found = _CACHE.get(text)
        if found is not None:
            _CACHE.move_to_end(text)
            return found, True
    if not nodes:
        if not text.strip():
            return ChunkNames(), True
        return _words(text), False
    names = collect(nodes)
    with _LOCK:
        _CACHE[text] = names
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return names, True


def parse_names(text: str) -> ChunkNames | None:
    """The :class:`ChunkNames` of source ``text`` (a chunk, a definition), or None when it does not parse."""
    with _LOCK:
        found = _CACHE.get(text)
        if found is not None:
            return found
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    return chunk_names(text, tree.body)[0]


class DocumentNames:
    """The names of a whole document, per chunk and in total.

    ``chunks[i]`` is chunk ``i``'s :class:`ChunkNames`; ``complete`` is False when a
    chunk did not parse (its words are counted, but an import is then never
    removed: a read may hide in the broken part).
    """

    def __init__(self, texts: Sequence[str], nodes: Sequence[Sequence[ast.stmt]]) -> None:
        self.chunks: list[ChunkNames] = []
        self.complete = True
        for text, chunk_nodes in zip(texts, nodes):
            names, parsed = chunk_names(text, chunk_nodes)
            self.chunks.append(names)
            self.complete &= parsed
        self.loads: Counter = Counter()
        self.bound: set[str] = set()
        self.imports: dict[str, set[str]] = {}
        self.binding_count: Counter = Counter()
        self.import_count: Counter = Counter()
        self.exported: set[str] = set()
        self.dynamic = False
        for names in self.chunks:
            self.loads.update(names.loads)
            self.bound |= names.bound
            self.binding_count.update(names.binding_count)
            self.import_count.update(names.import_count)
            self.exported |= names.exported
            self.dynamic |= names.dynamic
            for local, targets in names.imports.items():
                self.imports.setdefault(local, set()).update(targets)
        self.taken: set[str] = self.bound | set(self.loads) | BUILTINS

    def import_is_free(self, name: str, module: str) -> bool:
        """Whether a module-level ``import module`` may bind ``name`` without changing any other read.

        True when ``name`` is bound only by imports of ``module`` (any scope), or is
        bound nowhere and read nowhere (a read of an unbound name may come from a
        star import) and is no builtin.
        """
        if name in self.imports:
            return self.imports[name] == {module} and self.binding_count[name] == self.import_count[name]
        return name not in self.bound and name not in self.loads and name not in BUILTINS

    def assignments_before(self, index: int) -> dict[str, ast.expr]:
        """``NAME = value`` statements of chunks before ``index`` whose name is bound once in the
        document and not inside chunk ``index``: name -> value (an :mod:`ast` expression)."""
        here = self.chunks[index].bound if 0 <= index < len(self.chunks) else set()
        found: dict[str, ast.expr] = {}
        for names in self.chunks[:index]:
            for name, value in names.assigned.items():
                if self.binding_count[name] == 1 and name not in here:
                    found[name] = value
        return found

    def bound_at_module_level(self, name: str) -> bool:
        """Whether some top-level statement binds ``name`` (an ``if TYPE_CHECKING:`` import counts)."""
        return self.last_module_binding(name) is not None

    def last_module_binding(self, name: str) -> int | None:
        """The index of the last chunk that binds ``name`` at module level, or None."""
        for index in range(len(self.chunks) - 1, -1, -1):
            if name in self.chunks[index].module_bound:
                return index
        return None


# -- libcst: what a scope binds, reads and writes (one notion of a bound name for every rule) ------------


def referenced_names(node: cst.CSTNode, skip: cst.CSTNode | None = None) -> set[str]:
    """Every variable name ``node`` mentions (read or written), attribute and keyword-argument names excluded.

    ``d.text + f(x, sep=s)`` -> ``{"d", "f", "x", "s"}``. Conservative: names bound by a
    lambda or comprehension inside ``node`` count too. The subtree ``skip`` is left out.
    """
    found: set[str] = set()

    def take(current: cst.CSTNode) -> bool:
        if isinstance(current, cst.Name):
            found.add(current.value)
            return True
        return False

    _walk_references(node, take, skip)
    return found


def _walk_references(
    node: cst.CSTNode, take: Callable[[cst.CSTNode], bool], skip: cst.CSTNode | None = None
) -> None:
    """Walk ``node`` for what it refers to: ``take(current)`` True consumes a node (its children are not
    visited); an attribute's name and a keyword argument's keyword are never visited; ``skip`` is left out."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if current is skip or take(current):
            continue
        if isinstance(current, (cst.Attribute, cst.Arg)):
            stack.append(current.value)
        else:
            stack.extend(children(current))


def all_params(params: cst.Parameters) -> list[cst.Param]:
    """Every parameter of a signature: positional-only, normal, keyword-only, ``*args`` and ``**kwargs``."""
    out = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            out.append(star)
    return out


def target_leaves(target: cst.CSTNode) -> list[cst.CSTNode]:
    """The single targets inside a tuple/list/starred target, in order (``a, (b.x, *c)`` -> ``a``, ``b.x``, ``c``)."""
    if isinstance(target, (cst.Tuple, cst.List)):
        return [leaf for element in target.elements for leaf in target_leaves(element.value)]
    if isinstance(target, cst.StarredElement):
        return target_leaves(target.value)
    return [target]


def stored_names(target: cst.CSTNode) -> set[str]:
    """The bare names a target stores into (not the names read by ``a.b = ``/``a[i] = ``)."""
    return {leaf.value for leaf in target_leaves(target) if isinstance(leaf, cst.Name)}


def target_names(target: cst.CSTNode) -> set[str] | None:
    """The names an assignment or loop target binds (``i, (a, *b)`` -> ``{"i", "a", "b"}``).

    None when the target also stores into an attribute or a subscript.
    """
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        names: set[str] = set()
        for element in target.elements:
            inner = target_names(element.value)
            if inner is None:
                return None
            names |= inner
        return names
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    return None


def name_bindings(scope: cst.CSTNode, name: str) -> Iterator[tuple[str, cst.CSTNode, cst.BaseExpression | None]]:
    """Every place ``scope`` binds ``name``, as ``(kind, node, value)``, in source order: the body of a
    function (its locals), or any other node (a statement: what it binds in its own scope).

    Kinds: ``"import"`` (``node`` the ``Import``/``ImportFrom``, see :func:`imported_as`; ``value``
    None), ``"assign"`` (``node`` the
    ``Assign``/``AnnAssign``/``NamedExpr``; ``value`` the assigned expression, None when it cannot be
    told: an unpacking, an annotation without a value), ``"augassign"`` (``value`` the operand),
    ``"def"`` (a nested ``def``/``class``), ``"target"`` (a ``for``/``with``/``except``/``match``
    target: an unknown value), ``"del"`` and ``"global"`` (``global``/``nonlocal`` declarations).
    Nested functions, lambdas and classes are not entered (their names are their own), nor the
    targets of comprehensions; parameters are not included.
    """
    stack: list[cst.CSTNode] = [scope.body if isinstance(scope, cst.FunctionDef) else scope]
    found: list[tuple[str, cst.CSTNode, cst.BaseExpression | None]] = []
    while stack:
        node = stack.pop()
        kids = children(node)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            if node.name.value == name:
                found.append(("def", node, None))
            continue
        if isinstance(node, cst.Lambda):
            continue
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            if imported_as(node, name) is not None:
                found.append(("import", node, None))
            continue
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if name in stored_names(target.target):
                    value = node.value if isinstance(target.target, cst.Name) else None
                    found.append(("assign", node, value))
        elif isinstance(node, cst.AnnAssign):
            if isinstance(node.target, cst.Name) and node.target.value == name:
                found.append(("assign", node, node.value))
        elif isinstance(node, cst.AugAssign):
            if isinstance(node.target, cst.Name) and node.target.value == name:
                found.append(("augassign", node, node.value))
        elif isinstance(node, cst.NamedExpr):
            if isinstance(node.target, cst.Name) and node.target.value == name:
                found.append(("assign", node, node.value))
        elif isinstance(node, cst.For):
            if name in stored_names(node.target):
                found.append(("target", node, None))
        elif isinstance(node, cst.WithItem):
            if node.asname is not None and name in stored_names(node.asname.name):
                found.append(("target", node, None))
        elif isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            if node.name is not None and name in stored_names(node.name.name):
                found.append(("target", node, None))
        elif isinstance(node, (cst.MatchAs, cst.MatchStar)):
            if node.name is not None and node.name.value == name:
                found.append(("target", node, None))
        elif isinstance(node, cst.MatchMapping):
            if node.rest is not None and node.rest.value == name:
                found.append(("target", node, None))
        elif isinstance(node, cst.Del):
            if name in stored_names(node.target):
                found.append(("del", node, None))
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            if any(item.name.value == name for item in node.names):
                found.append(("global", node, None))
        elif isinstance(node, cst.CompFor):
            kids = [child for child in kids if child is not node.target]
        stack.extend(reversed(kids))
    return iter(found)


def imported_as(stmt: cst.Import | cst.ImportFrom, name: str) -> str | None:
    """The qualified name an import statement binds to ``name``, or None when it does not bind it.

    ``import a.b`` binds ``a`` to ``a``; ``import a.b as c`` binds ``c`` to ``a.b``; ``from a import b
    as c`` binds ``c`` to ``a.b``; a relative ``from .m import x`` binds ``x`` to ``.m.x``. A star
    import binds nothing this can tell.
    """
    if isinstance(stmt.names, cst.ImportStar):
        return None
    module = ""
    if isinstance(stmt, cst.ImportFrom):
        module = "." * len(stmt.relative) + (dotted(stmt.module) or "" if stmt.module is not None else "")
    for alias in stmt.names:
        full = dotted(alias.name) or ""
        if alias.asname is not None:
            bound = alias.asname.name.value if isinstance(alias.asname.name, cst.Name) else None
            qualified = full
        elif isinstance(stmt, cst.Import):
            bound = qualified = full.split(".", 1)[0]
        else:
            bound = qualified = full
        if bound != name:
            continue
        if isinstance(stmt, cst.ImportFrom):
            return f"{module}.{qualified}" if module and not module.endswith(".") else module + qualified
        return qualified
    return None


def is_store_position(node: cst.CSTNode, parents: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """True when the name ``node`` is written (bound or deleted) where it stands."""
    child = node
    parent = parents.get(child)
    # climb through tuple/list/starred targets: ``a, (b, *c) = ...``
    while isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
        child, parent = parent, parents.get(parent)
    if isinstance(parent, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)):
        return parent.target is child
    if isinstance(parent, (cst.For, cst.CompFor)):
        return parent.target is child
    if isinstance(parent, cst.NamedExpr):
        return parent.target is child
    if isinstance(parent, (cst.Del, cst.NameItem, cst.Param, cst.AsName, cst.ImportAlias)):
        return True
    if isinstance(parent, (cst.FunctionDef, cst.ClassDef)):
        return parent.name is child
    if isinstance(parent, (cst.MatchAs, cst.MatchStar)):
        return True
    if isinstance(parent, cst.MatchMapping):
        return parent.rest is child
    return False


def name_occurrences(
    root: cst.CSTNode, name: str, parents: dict[cst.CSTNode, cst.CSTNode]
) -> list[tuple[cst.Name, bool]]:
    """Every use of the variable ``name`` under ``root`` as ``(node, is_store)``, in source order.

    Attribute names (``obj.name``) and keyword names (``f(name=1)``) are not
    variables and are left out; uses inside nested functions, lambdas, classes and
    comprehensions are included (conservative: they may be the same variable).
    """
    return [(node, is_store_position(node, parents)) for node in _variables(root, parents) if node.value == name]


def _variables(root: cst.CSTNode, parents: dict[cst.CSTNode, cst.CSTNode]) -> Iterator[cst.Name]:
    """The names under ``root`` that are variables, in source order.

    Not ``obj.attr``'s attribute name, not ``f(kw=...)``'s keyword."""
    for node in walk(root):
        if not isinstance(node, cst.Name):
            continue
        parent = parents.get(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            continue
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            continue
        yield node


def occurrences_in(
    ctx: SemanticModel, root: cst.CSTNode
) -> tuple[dict[cst.CSTNode, cst.CSTNode], dict[str, list[tuple[cst.Name, bool]]]]:
    """The chunk's parent table and, for every variable name, ``name_occurrences(root, name, parents)``.

    Built in one walk of ``root`` and remembered for the chunk's analysis
    (:meth:`SemanticModel.memo`), so that a rule asking about one name per site in a
    long function stays linear in the function's size. The parents are the chunk's
    one table (:meth:`SemanticModel.record_parents`), valid for ``root``'s subtree.
    Shared: do not mutate.
    """
    return ctx.memo(_occurrences_in, root, ctx)


def _occurrences_in(
    root: cst.CSTNode, ctx: SemanticModel
) -> tuple[dict[cst.CSTNode, cst.CSTNode], dict[str, list[tuple[cst.Name, bool]]]]:
    parents = ctx.record_parents(root)
    by_name: dict[str, list[tuple[cst.Name, bool]]] = {}
    for node in _variables(root, parents):
        by_name.setdefault(node.value, []).append((node, is_store_position(node, parents)))
    return parents, by_name


def changed_names(node: cst.CSTNode) -> set[str]:
    """Names whose value a statement-level ``node`` may change: the names it binds
    (:func:`binding_targets`), every name a target that stores into an attribute or item
    mentions (``a.x = ...`` changes what ``a`` holds; conservative: ``x`` counts too), the
    names it declares ``global``/``nonlocal``."""
    if isinstance(node, (cst.Global, cst.Nonlocal)):
        return {n.name.value for n in node.names}
    out: set[str] = set()
    for target, _ in binding_targets(node):
        names = target_names(target)
        out |= names if names is not None else {n.value for n in [target, *walk(target)] if isinstance(n, cst.Name)}
    return out


def dotted_refs(node: cst.CSTNode) -> set[tuple[str, ...]]:
    """The maximal name/attribute chains ``node`` reads: ``d.text + x[i]`` -> {(d, text), (x,), (i,)}."""
    found: set[tuple[str, ...]] = set()

    def take(current: cst.CSTNode) -> bool:
        name = dotted(current) if isinstance(current, (cst.Name, cst.Attribute)) else None
        if name is None:
            return False
        found.add(tuple(name.split(".")))
        return True

    _walk_references(node, take)
    return found


def store_path(target: cst.CSTNode) -> tuple[str, ...] | None:
    """``a.b = `` -> (a, b); ``a.b[i] = `` -> (a, b); ``a = `` -> (a,)."""
    while isinstance(target, cst.Subscript):
        target = target.value
    name = dotted(target) if isinstance(target, (cst.Name, cst.Attribute)) else None
    return tuple(name.split(".")) if name else None


def paths_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One path is a prefix of the other: a write to one may change the other."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


_BOUND_CACHE: dict[int, tuple[cst.FunctionDef, frozenset[str]]] = node_memo()


def binds_locally(func: cst.FunctionDef, name: str) -> bool:
    """True when ``func`` binds ``name`` locally (a parameter, an assignment, an import, a nested def...)."""
    return name in _locally_bound_names(func)


def _locally_bound_names(func: cst.FunctionDef) -> frozenset[str]:
    """Every name ``func`` binds locally, found in one walk and remembered per function node."""
    entry = _BOUND_CACHE.get(id(func))
    if entry is not None and entry[0] is func:
        return entry[1]
    names = {p.name.value for p in all_params(func.params)}
    for node in walk(func.body, stop=SCOPES):
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            names.add(node.name.value)
        target = None
        if isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor, cst.NamedExpr)):
            target = node.target
        elif isinstance(node, cst.Assign):
            for t in node.targets:
                names |= stored_names(t.target)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            target = node.asname.name
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            target = node.name.name
        elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                bound = alias.asname.name if alias.asname else cst.Name((dotted(alias.name) or "").split(".")[0] or "_")
                if isinstance(bound, cst.Name):
                    names.add(bound.value)
        if target is not None:
            names |= stored_names(target)
    if len(_BOUND_CACHE) > 4096:
        _BOUND_CACHE.clear()
    result = frozenset(names)
    _BOUND_CACHE[id(func)] = (func, result)
    return result


def first_param(func: cst.FunctionDef) -> str | None:
    """The name of ``func``'s first positional parameter (``self`` in a method), or None."""
    params = [*func.params.posonly_params, *func.params.params]
    return params[0].name.value if params else None


def local_binding_index(func: cst.FunctionDef, enter: bool = False) -> dict[str, list[tuple[str, cst.CSTNode | None]] | None]:
    """How ``func`` binds each of its local names, found in one walk of the function.

    Name -> its bindings in source order, parameters first: ("annotation", the
    annotation or None) for a parameter, ("value", expr) for ``name = expr``,
    ("annotation", expr) and ("value", expr) for ``name: expr = value``, ("other",
    None) for any other binding; with ``enter``, ("enter", expr) for ``with expr as
    name``. None for a name declared ``global``/``nonlocal``; a name ``func`` does not
    bind is absent. Meant to be remembered per function (``ctx.memo``): asking it once
    per name was quadratic in the function's size. Shared: do not mutate.
    """
    index: dict[str, list[tuple[str, cst.CSTNode | None]] | None] = {}
    for param in all_params(func.params):
        index.setdefault(param.name.value, []).append(("annotation", param.annotation.annotation if param.annotation else None))
    declared: set[str] = set()
    for node in walk(func.body, stop=SCOPES):
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            declared.update(n.name.value for n in node.names)
            continue
        if enter and isinstance(node, cst.WithItem) and node.asname is not None and isinstance(node.asname.name, cst.Name):
            index.setdefault(node.asname.name.value, []).append(("enter", node.item))
            continue
        for target, value in binding_targets(node):
            for name in stored_names(target):
                found = index.setdefault(name, [])
                if isinstance(node, cst.AnnAssign):
                    found.append(("annotation", node.annotation.annotation))
                    if value is not None and isinstance(target, cst.Name):
                        found.append(("value", value))
                elif isinstance(node, cst.Assign) and isinstance(target, cst.Name):
                    found.append(("value", value))
                else:
                    found.append(("other", None))
    for name in declared:
        index[name] = None
    return index


# -- scopes and names ------------------------------------------------------
def param_names(params: cst.Parameters) -> set[str]:
    return {p.name.value for p in all_params(params)}


def comprehension_targets(comp: cst.CSTNode) -> set[str]:
    names: set[str] = set()
    for_in = comp.for_in
    while for_in is not None:
        names |= referenced_names(for_in.target)
        for_in = for_in.inner_for_in
    return names


_BINDING_TYPES = frozenset(
    {
        cst.Assign,
        cst.AnnAssign,
        cst.AugAssign,
        cst.For,
        cst.CompFor,
        cst.NamedExpr,
        cst.WithItem,
        cst.ExceptHandler,
        cst.FunctionDef,
        cst.ClassDef,
        cst.Del,
        cst.Import,
        cst.ImportFrom,
    }
)


def binding_targets(node: cst.CSTNode) -> list[tuple[cst.CSTNode, cst.CSTNode | None]]:
    """(target, value) pairs of a node that binds names in its scope."""
    if type(node) not in _BINDING_TYPES:
        return []
    if isinstance(node, cst.Assign):
        return [(t.target, node.value) for t in node.targets]
    if isinstance(node, cst.AnnAssign):
        return [(node.target, node.value)]
    if isinstance(node, (cst.AugAssign, cst.For, cst.CompFor)):
        return [(node.target, None)]
    if isinstance(node, cst.NamedExpr):
        return [(node.target, None)]
    if isinstance(node, cst.WithItem) and node.asname is not None:
        return [(node.asname.name, None)]
    if isinstance(node, cst.ExceptHandler) and node.name is not None:
        return [(node.name.name, None)]
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        return [(node.name, None)]
    if isinstance(node, cst.Del):
        return [(node.target, None)]
    if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
        out: list[tuple[cst.CSTNode, cst.CSTNode | None]] = []
        for alias in node.names:
            if alias.asname is not None:
                out.append((alias.asname.name, None))
            else:
                head = dotted(alias.name) or ""
                out.append((cst.Name(head.split(".", 1)[0]), None))
        return out
    return []


def bindings_in(node: cst.CSTNode, name: str) -> Iterable[tuple[str, cst.CSTNode | None]]:
    """How ``node`` itself binds ``name``: ("value", expr), ("annotation", expr) or ("other", None)."""
    for target, value in binding_targets(node):
        if name not in stored_names(target):
            continue
        if isinstance(node, cst.AnnAssign):
            yield "annotation", node.annotation.annotation
            if value is not None and isinstance(target, cst.Name):
                yield "value", value
        elif isinstance(node, cst.Assign) and isinstance(target, cst.Name):
            yield "value", value
        else:
            yield "other", None


def binding_counts(node: cst.CSTNode) -> dict[str, int]:
    """How many statements (or clauses) under ``node`` bind each name in ``node``'s own scope
    (:func:`binding_targets`; nested functions, classes and comprehensions left out)."""
    counts: dict[str, int] = {}
    for inner in walk(node, stop=SCOPES):
        for target, _ in binding_targets(inner):
            for name in stored_names(target):
                counts[name] = counts.get(name, 0) + 1
    return counts


def bound_names(node: cst.CSTNode) -> set[str]:
    """Names bound anywhere in a block, in the block's own scope (nested functions' bodies excluded)."""
    names = set(binding_counts(node))
    for inner in walk(node, stop=FUNCTION_BOUNDARIES):  # walrus in a comprehension binds outside it
        if isinstance(inner, cst.NamedExpr):
            names |= stored_names(inner.target)
    return names


def builtins_shadowed(ctx: SemanticModel, names: Iterable[str]) -> bool:
    """True when the chunk (in any scope) or the module binds one of ``names`` (``list``, ``zip``)."""
    wanted = set(names)
    mctx = ctx.module_ctx
    if any(mctx.imported(n) or mctx.binding(n) for n in wanted):
        return True
    if not any(n in ctx.text for n in wanted):
        return False
    try:
        tree = ast.parse(ctx.text)
    except (SyntaxError, ValueError, RecursionError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in wanted:
            return True
        if isinstance(node, ast.arg) and node.arg in wanted:
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in wanted:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) in wanted:
            return True
        if isinstance(node, ast.ExceptHandler) and node.name in wanted:
            return True
    return False
