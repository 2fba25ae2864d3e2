"""Class facts: what each member of a class tells the others, from :mod:`ast` alone.

A class is analysed member by member (:mod:`perf_lsp.analysis.units`). Some rules
look past the member they report in, at its siblings, through the class's libcst
tree:

- the value a sibling assigns to ``self.x`` (or a class-level ``x = ...``/``x: T``),
  to type a receiver ``self.x`` (PFL201, PFL202, PFL204, the held-thread-lock
  test of PFL303/PFL304), or to prove ``self.x`` a string (PFL402), following the values'
  own ``self.y`` receivers in turn;
- the ``def m`` a ``self.m(...)`` call in an ``async def`` runs (PFL303 looks for a
  blocking call in it), and the method a mutable default argument is passed to
  (PFL701 follows it three calls deep, and into the attributes it is stored in:
  every method that mentions ``self.attr``);
- the methods that call a private method ``_m`` (a method only set-up code calls
  runs once: ``runs_once``); they enter a unit as stubs (signature and a mention);
- whether any member binds ``list``, ``zip`` or ``dict`` (PFL201/202 fixes);
- the imports anywhere in the class (resolving names, as for the whole statement).

:func:`member_facts` records, per member, the names behind those reads;
:func:`context` closes them over the class: the siblings a unit must be analysed
with so that the rules read exactly what they read in the whole class. A unit's
libcst text is its class header, those siblings and itself; its cache key is that
text, so editing a sibling it reads re-checks it, and editing one it does not read
does not. Cheap: one :func:`ast.walk` per member, done when the member is parsed.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from perf_lsp.analysis.imports import import_bindings

SHADOWED_BUILTINS = frozenset({"list", "zip", "dict"})
"""Builtins whose rebinding anywhere in a statement turns off PFL201/PFL202 fixes there."""

THREAD_LOCKS = frozenset(
    f"{module}.{name}" for module in ("threading", "multiprocessing") for name in ("Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore")
)
"""What the held-thread-lock test of PFL303/PFL304 takes for a lock: ``name = <one of these>()`` anywhere in a class."""
_LOCK_NAMES = frozenset(qn.rsplit(".", 1)[1] for qn in THREAD_LOCKS)

CALL_DEPTH = 3
"""How many ``self.m(...)`` calls deep PFL701 follows a mutable default argument."""

_NESTING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_IMMUTABLE_DEFAULTS = (ast.Constant, ast.Name, ast.Attribute, ast.UnaryOp, ast.Tuple, ast.BinOp)


@dataclass(frozen=True)
class MemberFacts:
    """What one class-body statement (a member) offers its siblings and reads from them.

    Names only, from :mod:`ast`: ``name``: the ``def``/``class`` name (None for other
    statements); ``reads``: ``self`` attributes whose type or value a rule may
    look up in their assignments (receivers, see :func:`_self_facts`);
    ``self_mentions``: every ``self`` attribute it uses; ``mentions``: every attribute name;
    ``deep_mentions``: those inside functions or classes nested in a ``def``;
    ``reads``, ``calls`` and ``stores`` count only attributes of the first
    parameter (``self``) of a method at class level (the receivers the rules
    follow into siblings); ``assigns``: attribute names assigned or deleted anywhere in it, names bound by
    ``name = mod.Lock(...)`` (a call whose last name is a lock class of
    :data:`THREAD_LOCKS`) anywhere, and, for a statement that is not a definition,
    the names it binds at class level; ``named_calls``: (name, callee) of
    ``name = callee(...)`` with a bare callee (a lock when an import makes it one); ``stores``: ``self`` attributes assigned from a
    name, ``or``/``if`` expression (where a mutable default may be kept);
    ``calls``: ``m`` of ``self.m(...)`` calls; ``private``: private methods it
    defines at class level (``_m``, not ``__m__``); ``is_async``: it defines an
    ``async def`` at class level; ``mutable_default``: a function in it has a
    default that may be mutable; ``shadows``: it binds one of
    :data:`SHADOWED_BUILTINS`; ``imports``: (local name, qualified name) of its
    imports, in :func:`ast.walk` order; ``class_loop``: a loop or comprehension runs
    at class level (outside any function), in it or in a class nested in it.
    """

    name: str | None
    is_def: bool
    is_class: bool
    reads: frozenset[str]
    self_mentions: frozenset[str]
    mentions: frozenset[str]
    deep_mentions: frozenset[str]
    assigns: frozenset[str]
    stores: frozenset[str]
    named_calls: frozenset[tuple[str, str]]
    calls: frozenset[str]
    private: frozenset[str]
    is_async: bool
    mutable_default: bool
    shadows: bool
    imports: tuple[tuple[str, str], ...]
    class_loop: bool
    import_text: str = ""
    """Its import statements as code (:func:`ast.unparse`), one per line."""


def member_facts(nodes: Sequence[ast.AST], header: bool = False) -> MemberFacts:
    """The facts of one member: ``nodes`` are its :mod:`ast` statements (several when they share a line).

    ``header``: ``nodes`` are a class's decorators, bases and keywords (expressions).
    """
    reads: set[str] = set()
    mentions: set[str] = set()
    assigns: set[str] = set()
    stores: set[str] = set()
    calls: set[str] = set()
    self_mentions: set[str] = set()
    named_calls: set[tuple[str, str]] = set()
    imports: list[tuple[str, str]] = []
    import_lines: list[str] = []
    shadows = mutable = False
    first = nodes[0] if nodes else None
    is_def = isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef)) and not header
    is_class = isinstance(first, ast.ClassDef) and not header
    name = first.name if (is_def or is_class) else None
    fused = is_def and len(nodes) == 1  # a method: one walk also gives its self facts and nested mentions
    nested_found: set[str] = set()
    self_node = _SelfFacts(first, reads, self_mentions, calls, stores) if fused else None
    for top in nodes:
        for node, nested in _walk_nested(top) if fused else ((n, False) for n in ast.walk(top)):
            kind = type(node)
            if self_node is not None:
                self_node.see(node, kind)
                if nested and kind is ast.Attribute:
                    nested_found.add(node.attr)
            if kind is ast.Attribute:
                mentions.add(node.attr)
                if type(node.ctx) is not ast.Load:
                    assigns.add(node.attr)
            elif kind is ast.Name:
                if type(node.ctx) is not ast.Load and node.id in SHADOWED_BUILTINS:
                    shadows = True
            elif kind is ast.Assign or kind is ast.AnnAssign:
                value = node.value
                targets = node.targets if kind is ast.Assign else [node.target]
                if type(value) is ast.Call:
                    callee = value.func
                    names = [t.id for t in targets if type(t) is ast.Name]
                    if type(callee) is ast.Attribute and callee.attr in _LOCK_NAMES:
                        assigns.update(names)
                    elif type(callee) is ast.Name:
                        named_calls.update((name, callee.id) for name in names)
            elif kind is ast.Import or kind is ast.ImportFrom:
                imports.extend(import_bindings(node))
                import_lines.append(ast.unparse(node) + "\n")
                if any((a.asname or a.name.split(".")[0]) in SHADOWED_BUILTINS for a in node.names):
                    shadows = True
            elif kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda):
                if kind is not ast.Lambda and node.name in SHADOWED_BUILTINS:
                    shadows = True
                args = node.args
                every = (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
                if any(a is not None and a.arg in SHADOWED_BUILTINS for a in every):
                    shadows = True
                defaults = (*args.defaults, *(d for d in args.kw_defaults if d is not None))
                if any(not isinstance(d, _IMMUTABLE_DEFAULTS) for d in defaults):
                    mutable = True
            elif kind is ast.ClassDef:
                if node.name in SHADOWED_BUILTINS:
                    shadows = True
            elif kind is ast.ExceptHandler:
                if node.name in SHADOWED_BUILTINS:
                    shadows = True
    private: set[str] = set()
    is_async = False
    class_loop = False
    if not header:
        for definition in _class_level_defs(nodes):
            if not fused:
                _self_facts(definition, reads, self_mentions, calls, stores)
            if isinstance(definition, ast.AsyncFunctionDef):
                is_async = True
            if definition.name.startswith("_") and not definition.name.startswith("__"):
                private.add(definition.name)
        class_loop = any(_class_level_loop(node) for node in nodes)
        if not is_def and not is_class:
            for node in nodes:
                assigns.update(_class_level_names(node))
    return MemberFacts(
        name=name,
        is_def=is_def,
        is_class=is_class,
        reads=frozenset(reads),
        self_mentions=frozenset(self_mentions),
        deep_mentions=frozenset(nested_found if fused else _nested_mentions(nodes)) if is_def else frozenset(),
        mentions=frozenset(mentions),
        assigns=frozenset(assigns),
        stores=frozenset(stores),
        named_calls=frozenset(named_calls),
        calls=frozenset(calls),
        private=frozenset(private),
        is_async=is_async,
        mutable_default=mutable,
        shadows=shadows,
        imports=tuple(imports),
        class_loop=class_loop,
        import_text="".join(import_lines),
    )


def _walk_nested(top: ast.AST) -> Iterable[tuple[ast.AST, bool]]:
    """:func:`ast.walk` of ``top`` (same order), each node with whether it is inside (or is) a function,
    lambda or class nested in ``top``."""
    todo = deque([(top, False)])
    while todo:
        node, nested = todo.popleft()
        for child in ast.iter_child_nodes(node):
            todo.append((child, nested or isinstance(child, _NESTING)))
        yield node, nested


class _SelfFacts:
    """:func:`_self_facts` one node at a time (``see``), for a walk that collects other facts too."""

    def __init__(self, method, reads: set[str], mentions: set[str], calls: set[str], stores: set[str]) -> None:
        args = method.args
        first = (args.posonlyargs or args.args or [None])[0]
        self.owner = first.arg if first is not None else None
        self.reads, self.mentions, self.calls, self.stores = reads, mentions, calls, stores

    def root(self, expr: ast.AST | None) -> None:
        owner = self.owner
        while expr is not None:
            kind = type(expr)
            if kind is ast.Attribute:
                value = expr.value
                if type(value) is ast.Name and value.id == owner:
                    self.reads.add(expr.attr)
                    return
                expr = value
            elif kind is ast.Call:
                expr = expr.func
            elif kind is ast.Subscript:
                expr = expr.value
            elif kind is ast.Await:
                expr = expr.value
            else:
                return

    def see(self, node: ast.AST, kind: type) -> None:
        owner = self.owner
        if owner is None:
            return
        if kind is ast.Attribute:
            value = node.value
            if type(value) is ast.Name and value.id == owner:
                self.mentions.add(node.attr)
        elif kind is ast.Call:
            func = node.func
            if type(func) is ast.Attribute:
                if type(func.value) is ast.Name and func.value.id == owner:
                    self.calls.add(func.attr)
                self.root(func.value)
        elif kind is ast.Assign or kind is ast.AnnAssign:
            self.root(node.value)
            if isinstance(node.value, (ast.Name, ast.BoolOp, ast.IfExp)):
                targets = node.targets if kind is ast.Assign else [node.target]
                self.stores.update(
                    t.attr for t in targets if type(t) is ast.Attribute and type(t.value) is ast.Name and t.value.id == owner
                )
        elif kind is ast.AugAssign:
            self.root(node.target)
        elif kind is ast.withitem:
            self.root(node.context_expr)
        elif kind is ast.NamedExpr:
            self.root(node.value)


def _self_facts(
    method: ast.FunctionDef | ast.AsyncFunctionDef, reads: set[str], mentions: set[str], calls: set[str], stores: set[str]
) -> None:
    """Add what ``method`` (a class-level ``def``) does with attributes of its first parameter (``self``), in its
    body and in the functions nested in it.

    ``reads``: the attributes a rule may type from their assignments in other
    members: the root of a receiver chain (``self.x`` in ``self.x.m(...)``,
    ``self.x.y.m(...)``, ``self.x[k].m()``), of a value bound to a name or an
    attribute (``m = self.x``, ``m = await self.x.get()``, ``with self.x as m``), of a
    ``with`` item (``with self._lock:``) or an augmented assignment's target
    (``self.text += s``); ``mentions``: every ``self.x``.
    """
    facts = _SelfFacts(method, reads, mentions, calls, stores)
    for node in ast.walk(method):
        facts.see(node, type(node))


def _nested_mentions(nodes: Sequence[ast.AST]) -> set[str]:
    """Attribute names mentioned inside the functions, lambdas and classes nested in the ``def`` s ``nodes``."""
    found: set[str] = set()
    for node in nodes:
        for inner in ast.walk(node):
            if inner is not node and isinstance(inner, (*_FUNCTIONS, ast.ClassDef)):
                found.update(n.attr for n in ast.walk(inner) if isinstance(n, ast.Attribute))
    return found


def _class_level_defs(nodes: Iterable[ast.AST]) -> Iterable[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The ``def`` s among ``nodes`` and in their blocks, not inside another function or class."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node
        elif isinstance(node, ast.stmt) and not isinstance(node, ast.ClassDef):
            stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)))
        elif isinstance(node, (ast.excepthandler, ast.match_case)):
            stack.extend(node.body)


def _class_level_loop(node: ast.AST) -> bool:
    """A loop or comprehension in ``node`` outside every function (classes nested in it included)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, _LOOPS):
            return True
        if isinstance(current, _FUNCTIONS):
            stack.extend(current.decorator_list if not isinstance(current, ast.Lambda) else ())
            continue
        stack.extend(ast.iter_child_nodes(current))
    return False


def _class_level_names(node: ast.AST) -> set[str]:
    """Names ``node`` binds by assignment outside nested functions and classes (class attributes)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (*_FUNCTIONS, ast.ClassDef)):
            continue
        if isinstance(current, ast.Name) and not isinstance(current.ctx, ast.Load):
            found.add(current.id)
        stack.extend(ast.iter_child_nodes(current))
    return found


def splittable(members: Sequence[MemberFacts]) -> bool:
    """Whether a class with these members can be analysed member by member.

    Not when code runs in a loop at class level: a loop outside any function makes
    some rules look at the names of the whole statement.
    """
    return not any(facts.class_loop for facts in members)


@dataclass(frozen=True)
class ClassIndex:
    """The members of one class by the names they offer, for :func:`context`; build it with :func:`class_index`."""

    members: tuple[MemberFacts, ...]
    header: MemberFacts | None
    assigners: dict[str, tuple[int, ...]]
    definers: dict[str, tuple[int, ...]]
    readers: dict[str, tuple[int, ...]]
    mentioners: dict[str, tuple[int, ...]]
    shadowing: tuple[int, ...]


def class_index(
    members: Sequence[MemberFacts], header: MemberFacts | None = None, lock_aliases: frozenset[str] = frozenset()
) -> ClassIndex:
    """Index ``members`` (a class's, in order) for :func:`context`.

    ``header``: the class header's facts (decorators, bases), read by every unit;
    ``lock_aliases``: names the module's or the class's imports bind to a lock
    class of :data:`THREAD_LOCKS` (``from threading import Lock``).
    """
    assigners: dict[str, list[int]] = {}
    definers: dict[str, list[int]] = {}
    readers: dict[str, list[int]] = {}
    mentioners: dict[str, list[int]] = {}
    for index, facts in enumerate(members):
        for name in facts.assigns:
            assigners.setdefault(name, []).append(index)
        for name, callee in facts.named_calls:
            if callee in lock_aliases:
                assigners.setdefault(name, []).append(index)
        if facts.is_def and facts.name is not None:
            definers.setdefault(facts.name, []).append(index)
        for name in facts.self_mentions:
            readers.setdefault(name, []).append(index)
        for name in facts.mentions:
            mentioners.setdefault(name, []).append(index)

    def frozen(table: dict[str, list[int]]) -> dict[str, tuple[int, ...]]:
        return {name: tuple(indices) for name, indices in table.items()}

    return ClassIndex(
        tuple(members),
        header,
        frozen(assigners),
        frozen(definers),
        frozen(readers),
        frozen(mentioners),
        tuple(i for i, facts in enumerate(members) if facts.shadows),
    )


def context(owned: Iterable[int], index: ClassIndex) -> tuple[set[int], dict[int, set[str]]]:
    """The members a unit made of members ``owned`` must be analysed with: (indices, ``owned`` included;
    stubs: index -> private method names).

    A *stub* stands for a method that calls a private method of the unit (``runs_once``
    asks whether only set-up code calls it): its decorators and signature, and a body
    that mentions those names, which is all that question reads; a method nested
    functions of which mention them is included whole instead.

    The closure of the reads the module docstring lists: a member is expanded (its
    own reads followed) when included for the value it assigns or the method it
    defines; included for other reasons (a caller of a private method, a mention of
    a stored attribute, a rebinding of ``list``) it is only read, not followed.
    """
    owned = list(owned)
    members = index.members
    header = index.header
    assigners, definers, readers, mentioners = index.assigners, index.definers, index.readers, index.mentioners
    included: set[int] = set(owned)
    included.update(index.shadowing)
    stubs: dict[int, set[str]] = {}
    expanded: set[int] = set()
    followed: dict[int, int] = {}  # member -> the least call depth its calls were followed at
    seen_reads: set[str] = set()
    # (member, how many ``self.m()`` calls deep a mutable default reached it; None: not through a call)
    queue: list[tuple[int, int | None]] = [(i, None) for i in owned]
    if header is not None:
        queue.append((-1, None))
    while queue:
        number, depth = queue.pop()
        facts = header if number < 0 else members[number]
        if number >= 0:
            included.add(number)
        if number not in expanded:
            expanded.add(number)
            for name in facts.reads - seen_reads:
                seen_reads.add(name)
                queue.extend((other, None) for other in assigners.get(name, ()))
            for name in facts.private:
                for other in mentioners.get(name, ()):
                    caller = members[other]
                    if caller.is_class:
                        continue  # its methods are not the class's: never callers
                    if caller.is_def and name not in caller.deep_mentions:
                        stubs.setdefault(other, set()).add(name)
                    else:
                        included.add(other)
        if depth is None:
            depth = 0 if (facts.is_async or facts.mutable_default) else None
        if depth is None:
            continue
        if facts.mutable_default or depth:  # a mutable value may be stored in an attribute here
            for name in facts.stores:
                included.update(readers.get(name, ()))
        if depth < CALL_DEPTH and followed.get(number, CALL_DEPTH + 1) > depth:
            followed[number] = depth
            for name in facts.calls:
                queue.extend((other, depth + 1) for other in definers.get(name, ()))
    return included, {i: names for i, names in stubs.items() if i not in included}


def class_imports(members: Sequence[MemberFacts]) -> tuple[tuple[str, str], ...] | None:
    """(local name, qualified name) of every import in the class, sorted; None when two disagree on a name.

    What a rule resolves names through for the whole statement; when the same
    name is imported as different modules in different members, the order of the
    whole statement's walk decides, and the caller must take it from there.
    """
    found: dict[str, str] = {}
    for facts in members:
        for local, qualified in facts.imports:
            if found.setdefault(local, qualified) != qualified:
                return None
    return tuple(sorted(found.items()))
