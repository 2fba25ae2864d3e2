"""PFL201 encode-in-loop, and its codemod."""

from __future__ import annotations

import ast
from collections.abc import Callable

import libcst as cst

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.bindings import (
    bound_names,
    builtins_shadowed,
    comprehension_targets,
    dotted_refs,
    paths_overlap,
    referenced_names,
    target_names,
)
from perf_lsp.analysis.loops import (
    block_effects,
    changed_by_loop,
    is_batch,
    loop_targets,
    reiterable_name,
    statement_effects,
    unconditional,
    varying_loop,
)
from perf_lsp.analysis.receivers import FamilyCatalog, resolver
from perf_lsp.analysis.tree import SCOPES, dotted, index_of, walk
from perf_lsp.fix.batching import batch_before_loop, item_batch, list_of, makes_list, normalised, pair_target, zip_of
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext, short_code

EMBEDDING_MODELS = frozenset(catalogs.names("models", "embedding_model"))
"""Constructors of embedding models whose ``encode`` takes one text or a list of texts: ``[[embedding_model]]``
of the ``models`` catalog (``perf_lsp/catalogs/models.toml``).

Only classes for which ``encode(list_of_texts)`` returns one row per text, in order,
equal to ``encode(text)`` for each: that is what the fix relies on.
"""



def _builds_embedding_model(qualified: str | None) -> bool:
    return qualified in EMBEDDING_MODELS


_MODELS = FamilyCatalog(_builds_embedding_model, _builds_embedding_model)


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
        if items_arg is None or is_batch(items_arg.value) or not referenced_names(items_arg.value):
            return  # one call per batch, or a constant argument (``s.encode("utf-8")``)
        innermost = self.ctx.repeating_loop(node)
        if innermost is None:
            return
        loop = varying_loop(self.ctx, innermost, [items_arg.value])
        if loop is None:
            return
        question = None
        if not resolver(self.ctx, _MODELS).is_instance(func.value, node):
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
            message=_MESSAGE.format(receiver=short_code(self.ctx.code(func.value))),
            fix=fix,
            detail="Inside a loop: one model forward pass per item instead of one per batch "
            "(64 texts: ~4x slower on one CPU thread, more on a GPU; see docs/costs.md).",
            question=question,
        )

    def _builtins_shadowed(self) -> bool:
        """The fixes write ``list``, ``zip`` and ``dict``: not when the chunk or the module rebinds one."""
        if not hasattr(self, "_shadowed"):
            self._shadowed = builtins_shadowed(self.ctx, ("list", "zip", "dict"))
        return self._shadowed



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
        if small is None or not unconditional(ctx, call, small):
            return None
        if isinstance(small, (cst.Return, cst.Raise, cst.Assert)) or any(
            isinstance(n, (cst.Yield, cst.Await)) for n in walk(small, stop=SCOPES)
        ):
            return None
        index = index_of(line.body, small)
        before = [*lines[: index_of(lines, line)], *line.body[:index]]
    elif isinstance(line, cst.If) and unconditional(ctx, call, line.test):
        before = lines[: index_of(lines, line)]
        small = None
    else:
        return None

    bound = ctx.memo(bound_names, body)
    arg = items_arg.value
    if targets & bound:  # the loop variable is rebound in the body
        return None
    if referenced_names(arg) & bound or not _call_parts_invariant(call, items_arg, targets | bound):
        return None
    ahead = statement_effects(before)
    if ahead.exits:
        return None
    everywhere = ctx.memo(block_effects, body)
    if everywhere.yields:  # a generator yielding per item: batching would make it eager
        return None
    elsewhere = statement_effects([body], skip=call)  # what the rest of the body does, the call's own receiver aside
    here = statement_effects([small or line.test], skip=call, ctx=ctx)
    for ref in dotted_refs(arg):
        if ref[0] in targets:
            # the item itself: nothing that runs before the call may change it
            if any(
                paths_overlap(ref, p) for p in ahead.stores + ahead.receivers + ahead.passed + here.receivers + here.passed
            ):
                return None
        elif any(paths_overlap(ref, p) for p in elsewhere.stores + elsewhere.receivers + elsewhere.passed):
            # a loop-invariant object the body changes: each item saw a different state
            return None
    if changed_by_loop([call.func.value] + [a.value for a in call.args if a is not items_arg], loop.iter, everywhere):
        return None
    reiterable = reiterable_name(ctx, loop.iter, loop)

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


def _plan_comprehension(
    ctx: RuleContext, call: cst.Call, items_arg: cst.Arg, comp: cst.ListComp | cst.DictComp
) -> Builder | None:
    holder = comp.elt if isinstance(comp, cst.ListComp) else comp.value
    if call is not holder and not unconditional(ctx, call, holder):
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
    bound, _ = loop_targets(comp)  # the targets, and names bound by ``:=``
    if not _call_parts_invariant(call, items_arg, bound):
        return None
    walrus = bound - comprehension_targets(comp)
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
    rest_effects = statement_effects(rest)
    changed = rest_effects.stores + rest_effects.receivers + rest_effects.passed
    if any(paths_overlap(ref, p) for node in moved for ref in dotted_refs(node) for p in changed):
        return None
    if isinstance(comp, cst.ListComp) and not any(referenced_names(n) & bound for n in rest):
        return _regroup_fix(call, items_arg, comp)
    # the element also reads the item: iterate ``zip(items, embeddings)``, items read twice
    only = fors[0]
    if len(fors) > 1 or only.ifs or target_names(only.target) is None:
        return None
    if not reiterable_name(ctx, only.iter, comp):
        return None
    # nothing evaluated per item before the call may change the item
    effects = statement_effects([holder], skip=call, ctx=ctx)
    if isinstance(comp, cst.DictComp):
        key = statement_effects([comp.key])
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
            batch: cst.BaseExpression = only.iter if makes_list(only.iter) else list_of(only.iter)
        else:
            batch = cst.ListComp(elt=arg, for_in=normalised(only))
        new_call = _batched_call(call, items_arg, batch)
        if comp.elt is call:
            new: cst.BaseExpression = list_of(new_call).with_changes(lpar=comp.lpar, rpar=comp.rpar)
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
        batch = item_batch(items_arg.value, only.target, only.iter)
        new_call = _batched_call(call, items_arg, batch)
        holder = comp.elt if isinstance(comp, cst.ListComp) else comp.value
        identity_key = (
            isinstance(comp, cst.DictComp)
            and isinstance(comp.key, cst.Name)
            and isinstance(only.target, cst.Name)
            and comp.key.value == only.target.value
        )
        if identity_key and holder is call:
            new: cst.BaseExpression = cst.Call(func=cst.Name("dict"), args=[cst.Arg(zip_of(only.iter, new_call))])
            new = new.with_changes(lpar=comp.lpar, rpar=comp.rpar)
        else:
            name = fctx.local_name("embedding", comp)
            new_holder = cst.Name(name) if holder is call else replace_nodes(holder, {call: cst.Name(name)})
            new_for = only.with_changes(target=pair_target(only.target, name), iter=zip_of(only.iter, new_call))
            changes = {"elt": new_holder} if isinstance(comp, cst.ListComp) else {"value": new_holder}
            new = comp.with_changes(for_in=new_for, **changes)
        return replace_nodes(fctx.chunk, {comp: new})

    return build
