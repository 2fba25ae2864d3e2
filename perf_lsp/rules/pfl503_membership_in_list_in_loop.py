"""PFL503 membership-in-list-in-loop, and its codemod."""

from __future__ import annotations

import ast

import libcst as cst

from perf_lsp.analysis.bindings import occurrences_in
from perf_lsp.analysis.expressions import is_builtin_call, is_literal
from perf_lsp.analysis.loops import invariant_loop
from perf_lsp.analysis.semantic import runs_before
from perf_lsp.analysis.tree import COMPREHENSIONS, FUNCTION_BOUNDARIES, in_nested_scope, inside, loop_head, walk
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule
from perf_lsp.rules.heuristics import runs_once

# list methods that change the list in place (allowed before the loop, not inside it)
_MUTATORS = frozenset({"append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "__setitem__", "__delitem__"})
_READERS = frozenset({"index", "count", "copy"})
_UNHASHABLE_DISPLAYS = (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp)


class MembershipInListInLoop(Rule):
    """
    ## What it does
    Reports ``x in items`` / ``x not in items`` inside a loop (``for``, ``while``
    or a comprehension) where ``items`` is a local list built before the loop in
    the same function, and the loop never changes it.

    The list must be built by a list comprehension, ``list(...)``, or a list
    display that grows (it has a ``*starred`` part, or is appended to, extended
    or ``+=``-ed before the loop): a list whose size follows the input. Inside
    the loop, ``items`` may only be tested with ``in``/``not in``, iterated, or
    passed to ``len()``; before the loop it may be filled with
    ``append``/``extend``/``insert``/``+=``. It must be bound exactly once in the
    function, not be a parameter, global or nonlocal, and be built in a
    statement that always runs before the loop.

    Also reported, without a fix: deduplication with a list, ``if x not in
    seen: seen.append(x)`` in a loop, ``seen`` a local list that starts empty
    and that the loop only tests, reads and appends to (O(n²)); and
    ``x in set(wanted)`` (or ``frozenset``) in a loop or comprehension that never
    changes ``wanted``: the set is copied again for every element, O(n·m) like a
    list scan. Neither in a loop over a display of constants.

    Not reported: a constant list display (``if tag in ["a", "b"]``: its size
    is fixed), tuples, sets, dicts and strings; a list the loop changes in other
    ways (``pending.remove(x)``), passes to a call or aliases; a
    list passed in as a parameter or built in another function; a membership
    test that does not repeat (outside any loop, or in a loop that also rebuilds
    the list each time); a list display filled only with constants
    (``keys = ["type"]; keys.append("id")``: its size is fixed by the code);
    functions that run once (start-up and set-up functions such as
    ``init_*``/``setup_*``/``*_configuration``, ``main``, CLI commands).

    ## Why is this bad?
    ``x in some_list`` compares ``x`` with the items one by one: O(m) for a list of
    m items, so a loop of n iterations costs O(n·m), where a set built once costs
    O(m) and then O(1) per test on average, O(n + m) in all (see the time
    complexity table of the Python wiki). Measured (``benchmarks/bench_costs.py``,
    ``docs/costs.md``): 10,000 tests against a 1,000-item list take about 110 ms,
    against a set built once about 0.6 ms; deduplicating 10,000 ids with a list
    takes about 1,000x longer than ``dict.fromkeys``. With thousands of items on
    both sides the quadratic version takes seconds where the set takes
    milliseconds.

    ## Example
    ```python
    def unseen(documents, indexed):
        known_ids = [d.id for d in indexed]
        return [d for d in documents if d.id not in known_ids]
    ```

    ## Use instead
    ```python
    def unseen(documents, indexed):
        known_ids = [d.id for d in indexed]
        known_ids_set = set(known_ids)
        return [d for d in documents if d.id not in known_ids_set]
    ```

    ## Fix safety
    Unsafe. The fix builds ``<name>_set = set(<name>)`` right before the loop
    (before the statement holding the comprehension) and tests membership
    against it; the list itself is kept for its other uses. For hashable items
    the answer is the same: ``x in list`` is true when an item ``is`` or ``==``
    ``x``, ``x in set`` when an item with the same hash ``is`` or ``==`` ``x``,
    and equal hashable values have equal hashes (``1``, ``1.0`` and ``True``
    match each other in both). It differs when

    - an item is unhashable (a dict, a list): ``set(...)`` raises ``TypeError``,
      before the loop, where the list scan worked (the fix is not offered when
      a comprehension visibly builds dicts, lists or sets);
    - a class defines ``__eq__`` without a matching ``__hash__``, or the tested
      value is unhashable: the list compares with ``==``, the set raises or
      misses;
    - the loop never runs: the set is still built (a cost, not a difference in
      results).

    ## References
    - [Python wiki: TimeComplexity](https://wiki.python.org/moin/TimeComplexity)
    - [Python: set types](https://docs.python.org/3/library/stdtypes.html#set-types-set-frozenset)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL503"
    opt_in = True
    name = "membership-in-list-in-loop"
    message = "`in` on a list inside a loop scans the list every iteration; test against a set built once"
    fix_title = "Build a set before the loop and test membership against it"
    fix_safety = Applicability.UNSAFE
    triggers = r"in(?<=\bin)\b"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._seen: set[tuple[int, str]] = set()

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """A loop, a function, and ``x in NAME`` where ``NAME = <list display, comprehension or list(...)>``."""
        if not summary.has_loops or not summary.statements_of(ast.FunctionDef, ast.AsyncFunctionDef):
            return False
        tested = set()
        for compare in summary.of_type(ast.Compare):
            for op, comparator in zip(compare.ops, compare.comparators):
                if type(op) not in (ast.In, ast.NotIn):
                    continue
                if type(comparator) is ast.Name:
                    tested.add(comparator.id)
                elif (
                    type(comparator) is ast.Call
                    and type(comparator.func) is ast.Name
                    and comparator.func.id in ("set", "frozenset")
                ):
                    return True  # ``x in set(wanted)``: may be rebuilt per element
        if not tested:
            return False
        for assign in summary.statements_of(ast.Assign, ast.AnnAssign):
            targets = assign.targets if type(assign) is ast.Assign else [assign.target]
            if len(targets) == 1 and type(targets[0]) is ast.Name and targets[0].id in tested and _may_build_list(assign.value):
                return True
        return False

    def visit_Comparison(self, node: cst.Comparison) -> None:
        for target in node.comparisons:
            if not isinstance(target.operator, (cst.In, cst.NotIn)):
                continue
            if isinstance(target.comparator, cst.Name):
                if isinstance(target.operator, cst.NotIn) and self._check_dedupe(node, target.comparator):
                    continue
                self._check(node, target.comparator)
            elif isinstance(target.comparator, cst.Call):
                self._check_rebuilt_set(node, target.comparator)

    # -- a set rebuilt per element -------------------------------------------
    def _check_rebuilt_set(self, comparison: cst.Comparison, call: cst.Call) -> None:
        """``x in set(wanted)`` in a loop or comprehension that never changes ``wanted``: the set (an O(m) copy)
        is built again for every element, which makes the loop O(n·m) like a list scan."""
        kind = next((k for k in ("set", "frozenset") if is_builtin_call(call, k, self.ctx)), None)
        if kind is None or len(call.args) != 1 or call.args[0].star or call.args[0].keyword:
            return
        operand = call.args[0].value
        if is_literal(operand) or isinstance(operand, (cst.List, cst.Tuple, cst.Set)):
            return  # a display of a fixed size
        func = self.ctx.enclosing_function(comparison)
        if func is None or runs_once(func, self.ctx):
            return
        loop = invariant_loop(self.ctx, operand, comparison)
        if loop is None or _literal_iterable(loop):
            return
        code = self.ctx.code(operand)
        self.report(
            comparison,
            message=f"`{kind}({code})` is built again for every element; build it once before the loop",
            detail="Inside a loop: each test copies the whole collection into a new set, O(n·m) in all.",
        )

    # -- list dedupe ----------------------------------------------------------
    def _check_dedupe(self, comparison: cst.Comparison, name_node: cst.Name) -> bool:
        """``if x not in seen: seen.append(x)`` in a loop, ``seen`` a local empty list: deduplication
        with a list, O(n²). True when reported."""
        ctx = self.ctx
        statement = ctx.parent(comparison)
        if not (isinstance(statement, cst.If) and statement.test is comparison):
            return False
        func = ctx.enclosing_function(comparison)
        loop = ctx.repeating_loop(comparison)
        if func is None or not isinstance(loop, (cst.For, cst.While)) or runs_once(func, ctx) or _literal_iterable(loop):
            return False
        name = name_node.value
        parents, by_name = occurrences_in(ctx, func)
        occurrences = by_name.get(name, [])
        stores = [node for node, store in occurrences if store and not isinstance(parents.get(node), cst.AugAssign)]
        if len(stores) != 1:
            return False
        assign = _list_assignment(stores[0], parents)
        if assign is None or not (isinstance(assign.value, cst.List) and not assign.value.elements):
            return False
        if isinstance(assign, cst.AnnAssign) and _unhashable_items(assign.annotation.annotation):
            return False  # ``conditions: list[dict] = []``: a set cannot hold them
        if not runs_before(parents.get(assign), loop, ctx, func):
            return False
        appended = False
        for node, store in occurrences:
            if node is stores[0] or not inside(node, loop, parents):
                continue
            if in_nested_scope(node, func, parents, FUNCTION_BOUNDARIES):
                return False
            use = _use_kind(node, parents, ctx)
            if use == "test":
                continue
            attribute = parents.get(node)
            if use == "mutate" and isinstance(attribute, cst.Attribute) and attribute.attr.value == "append":
                call = parents.get(attribute)
                if isinstance(call, cst.Call) and any(isinstance(arg.value, _UNHASHABLE_DISPLAYS) for arg in call.args):
                    return False  # appends dicts or lists: a set cannot hold them
                appended = appended or inside(node, statement.body, parents)
                continue
            if use in {"read", "iterate"}:
                continue
            return False
        if not appended:
            return False
        key = (id(loop), name)
        if key in self._seen:
            return True
        self._seen.add(key)
        self.report(
            comparison,
            message=(
                f"`if ... not in {name}: {name}.append(...)` deduplicates with a list, scanning it on every "
                f"iteration (O(n²)); keep a set of the items seen beside it, or use `dict.fromkeys`"
            ),
            detail="Inside a loop: each test is O(len(list)); 10,000 items take about 1,000x longer than with a set.",
        )
        return True

    def _check(self, comparison: cst.Comparison, name_node: cst.Name) -> None:
        ctx = self.ctx
        func = ctx.enclosing_function(comparison)
        if func is None or ctx.repeating_loop(comparison) is None or runs_once(func, ctx):
            return
        name = name_node.value
        parents, by_name = occurrences_in(ctx, func)  # once per function, not per site
        occurrences = by_name.get(name, [])
        stores = [node for node, store in occurrences if store and not isinstance(parents.get(node), cst.AugAssign)]
        if len(stores) != 1:
            return
        assign = _list_assignment(stores[0], parents)
        if assign is None:
            return
        statement = parents.get(assign)
        if not isinstance(statement, cst.SimpleStatementLine):
            return
        value = assign.value
        if not self._builds_list(value):
            return
        loop = self._hoist_loop(comparison, statement, parents, func)
        if loop is None:
            return
        key = (id(loop), name)
        if key in self._seen:
            return
        grows = not isinstance(value, cst.List) or any(isinstance(el, cst.StarredElement) for el in value.elements)
        changed_after = False
        tests: list[cst.Name] = []
        for node, store in occurrences:
            if node is stores[0]:
                continue
            if in_nested_scope(node, func, parents, FUNCTION_BOUNDARIES):
                return  # a closure may read or change it at any time
            use = "mutate" if store else _use_kind(node, parents, self.ctx)
            if inside(node, loop, parents):
                if use == "test":
                    tests.append(node)
                elif use not in {"read", "iterate"}:
                    return
            elif use == "mutate":
                if not self._adds_constant(node, parents):
                    grows = True
                changed_after = changed_after or not _before(node, loop, func)
            elif use not in {"test", "read", "iterate"} and _before(node, loop, func):
                return  # passed or aliased before the loop: something in it could change the list
        if not grows:
            return  # a constant list display: its size does not follow the input
        if not runs_before(statement, loop, ctx, func):
            return
        self._seen.add(key)
        fix = None
        unhashable = isinstance(value, cst.ListComp) and isinstance(value.elt, _UNHASHABLE_DISPLAYS)
        if not unhashable and not changed_after:
            fix = self._fix(loop, tests, name, func)
        self.report(
            comparison,
            message=f"`in {name}` scans the list `{name}` on every iteration; test against a set built once before the loop",
            fix=fix,
            detail="Inside a loop: each test is O(len(list)), O(n·m) in all; a set makes it O(n + m).",
        )

    def _adds_constant(self, node: cst.Name, parents) -> bool:
        """``name.append("x")``, ``name.insert(0, "x")``, ``name.extend(("x", "y"))``, ``name += ["x"]`` once
        (outside any loop): the list keeps a size fixed by the code, not by the input."""
        parent = parents.get(node)
        if isinstance(parent, cst.AugAssign) and parent.target is node:
            return is_literal(parent.value) and self.ctx.repeating_loop(parent) is None
        if not (isinstance(parent, cst.Attribute) and parent.value is node):
            return False
        call = parents.get(parent)
        if not (isinstance(call, cst.Call) and call.func is parent) or self.ctx.repeating_loop(call) is not None:
            return False
        method = parent.attr.value
        values = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
        if method == "append" and len(values) == 1:
            return is_literal(values[0])
        if method == "insert" and len(values) == 2:
            return is_literal(values[1])
        if method == "extend" and len(values) == 1:
            return isinstance(values[0], (cst.List, cst.Tuple)) and is_literal(values[0])
        return False

    def _builds_list(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, (cst.List, cst.ListComp)):
            return True
        return is_builtin_call(value, "list", self.ctx) and len(value.args) == 1 and not value.args[0].star

    def _hoist_loop(self, node: cst.CSTNode, statement: cst.CSTNode, parents, func) -> cst.CSTNode | None:
        """The outermost loop around ``node`` (in ``func``) that runs ``node`` repeatedly and not ``statement``."""
        found = None
        child = node
        for anc in self.ctx.ancestors(node):
            if anc is func:
                break
            repeats = (
                (isinstance(anc, cst.For) and child is anc.body)
                or (isinstance(anc, cst.While) and (child is anc.body or child is anc.test))
                or (isinstance(anc, COMPREHENSIONS) and child is not anc.for_in)
                or (isinstance(anc, COMPREHENSIONS) and child is anc.for_in and _beyond_first_iter(node, anc.for_in, self.ctx))
            )
            if repeats:
                if inside(statement, anc, parents):
                    break
                found = anc
            child = anc
        return found

    def _fix(self, loop: cst.CSTNode, tests: list[cst.Name], name: str, func: cst.FunctionDef):
        ctx = self.ctx
        anchor = loop
        if not isinstance(loop, (cst.For, cst.While)):
            anchor = None
            for anc in ctx.ancestors(loop):
                if isinstance(anc, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                    parent = ctx.parent(anc)
                    if isinstance(parent, (cst.IndentedBlock, cst.Module)):
                        anchor = anc
                        break
                if isinstance(anc, (cst.SimpleStatementSuite, cst.FunctionDef, cst.Lambda)):
                    return None
            if anchor is None:
                return None
        if not isinstance(ctx.parent(anchor), (cst.IndentedBlock, cst.Module)):
            return None

        def build(fctx: FixContext) -> cst.Module | None:
            set_name = fctx.local_name(f"{name}_set", func)
            new_anchor = replace_nodes(anchor, {t: cst.Name(set_name) for t in tests})
            prelude = fctx.parse_statement(f"{set_name} = set({name})").with_changes(leading_lines=anchor.leading_lines)
            new_anchor = new_anchor.with_changes(leading_lines=[])
            return replace_nodes(fctx.chunk, {anchor: cst.FlattenSentinel([prelude, new_anchor])})

        return build


def _may_build_list(value: ast.expr | None) -> bool:
    """Whether ``value`` may be what :meth:`MembershipInListInLoop._builds_list` accepts (its :mod:`ast` form)."""
    if isinstance(value, (ast.List, ast.ListComp)):
        return True
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "list"


def _beyond_first_iter(node: cst.CSTNode, for_in: cst.CompFor, ctx) -> bool:
    """True when ``node`` is in ``for_in`` but not in its (once-evaluated) outermost iterable."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is for_in:
            return child is not for_in.iter
        child = anc
    return False


def _list_assignment(store: cst.Name, parents) -> cst.Assign | cst.AnnAssign | None:
    """The ``name = value`` / ``name: T = value`` statement whose only target is ``store``."""
    parent = parents.get(store)
    if isinstance(parent, cst.AssignTarget):
        assign = parents.get(parent)
        if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
            return assign
    if isinstance(parent, cst.AnnAssign) and parent.value is not None:
        return parent
    return None


def _use_kind(node: cst.Name, parents, ctx) -> str:
    """How a read of the list uses it: test, iterate, read, mutate or other (passed, aliased...)."""
    parent = parents.get(node)
    if isinstance(parent, cst.ComparisonTarget) and parent.comparator is node and isinstance(parent.operator, (cst.In, cst.NotIn)):
        return "test"
    if isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is node:
        return "iterate"
    if isinstance(parent, cst.Arg) and not parent.star and not parent.keyword:
        call = parents.get(parent)
        if is_builtin_call(call, "len", ctx) and len(call.args) == 1:
            return "read"
    if isinstance(parent, cst.Attribute) and parent.value is node:
        call = parents.get(parent)
        if isinstance(call, cst.Call) and call.func is parent:
            if parent.attr.value in _MUTATORS:
                return "mutate"
            if parent.attr.value in _READERS:
                return "read"
        return "other"
    if isinstance(parent, cst.Subscript) and parent.value is node:
        grand = parents.get(parent)
        target_of = grand.target if isinstance(grand, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)) else None
        if target_of is parent or isinstance(grand, cst.Del):
            return "mutate"
        return "read"
    if isinstance(parent, cst.AugAssign) and parent.target is node:
        return "mutate"
    return "other"


def _before(node: cst.CSTNode, loop: cst.CSTNode, func: cst.CSTNode) -> bool:
    """True when ``node`` comes before ``loop`` in the function's source order."""
    for current in walk(func):
        if current is node:
            return True
        if current is loop:
            return False
    return False


def _unhashable_items(annotation: cst.BaseExpression) -> bool:
    """``list[dict[...]]``, ``List[list]``...: an annotation that says the list holds unhashable items."""
    if not (isinstance(annotation, cst.Subscript) and len(annotation.slice) == 1):
        return False
    item = annotation.slice[0].slice
    if not isinstance(item, cst.Index):
        return False
    head = item.value.value if isinstance(item.value, cst.Subscript) else item.value
    name = head.attr.value if isinstance(head, cst.Attribute) else getattr(head, "value", None)
    return name in {"dict", "Dict", "list", "List", "set", "Set", "MutableMapping", "MutableSequence"}


def _literal_iterable(loop: cst.CSTNode) -> bool:
    """A ``for`` loop or comprehension over a display of constants (``for host in ("a", "b"):``): a few
    iterations fixed by the code."""
    head = loop_head(loop)
    if head is None:
        return False
    iterable = head[0]
    return isinstance(iterable, (cst.List, cst.Tuple, cst.Set)) and is_literal(iterable)

