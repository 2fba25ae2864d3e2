"""PFL202 embedding-api-call-in-loop, and its codemod."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

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
    changed_by_loop,
    is_batch,
    loop_detail,
    loop_sleeps,
    loop_targets,
    reiterable_name,
    statement_effects,
    unconditional,
    varying_loop,
)
from perf_lsp.analysis.receivers import CatalogResolver, TypeCatalog, resolver
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, SCOPES, dotted, walk
from perf_lsp.fix.batching import batch_before_loop, list_of, makes_list, normalised
from perf_lsp.fix.codemod import replace_nodes
from perf_lsp.fix.context import FixContext
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleContext, RuleOption, short_code

EXTEND_BATCHABLE_METHODS = RuleOption(
    "extend_batchable_methods",
    "qualified-names",
    "More per-item calls that have a batched form, as qualified functions or methods (``acme.Embedder.embed_one``).",
)

# -- PFL202 ------------------------------------------------------------------
def _tagged(table: str) -> dict[str, str]:
    """Qualified name -> tag, for the entries of ``[[table]]`` of the ``embeddings`` catalog."""
    return {qn: entry["tag"] for entry in catalogs.entries("embeddings", table) for qn in catalogs.entry_names(entry)}


def _family_constructors() -> dict[str, str]:
    """``package.class`` -> tag for the ``[[family]]`` entries (a class in ``symmetric``: ``lc_symmetric``)."""
    out: dict[str, str] = {}
    for entry in catalogs.entries("embeddings", "family"):
        symmetric = set(entry.get("symmetric", ()))
        for package in entry["packages"]:
            for cls in entry["classes"]:
                out[f"{package}.{cls}"] = "lc_symmetric" if cls in symmetric else entry["tag"]
    return out


EMBEDDING_CATALOG = TypeCatalog(
    constructors={**_tagged("client"), **_family_constructors()},
    annotations=_tagged("annotation"),
    prefixes=tuple((e["prefix"], e["suffix"], e["tag"]) for e in catalogs.entries("embeddings", "prefix")),
)
"""Embedding clients: OpenAI/Azure OpenAI SDK clients, LangChain embeddings, Cohere clients; from the
``embeddings`` catalog (``perf_lsp/catalogs/embeddings.toml``)."""

_LC_METHODS = {
    e["name"]: e["batch"] for e in catalogs.entries("embeddings", "method") if "lc_embeddings" in e["tags"] and not e.get("one_item")
}
_PER_ITEM_METHODS = {e["name"]: e for e in catalogs.entries("embeddings", "method") if not e.get("one_item")}
"""Per-item embedding methods of the catalog (``get_text_embedding``) -> their entry (tags, batch form)."""
_ONE_ITEM_METHODS = {e["name"]: e for e in catalogs.entries("embeddings", "method") if e.get("one_item")}
"""Batch methods (``embed_documents``) reported when called with a one-element list per item."""
_BATCH_NAMES = tuple((e["contains"], tuple(e["suffixes"])) for e in catalogs.entries("embeddings", "batch_name"))
"""(word, suffixes): a method whose name has the word and one of the suffixes is a batch embedding method."""


def _batch_embedding_name(name: str) -> bool:
    """``get_embeddings``, ``embed_batch``, ``async_get_embeddings``: a batch embedding method by its name."""
    lower = name.lower()
    return any(word in lower and lower.endswith(suffixes) for word, suffixes in _BATCH_NAMES)


_ONE_ITEM_TEXT = re.compile(r"embed\w*\(\s*\[")
"""Text that may hold a one-element list passed to a batch embedding method (``embed_batch([``)."""

_PACKAGES = frozenset(
    qn.split(".", 1)[0]
    for qn in (*EMBEDDING_CATALOG.constructors, *EMBEDDING_CATALOG.annotations, *(p for p, _, _ in EMBEDDING_CATALOG.prefixes))
)
"""The packages whose imports can give a receiver one of the catalog's types."""
_CREATE_OWNERS = frozenset({"embeddings", "Embedding"})
"""``<owner>.create(input=...)``: OpenAI's embeddings endpoint (the client's attribute, the legacy class)."""
_MESSAGE = "`{call}` called once per item in a loop; send the items in one request"


@dataclass
class _Site:
    """One per-item embedding request: the call, its item argument, and what a fix may rewrite."""

    call: cst.Call
    arg: cst.Arg
    item: cst.BaseExpression
    """The single item (``t`` in ``input=t`` or ``input=[t]``)."""
    kind: str
    """``openai``, ``openai-legacy``, ``langchain``, ``cohere``, ``catalog`` (a per-item method of the
    ``embeddings`` catalog), ``one-item`` (a batch method called with a one-element list),
    ``one-item-named`` (the same, the method known by its name: ``get_embeddings([t])``) or ``custom``."""
    fixable: bool = False


class EmbeddingApiCallInLoop(Rule):
    """
    ## What it does
    Reports an embedding request made once per item inside a ``for`` loop or a
    comprehension, when the API takes a list of inputs in one request:

    - ``client.embeddings.create(input=<one item>)`` (or ``input=[<one item>]``) on
      an OpenAI or Azure OpenAI client, sync or async (``openai.OpenAI``,
      ``AsyncOpenAI``, ``AzureOpenAI``, ``AsyncAzureOpenAI``, and module-level
      ``openai.embeddings.create``);
    - LangChain ``embed_query``/``aembed_query`` on an embeddings object
      (``langchain_openai.OpenAIEmbeddings``, ``langchain_community.embeddings.*``,
      a parameter annotated ``langchain_core.embeddings.Embeddings``...);
    - Cohere ``co.embed(texts=[<one text>])``;
    - LlamaIndex ``get_text_embedding``/``aget_text_embedding`` on an embedding
      model (``llama_index.embeddings.*Embedding``, a parameter annotated
      ``BaseEmbedding``): the message names ``get_text_embedding_batch``;
    - a batch method called with a one-element list per item
      (``embed_documents([text])``, ``get_text_embedding_batch([text])``), or any
      method named like a batch embedding method (``get_embeddings([text])``,
      ``embed_batch([text])``) on any receiver;
    - any function or method listed in ``extend-batchable-methods``.

    The methods and receivers are the ``embeddings`` catalog
    (``perf_lsp/catalogs/embeddings.toml``). The receiver must be known: a module-level client, a local built in the
    function, a ``self.x`` the class assigns or annotates, or an annotated
    parameter. The argument must change from one iteration to the next.

    Not reported: calls that already send a batch (``input=texts``,
    ``input=[a, b]``, a slice, a comprehension), loops over batches
    (``batched(...)``, ``chunks``), ``while`` loops, loops that sleep between
    calls (``time.sleep``/``asyncio.sleep``: deliberately rate-limited and
    sequential), ``embed_documents`` (already batched), tokenizers such as
    ``tiktoken``'s ``encode``, and a loop in an ``except NotImplementedError:``
    block: the fallback for embedders without a batch method, after the batched
    call was tried.

    ## Why is this bad?
    Every call is an HTTPS round trip to the provider: tens to hundreds of
    milliseconds of latency, a share of the per-minute request limit, and retries
    on rate limiting. Embedding endpoints take a list: OpenAI's ``input`` accepts an
    array of strings (up to 2,048 per request), as do Cohere's ``texts`` and Azure
    OpenAI's ``input``; one request with a list of inputs costs about one round
    trip. Measured against a local endpoint with no network latency at all
    (``benchmarks/bench_costs.py``, ``docs/costs.md``): 50 texts sent one request
    each take about 65 ms, one request with all 50 about 2 ms (about 35x); with a
    real provider each of those requests also waits for the network and the
    provider's queue.

    ## Example
    ```python
    from openai import OpenAI

    client = OpenAI()

    def embed(texts):
        return [
            client.embeddings.create(input=t, model="text-embedding-3-small").data[0].embedding
            for t in texts
        ]
    ```

    ## Use instead
    ```python
    from openai import OpenAI

    client = OpenAI()

    def embed(texts):
        response = client.embeddings.create(input=list(texts), model="text-embedding-3-small")
        return [d.embedding for d in response.data]
    ```

    With LangChain, ``embeddings.embed_documents(texts)`` instead of
    ``[embeddings.embed_query(t) for t in texts]``. Providers cap a request:
    OpenAI takes at most 2048 inputs per request, each under the model's token
    limit (8192 tokens for the ``text-embedding-3`` models) and about 300,000
    tokens in all; Cohere takes 96 texts per call. For more items, send slices of
    that size (still one request per slice, not per item).

    ## Fix safety
    Unsafe. The fix sends all items in one request and takes the embeddings from
    the response in order (OpenAI returns one ``data`` entry per input, in input
    order; ``embed_documents`` returns one vector per text), but

    - a large list can exceed the provider's per-request limits (OpenAI: 2048
      inputs, 300,000 tokens), and an empty list is an error for OpenAI where the
      loop made no request;
    - one failing item fails the whole request, and a retry repeats it all;
    - the requests for all items happen before the loop body runs for the
      first one, so side effects interleave differently, and items after an early
      ``break`` are embedded too;
    - an iterator that is not known to be re-iterable is first copied into a list.

    It is offered only when nothing else can change the result: for OpenAI when
    the value used is ``<call>.data[0].embedding``, and for LangChain only on
    ``OpenAIEmbeddings``/``AzureOpenAIEmbeddings``, whose ``embed_query`` is
    ``embed_documents`` of one text (models with separate query and document
    modes, such as Cohere's or instruction-tuned ones, embed differently). The
    loop must be a list comprehension, or a ``for`` loop whose first statement
    makes the request unconditionally, with an argument that reads only the loop
    variable and names the loop does not change.

    ## References
    - [OpenAI API: Create embeddings (input as an array)](https://platform.openai.com/docs/api-reference/embeddings/create)
    - [OpenAI: Rate limits](https://platform.openai.com/docs/guides/rate-limits)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL202"
    name = "embedding-api-call-in-loop"
    message = "Embedding API called once per item in a loop; send all items in one request"
    fix_title = "Send all items in one embedding request"
    fix_safety = Applicability.UNSAFE
    options = (EXTEND_BATCHABLE_METHODS,)
    triggers = r"embed(?<=\bembed)|aembed|_embedding|\.create\s*\("

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if settings.option(EXTEND_BATCHABLE_METHODS):
            return True
        if not super().applies_to(text, module_ctx, settings):
            return False
        if any(pkg in text for pkg in ("openai", "langchain", "cohere", "Embeddings", "llama_index")):
            return True
        if _ONE_ITEM_TEXT.search(text):
            return True  # ``x.get_embeddings([t])``: a batch embedding method by its name, any receiver
        roots = module_ctx.import_roots
        return bool(roots & _PACKAGES) or any(root.startswith("langchain") for root in roots)

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """A call in a loop shaped like a per-item request the rule knows (``<x>.embeddings.create``,
        ``<x>.Embedding.create``, an ``_LC_METHODS`` method, ``<x>.embed``, a per-item or one-item method of the
        ``embeddings`` catalog, a method named like a batch embedding method), or any call in a loop when
        ``extend-batchable-methods`` lists methods."""
        if not summary.own.has_loops:
            return False
        custom = bool(settings.option(EXTEND_BATCHABLE_METHODS))
        for call, _ in summary.own.calls_in_loops:
            if custom:
                return True
            func = call.func
            if type(func) is ast.Name and (func.id in _PER_ITEM_METHODS or func.id in _ONE_ITEM_METHODS):
                return True
            if type(func) is not ast.Attribute:
                continue
            attr = func.attr
            if attr in _LC_METHODS or attr == "embed" or attr in _PER_ITEM_METHODS or attr in _ONE_ITEM_METHODS:
                return True
            if _batch_embedding_name(attr):
                return True
            if attr == "create" and type(func.value) is ast.Attribute and func.value.attr in _CREATE_OWNERS:
                return True
        return False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, (cst.Attribute, cst.Name)):
            return
        site = self._site(node)
        if site is None:
            return
        innermost = self.ctx.repeating_loop(node)
        if innermost is None:
            return
        loop = varying_loop(self.ctx, innermost, [site.item])
        if loop is None or loop_sleeps(self.ctx, loop):
            return
        if _batch_unsupported_fallback(self.ctx, loop):
            return
        if not self._is_embedding_call(site):
            return
        fix = None
        if site.fixable and loop is innermost and not self._shadowed():
            fix = _plan(self.ctx, site, loop)
        self.report(
            node,
            message=_MESSAGE.format(call=short_code(self.ctx.code(func)) + "(...)") + _batch_hint(site),
            fix=fix,
            detail=f"{loop_detail(loop)}: one API round trip per item instead of one per request "
            "(100 items: 100 requests, each a network round trip and a share of the rate limit).",
        )

    def _shadowed(self) -> bool:
        if not hasattr(self, "_shadowed_cache"):
            self._shadowed_cache = builtins_shadowed(self.ctx, ("list", "zip"))
        return self._shadowed_cache

    # -- detection -------------------------------------------------------
    def _site(self, call: cst.Call) -> _Site | None:
        """The call's shape, when it is one of the per-item requests this rule knows."""
        func = call.func
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            owner = func.value
            if attr == "create" and isinstance(owner, cst.Attribute) and owner.attr.value in {"embeddings", "Embedding"}:
                arg = _keyword(call, "input")
                if arg is None or any(a.star for a in call.args):
                    return None
                item = _single(arg.value)
                if item is None:
                    return None
                legacy = owner.attr.value == "Embedding"
                return _Site(call, arg, item, "openai-legacy" if legacy else "openai")
            if attr in _LC_METHODS:
                arg = _first(call, "text")
                if arg is None or is_batch(arg.value):
                    return None
                return _Site(call, arg, arg.value, "langchain")
            if attr in _PER_ITEM_METHODS:
                arg = _first(call, "text")
                if arg is None or is_batch(arg.value):
                    return None
                return _Site(call, arg, arg.value, "catalog")
            if attr in _ONE_ITEM_METHODS or _batch_embedding_name(attr):
                arg = _first(call, "texts")
                if arg is not None and isinstance(arg.value, cst.List) and len(arg.value.elements) == 1:
                    item = _single(arg.value)
                    if item is not None:
                        return _Site(call, arg, item, "one-item" if attr in _ONE_ITEM_METHODS else "one-item-named")
                return None
            if attr == "embed":
                arg = _keyword(call, "texts")
                if arg is not None and isinstance(arg.value, cst.List) and len(arg.value.elements) == 1:
                    item = _single(arg.value)
                    if item is not None:
                        return _Site(call, arg, item, "cohere")
        if self.ctx.settings.option(EXTEND_BATCHABLE_METHODS):
            arg = _first(call, None)
            if arg is not None and not is_batch(arg.value):
                return _Site(call, arg, arg.value, "custom")
        return None

    def _is_embedding_call(self, site: _Site) -> bool:
        func = site.call.func
        receivers = resolver(self.ctx, EMBEDDING_CATALOG)
        if site.kind in {"openai", "openai-legacy"}:
            owner = func.value
            qn = self.ctx.qualified_name(func)
            if qn in {"openai.embeddings.create", "openai.Embedding.create"}:
                return True
            if site.kind == "openai-legacy":
                return False
            if "openai" in receivers.tags(owner.value, site.call):
                site.fixable = True
                return True
            return False
        if site.kind == "langchain":
            tags = receivers.tags(func.value, site.call)
            if tags & {"lc_embeddings", "lc_symmetric"}:
                site.fixable = tags == {"lc_symmetric"}
                return True
            return False
        if site.kind == "cohere":
            return "cohere" in receivers.tags(func.value, site.call)
        if site.kind == "one-item-named":
            return True  # a batch embedding method by its name, given one item per call
        if site.kind in {"catalog", "one-item"}:
            table = _PER_ITEM_METHODS if site.kind == "catalog" else _ONE_ITEM_METHODS
            return bool(receivers.tags(func.value, site.call) & set(table[func.attr.value]["tags"]))
        return self._is_custom(site)

    def _is_custom(self, site: _Site) -> bool:
        """A function or method listed in ``extend-batchable-methods``."""
        wanted = set(self.ctx.settings.option(EXTEND_BATCHABLE_METHODS))
        func = site.call.func
        qn = self.ctx.qualified_name(func)
        if qn in wanted:
            return True
        if not isinstance(func, cst.Attribute):
            return False
        method = func.attr.value
        classes = {name.rsplit(".", 1)[0]: "custom" for name in wanted if name.endswith("." + method)}
        if not classes:
            return False
        return "custom" in CatalogResolver(self.ctx, TypeCatalog(constructors=classes)).tags(func.value, site.call)


def _batch_hint(site: _Site) -> str:
    """`` (`get_text_embedding_batch` with all items)`` for a catalogued method; empty for the others."""
    if site.kind == "catalog":
        method, _, note = _PER_ITEM_METHODS[site.call.func.attr.value]["batch"].partition(", ")
        return f" (`{method}`, {note})" if note else f" (`{method}`)"
    if site.kind in {"one-item", "one-item-named"}:
        return f" (one `{site.call.func.attr.value}` with all items)"
    return ""


_UNSUPPORTED_ERRORS = frozenset({"NotImplementedError", "NotImplemented", "AttributeError"})


def _batch_unsupported_fallback(ctx: RuleContext, loop: cst.CSTNode) -> bool:
    """The loop is the fallback of a batched call that was tried first: it runs in an ``except
    NotImplementedError:`` (or ``AttributeError``) block, taken only when the embedder has no batch
    method (``try: embed_documents(texts) except NotImplementedError: [embed_query(t) for t in texts]``)."""
    for anc in ctx.ancestors(loop):
        if isinstance(anc, FUNCTION_BOUNDARIES):
            return False
        if isinstance(anc, (cst.ExceptHandler, cst.ExceptStarHandler)) and anc.type is not None:
            types = anc.type.elements if isinstance(anc.type, cst.Tuple) else [anc.type]
            for element in types:
                expr = element.value if isinstance(element, cst.Element) else element
                name = dotted(expr) or ""
                if name.rsplit(".", 1)[-1] in _UNSUPPORTED_ERRORS:
                    return True
    return False


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _first(call: cst.Call, keyword: str | None) -> cst.Arg | None:
    """The first positional argument, or the keyword argument ``keyword``; None with ``*args``."""
    if any(a.star for a in call.args):
        return None
    positional = [a for a in call.args if a.keyword is None]
    if positional:
        return positional[0]
    if keyword is not None:
        return _keyword(call, keyword)
    return call.args[0] if call.args else None


def _single(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """The one item of ``input=``: ``t`` for ``t`` and ``[t]``; None for a batch."""
    if isinstance(expr, cst.List):
        if len(expr.elements) == 1 and isinstance(expr.elements[0], cst.Element):
            return expr.elements[0].value
        return None
    if is_batch(expr) or isinstance(expr, (cst.Subscript)) and _is_slice(expr):
        return None
    return expr


def _is_slice(expr: cst.Subscript) -> bool:
    return any(isinstance(element.slice, cst.Slice) for element in expr.slice)


# -- the fix ---------------------------------------------------------------
Builder = Callable[[FixContext], "cst.Module | None"]


def _awaited(call: cst.Call, parent: cst.CSTNode | None) -> bool:
    return isinstance(parent, cst.Await) and parent.expression is call


def _value_node(ctx: RuleContext, site: _Site) -> cst.BaseExpression | None:
    """The per-item value the fix replaces: ``C.data[0].embedding`` (``C`` possibly awaited) for OpenAI,
    ``e.embed_query(t)``/``await e.aembed_query(t)`` for LangChain; None for other shapes."""
    call = site.call
    parent = ctx.parent(call)
    awaited = _awaited(call, parent)
    base: cst.CSTNode = parent if awaited else call
    if site.kind == "langchain":
        if awaited != (call.func.attr.value == "aembed_query"):
            return None
        return base
    # OpenAI: (await C).data[0].embedding or C.data[0].embedding
    data = ctx.parent(base)
    if not (isinstance(data, cst.Attribute) and data.value is base and data.attr.value == "data"):
        return None
    index = ctx.parent(data)
    if not (isinstance(index, cst.Subscript) and index.value is data and len(index.slice) == 1):
        return None
    slot = index.slice[0].slice
    if not (isinstance(slot, cst.Index) and isinstance(slot.value, cst.Integer) and slot.value.value == "0"):
        return None
    value = ctx.parent(index)
    if not (isinstance(value, cst.Attribute) and value.value is index and value.attr.value == "embedding"):
        return None
    if awaited and not base.lpar:
        return None
    return value


def _batched_value(fctx: FixContext, ctx: RuleContext, site: _Site, batch: cst.BaseExpression, scope: cst.CSTNode | None) -> cst.BaseExpression:
    """The list of embeddings for ``batch``: ``[d.embedding for d in C(input=batch).data]`` or
    ``e.embed_documents(batch)``."""
    call = site.call
    awaited = _awaited(call, ctx.parent(call))
    if site.kind == "langchain":
        method = _LC_METHODS[call.func.attr.value]
        new_call = call.with_changes(
            func=call.func.with_changes(attr=cst.Name(method)),
            args=[a.with_changes(value=batch) if a is site.arg else a for a in call.args],
        )
        return cst.Await(new_call) if awaited else new_call
    new_call = call.with_changes(args=[a.with_changes(value=batch) if a is site.arg else a for a in call.args])
    response: cst.BaseExpression = new_call
    if awaited:
        response = cst.Await(new_call, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    name = fctx.local_name("d", scope)
    return cst.ListComp(
        elt=cst.Attribute(value=cst.Name(name), attr=cst.Name("embedding")),
        for_in=cst.CompFor(target=cst.Name(name), iter=cst.Attribute(value=response, attr=cst.Name("data"))),
    )


def _plan(ctx: RuleContext, site: _Site, loop: cst.CSTNode) -> Builder | None:
    value = _value_node(ctx, site)
    if value is None:
        return None
    if isinstance(loop, cst.ListComp):
        return _plan_comprehension(ctx, site, value, loop)
    if isinstance(loop, cst.For):
        return _plan_for(ctx, site, value, loop)
    return None


def _parts_invariant(site: _Site, varying: set[str]) -> bool:
    """The receiver and the other arguments read no per-iteration name."""
    call = site.call
    others = [call.func.value] + [a.value for a in call.args if a is not site.arg]
    return not any(referenced_names(part) & varying for part in others)


def _plan_comprehension(ctx: RuleContext, site: _Site, value: cst.BaseExpression, comp: cst.ListComp) -> Builder | None:
    """``[C(input=t).data[0].embedding for t in xs]`` -> ``[d.embedding for d in C(input=list(xs)).data]``."""
    if comp.elt is not value:
        return None
    if ctx.enclosing_function(comp) is None and any(isinstance(a, cst.ClassDef) for a in ctx.ancestors(comp)):
        return None
    for_in = comp.for_in
    while for_in is not None:
        if for_in.asynchronous is not None:
            return None
        for_in = for_in.inner_for_in
    bound, _ = loop_targets(comp)
    if not _parts_invariant(site, bound) or referenced_names(site.item) & (bound - comprehension_targets(comp)):
        return None
    scope = ctx.enclosing_function(comp)

    def build(fctx: FixContext) -> cst.Module | None:
        only = comp.for_in
        item = site.item
        simple = only.inner_for_in is None and not only.ifs
        if simple and isinstance(item, cst.Name) and isinstance(only.target, cst.Name) and item.value == only.target.value:
            batch: cst.BaseExpression = only.iter if makes_list(only.iter) else list_of(only.iter)
        else:
            batch = cst.ListComp(elt=item, for_in=normalised(only))
        new = _batched_value(fctx, ctx, site, batch, scope if scope is not None else comp)
        new = new.with_changes(lpar=comp.lpar, rpar=comp.rpar)
        return replace_nodes(fctx.chunk, {comp: new})

    return build


def _plan_for(ctx: RuleContext, site: _Site, value: cst.BaseExpression, loop: cst.For) -> Builder | None:
    """A ``for`` loop whose first statement requests one item's embedding: request them all before the loop,
    and iterate ``zip(items, embeddings)``."""
    if loop.asynchronous is not None or loop.orelse is not None:
        return None
    targets = target_names(loop.target)
    if targets is None or not isinstance(loop.body, cst.IndentedBlock) or not loop.body.body:
        return None
    body = loop.body
    lines = list(body.body)
    line = lines[0]
    if not isinstance(line, cst.SimpleStatementLine):
        return None
    small = line.body[0]
    if not isinstance(small, (cst.Assign, cst.AnnAssign, cst.Expr)) or not unconditional(ctx, value, small):
        return None
    if not any(a is small for a in ctx.ancestors(value)):
        return None
    inner_awaits = [n for n in walk(small, stop=SCOPES) if isinstance(n, (cst.Await, cst.Yield))]
    if any(n is not value and n is not ctx.parent(site.call) for n in inner_awaits):
        return None
    bound = bound_names(body)
    if targets & bound or referenced_names(site.item) & bound or not _parts_invariant(site, targets | bound):
        return None
    everywhere = statement_effects([body])
    if everywhere.yields:
        return None
    elsewhere = statement_effects([body], skip=value)
    here = statement_effects([small], skip=value, ctx=ctx)
    for ref in dotted_refs(site.item):
        if ref[0] in targets:
            if any(paths_overlap(ref, p) for p in here.receivers + here.passed):
                return None
        elif any(paths_overlap(ref, p) for p in elsewhere.stores + elsewhere.receivers + elsewhere.passed):
            return None
    if changed_by_loop([site.call.func.value] + [a.value for a in site.call.args if a is not site.arg], loop.iter, everywhere):
        return None
    reiterable = reiterable_name(ctx, loop.iter, loop)
    drop_name: str | None = None
    if isinstance(small, cst.Assign) and small.value is value and len(small.targets) == 1 and len(line.body) == 1:
        target = small.targets[0].target
        if isinstance(target, cst.Name) and target.value not in targets and len(lines) > 1:
            drop_name = target.value
    scope = ctx.enclosing_function(loop)

    def build(fctx: FixContext) -> cst.Module | None:
        return batch_before_loop(
            fctx, loop, scope=scope, reiterable=reiterable, item=site.item, per_item=value,
            batched=lambda batch: _batched_value(fctx, ctx, site, batch, scope),
            drop=(drop_name, body, line, small), names=("vectors", "vector"),
        )

    return build


__all__ = ["EMBEDDING_CATALOG", "EmbeddingApiCallInLoop"]
