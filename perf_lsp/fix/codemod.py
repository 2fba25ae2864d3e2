"""Small libcst helpers shared by the rules' codemods."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping

import libcst as cst


class _Replace(cst.CSTTransformer):
    def __init__(
        self,
        replacements: Mapping[cst.CSTNode, cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel],
        enter: set[int] | None = None,
    ) -> None:
        super().__init__()
        self.replacements = replacements
        self.enter = enter

    def on_visit(self, node) -> bool:
        return self.enter is None or id(node) in self.enter

    def on_leave(self, original_node, updated_node):
        replacement = self.replacements.get(original_node)
        if replacement is not None:
            return replacement
        return updated_node


def replace_nodes(
    module: cst.Module,
    replacements: Mapping[cst.CSTNode, cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel],
) -> cst.Module:
    """A copy of ``module`` with each key node (matched by identity) replaced by its value.

    A value may be ``cst.RemoveFromParent()`` or a ``cst.FlattenSentinel`` of statements.
    Replacements are taken as given: a replaced node's children are not visited again.
    Only the replaced nodes' ancestors are visited and rebuilt; the rest of the tree is
    shared (a fix in a 2,000-line function used to rebuild all of it).
    """
    return module.visit(_Replace(replacements, _ancestor_ids(module, replacements)))


def _ancestor_ids(module: cst.Module, targets: Mapping[cst.CSTNode, object]) -> set[int] | None:
    """The ids of every ancestor of the ``targets`` (the module included), or None when one is not found."""
    wanted = {id(t) for t in targets}
    parents: dict[int, cst.CSTNode] = {}
    found: list[cst.CSTNode] = []
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if id(node) in wanted:
            found.append(node)
        for child in _node_children(node):
            parents[id(child)] = node
            stack.append(child)
    if len(found) != len(wanted):
        return None
    enter = {id(module)}
    for node in found:
        while node is not module and id(node) in parents:
            node = parents[id(node)]
            if id(node) in enter:
                break
            enter.add(id(node))
    return enter


def replace_node(
    module: cst.Module, target: cst.CSTNode, replacement: cst.CSTNode, ancestors: Iterable[cst.CSTNode] | None = None
) -> cst.Module:
    """A copy of ``module`` with the node ``target`` (by identity) replaced by ``replacement``.

    Rebuilds only ``target``'s ancestors (the rest of the tree is shared, not
    copied): a fix-all round builds one fix per finding, so a statement with N
    findings would otherwise cost N copies of the whole statement. ``ancestors``:
    ``target``'s ancestors, nearest first, up to ``module`` (``RuleContext.ancestors``),
    which saves searching the tree for it.
    """
    chain = list(ancestors) if ancestors is not None else _ancestors(module, target)
    if chain is None or not chain or chain[-1] is not module:
        return replace_nodes(module, {target: replacement})
    node, new = target, replacement
    try:
        for parent in chain:
            new = _with_child(parent, node, new)
            node = parent
    except LookupError:
        return replace_nodes(module, {target: replacement})
    return new


def _ancestors(module: cst.Module, target: cst.CSTNode) -> list[cst.CSTNode] | None:
    parents: dict[int, cst.CSTNode] = {}
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if node is target:
            chain = []
            while node is not module:
                node = parents[id(node)]
                chain.append(node)
            return chain
        for child in _node_children(node):
            parents[id(child)] = node
            stack.append(child)
    return None


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(node: cst.CSTNode) -> tuple[str, ...]:
    names = _FIELDS.get(type(node))
    if names is None:
        fields = dataclasses.fields(node)
        names = _FIELDS[type(node)] = tuple(f.name for f in fields if not f.name.startswith("whitespace"))
    return names


def _node_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    for name in _fields(node):
        value = getattr(node, name)
        if isinstance(value, (list, tuple)):
            out.extend(item for item in value if isinstance(item, cst.CSTNode))
        elif isinstance(value, cst.CSTNode):
            out.append(value)
    return out


def _with_child(parent: cst.CSTNode, old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode:
    for name in _fields(parent):
        value = getattr(parent, name)
        if value is old:
            return parent.with_changes(**{name: new})
        if isinstance(value, (list, tuple)) and any(item is old for item in value):
            return parent.with_changes(**{name: type(value)(new if item is old else item for item in value)})
    raise LookupError("not a child of its parent")


def comments(node: cst.CSTNode) -> list[cst.Comment]:
    """Every comment inside ``node``, in source order."""
    found: list[cst.Comment] = []
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Comment):
            found.append(current)
        else:
            stack.extend(reversed(current.children))
    return found


def remove_args(
    call: cst.Call, remove: Collection[cst.Arg], *, keep_comments: bool = True
) -> tuple[cst.Call, list[cst.Comment]]:
    """``call`` without the arguments in ``remove`` (matched by identity), its layout kept.

    The whitespace around a removed argument merges with its neighbours': the line
    break before it and the indentation of what follows stay, and so do full comment
    lines. A comment at the end of a removed argument's line is kept on a line of
    its own in its place (``keep_comments``), or returned so that the caller can move
    it (the second item). Comments inside a removed argument's value are the
    caller's: they go where the value goes.
    """
    args = list(call.args)
    before_args = call.whitespace_before_args
    moved: list[cst.Comment] = []
    for i in sorted((i for i, arg in enumerate(args) if any(arg is r for r in remove)), reverse=True):
        arg = args[i]
        mine: list[cst.Comment] = []
        if isinstance(arg.comma, cst.Comma):
            lead = args[i - 1].comma.whitespace_after if i > 0 else before_args
            parts = [lead, arg.whitespace_after_arg, arg.comma.whitespace_before, arg.comma.whitespace_after]
            merged = _merge_whitespace(parts, keep_comments, mine)
            if i > 0:
                args[i - 1] = args[i - 1].with_changes(comma=args[i - 1].comma.with_changes(whitespace_after=merged))
            else:
                before_args = merged
        elif i > 0:
            prev = args[i - 1]
            parts = [prev.whitespace_after_arg, prev.comma.whitespace_before, prev.comma.whitespace_after]
            merged = _merge_whitespace([*parts, arg.whitespace_after_arg], keep_comments, mine, follows=False)
            args[i - 1] = prev.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=merged)
        else:
            before_args = _merge_whitespace([before_args, arg.whitespace_after_arg], keep_comments, mine, follows=False)
        del args[i]
        moved[:0] = mine
    return call.with_changes(args=args, whitespace_before_args=before_args), moved


def _merge_whitespace(parts: list, keep_comments: bool, moved: list[cst.Comment], follows: bool = True):
    """One whitespace for ``parts`` (the whitespace before, inside and after a removed element).

    ``follows``: what comes after the removed element is an element that can take
    its place; when the removed one started on the line of what precedes it, the
    next element moves up there (``f(p,\n  s)`` without ``p`` is ``f(s)``), unless
    a comment would have to stay in between.
    """
    breaks = [p for p in parts if isinstance(p, cst.ParenthesizedWhitespace)]
    if not breaks:
        return parts[0]
    if follows and not isinstance(parts[0], cst.ParenthesizedWhitespace):
        trailing = [b.first_line.comment for b in breaks if b.first_line.comment is not None]
        comment_lines = any(line.comment is not None for b in breaks for line in b.empty_lines)
        if not comment_lines and not (trailing and keep_comments):
            moved.extend(trailing)
            return parts[0]
    first, last = breaks[0], breaks[-1]
    lines = list(first.empty_lines)
    for part in breaks[1:]:
        comment = part.first_line.comment
        if comment is not None:  # it ended the removed element's line
            if keep_comments:
                lines.append(cst.EmptyLine(indent=first.indent, whitespace=first.last_line, comment=comment))
            else:
                moved.append(comment)
        lines.extend(part.empty_lines)
    return cst.ParenthesizedWhitespace(
        first_line=first.first_line, empty_lines=lines, indent=last.indent, last_line=last.last_line
    )
