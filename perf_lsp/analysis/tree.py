"""The libcst tree as the analysis walks it: child nodes, walks, dotted names, scope nodes.

One set of scope-node tuples for the whole code base: :data:`FUNCTION_BOUNDARIES`
(code that runs separately from the statement around it), :data:`COMPREHENSIONS`,
and :data:`SCOPES` (both: every node that opens a new scope for names).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import libcst as cst


def dotted(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of attribute accesses on a name, else None."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


FUNCTION_BOUNDARIES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
"""Nodes whose body runs apart from the code around them: a search for what a statement does stops here."""
COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
"""Comprehensions: their own scope, but they run where they stand."""
SCOPES = FUNCTION_BOUNDARIES + COMPREHENSIONS
"""Every node that opens a scope for names (a walk over one scope's own code stops at these)."""


def loop_head(loop: cst.CSTNode) -> tuple[cst.BaseExpression, cst.BaseAssignTargetExpression] | None:
    """(what it iterates over, its target) of a ``for`` loop or a comprehension (its first ``for``); None
    for any other node."""
    if isinstance(loop, cst.For):
        return loop.iter, loop.target
    if isinstance(loop, COMPREHENSIONS):
        return loop.for_in.iter, loop.for_in.target
    return None


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_PUNCTUATION_FIELDS = frozenset(
    {
        "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "comma", "semicolon", "dot", "colon",
        "equal", "operator", "leading_lines", "lines_after_decorators", "trailing_whitespace", "header",
        "footer", "newline", "asynchronous",
    }
)


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """``node``'s child nodes that can hold names or statements, in field order (mostly source order).

    Punctuation, operators, whitespace and comment lines are left out. Much cheaper
    than libcst's ``node.children``, which runs a visitor over the node.
    """
    names = _CHILD_FIELDS.get(type(node))
    if names is None:
        names = _CHILD_FIELDS[type(node)] = tuple(
            f.name
            for f in dataclasses.fields(node)
            if f.name not in _PUNCTUATION_FIELDS and not f.name.startswith("whitespace")
        )
    out: list[cst.CSTNode] = []
    append = out.append
    is_node = _IS_NODE
    for name in names:
        value = getattr(node, name)
        kind = type(value)
        if kind is list or kind is tuple:
            for item in value:
                flag = is_node.get(type(item))
                if flag is None:
                    flag = is_node[type(item)] = issubclass(type(item), cst.CSTNode)
                if flag:
                    append(item)
        else:
            flag = is_node.get(kind)
            if flag is None:
                flag = is_node[kind] = issubclass(kind, cst.CSTNode)
            if flag:
                append(value)
    return out


# type -> is it a CSTNode subclass; isinstance() against the CSTNode ABC costs ~1 us a call
_IS_NODE: dict[type, bool] = {}


def walk(node: cst.CSTNode, stop: tuple[type[cst.CSTNode], ...] = ()) -> Iterator[cst.CSTNode]:
    """``node``'s descendants, depth first, in source order; the children of ``stop`` types are not entered.

    ``stop`` holds concrete node classes, matched exactly (``isinstance`` on libcst's
    abstract classes is slow). A descendant of a ``stop`` type is itself yielded,
    only its children are skipped. Punctuation, operators, whitespace and comments are not walked.
    """
    stop_types = frozenset(stop)
    stack = list(reversed(children(node)))
    while stack:
        current = stack.pop()
        yield current
        if type(current) not in stop_types:
            stack.extend(reversed(children(current)))


def inside(node: cst.CSTNode, ancestor: cst.CSTNode, parents: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """True when ``node`` is ``ancestor`` or lies under it (by ``parents``)."""
    current: cst.CSTNode | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = parents.get(current)
    return False


def in_nested_scope(
    node: cst.CSTNode,
    func: cst.CSTNode,
    parents: dict[cst.CSTNode, cst.CSTNode],
    kinds: tuple[type[cst.CSTNode], ...] = SCOPES,
) -> bool:
    """True when ``node`` sits in a function, lambda, class or comprehension nested in ``func``.

    ``kinds``: the scopes that count (default :data:`SCOPES`; :data:`FUNCTION_BOUNDARIES`
    leaves comprehensions out).
    """
    current = parents.get(node)
    while current is not None and current is not func:
        if isinstance(current, kinds):
            return True
        current = parents.get(current)
    return False


def index_of(nodes: list, node: cst.CSTNode) -> int:
    """The position of ``node`` in ``nodes``, by identity."""
    return next(i for i, n in enumerate(nodes) if n is node)


# -- memo tables keyed by node identity -----------------------------------------------------
_NODE_MEMOS: list[dict] = []


def node_memo() -> dict:
    """A new module-level memo table keyed by ``id(node)`` (entries keep their node, to check identity).

    Such tables serve the language server, whose unchanged statements keep their nodes
    from one keystroke to the next (each table bounds itself). A batch run makes new
    nodes for every file, so it empties them all after each file
    (:func:`forget_node_memos`), or they would keep finished files' trees alive.
    """
    table: dict = {}
    _NODE_MEMOS.append(table)
    return table


def forget_node_memos() -> None:
    """Empty every table made by :func:`node_memo` (after a file is done, in a batch run)."""
    for table in _NODE_MEMOS:
        table.clear()
