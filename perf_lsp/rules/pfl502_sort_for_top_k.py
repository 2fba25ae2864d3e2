"""PFL502 sort-for-top-k, and its codemod."""

from __future__ import annotations

import ast

import libcst as cst

from perf_lsp.analysis.bindings import occurrences_in
from perf_lsp.analysis.expressions import is_builtin_call
from perf_lsp.fix.codemod import comments, remove_args, replace_node
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext


class SortForTopK(Rule):
    """
    ## What it does
    Reports a full sort whose result is cut to its first ``k`` items:
    ``sorted(xs, key=..., reverse=...)[:k]`` and ``sorted(xs)[0:k]``, where
    ``sorted`` is the builtin.

    Reported only where the items are corpus-sized: below about a thousand
    items ``heapq`` is no faster than ``sorted`` (measured: 0.3x for the top 10
    of 50 scores, 1.1x of 1,000, 11x of 100,000), and a reranker's few dozen
    candidates are the common case. The items are followed back through the
    values a name is assigned in the function, a comprehension's iterable, ``zip``/
    ``enumerate`` and ``.items()``/``.values()``: a name on the way that says a
    whole collection (``all_*``, ``corpus``, ``store``, ``index``, ``embeddings``,
    ``vectors``, ``records``, ``rows``, ``counts``...) or an attribute of ``self``
    (an in-memory store) is the evidence, and the hover names it; a literal
    display, a slice, a call that caps its result (``top_k=``, ``n_results=``,
    ``limit=``...) or a name that says retrieved items (``candidates``, ``hits``,
    ``results``...) rules it out; with neither, nothing is reported.

    Also reported, without a fix: ``numpy.argsort(a)[:k]`` (or of ``-a``, or
    ``[::-1][:k]``) on such items, and ``sorted`` of an array (a ``@`` product or
    a NumPy call on the way): ``numpy.argpartition`` selects the top k in O(n).

    Not reported: a sorted list that is used whole or sliced any other way
    (``sorted(xs)[-k:]``, ``sorted(xs)[:-1]``, ``sorted(xs)[1:k]``,
    ``sorted(xs)[:k:2]``, ``sorted(xs)[:]``), an index (``sorted(xs)[0]``), ``sorted`` passed
    ``*args``/``**kwargs``, and a ``sorted`` that the module imports or defines.

    ## Why is this bad?
    Sorting all ``n`` items costs O(n log n) and builds a list of ``n`` items only
    to keep ``k`` of them; ``heapq.nlargest``/``nsmallest`` keep a heap of ``k``
    items, O(n log k), and sort only those. The ``heapq`` documentation: they
    "perform best for smaller values of n" (k here); for ``k`` close to the number
    of items, ``sorted`` is the better choice. Measured
    (``benchmarks/bench_costs.py``, ``docs/costs.md``): the top 10 of 100,000
    scores take about 18 ms with ``sorted(...)[:10]`` and about 1.8 ms with
    ``heapq.nlargest`` (about 10x).

    ## Example
    ```python
    def top_matches(all_documents, n=5):
        return sorted(all_documents, key=lambda m: m.score, reverse=True)[:n]
    ```

    ## Use instead
    ```python
    import heapq

    def top_matches(all_documents, n=5):
        return heapq.nlargest(n, all_documents, key=lambda m: m.score)
    ```

    ## Fix safety
    Unsafe. The standard library documents ``heapq.nsmallest(n, iterable, key)``
    as equivalent to ``sorted(iterable, key=key)[:n]`` and ``heapq.nlargest`` as
    equivalent to ``sorted(iterable, key=key, reverse=True)[:n]``, and for
    numbers, strings and other values whose ``==`` agrees with ``<`` it is: ties
    come out first seen first, as from the stable ``sorted``, and ``key`` is
    called once per item in the same order. But ``heapq`` breaks ties by
    comparing ``(item, order)`` tuples, and a tuple comparison asks ``==`` before
    ``<``: for objects that define ``__lt__`` but not ``__eq__`` (identity
    equality) the order of equal items changes, and with a ``nan`` among the
    values the selected items differ (``sorted([0.3, nan, 0.9, 0.1, 0.5],
    reverse=True)[:3]`` keeps ``nan``, ``heapq.nlargest`` need not). The analysis
    cannot see the items' type, so the fix is never applied without
    ``--unsafe-fixes``.

    The primary fix needs ``k`` to be a non-negative integer literal
    (``[:10]``). When ``k`` is any other expression the fix is offered as the
    alternative, because the two also differ when ``k`` is negative
    (``sorted(xs)[:-1]`` drops the last item, ``heapq.nsmallest(-1, xs)`` returns
    ``[]``) or ``None`` (a slice takes everything, ``heapq`` raises
    ``TypeError``), and because ``k`` is then evaluated before the items instead
    of after the sort. No fix when ``reverse=`` is not the literal ``True`` or
    ``False``. The fix adds ``import heapq`` when the module does not import it.
    It edits the ``sorted`` call in place: the arguments keep their layout and
    comments (a comment that ended the ``reverse=`` line stays, on a line of its
    own), and a generator argument gets the parentheses it needs; no fix when a
    comment sits inside the slice, where the fix could not keep it.

    ## References
    - [Python: heapq.nlargest / nsmallest](https://docs.python.org/3/library/heapq.html#heapq.nlargest)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL502"
    opt_in = True
    name = "sort-for-top-k"
    message = "Full sort to keep the first k items; use `heapq.nlargest`/`nsmallest` (O(n log k))"
    fix_title = "Use heapq.nlargest/nsmallest"
    fix_safety = Applicability.UNSAFE
    alt_fix_title = "Use heapq.nlargest/nsmallest (assumes k is a non-negative int)"
    alt_fix_safety = Applicability.UNSAFE
    triggers = r"sorted(?<=\bsorted)\s*\(|argsort(?<=\bargsort)\s*\("

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """``sorted(...)[:k]`` (or ``[0:k]``) somewhere: the :mod:`ast` form of what the rule reports."""
        for node in summary.of_type(ast.Subscript):
            call, bound = node.value, node.slice
            if type(call) is ast.Subscript:  # ``argsort(a)[::-1][:k]``
                call = call.value
            if type(call) is ast.Call and type(call.func) is ast.Attribute and call.func.attr == "argsort":
                if type(bound) is ast.Slice and bound.upper is not None and bound.step is None:
                    return True
            if not (type(call) is ast.Call and type(call.func) is ast.Name and call.func.id == "sorted"):
                continue
            if type(bound) is ast.Slice and bound.upper is not None and bound.step is None:
                return True
        return False

    def visit_Subscript(self, node: cst.Subscript) -> None:
        call = node.value
        if not is_builtin_call(call, "sorted", self.ctx):
            return
        k = _top_k_bound(node)
        if k is None:
            return
        parts = _sorted_parts(call)
        if parts is None:
            return
        items, key, reverse = parts
        size = corpus_evidence(items.value, node, self.ctx)
        if size is None:
            return  # no sign of more than a few dozen items: below about a thousand, sorted() is as fast
        evidence, array = size
        if reverse is None:
            largest: bool | None = False
        elif isinstance(reverse.value, cst.Name) and reverse.value.value in {"True", "False"}:
            largest = reverse.value.value == "True"
        else:
            largest = None
        function = "nlargest" if largest else "nsmallest"
        message = f"Full sort to keep the first k items; use `heapq.{function}` (O(n log k))" if largest is not None else None
        if array:
            message = (
                "Full sort of an array to keep the first k items; use `numpy.argpartition` (O(n)) and sort only those k"
            )
        fix = alt_fix = None
        if largest is not None and keeps_comments(node, k):
            build = _fix(node, k, items, key, function, self.ctx)
            if _non_negative_int(k):
                fix = build
            else:
                alt_fix = build
        self.report(
            node,
            message=message,
            fix=fix,
            alt_fix=alt_fix,
            detail=f"Sorts all n items, O(n log n), to keep k of them; a heap of k items costs O(n log k). {evidence}",
        )

    def visit_Call(self, node: cst.Call) -> None:
        """``numpy.argsort(a)[:k]``, ``numpy.argsort(-a)[:k]``, ``numpy.argsort(a)[::-1][:k]``: a full sort of an array."""
        if not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "argsort"):
            return
        if self.ctx.qualified_name(node.func) != "numpy.argsort" or len(node.args) != 1 or node.args[0].keyword:
            return
        outer = self.ctx.parent(node)
        if isinstance(outer, cst.Subscript) and _is_reverse(outer) and outer.value is node:
            outer = self.ctx.parent(outer) if isinstance(self.ctx.parent(outer), cst.Subscript) else outer
        if not isinstance(outer, cst.Subscript) or _top_k_bound(outer) is None:
            return
        operand = node.args[0].value
        if isinstance(operand, cst.UnaryOperation):
            operand = operand.expression
        size = corpus_evidence(operand, node, self.ctx)
        if size is None:
            return
        self.report(
            outer,
            message="Full argsort to keep the first k indices; use `numpy.argpartition` (O(n)) and sort only those k",
            detail=f"Sorts all n items, O(n log n), to keep k of them. {size[0]}",
        )


_CORPUS_WORDS = frozenset(
    {"all", "corpus", "store", "index", "catalog", "vocab", "vocabulary", "embeddings", "vectors", "records", "rows",
     "entries", "dataset", "population", "universe", "inventory", "matrix", "counts", "counter", "frequencies", "freqs",
     "usage", "analytics", "stats", "statistics", "texts", "segments", "passages", "sentences", "paragraphs"}
)
"""Words in a name that say a whole collection (a store, a corpus, a vocabulary), not a handful of results."""
_SMALL_KEYWORDS = frozenset(
    {"n_results", "top_k", "topk", "k", "limit", "similarity_top_k", "top_n", "max_results", "num_results", "size", "n"}
)
"""Keywords that cap what a call returns (a retrieval's top k): its result is already small."""
_SMALL_WORDS = frozenset({"candidates", "retrieved", "reranked", "hits", "top", "results", "matches", "page", "batch"})
"""Words in a name that say a few retrieved items."""


def corpus_evidence(expr: cst.BaseExpression, at: cst.CSTNode, ctx: RuleContext) -> tuple[str, bool] | None:
    """Why the items ``expr`` sorts at ``at`` are corpus-sized, and whether they are a NumPy array; None
    when nothing shows more than a few dozen items (or something shows fewer).

    The items are followed back, up to four steps, through the values a name is assigned in the function,
    an item of a name (``results[i]``), a comprehension's or generator's outer iterable,
    ``zip(...)``/``enumerate(...)`` and NumPy arguments, ``.items()``/``.keys()``/``.values()``
    receivers, and the positional arguments of other calls (a scoring call returns one score per
    item it is given). Small, whatever else: a literal display, a slice, a call with a keyword
    that caps its result (``n_results=``, ``top_k=``, ``limit=``...). Corpus-sized: a name on the
    way whose words say a whole collection (``all_documents``, ``corpus``, ``embeddings``,
    ``word_counts``, ``usage``...), or the items themselves an attribute of ``self`` (an in-memory
    store), unless that name says retrieved items (``candidates``, ``hits``, ``results``...).
    An array: a ``numpy`` call or a ``@`` product on the way.
    """
    func = ctx.enclosing_function(at)
    found: str | None = None
    array = False
    frontier = [expr]
    for step in range(4):
        following: list[cst.BaseExpression] = []
        for current in frontier:
            if isinstance(current, (cst.List, cst.Tuple, cst.Set, cst.Dict)) or isinstance(current, cst.Subscript) and _is_slice(current):
                return None
            if isinstance(current, cst.Subscript):
                following.append(current.value)
                continue
            if isinstance(current, (cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp)):
                following.append(current.for_in.iter)
                continue
            if isinstance(current, cst.BinaryOperation) and isinstance(current.operator, cst.MatrixMultiply):
                array = True
                following.extend([current.left, current.right])
                continue
            if isinstance(current, cst.Call):
                if any(arg.keyword is not None and arg.keyword.value in _SMALL_KEYWORDS for arg in current.args):
                    return None
                qn = ctx.qualified_name(current.func) or ""
                if qn.startswith("numpy."):
                    array = True
                if isinstance(current.func, cst.Attribute) and current.func.attr.value in {"items", "keys", "values", "tolist"}:
                    following.append(current.func.value)
                else:
                    following.extend(
                        arg.value for arg in current.args if arg.keyword is None and not arg.star and not isinstance(arg.value, cst.BaseString)
                    )
                continue
            if isinstance(current, (cst.Name, cst.Attribute)):
                words = _name_words(current)
                if found is None and not words & _SMALL_WORDS:
                    if words & _CORPUS_WORDS:
                        found = f"`{ctx.code(current)}` names a whole collection"
                    elif step == 0 and isinstance(current, cst.Attribute) and _on_self(current):
                        found = f"`{ctx.code(current)}` is a collection held on the object"
                if isinstance(current, cst.Name) and func is not None:
                    following.extend(_assigned_values(current.value, func, ctx))
        frontier = following
        if not frontier:
            break
    return (found + ": corpus-sized (heapq wins from about a thousand items).", array) if found else None


def _name_words(expr: cst.BaseExpression) -> set[str]:
    name = expr.attr.value if isinstance(expr, cst.Attribute) else expr.value
    return {word for word in name.lower().strip("_").split("_") if word}


def _on_self(expr: cst.Attribute) -> bool:
    root = expr
    while isinstance(root, cst.Attribute):
        root = root.value
    return isinstance(root, cst.Name) and root.value in {"self", "cls"}


def _is_slice(node: cst.Subscript) -> bool:
    return len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Slice)


def _is_reverse(node: cst.Subscript) -> bool:
    """``[::-1]``."""
    if not _is_slice(node):
        return False
    sl = node.slice[0].slice
    step = sl.step
    return (
        sl.lower is None
        and sl.upper is None
        and isinstance(step, cst.UnaryOperation)
        and isinstance(step.operator, cst.Minus)
        and isinstance(step.expression, cst.Integer)
        and step.expression.value == "1"
    )


def _assigned_values(name: str, func: cst.FunctionDef, ctx: RuleContext) -> list[cst.BaseExpression]:
    """The values of every ``name = value`` in ``func`` (an ``if``/``else`` may assign it twice); [] for a
    parameter or a name bound otherwise."""
    parents, by_name = occurrences_in(ctx, func)
    values = []
    for node, store in by_name.get(name, []):
        if not store:
            continue
        target = parents.get(node)
        if isinstance(target, cst.AssignTarget):
            assign = parents.get(target)
            if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
                values.append(assign.value)
        elif isinstance(target, cst.AnnAssign) and target.value is not None:
            values.append(target.value)
    return values


def _top_k_bound(node: cst.Subscript) -> cst.BaseExpression | None:
    """``k`` for a subscript ``[:k]`` or ``[0:k]``, else None."""
    if len(node.slice) != 1:
        return None
    sl = node.slice[0].slice
    if not isinstance(sl, cst.Slice) or sl.upper is None or sl.step is not None:
        return None
    lower = sl.lower
    if lower is not None and not (isinstance(lower, cst.Integer) and lower.evaluated_value == 0):
        return None
    if isinstance(sl.upper, cst.Name) and sl.upper.value == "None":
        return None
    if isinstance(sl.upper, cst.UnaryOperation) and isinstance(sl.upper.operator, cst.Minus):
        return None  # ``[:-1]``: everything but the last items, not a top k
    return sl.upper


def _non_negative_int(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Integer)


def _sorted_parts(call: cst.Call) -> tuple[cst.Arg, cst.Arg | None, cst.Arg | None] | None:
    """(items, key, reverse) of a ``sorted`` call, or None for other argument shapes."""
    items = key = reverse = None
    for index, arg in enumerate(call.args):
        if arg.star:
            return None
        keyword = arg.keyword.value if arg.keyword else None
        if keyword is None and index == 0:
            items = arg
        elif keyword == "key":
            key = arg
        elif keyword == "reverse":
            reverse = arg
        else:
            return None
    if items is None:
        return None
    return items, key, reverse


def _fix(node: cst.Subscript, k: cst.BaseExpression, items: cst.Arg, key: cst.Arg | None, function: str, ctx: RuleContext):
    """``sorted(items, key=..., reverse=...)[:k]`` -> ``heapq.<function>(k, items, key=...)``.

    Edits the ``sorted`` call itself: its arguments keep their commas, line breaks
    and comments; ``k`` goes first, laid out like the first argument. A comment
    that ended the ``reverse=`` line stays, on a line of its own.
    """

    def build(fctx: FixContext) -> cst.Module | None:
        call = node.value
        reverse = [arg for arg in call.args if arg.keyword is not None and arg.keyword.value == "reverse"]
        new_call, _ = remove_args(call, reverse, keep_comments=True)
        before = new_call.whitespace_before_args
        if isinstance(before, cst.ParenthesizedWhitespace):
            after_k = before.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
        else:
            after_k = cst.SimpleWhitespace(" ")
        args = list(new_call.args)
        value = args[0].value
        if isinstance(value, cst.GeneratorExp) and not value.lpar:  # no longer the only argument
            args[0] = args[0].with_changes(value=value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]))
        first = cst.Arg(k, comma=cst.Comma(whitespace_after=after_k))
        new_call = new_call.with_changes(
            func=fctx.parse_expression(fctx.name_ref("heapq", function)), args=[first, *args], lpar=node.lpar, rpar=node.rpar
        )
        return replace_node(fctx.chunk, node, new_call, ctx.ancestors(node))

    return build


def keeps_comments(node: cst.Subscript, k: cst.BaseExpression) -> bool:
    """Whether every comment of ``sorted(...)[:k]`` is in the call or in ``k`` (the fix keeps those)."""
    return len(comments(node)) == len(comments(node.value)) + len(comments(k))
