"""Batching a loop: one batched call before the loop in place of one call per item (PFL201, PFL202).

:func:`batch_before_loop` rewrites ``for x in items: ... f(x) ...`` into
``results = f_batch(list(items))`` then ``for x, result in zip(items, results)``;
the other functions build its parts.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from perf_lsp.analysis.loops import last_word
from perf_lsp.analysis.tree import dotted
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext

# Calls whose result is a new list (safe to iterate twice, nothing to materialise).
_LIST_CALLS = frozenset({"list", "sorted"})


def list_of(expr: cst.BaseExpression) -> cst.Call:
    return cst.Call(func=cst.Name("list"), args=[cst.Arg(expr)])


def makes_list(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.List, cst.ListComp)):
        return True
    return isinstance(expr, cst.Call) and dotted(expr.func) in _LIST_CALLS


def pair_target(target: cst.BaseAssignTargetExpression, second: str) -> cst.Tuple:
    """``target, second`` as a loop target, parenthesising a tuple ``target``."""
    if isinstance(target, (cst.Tuple, cst.List)) and not target.lpar:
        target = target.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Tuple([cst.Element(target, comma=comma), cst.Element(cst.Name(second))], lpar=[], rpar=[])


def zip_of(first: cst.BaseExpression, second: cst.BaseExpression) -> cst.Call:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Call(func=cst.Name("zip"), args=[cst.Arg(first, comma=comma), cst.Arg(second)])


def item_batch(
    arg: cst.BaseExpression, target: cst.BaseAssignTargetExpression, items: cst.BaseExpression, is_list: bool = False
) -> cst.BaseExpression:
    """The batch the argument makes over ``items``.

    ``list(items)`` (or ``items`` when it is a list) for ``encode(doc)``, else ``[arg for target in items]``.
    """
    if isinstance(arg, cst.Name) and isinstance(target, cst.Name) and arg.value == target.value:
        return items if is_list or makes_list(items) else list_of(items)
    return cst.ListComp(elt=arg, for_in=cst.CompFor(target=target, iter=items))


def batch_before_loop(
    fctx: FixContext,
    loop: cst.For,
    *,
    scope: cst.CSTNode | None,
    reiterable: bool,
    item: cst.BaseExpression,
    per_item: cst.CSTNode,
    batched: Callable[[cst.BaseExpression], cst.BaseExpression],
    drop: tuple[str | None, cst.BaseSuite, cst.CSTNode, cst.BaseSmallStatement | None],
    names: tuple[str, str],
) -> cst.Module:
    """The loop codemod PFL201 and PFL202 share: one batched call before ``loop``, then
    ``for target, result in zip(items, results)``.

    ``item`` is the per-item argument (built over the loop's items by :func:`item_batch`),
    ``batched(batch)`` the call that takes the whole batch, ``per_item`` the node in the body
    that the per-item result replaces. ``drop`` is (name, body, line, small): when ``name``
    is set, ``name = <call>`` (``small`` of ``line``) is removed and ``name`` is bound in the
    loop header. ``names`` are the base names of the results list and of one result. The
    items are copied into a list first unless the iterable can be iterated twice.
    """
    drop_name, body, line, small = drop
    results_base, result_base = names
    prelude: list[cst.BaseStatement] = []
    if reiterable:
        items: cst.BaseExpression = loop.iter
    else:
        items_name = fctx.local_name(_items_name(loop.iter, loop.target), scope)
        value = loop.iter if makes_list(loop.iter) else list_of(loop.iter)
        prelude.append(_assignment(items_name, value))
        items = cst.Name(items_name)
    results = fctx.local_name(results_base, scope)
    batch = item_batch(item, loop.target, items, is_list=not reiterable)
    prelude.append(_assignment(results, batched(batch)))
    comments: list[cst.EmptyLine] = []
    if drop_name is not None:
        item_name = drop_name
        new_body, comments = _without(body, line, small)
    else:
        item_name = fctx.local_name(result_base, scope)
        new_body = replace_nodes(body, {per_item: cst.Name(item_name)})
    new_loop = loop.with_changes(
        target=pair_target(loop.target, item_name),
        iter=zip_of(items, cst.Name(results)),
        body=new_body,
        leading_lines=[],
    )
    prelude[0] = prelude[0].with_changes(leading_lines=loop.leading_lines)
    if comments:  # the dropped line's comments go with the call
        prelude[-1] = prelude[-1].with_changes(leading_lines=[*prelude[-1].leading_lines, *comments])
    return replace_nodes(fctx.chunk, {loop: cst.FlattenSentinel([*prelude, new_loop])})


def _items_name(iterable: cst.BaseExpression, target: cst.BaseAssignTargetExpression) -> str:
    """A name for the list of a loop's items: ``docs_list``, ``pairs_items``, ``line_list``."""
    if isinstance(iterable, (cst.Name, cst.Attribute)):
        return f"{last_word(iterable)}_list"
    if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute):
        owner = last_word(iterable.func.value)
        if owner:
            return f"{owner}_{iterable.func.attr.value}"
    if isinstance(target, cst.Name):
        return f"{target.value}_list"
    return "items"


def _assignment(name: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], value)])


def _without(
    body: cst.BaseSuite, line: cst.CSTNode, small: cst.BaseSmallStatement
) -> tuple[cst.BaseSuite, list[cst.EmptyLine]]:
    """``body`` without the small statement ``small`` of ``line``, and the comments of a line removed whole."""
    if len(line.body) > 1:
        kept = [s for s in line.body if s is not small]
        kept[-1] = kept[-1].with_changes(semicolon=line.body[-1].semicolon)
        return replace_nodes(body, {line: line.with_changes(body=kept)}), []
    comments = [el for el in line.leading_lines if el.comment]
    if line.trailing_whitespace.comment:
        comments.append(cst.EmptyLine(comment=line.trailing_whitespace.comment))
    return replace_nodes(body, {line: cst.RemoveFromParent()}), comments


def normalised(for_in: cst.CompFor) -> cst.CompFor:
    """A comprehension's ``for ... in ... if ...`` chain on one line (single spaces between its clauses)."""
    space = cst.SimpleWhitespace(" ")
    ifs = [c.with_changes(whitespace_before=space) for c in for_in.ifs]
    inner = normalised(for_in.inner_for_in) if for_in.inner_for_in is not None else None
    changes = {"whitespace_before": space, "ifs": ifs, "inner_for_in": inner}
    if for_in.asynchronous is not None:
        changes["asynchronous"] = for_in.asynchronous.with_changes(whitespace_after=space)
    return for_in.with_changes(**changes)
