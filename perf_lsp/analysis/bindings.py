"""What a document binds and reads, from :mod:`ast`: the facts fixes need about names.

A fix that adds a name must not clash with a real binding (any scope's assignments,
parameters, imports, ``global`` names, names read anywhere, builtins), and words in
strings, comments or attribute names do not count. A fix that removes the last use
of an import removes that import too, so the engine needs every chunk's reads.

Built per top-level statement ("chunk") from the :mod:`ast` nodes the document split
already made, and cached by the chunk's text: a fix-all round pays only for the
statements the previous round changed. ``ast`` over a 6,400-line document costs
about 33 ms (``../shared/STACK.md``).
"""

from __future__ import annotations

import ast
import builtins
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from perf_lsp.analysis.module import import_bindings

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
