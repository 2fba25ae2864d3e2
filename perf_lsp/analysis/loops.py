"""Facts about loops: whether a loop's body breaks it, whether a call runs once per independent item.

Shared by the rules about work repeated in a loop (PFL2xx) and about blocking in
``async def`` (PFL303, PFL304: no ``to_thread`` fix inside such a loop).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst

from perf_lsp.analysis.bindings import (
    all_params,
    binding_targets,
    bindings_in,
    bound_names,
    comprehension_targets,
    dotted_refs,
    paths_overlap,
    referenced_names,
    store_path,
    stored_names,
    target_leaves,
)
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import (
    COMPREHENSIONS,
    FUNCTION_BOUNDARIES,
    SCOPES,
    children,
    dotted,
    index_of,
    loop_head,
    walk,
)
from perf_lsp.analysis.words import camel_to_snake

# -- loops over independent items --------------------------------------------
_PACING_WORDS = frozenset({"sleep", "throttle", "limiter", "backoff", "ratelimit", "pace", "wait"})


_CHANGING_METHODS = frozenset(
    {
        "append", "extend", "insert", "add", "update", "pop", "popleft", "appendleft", "remove", "clear",
        "setdefault", "discard", "put", "put_nowait", "push", "set", "sort", "reverse",
    }
)


def per_item_in_loop(call: cst.Call, func: cst.FunctionDef, ctx: SemanticModel) -> bool:
    """True when ``call`` runs once per item of a ``for`` loop whose items look independent.

    Then ``await asyncio.to_thread(...)`` in its place would be an await in a loop that
    PFL302 reports (one call after another, where the threads could run together), so
    PFL303 and PFL304 offer no ``to_thread`` fix there. The loop is taken as dependent, and the fix kept, when
    PFL302 would stay silent: an ``async for``; a body that returns, yields, breaks this
    loop, awaits, paces itself (``sleep``, ``limiter``...) or holds the call in a ``with``;
    a call that reads nothing the loop binds (the same call each time: polling); or one
    that reads something the body changes (``done.append(x)``, ``total += ...``).
    """
    loop = ctx.repeating_loop(call)
    if not isinstance(loop, cst.For) or loop.asynchronous is not None:
        return False
    for anc in ctx.ancestors(call):
        if anc is loop:
            break
        if isinstance(anc, cst.With):
            return False
    body = loop.body
    bound = set(stored_names(loop.target))
    changed: set[str] = set()
    for inner in walk(body, stop=FUNCTION_BOUNDARIES):
        if isinstance(inner, (cst.Await, cst.Return, cst.Yield)):
            return False
        if isinstance(inner, (cst.With, cst.For)) and inner.asynchronous is not None:
            return False
        if isinstance(inner, cst.Call):
            name = dotted(inner.func) or (inner.func.attr.value if isinstance(inner.func, cst.Attribute) else "")
            words = {w for seg in name.split(".") for w in camel_to_snake(seg).split("_")}
            if words & _PACING_WORDS or "rate_limit" in name.lower():
                return False
            if isinstance(inner.func, cst.Attribute) and inner.func.attr.value in _CHANGING_METHODS:
                root = _root_name(inner.func.value)
                if root is not None:
                    changed.add(root)
        elif isinstance(inner, cst.Assign):
            for target in inner.targets:
                bound |= stored_names(target.target)
                for leaf in target_leaves(target.target):
                    root = None if isinstance(leaf, cst.Name) else _root_name(leaf)
                    if root is not None:
                        changed.add(root)  # ``seen[key] = ...``, ``self.last = ...``
        elif isinstance(inner, (cst.AugAssign, cst.AnnAssign)):
            bound |= stored_names(inner.target)
            root = _root_name(inner.target)
            if root is not None and (isinstance(inner, cst.AugAssign) or not isinstance(inner.target, cst.Name)):
                changed.add(root)
        elif isinstance(inner, (cst.For, cst.CompFor)):
            bound |= stored_names(inner.target)
        elif isinstance(inner, cst.WithItem) and inner.asname is not None:
            bound |= stored_names(inner.asname.name)
        elif isinstance(inner, cst.NamedExpr):
            bound |= stored_names(inner.target)
    if breaks_loop(body):
        return False
    reads = referenced_names(call)
    if not reads & bound:
        return False  # the same call on every iteration: a retry or polling loop
    return not reads & (changed - set(stored_names(loop.target)))


def _root_name(expr: cst.CSTNode) -> str | None:
    while isinstance(expr, (cst.Attribute, cst.Subscript)):
        expr = expr.value
    return expr.value if isinstance(expr, cst.Name) else None


def breaks_loop(body: cst.CSTNode) -> bool:
    """A ``break`` of the loop whose body this is (not of a loop nested in it; a nested loop's ``else`` counts)."""
    stack = list(children(body))
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Break):
            return True
        if isinstance(node, (cst.For, cst.While)):
            if node.orelse is not None:  # a nested loop's ``else`` runs in this loop
                stack.append(node.orelse)
            continue
        if isinstance(node, FUNCTION_BOUNDARIES):
            continue
        stack.extend(children(node))
    return False


# The argument already is a batch when the value it names is plural or a batch:
# ``encode(batch)``, ``encode(doc.sentences)``, ``encode(page["paragraphs"])``.
_BATCH_WORDS = ("batch", "chunks", "group", "list")


_SINGULAR_ENDINGS = ("ss", "us", "is", "news")


# Loops over these iterables yield batches, not items.
_BATCHING_CALLS = frozenset({"batched", "chunked", "ichunked", "grouper", "sliced", "windowed"})


# Values and annotations of a name that can be iterated twice with the same items.
_REITERABLE_CALLS = frozenset({"list", "tuple", "sorted", "range", "set", "frozenset", "dict"})


_REITERABLE_ANNOTATIONS = frozenset({"list", "List", "Sequence", "MutableSequence", "tuple", "Tuple"})


def is_batch(expr: cst.BaseExpression) -> bool:
    """True when ``expr`` already holds several items."""
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        return len(expr.elements) > 1 or any(isinstance(e, cst.StarredElement) for e in expr.elements)
    if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
        return True
    if isinstance(expr, cst.Subscript):
        if any(isinstance(element.slice, cst.Slice) for element in expr.slice):
            return True
    if isinstance(expr, cst.Call) and dotted(expr.func) in {"list", "tuple", "sorted"}:
        return True
    word = last_word(expr)
    return word is not None and _is_batch_word(word)


def last_word(expr: cst.BaseExpression) -> str | None:
    """The name an expression ends with: ``doc.sentences`` -> sentences, ``page["lines"]`` -> lines."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            value = index.value.evaluated_value
            return value if isinstance(value, str) else None
    return None


def _is_batch_word(word: str) -> bool:
    """A name that says it holds several items: ``batch``, ``texts``, ``doc_chunks``, ``sentences``."""
    lower = word.lower().strip("_")
    if any(w in lower for w in _BATCH_WORDS):
        return True
    return len(lower) > 3 and lower.endswith("s") and not lower.endswith(_SINGULAR_ENDINGS)


def _iterates_batches(iterable: cst.BaseExpression | None) -> bool:
    """A loop over batches: ``for chunk in chunked(texts, 32)``, ``for b in loader``, ``for b in batches``."""
    if iterable is None:
        return False
    expr = iterable
    if isinstance(expr, cst.Call) and dotted(expr.func) in {"enumerate", "zip"} and expr.args:
        expr = expr.args[0].value
    if isinstance(expr, cst.Call):
        name = (dotted(expr.func) or "").rsplit(".", 1)[-1].lower()
        return "batch" in name or name in _BATCHING_CALLS
    word = (last_word(expr) or "").lower()
    return "batch" in word or "loader" in word


def varying_loop(ctx: SemanticModel, loop: cst.CSTNode | None, parts: Iterable[cst.CSTNode]) -> cst.CSTNode | None:
    """The innermost ``for`` loop or comprehension (from ``loop`` outwards) whose per-iteration names
    ``parts`` read, or None.

    None also when that loop is a ``while`` loop (a consumer or a pagination loop)
    or iterates over batches (``batched(...)``, ``chunks``, a loader).
    """
    used: set[str] = set()
    for part in parts:
        used |= referenced_names(part)
    while loop is not None:
        if isinstance(loop, cst.While):
            if used & ctx.memo(bound_names, loop.body):
                return None
        else:
            targets, iterable = ctx.memo(loop_targets, loop)
            varying = targets | (ctx.memo(bound_names, loop.body) if isinstance(loop, cst.For) else set())
            if used & varying:
                if _iterates_batches(iterable) or any(_batch_target(t) for t in targets):
                    return None
                return loop
        loop = ctx.repeating_loop(loop)
    return None


def invariant_loop(ctx: SemanticModel, operand: cst.BaseExpression, node: cst.CSTNode) -> cst.CSTNode | None:
    """The innermost loop that runs ``node`` once per iteration (``ctx.repeating_loop``), when ``operand``
    (a name or an attribute chain on one) is the same on every iteration of it; else None.

    Not the same: the loop binds a name ``operand`` reads (its targets, names assigned in a
    ``for``/``while`` body, a comprehension's targets and walrus names), stores into it
    (``v[i] = ...``, ``v.x = ...``), or calls a method on it (``v.append(x)``: it may change in
    place). Used for work repeated on a loop-invariant value (a norm, ``set(wanted)``).
    """
    root = operand
    while isinstance(root, cst.Attribute):
        root = root.value
    if not isinstance(root, cst.Name):
        return None
    loop = ctx.repeating_loop(node)
    if loop is None:
        return None
    used = referenced_names(operand)
    targets, _ = ctx.memo(loop_targets, loop)
    varying = targets | (ctx.memo(bound_names, loop.body) if isinstance(loop, (cst.For, cst.While)) else set())
    if used & varying:
        return None
    if isinstance(loop, (cst.For, cst.While)):
        effects = ctx.memo(block_effects, loop.body)
        for ref in dotted_refs(operand):
            if any(paths_overlap(ref, path) for path in effects.stores):
                return None
            if any(path[: len(ref)] == ref for path in effects.receivers):
                return None
    return loop


def _batch_target(name: str) -> bool:
    lower = name.lower()
    return "batch" in lower


def loop_targets(loop: cst.CSTNode) -> tuple[set[str], cst.BaseExpression | None]:
    """The names a ``for`` loop or comprehension binds per iteration, and its (outermost) iterable.

    A ``while`` loop binds nothing by its header: ``(set(), None)``.
    """
    if isinstance(loop, cst.For):
        return referenced_names(loop.target), loop.iter
    if isinstance(loop, cst.While):
        return set(), None
    names = comprehension_targets(loop)
    for node in walk(loop, stop=FUNCTION_BOUNDARIES):
        if isinstance(node, cst.NamedExpr):
            names |= referenced_names(node.target)
    return names, loop.for_in.iter


def changed_by_loop(parts: list[cst.CSTNode], iterable: cst.CSTNode, everywhere: "Effects") -> bool:
    """True when the loop body may change what the batched call reads before the loop:
    the receiver and other arguments (``parts``), or the iterable while it is iterated."""
    for part in parts:
        if any(paths_overlap(ref, p) for ref in dotted_refs(part) for p in everywhere.stores):
            return True
    for ref in dotted_refs(iterable):
        if any(paths_overlap(ref, p) for p in everywhere.stores):
            return True
        if any(p[: len(ref)] == ref for p in everywhere.receivers):
            return True
        if any(ref[: len(p)] == p for p in everywhere.passed):
            return True
    return False


@dataclass
class Effects:
    """What a run of statements may do that matters to moving a call before the loop."""

    stores: list[tuple[str, ...]]
    """Attribute and subscript stores, deletions and bare-name stores, as paths."""
    receivers: list[tuple[str, ...]]
    """Receivers of method calls: ``doc.normalize()`` -> (doc,)."""
    passed: list[tuple[str, ...]]
    """Names and attribute chains passed whole to a call: ``clean(doc)`` -> (doc,)."""
    exits: bool
    """``break``/``continue`` (of this loop), ``return``, ``raise``, ``assert`` or ``yield``."""
    yields: bool = False
    """``yield`` or ``yield from`` (the loop is a lazy producer)."""


_LOOP_EXITS = frozenset({cst.Break, cst.Continue})


_EXITS = frozenset({cst.Return, cst.Raise, cst.Assert, cst.Yield})


_BOUNDARY_TYPES = frozenset(FUNCTION_BOUNDARIES)


def statement_effects(nodes: Iterable[cst.CSTNode], skip: cst.CSTNode | None = None, ctx: SemanticModel | None = None) -> Effects:
    """The effects of ``nodes``; ``skip`` (a call) is left out, and so are the calls around it
    (given ``ctx``): they run after it."""
    effects = Effects([], [], [], False)
    around = {id(a) for a in ctx.ancestors(skip)} if skip is not None and ctx is not None else set()
    for top in nodes:
        stack: list[tuple[cst.CSTNode, bool]] = [(top, False)]
        while stack:
            node, in_loop = stack.pop()
            if node is skip:
                continue
            kind = type(node)
            if kind in _LOOP_EXITS and not in_loop or kind in _EXITS:
                effects.exits = True
                effects.yields = effects.yields or kind is cst.Yield
            for target, _ in binding_targets(node):
                if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Import, cst.ImportFrom)):
                    effects.stores.append((target.value,) if isinstance(target, cst.Name) else ())
                    continue
                for element in target_leaves(target):
                    path = store_path(element)
                    if path:
                        effects.stores.append(path)
            if kind is cst.Call and id(node) not in around:
                if isinstance(node.func, cst.Attribute):
                    path = store_path(node.func.value)
                    if path:
                        effects.receivers.append(path)
                for arg in node.args:
                    if isinstance(arg.value, (cst.Name, cst.Attribute)):
                        path = store_path(arg.value)
                        if path:
                            effects.passed.append(path)
            if kind in _BOUNDARY_TYPES:
                continue
            nested = in_loop or kind is cst.For or kind is cst.While
            stack.extend((child, nested) for child in children(node))
    return effects


def block_effects(block: cst.CSTNode) -> Effects:
    """``statement_effects([block])``, for :meth:`SemanticModel.memo` (one per loop body, not per call in it). Shared: do not mutate."""
    return statement_effects([block])


def unconditional(ctx: SemanticModel, node: cst.CSTNode, top: cst.CSTNode) -> bool:
    """True when evaluating ``top`` always evaluates ``node`` exactly once."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is top:
            return True
        if isinstance(anc, SCOPES):
            return False
        if isinstance(anc, cst.IfExp) and child is not anc.test:
            return False
        if isinstance(anc, cst.BooleanOperation) and child is not anc.left:
            return False
        if isinstance(anc, cst.ComparisonTarget) and ctx.parent(anc).comparisons.index(anc) > 0:
            return False
        child = anc
    return False


def reiterable_name(ctx: SemanticModel, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
    """A local name that holds a list/tuple/set/dict or a range wherever ``at`` reads it.

    Either every binding of the name in the function is such a value (or a parameter
    annotated as a sequence), or the function body rebinds it to one in a statement
    of its own block before ``at`` (``docs = list(docs)``) and binds it to nothing
    else afterwards.
    """
    if not isinstance(expr, cst.Name):
        return False
    func = ctx.enclosing_function(at)
    if func is None:
        return False
    found: list[tuple[bool, cst.CSTNode | None]] = []  # (re-iterable, binding statement)
    for param in all_params(func.params):
        if param.name.value == expr.value:
            ann = param.annotation.annotation if param.annotation else None
            if isinstance(ann, cst.Subscript):
                ann = ann.value
            found.append((ann is not None and (dotted(ann) or "").rsplit(".", 1)[-1] in _REITERABLE_ANNOTATIONS, None))
    for node in walk(func.body, stop=SCOPES):
        if isinstance(node, (cst.Global, cst.Nonlocal)) and any(n.name.value == expr.value for n in node.names):
            return False
        for kind, value in bindings_in(node, expr.value):
            if kind != "annotation":
                found.append((kind == "value" and _reiterable_value(value), node))
    if not found:
        return False
    if all(ok for ok, _ in found):
        return True
    # the last unconditional re-iterable rebinding before ``at``, with only re-iterable bindings after it
    statements = list(func.body.body) if isinstance(func.body, cst.IndentedBlock) else []
    holder = next((a for a in [at, *ctx.ancestors(at)] if any(a is s for s in statements)), None)
    if holder is None:
        return False
    limit = index_of(statements, holder)
    for index in range(limit - 1, -1, -1):
        stmt = statements[index]
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        rebinds = [
            kind == "value" and _reiterable_value(value)
            for small in stmt.body
            for kind, value in bindings_in(small, expr.value)
            if kind != "annotation"
        ]
        if rebinds:
            if not rebinds[-1]:
                return False
            for later in statements[index + 1 :]:
                for node in [later, *walk(later, stop=SCOPES)]:
                    for kind, value in bindings_in(node, expr.value):
                        if kind != "annotation" and not (kind == "value" and _reiterable_value(value)):
                            return False
            return True
    return False


def _reiterable_value(value: cst.CSTNode | None) -> bool:
    if isinstance(value, (cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp)):
        return True
    return isinstance(value, cst.Call) and dotted(value.func) in _REITERABLE_CALLS


# -- loops -------------------------------------------------------------------
SLEEP_CALLS = frozenset({"time.sleep", "asyncio.sleep", "anyio.sleep", "trio.sleep", "gevent.sleep", "eventlet.sleep"})
"""Calls that pause a loop on purpose (rate limiting): such a loop is sequential by design."""


def loop_sleeps(ctx: SemanticModel, loop: cst.CSTNode) -> bool:
    """True when the loop's body (or a comprehension's element) calls ``time.sleep``/``asyncio.sleep``...

    Found once per loop and chunk analysis (asked once per call in the loop).
    """
    return ctx.memo(_loop_sleeps, ctx, loop)


def _loop_sleeps(ctx: SemanticModel, loop: cst.CSTNode) -> bool:
    if isinstance(loop, (cst.For, cst.While)):
        nodes: list[cst.CSTNode] = [loop.body]
    else:
        nodes = [loop]
    for top in nodes:
        for node in walk(top, stop=SCOPES):
            if isinstance(node, cst.Call) and ctx.qualified_name(node.func) in SLEEP_CALLS:
                return True
    return False


def in_handler(ctx: SemanticModel, node: cst.CSTNode, loop: cst.CSTNode) -> bool:
    """True when ``node`` runs in an ``except`` block inside ``loop`` (an error path, not every item)."""
    for anc in ctx.ancestors(node):
        if anc is loop:
            return False
        if isinstance(anc, (cst.ExceptHandler, cst.ExceptStarHandler)):
            return True
    return False


def conditional_in(ctx: SemanticModel, node: cst.CSTNode, loop: cst.CSTNode) -> bool:
    """True when ``node`` runs only for some iterations of ``loop``: under ``if``, a conditional
    expression, ``and``/``or``, or in an ``except`` block."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is loop:
            return False
        if isinstance(anc, (cst.If, cst.IfExp)) and child is not anc.test:
            return True
        if isinstance(anc, cst.BooleanOperation) and child is not anc.left:
            return True
        if isinstance(anc, (cst.ExceptHandler, cst.ExceptStarHandler)):
            return True
        child = anc
    return False


def loop_detail(loop: cst.CSTNode) -> str:
    return "Inside a comprehension" if isinstance(loop, COMPREHENSIONS) else "Inside a loop"


def fallback_after_batch(ctx: SemanticModel, loop: cst.CSTNode, func: cst.FunctionDef) -> bool:
    """The loop (a ``for`` or a comprehension) runs in an ``except`` clause whose ``try`` body handed
    the same iterable to one call: a per-item fallback after a failed batch call, which runs only
    when the batch failed (``try: vectors = await embed_batch(texts)`` / ``except ...: for t in texts: ...``).
    Looked for up to ``func``."""
    head = loop_head(loop)
    if head is None:
        return False
    wanted = ctx.code(head[0])
    for anc in ctx.ancestors(loop):
        if anc is func or isinstance(anc, FUNCTION_BOUNDARIES):
            return False
        if isinstance(anc, cst.ExceptHandler):
            holder = ctx.parent(anc)
            if isinstance(holder, (cst.Try, cst.TryStar)):
                for node in walk(holder.body, stop=FUNCTION_BOUNDARIES):
                    if isinstance(node, cst.Call) and any(ctx.code(arg.value) == wanted for arg in node.args):
                        return True
    return False
