"""Facts about loops: whether a loop's body breaks it, whether a call runs once per independent item.

Shared by the rules about work repeated in a loop (PFL2xx) and about blocking in
``async def`` (PFL303, PFL304: no ``to_thread`` fix inside such a loop).
"""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.bindings import referenced_names, stored_names, target_leaves
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, children, dotted, walk
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
