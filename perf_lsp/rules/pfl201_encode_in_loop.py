"""PFL201 encode-in-loop, and its codemod."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import libcst as cst

from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext
from perf_lsp.analysis.tree import COMPREHENSIONS, FUNCTION_BOUNDARIES, children, dotted, walk
from perf_lsp.fix.context import FixContext
from perf_lsp.analysis.bindings import (
    all_params,
    dotted_refs,
    paths_overlap,
    referenced_names,
    store_path,
    stored_names,
    target_leaves,
    target_names,
)
from perf_lsp.analysis.expressions import annotation_qualified_names

EMBEDDING_MODELS = frozenset(
    {
        "sentence_transformers.SentenceTransformer",
        "sentence_transformers.SentenceTransformer.SentenceTransformer",
    }
)
"""Constructors of embedding models whose ``encode`` takes one text or a list of texts.

Only classes for which ``encode(list_of_texts)`` returns one row per text, in order,
equal to ``encode(text)`` for each: that is what the fix relies on.
"""

_EMBEDDING_MODULES = frozenset(qn.split(".", 1)[0] for qn in EMBEDDING_MODELS)

# The argument already is a batch when the value it names is plural or a batch:
# ``encode(batch)``, ``encode(doc.sentences)``, ``encode(page["paragraphs"])``.
_BATCH_WORDS = ("batch", "chunks", "group", "list")
_SINGULAR_ENDINGS = ("ss", "us", "is", "news")
# Loops over these iterables yield batches, not items.
_BATCHING_CALLS = frozenset({"batched", "chunked", "ichunked", "grouper", "sliced", "windowed"})
# Calls whose result is a new list (safe to iterate twice, nothing to materialise).
_LIST_CALLS = frozenset({"list", "sorted"})
# Values and annotations of a name that can be iterated twice with the same items.
_REITERABLE_CALLS = frozenset({"list", "tuple", "sorted", "range", "set", "frozenset", "dict"})
_REITERABLE_ANNOTATIONS = frozenset({"list", "List", "Sequence", "MutableSequence", "tuple", "Tuple"})

_SCOPES = FUNCTION_BOUNDARIES + COMPREHENSIONS

_MESSAGE = "`{receiver}.encode` called once per item in a loop; encode the whole batch in one call"


class EncodeInLoop(Rule):
    """
    ## What it does
    Reports an embedding model's ``encode`` called once per item inside a ``for``
    loop or a comprehension, where the items could be encoded in one call. The
    receiver must be known to be an embedding model
    (``sentence_transformers.SentenceTransformer``): a module-level model, a
    ``self.x`` the class assigns or annotates as one, a local built in the same
    function, or a parameter annotated as one. ``str.encode``, ``bytes.encode``,
    tokenizers (``tiktoken``) and receivers that cannot be resolved are never
    reported.

    Not reported: a call that already gets a batch (a list or tuple display of
    several items, a comprehension, ``list(...)``, a slice such as
    ``texts[i:i + 32]``, a plural name such as ``batch`` or ``doc.sentences``), a
    call that passes ``batch_size=`` or more than one positional argument, a loop
    over batches (``batched(...)``, ``chunked(...)``, ``batches``, a data
    ``loader``), and a call whose argument does not change from one iteration to
    the next.

    ## Why is this bad?
    ``encode`` takes a list and runs the model on batches of texts at once
    (``batch_size``, 32 by default, padded to the same length), which is what keeps
    a GPU, or the vectorised CPU kernels, busy. Called with one text, every call
    pays a full forward pass, the tokenizer and Python overhead for a single row.
    Measured with all-MiniLM-L6-v2 on a 2-core CPU (``benchmarks/bench_costs.py``,
    ``docs/costs.md``, one CPU thread): 64 texts encoded one call each take
    about 1.3 s, one ``encode`` of the list about 0.35 s (about 4x). On a GPU the
    gap is wider: a batch of one leaves most of the device idle.

    ## Example
    ```python
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2")

    def index(docs, store):
        for doc in docs:
            emb = model.encode(doc)
            store.add(doc, emb)
    ```

    ## Use instead
    ```python
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2")

    def index(docs, store):
        docs_list = list(docs)
        embeddings = model.encode(docs_list)
        for doc, emb in zip(docs_list, embeddings):
            store.add(doc, emb)
    ```

    ## Fix safety
    Unsafe. The fix encodes all items in one call before the loop (or inside the
    comprehension's iterable) and lets the loop read the rows: the same embedding
    reaches the same place in the same order, but

    - everything the argument computes for all items runs before the loop body
      runs for the first one, so side effects interleave differently, and items
      after an early ``break``/``return`` are encoded too;
    - an iterator that is not known to be re-iterable is first copied into a list:
      an endless or very long stream (a queue consumer) would never finish, and all
      items and embeddings are held in memory at once;
    - each embedding becomes a row of one array (a view), and batching pads texts
      to a common length, which can change the last digits of the floats.

    The fix applies only when the call runs exactly once per item and
    unconditionally (directly in the loop body, not under ``if``, ``and``/``or``
    or a conditional expression), no ``break``/``continue``/``return``/``raise``/
    ``yield`` can happen before it, and the argument reads only the loop variable
    and names the loop does not change. It is not offered for generator
    expressions and loops that ``yield`` (they are lazy), set comprehensions,
    ``async for``, loops with an ``else:``, or comprehensions at class level.

    ## References
    - [sentence-transformers: SentenceTransformer.encode](https://sbert.net/docs/package_reference/sentence_transformer/SentenceTransformer.html#sentence_transformers.SentenceTransformer.encode)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL201"
    name = "encode-in-loop"
    message = "Embedding model's `encode` called once per item in a loop; encode the whole batch in one call"
    fix_title = "Encode all items in one batched call"
    fix_safety = Applicability.UNSAFE
    triggers = r"\.encode\s*\("  # ``.encode(`` somewhere

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """A loop and an ``x.encode(<not a constant>)`` call: a candidate for the receiver check (and jedi)."""
        if not summary.has_loops:
            return False
        return any(
            isinstance(call.func, ast.Attribute)
            and call.func.attr == "encode"
            and call.args
            and not isinstance(call.args[0], ast.Constant)
            for call in summary.calls
        )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "encode"):
            return
        items_arg = _items_argument(node)
        if items_arg is None or _is_batch(items_arg.value) or not referenced_names(items_arg.value):
            return  # one call per batch, or a constant argument (``s.encode("utf-8")``)
        innermost = self.ctx.repeating_loop(node)
        if innermost is None:
            return
        loop = varying_loop(self.ctx, innermost, [items_arg.value])
        if loop is None:
            return
        question = None
        if not self._is_embedding_model(func.value, node):
            if dotted(func.value) is None:
                return
            # names alone cannot tell (``self.embedder``, a factory's result, a model
            # imported from another module): published only if jedi confirms
            question = self.type_question(func.value, EMBEDDING_MODELS)
        fix = None
        if loop is innermost and not self._builtins_shadowed():
            fix = _plan_fix(self.ctx, node, items_arg, loop)
        self.report(
            node,
            message=_MESSAGE.format(receiver=_short(self.ctx.code(func.value))),
            fix=fix,
            detail="Inside a loop: one model forward pass per item instead of one per batch "
            "(64 texts: ~4x slower on one CPU thread, more on a GPU; see docs/costs.md).",
            question=question,
        )

    def _builtins_shadowed(self) -> bool:
        """The fixes write ``list``, ``zip`` and ``dict``: not when the chunk or the module rebinds one."""
        if not hasattr(self, "_shadowed"):
            self._shadowed = _builtins_shadowed(self.ctx, ("list", "zip", "dict"))
        return self._shadowed

    # -- detection -------------------------------------------------------
    def _is_embedding_model(self, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """True when ``expr``, evaluated at ``at`` (a node the traversal has reached), is an embedding model."""
        scopes = [a for a in self.ctx.ancestors(at) if isinstance(a, _SCOPES)]
        return self._resolves(expr, scopes, 0)

    def _resolves(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode], depth: int) -> bool:
        """``expr`` is one of :data:`EMBEDDING_MODELS`; ``scopes`` are the functions, lambdas,
        comprehensions and classes around it, innermost first (passed explicitly: the
        traversal has not recorded the parents of nodes after the current one)."""
        if depth > 3:
            return False
        if isinstance(expr, cst.Call):
            return self._is_model_class(expr.func)
        if isinstance(expr, cst.Name):
            return self._name_is_model(expr.value, scopes, depth)
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            return self._attribute_is_model(expr.value.value, expr.attr.value, scopes, depth)
        return False

    def _is_model_class(self, expr: cst.BaseExpression) -> bool:
        return self.ctx.qualified_name(expr) in EMBEDDING_MODELS

    def _is_model_annotation(self, annotation: cst.BaseExpression | None) -> bool:
        return annotation is not None and bool(annotation_qualified_names(annotation, self.ctx) & EMBEDDING_MODELS)

    def _name_is_model(self, name: str, scopes: list[cst.CSTNode], depth: int) -> bool:
        """Resolve ``name`` as Python would: enclosing functions (not class bodies), then the module."""
        for index, scope in enumerate(scopes):
            if isinstance(scope, cst.Lambda) and name in _param_names(scope.params):
                return False
            if isinstance(scope, COMPREHENSIONS) and name in _comprehension_targets(scope):
                return False
            if isinstance(scope, cst.FunctionDef):
                found = self.ctx.memo(local_binding_index, scope).get(name)
                if found is not None:
                    outer = scopes[index:]
                    return any(self._binding_is_model(kind, value, outer, depth) for kind, value in found)
        return self._module_binding_is_model(name)

    def _module_binding_is_model(self, name: str) -> bool:
        """Whether module-level ``name`` was built as a model (subclasses change what counts)."""
        return self.ctx.module_ctx.binding(name) in EMBEDDING_MODELS

    def _binding_is_model(self, kind: str, value: cst.CSTNode | None, scopes: list[cst.CSTNode], depth: int) -> bool:
        if kind == "annotation":
            return self._is_model_annotation(value)
        if kind == "value" and isinstance(value, cst.BaseExpression):
            return self._resolves(value, scopes, depth + 1)
        return False

    def _attribute_is_model(self, owner: str, attr: str, scopes: list[cst.CSTNode], depth: int) -> bool:
        """``self.attr`` where the class assigns or annotates ``attr`` as an embedding model."""
        for index, scope in enumerate(scopes):
            if (
                isinstance(scope, cst.FunctionDef)
                and index + 1 < len(scopes)
                and isinstance(scopes[index + 1], cst.ClassDef)
            ):
                method, cls, outer = scope, scopes[index + 1], scopes[index + 2 :]
                break
        else:
            return False
        if _self_name(method) != owner or self.ctx.enclosing_class(method) is not cls:
            return False
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef):
                if self._method_sets_model(stmt, attr, [stmt, cls, *outer], depth):
                    return True
                continue
            for node in walk(stmt, stop=_SCOPES):
                if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and node.target.value == attr:
                    if self._is_model_annotation(node.annotation.annotation):
                        return True
                if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
                    if any(isinstance(t.target, cst.Name) and t.target.value == attr for t in node.targets):
                        if self._is_model_class(node.value.func):
                            return True
        return False

    def _method_sets_model(self, method: cst.FunctionDef, attr: str, scopes: list[cst.CSTNode], depth: int) -> bool:
        """``method`` assigns ``self.attr = <model>`` or annotates ``self.attr: <model class>``."""
        owner = _self_name(method)
        if owner is None:
            return False
        for node in walk(method.body, stop=_SCOPES):
            if isinstance(node, cst.AnnAssign) and _is_self_attr(node.target, owner, attr):
                if self._is_model_annotation(node.annotation.annotation):
                    return True
                if node.value is not None and self._resolves(node.value, scopes, depth + 1):
                    return True
            if isinstance(node, cst.Assign) and any(_is_self_attr(t.target, owner, attr) for t in node.targets):
                if self._resolves(node.value, scopes, depth + 1):
                    return True
        return False


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
    for node in walk(func.body, stop=_SCOPES):
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            declared.update(n.name.value for n in node.names)
            continue
        if enter and isinstance(node, cst.WithItem) and node.asname is not None and isinstance(node.asname.name, cst.Name):
            index.setdefault(node.asname.name.value, []).append(("enter", node.item))
            continue
        for target, value in _binding_targets(node):
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


# -- call shape ------------------------------------------------------------
def _items_argument(call: cst.Call) -> cst.Arg | None:
    """The argument that holds the texts, or None when the call's shape is not one item per call.

    None with ``*args``/``**kwargs``, with ``batch_size=``, or with more than one
    positional argument (``batch_size`` was the second positional parameter in
    sentence-transformers 2.x).
    """
    positional: list[cst.Arg] = []
    keyword: cst.Arg | None = None
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            positional.append(arg)
        elif arg.keyword.value == "batch_size":
            return None
        elif arg.keyword.value == "sentences":
            keyword = arg
    if len(positional) > 1 or (positional and keyword is not None):
        return None
    return positional[0] if positional else keyword


def _is_batch(expr: cst.BaseExpression) -> bool:
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
    word = _last_word(expr)
    return word is not None and _is_batch_word(word)


def _last_word(expr: cst.BaseExpression) -> str | None:
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
    word = (_last_word(expr) or "").lower()
    return "batch" in word or "loader" in word


# -- scopes and names ------------------------------------------------------
def _param_names(params: cst.Parameters) -> set[str]:
    return {p.name.value for p in all_params(params)}


def _self_name(method: cst.FunctionDef) -> str | None:
    params = [*method.params.posonly_params, *method.params.params]
    return params[0].name.value if params else None


def _is_self_attr(target: cst.CSTNode, owner: str, attr: str) -> bool:
    return (
        isinstance(target, cst.Attribute)
        and isinstance(target.value, cst.Name)
        and target.value.value == owner
        and target.attr.value == attr
    )


def varying_loop(ctx: RuleContext, loop: cst.CSTNode | None, parts: Iterable[cst.CSTNode]) -> cst.CSTNode | None:
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
            if used & ctx.memo(_bound_names, loop.body):
                return None
        else:
            targets, iterable = ctx.memo(_loop_targets, loop)
            varying = targets | (ctx.memo(_bound_names, loop.body) if isinstance(loop, cst.For) else set())
            if used & varying:
                if _iterates_batches(iterable) or any(_batch_target(t) for t in targets):
                    return None
                return loop
        loop = ctx.repeating_loop(loop)
    return None


def _batch_target(name: str) -> bool:
    lower = name.lower()
    return "batch" in lower


def _comprehension_targets(comp: cst.CSTNode) -> set[str]:
    names: set[str] = set()
    for_in = comp.for_in
    while for_in is not None:
        names |= referenced_names(for_in.target)
        for_in = for_in.inner_for_in
    return names


def _loop_targets(loop: cst.CSTNode) -> tuple[set[str], cst.BaseExpression | None]:
    """The names a ``for`` loop or comprehension binds per iteration, and its (outermost) iterable.

    A ``while`` loop binds nothing by its header: ``(set(), None)``.
    """
    if isinstance(loop, cst.For):
        return referenced_names(loop.target), loop.iter
    if isinstance(loop, cst.While):
        return set(), None
    names = _comprehension_targets(loop)
    for node in walk(loop, stop=FUNCTION_BOUNDARIES):
        if isinstance(node, cst.NamedExpr):
            names |= referenced_names(node.target)
    return names, loop.for_in.iter


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


def _binding_targets(node: cst.CSTNode) -> list[tuple[cst.CSTNode, cst.CSTNode | None]]:
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


def _bindings_in(node: cst.CSTNode, name: str) -> Iterable[tuple[str, cst.CSTNode | None]]:
    """How ``node`` itself binds ``name``: ("value", expr), ("annotation", expr) or ("other", None)."""
    for target, value in _binding_targets(node):
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


def _bound_names(node: cst.CSTNode) -> set[str]:
    """Names bound anywhere in a block, in the block's own scope (nested functions' bodies excluded)."""
    names: set[str] = set()
    for inner in walk(node, stop=_SCOPES):
        for target, _ in _binding_targets(inner):
            names |= stored_names(target)
    for inner in walk(node, stop=FUNCTION_BOUNDARIES):  # walrus in a comprehension binds outside it
        if isinstance(inner, cst.NamedExpr):
            names |= stored_names(inner.target)
    return names


def _short(code: str) -> str:
    code = " ".join(code.split())
    return code if len(code) <= 40 else code[:37] + "..."


# -- what the fix may move -------------------------------------------------
_dotted_refs = dotted_refs
_store_path = store_path
_overlaps = paths_overlap


def _changed_by_loop(parts: list[cst.CSTNode], iterable: cst.CSTNode, everywhere: "_Effects") -> bool:
    """True when the loop body may change what the batched call reads before the loop:
    the receiver and other arguments (``parts``), or the iterable while it is iterated."""
    for part in parts:
        if any(_overlaps(ref, p) for ref in _dotted_refs(part) for p in everywhere.stores):
            return True
    for ref in _dotted_refs(iterable):
        if any(_overlaps(ref, p) for p in everywhere.stores):
            return True
        if any(p[: len(ref)] == ref for p in everywhere.receivers):
            return True
        if any(ref[: len(p)] == p for p in everywhere.passed):
            return True
    return False


@dataclass
class _Effects:
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


def _effects(nodes: Iterable[cst.CSTNode], skip: cst.CSTNode | None = None, ctx: RuleContext | None = None) -> _Effects:
    """The effects of ``nodes``; ``skip`` (a call) is left out, and so are the calls around it
    (given ``ctx``): they run after it."""
    effects = _Effects([], [], [], False)
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
            for target, _ in _binding_targets(node):
                if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Import, cst.ImportFrom)):
                    effects.stores.append((target.value,) if isinstance(target, cst.Name) else ())
                    continue
                for element in target_leaves(target):
                    path = _store_path(element)
                    if path:
                        effects.stores.append(path)
            if kind is cst.Call and id(node) not in around:
                if isinstance(node.func, cst.Attribute):
                    path = _store_path(node.func.value)
                    if path:
                        effects.receivers.append(path)
                for arg in node.args:
                    if isinstance(arg.value, (cst.Name, cst.Attribute)):
                        path = _store_path(arg.value)
                        if path:
                            effects.passed.append(path)
            if kind in _BOUNDARY_TYPES:
                continue
            nested = in_loop or kind is cst.For or kind is cst.While
            stack.extend((child, nested) for child in children(node))
    return effects


def _block_effects(block: cst.CSTNode) -> _Effects:
    """``_effects([block])``, for :meth:`RuleContext.memo` (one per loop body, not per call in it). Shared: do not mutate."""
    return _effects([block])


def _unconditional(ctx: RuleContext, node: cst.CSTNode, top: cst.CSTNode) -> bool:
    """True when evaluating ``top`` always evaluates ``node`` exactly once."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is top:
            return True
        if isinstance(anc, _SCOPES):
            return False
        if isinstance(anc, cst.IfExp) and child is not anc.test:
            return False
        if isinstance(anc, cst.BooleanOperation) and child is not anc.left:
            return False
        if isinstance(anc, cst.ComparisonTarget) and ctx.parent(anc).comparisons.index(anc) > 0:
            return False
        child = anc
    return False


def _reiterable_name(ctx: RuleContext, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
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
    for node in walk(func.body, stop=_SCOPES):
        if isinstance(node, (cst.Global, cst.Nonlocal)) and any(n.name.value == expr.value for n in node.names):
            return False
        for kind, value in _bindings_in(node, expr.value):
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
    limit = _index(statements, holder)
    for index in range(limit - 1, -1, -1):
        stmt = statements[index]
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        rebinds = [
            kind == "value" and _reiterable_value(value)
            for small in stmt.body
            for kind, value in _bindings_in(small, expr.value)
            if kind != "annotation"
        ]
        if rebinds:
            if not rebinds[-1]:
                return False
            for later in statements[index + 1 :]:
                for node in [later, *walk(later, stop=_SCOPES)]:
                    for kind, value in _bindings_in(node, expr.value):
                        if kind != "annotation" and not (kind == "value" and _reiterable_value(value)):
                            return False
            return True
    return False


def _reiterable_value(value: cst.CSTNode | None) -> bool:
    if isinstance(value, (cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp)):
        return True
    return isinstance(value, cst.Call) and dotted(value.func) in _REITERABLE_CALLS


def _builtins_shadowed(ctx: RuleContext, names: Iterable[str]) -> bool:
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


# -- the codemods -----------------------------------------------------------
Builder = Callable[[FixContext], "cst.Module | None"]


def _plan_fix(ctx: RuleContext, call: cst.Call, items_arg: cst.Arg, loop: cst.CSTNode) -> Builder | None:
    """The fix for ``call`` in ``loop``, or None when it cannot keep the program's meaning."""
    if isinstance(items_arg.value, (cst.List, cst.Tuple, cst.Set)):
        return None  # ``encode([t])`` gives a one-row matrix per item
    if isinstance(loop, cst.For):
        return _plan_for(ctx, call, items_arg, loop)
    if isinstance(loop, (cst.ListComp, cst.DictComp)):
        return _plan_comprehension(ctx, call, items_arg, loop)
    return None


def _call_parts_invariant(call: cst.Call, items_arg: cst.Arg, varying: set[str]) -> bool:
    """The receiver and the other arguments read no per-iteration name."""
    others = [call.func.value] + [a.value for a in call.args if a is not items_arg]
    return not any(referenced_names(part) & varying for part in others)


def _batched_call(call: cst.Call, items_arg: cst.Arg, batch: cst.BaseExpression) -> cst.Call:
    args = [a.with_changes(value=batch) if a is items_arg else a for a in call.args]
    return call.with_changes(args=args)


def _list_of(expr: cst.BaseExpression) -> cst.Call:
    return cst.Call(func=cst.Name("list"), args=[cst.Arg(expr)])


def _makes_list(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.List, cst.ListComp)):
        return True
    return isinstance(expr, cst.Call) and dotted(expr.func) in _LIST_CALLS


def _pair_target(target: cst.BaseAssignTargetExpression, second: str) -> cst.Tuple:
    """``target, second`` as a loop target, parenthesising a tuple ``target``."""
    if isinstance(target, (cst.Tuple, cst.List)) and not target.lpar:
        target = target.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Tuple([cst.Element(target, comma=comma), cst.Element(cst.Name(second))], lpar=[], rpar=[])


def _zip(first: cst.BaseExpression, second: cst.BaseExpression) -> cst.Call:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Call(func=cst.Name("zip"), args=[cst.Arg(first, comma=comma), cst.Arg(second)])


def _item_batch(
    arg: cst.BaseExpression, target: cst.BaseAssignTargetExpression, items: cst.BaseExpression, is_list: bool = False
) -> cst.BaseExpression:
    """The batch the argument makes over ``items``.

    ``list(items)`` (or ``items`` when it is a list) for ``encode(doc)``, else ``[arg for target in items]``.
    """
    if isinstance(arg, cst.Name) and isinstance(target, cst.Name) and arg.value == target.value:
        return items if is_list or _makes_list(items) else _list_of(items)
    return cst.ListComp(elt=arg, for_in=cst.CompFor(target=target, iter=items))


def _plan_for(ctx: RuleContext, call: cst.Call, items_arg: cst.Arg, loop: cst.For) -> Builder | None:
    if loop.asynchronous is not None or loop.orelse is not None:
        return None
    targets = target_names(loop.target)
    if targets is None:
        return None
    body = loop.body
    lines = list(body.body) if isinstance(body, cst.IndentedBlock) else [body]
    # the body-level statement holding the call, and the small statement within it
    line = small = None
    for anc in [call, *ctx.ancestors(call)]:
        if anc is loop:
            break
        if isinstance(anc, cst.BaseSmallStatement):
            small = anc
        if any(anc is ln for ln in lines):
            line = anc
            break
    if line is None:
        return None
    if isinstance(line, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
        if small is None or not _unconditional(ctx, call, small):
            return None
        if isinstance(small, (cst.Return, cst.Raise, cst.Assert)) or any(
            isinstance(n, (cst.Yield, cst.Await)) for n in walk(small, stop=_SCOPES)
        ):
            return None
        index = _index(line.body, small)
        before = [*lines[: _index(lines, line)], *line.body[:index]]
    elif isinstance(line, cst.If) and _unconditional(ctx, call, line.test):
        before = lines[: _index(lines, line)]
        small = None
    else:
        return None

    bound = ctx.memo(_bound_names, body)
    arg = items_arg.value
    if targets & bound:  # the loop variable is rebound in the body
        return None
    if referenced_names(arg) & bound or not _call_parts_invariant(call, items_arg, targets | bound):
        return None
    ahead = _effects(before)
    if ahead.exits:
        return None
    everywhere = ctx.memo(_block_effects, body)
    if everywhere.yields:  # a generator yielding per item: batching would make it eager
        return None
    elsewhere = _effects([body], skip=call)  # what the rest of the body does, the call's own receiver aside
    here = _effects([small or line.test], skip=call, ctx=ctx)
    for ref in _dotted_refs(arg):
        if ref[0] in targets:
            # the item itself: nothing that runs before the call may change it
            if any(
                _overlaps(ref, p) for p in ahead.stores + ahead.receivers + ahead.passed + here.receivers + here.passed
            ):
                return None
        elif any(_overlaps(ref, p) for p in elsewhere.stores + elsewhere.receivers + elsewhere.passed):
            # a loop-invariant object the body changes: each item saw a different state
            return None
    if _changed_by_loop([call.func.value] + [a.value for a in call.args if a is not items_arg], loop.iter, everywhere):
        return None
    reiterable = _reiterable_name(ctx, loop.iter, loop)

    # drop ``name = encode(...)`` and bind ``name`` in the loop header instead?
    drop_name: str | None = None
    if small is not None and isinstance(small, cst.Assign) and small.value is call and len(small.targets) == 1:
        target = small.targets[0].target
        if isinstance(target, cst.Name) and target.value not in targets:
            read_before = any(target.value in referenced_names(node) for node in before)
            body_left = len(lines) > 1 or len(line.body) > 1
            if not read_before and body_left:
                drop_name = target.value

    scope = ctx.enclosing_function(loop)

    def build(fctx: FixContext) -> cst.Module | None:
        return batch_before_loop(
            fctx, loop, scope=scope, reiterable=reiterable, item=arg, per_item=call,
            batched=lambda batch: _batched_call(call, items_arg, batch),
            drop=(drop_name, body, line, small), names=("embeddings", "embedding"),
        )

    return build


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

    ``item`` is the per-item argument (built over the loop's items by :func:`_item_batch`),
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
        value = loop.iter if _makes_list(loop.iter) else _list_of(loop.iter)
        prelude.append(_assignment(items_name, value))
        items = cst.Name(items_name)
    results = fctx.local_name(results_base, scope)
    batch = _item_batch(item, loop.target, items, is_list=not reiterable)
    prelude.append(_assignment(results, batched(batch)))
    comments: list[cst.EmptyLine] = []
    if drop_name is not None:
        item_name = drop_name
        new_body, comments = _without(body, line, small)
    else:
        item_name = fctx.local_name(result_base, scope)
        new_body = replace_nodes(body, {per_item: cst.Name(item_name)})
    new_loop = loop.with_changes(
        target=_pair_target(loop.target, item_name),
        iter=_zip(items, cst.Name(results)),
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
        return f"{_last_word(iterable)}_list"
    if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute):
        owner = _last_word(iterable.func.value)
        if owner:
            return f"{owner}_{iterable.func.attr.value}"
    if isinstance(target, cst.Name):
        return f"{target.value}_list"
    return "items"


def _index(nodes: list, node: cst.CSTNode) -> int:
    """The position of ``node`` in ``nodes``, by identity."""
    return next(i for i, n in enumerate(nodes) if n is node)


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


def _normalised(for_in: cst.CompFor) -> cst.CompFor:
    """A comprehension's ``for ... in ... if ...`` chain on one line (single spaces between its clauses)."""
    space = cst.SimpleWhitespace(" ")
    ifs = [c.with_changes(whitespace_before=space) for c in for_in.ifs]
    inner = _normalised(for_in.inner_for_in) if for_in.inner_for_in is not None else None
    changes = {"whitespace_before": space, "ifs": ifs, "inner_for_in": inner}
    if for_in.asynchronous is not None:
        changes["asynchronous"] = for_in.asynchronous.with_changes(whitespace_after=space)
    return for_in.with_changes(**changes)


def _plan_comprehension(
    ctx: RuleContext, call: cst.Call, items_arg: cst.Arg, comp: cst.ListComp | cst.DictComp
) -> Builder | None:
    holder = comp.elt if isinstance(comp, cst.ListComp) else comp.value
    if call is not holder and not _unconditional(ctx, call, holder):
        return None
    if ctx.enclosing_function(comp) is None and any(isinstance(a, cst.ClassDef) for a in ctx.ancestors(comp)):
        return None  # a class body's names are not visible inside the comprehension
    fors: list[cst.CompFor] = []
    for_in = comp.for_in
    while for_in is not None:
        if for_in.asynchronous is not None:
            return None
        fors.append(for_in)
        for_in = for_in.inner_for_in
    bound, _ = _loop_targets(comp)  # the targets, and names bound by ``:=``
    if not _call_parts_invariant(call, items_arg, bound):
        return None
    walrus = bound - _comprehension_targets(comp)
    if referenced_names(items_arg.value) & walrus:
        return None
    # what the element (and a dict's key) evaluate besides the encode call
    rest: list[cst.CSTNode] = [] if call is holder else [replace_nodes(holder, {call: cst.Name("__pfl201_call__")})]
    if isinstance(comp, cst.DictComp):
        rest.append(comp.key)
    # the rest of the element now runs after every item's argument and conditions (and
    # after the receiver): it must not change anything they read
    moved: list[cst.CSTNode] = [call.func.value, *(a.value for a in call.args)]
    for clause in fors:
        moved.extend(c.test for c in clause.ifs)
        if clause is not comp.for_in:
            moved.append(clause.iter)
    rest_effects = _effects(rest)
    changed = rest_effects.stores + rest_effects.receivers + rest_effects.passed
    if any(_overlaps(ref, p) for node in moved for ref in _dotted_refs(node) for p in changed):
        return None
    if isinstance(comp, cst.ListComp) and not any(referenced_names(n) & bound for n in rest):
        return _regroup_fix(call, items_arg, comp)
    # the element also reads the item: iterate ``zip(items, embeddings)``, items read twice
    only = fors[0]
    if len(fors) > 1 or only.ifs or target_names(only.target) is None:
        return None
    if not _reiterable_name(ctx, only.iter, comp):
        return None
    # nothing evaluated per item before the call may change the item
    effects = _effects([holder], skip=call, ctx=ctx)
    if isinstance(comp, cst.DictComp):
        key = _effects([comp.key])
        effects.receivers += key.receivers
        effects.passed += key.passed
    if any(p[0] in bound for p in effects.receivers + effects.passed + [s for s in effects.stores if len(s) == 1]):
        return None
    return _zip_comprehension_fix(call, items_arg, comp, only)


def _regroup_fix(call: cst.Call, items_arg: cst.Arg, comp: cst.ListComp) -> Builder:
    """``[E(m.encode(A(t))) for t in xs if c]`` -> ``[E(e) for e in m.encode([A(t) for t in xs if c])]``."""

    def build(fctx: FixContext) -> cst.Module | None:
        only = comp.for_in
        arg = items_arg.value
        simple = only.inner_for_in is None and not only.ifs
        if (
            simple
            and isinstance(arg, cst.Name)
            and isinstance(only.target, cst.Name)
            and arg.value == only.target.value
        ):
            batch: cst.BaseExpression = only.iter if _makes_list(only.iter) else _list_of(only.iter)
        else:
            batch = cst.ListComp(elt=arg, for_in=_normalised(only))
        new_call = _batched_call(call, items_arg, batch)
        if comp.elt is call:
            new: cst.BaseExpression = _list_of(new_call).with_changes(lpar=comp.lpar, rpar=comp.rpar)
        else:
            name = fctx.local_name("embedding", comp)
            new = comp.with_changes(
                elt=replace_nodes(comp.elt, {call: cst.Name(name)}),
                for_in=cst.CompFor(target=cst.Name(name), iter=new_call, whitespace_before=only.whitespace_before),
            )
        return replace_nodes(fctx.chunk, {comp: new})

    return build


def _zip_comprehension_fix(
    call: cst.Call, items_arg: cst.Arg, comp: cst.ListComp | cst.DictComp, only: cst.CompFor
) -> Builder:
    """``{t: E(m.encode(A(t))) for t in xs}`` -> ``{t: E(e) for t, e in zip(xs, m.encode([A(t) for t in xs]))}``."""

    def build(fctx: FixContext) -> cst.Module | None:
        batch = _item_batch(items_arg.value, only.target, only.iter)
        new_call = _batched_call(call, items_arg, batch)
        holder = comp.elt if isinstance(comp, cst.ListComp) else comp.value
        identity_key = (
            isinstance(comp, cst.DictComp)
            and isinstance(comp.key, cst.Name)
            and isinstance(only.target, cst.Name)
            and comp.key.value == only.target.value
        )
        if identity_key and holder is call:
            new: cst.BaseExpression = cst.Call(func=cst.Name("dict"), args=[cst.Arg(_zip(only.iter, new_call))])
            new = new.with_changes(lpar=comp.lpar, rpar=comp.rpar)
        else:
            name = fctx.local_name("embedding", comp)
            new_holder = cst.Name(name) if holder is call else replace_nodes(holder, {call: cst.Name(name)})
            new_for = only.with_changes(target=_pair_target(only.target, name), iter=_zip(only.iter, new_call))
            changes = {"elt": new_holder} if isinstance(comp, cst.ListComp) else {"value": new_holder}
            new = comp.with_changes(for_in=new_for, **changes)
        return replace_nodes(fctx.chunk, {comp: new})

    return build
