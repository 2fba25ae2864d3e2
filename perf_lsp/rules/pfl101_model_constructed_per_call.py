"""PFL101 model-constructed-per-call, and its two codemods."""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.expressions import is_literal
from perf_lsp.analysis.receivers import HelperCall, called_helper, helper_calls_may_matter, may_call_helper
from perf_lsp.analysis.semantic import assigned_target
from perf_lsp.analysis.summaries import built_value_escapes
from perf_lsp.analysis.tree import dotted
from perf_lsp.analysis.words import camel_to_snake, snake_to_upper
from perf_lsp.fix.codemod import replace_node
from perf_lsp.fix.context import FixContext
from perf_lsp.fix.rewrites import cached_factory_fix
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule, RuleOption
from perf_lsp.rules.heuristics import (
    callee_differs_at_module_level,
    has_uncacheable_arg,
    in_lazy_init,
    is_one_time_function,
)

EXTEND_HEAVY_CONSTRUCTORS = RuleOption(
    "extend_heavy_constructors",
    "qualified-names",
    "More heavy model constructors or loaders (your own), as qualified names: reported like the built-in ones.",
)

HEAVY_CONSTRUCTORS = frozenset(catalogs.names("models", "heavy"))
"""Qualified names whose call loads a model (seconds, hundreds of MB): ``[[heavy]]`` of the
``models`` catalog (``perf_lsp/catalogs/models.toml``); extended by ``extend-heavy-constructors``.
``transformers.Auto*.from_pretrained`` is matched by shape."""

_PACKAGES = tuple(sorted({qn.split(".", 1)[0] for qn in HEAVY_CONSTRUCTORS}))


def is_heavy_constructor(qualified: str | None, extra: tuple[str, ...] = ()) -> bool:
    """True for a qualified name whose call loads a heavy model (see :data:`HEAVY_CONSTRUCTORS`)."""
    if not qualified:
        return False
    if qualified in HEAVY_CONSTRUCTORS or qualified in extra:
        return True
    parts = qualified.split(".")
    return (
        len(parts) >= 3
        and parts[0] == "transformers"
        and parts[-1] == "from_pretrained"
        and parts[-2].startswith("Auto")
    )


class ModelConstructedPerCall(Rule):
    """
    ## What it does
    Reports a heavy model built inside a function body: ``SentenceTransformer(...)``,
    ``CrossEncoder(...)``, ``transformers`` ``Auto*.from_pretrained(...)`` and
    ``pipeline(...)``, ``spacy.load(...)``/``spacy.blank(...)``, local embedding
    models (LangChain ``HuggingFaceEmbeddings``, LlamaIndex ``HuggingFaceEmbedding``,
    FlagEmbedding, fastembed), and any qualified name listed in
    ``extend-heavy-constructors``. The full list is the ``models`` catalog
    (``perf_lsp/catalogs/models.toml``), each entry with its documentation page.

    Not reported: at module level; in ``__init__`` and other one-time set-up
    methods; in a function decorated with ``functools.cache``/``lru_cache``; under a
    lazy-initialisation guard (``if self._model is None:``); in ``main()``, test
    functions and start-up hooks; and in factories, where the model leaves the
    function (it is returned, or stored on ``self`` or in a global): keeping it is
    then the caller's job.

    One call deep: a call of one of the module's own functions (``load_model()``,
    ``self._load()``) that returns a newly loaded model, not cached, is reported at
    the call, naming the helper, and judged like the loader itself there (not in
    ``__init__``, nor when the model is stored or returned). A helper that loads a
    model and uses it is reported inside the helper, not again at its callers.

    ## Why is this bad?
    Loading a model reads its weights from disk and builds the network before the
    first inference, and allocates all the weights again each time. Measured with
    all-MiniLM-L6-v2, one of the smallest common sentence-transformers models (90
    MB), on a 2-core machine (``benchmarks/bench_costs.py``, figures in
    ``docs/costs.md``): loading it in a warm process takes about 75 ms, four times
    the 19 ms of encoding a short text, so a per-call load makes each call about 5x
    slower; the first load in a new process, with its imports, takes about 6 s. The
    load grows with the weights: a model ten times larger pays about ten times
    more on every call. The sentence-transformers documentation builds the model
    once and calls ``encode`` on it for every input.

    ## Example
    ```python
    from sentence_transformers import SentenceTransformer

    def generate_embedding(text):
        model = SentenceTransformer("all-MiniLM-L6-v2")
        return model.encode(text)
    ```

    ## Use instead
    ```python
    import functools

    from sentence_transformers import SentenceTransformer

    @functools.cache
    def _get_sentence_transformer(*args, **kwargs):
        return SentenceTransformer(*args, **kwargs)

    def generate_embedding(text):
        model = _get_sentence_transformer("all-MiniLM-L6-v2")
        return model.encode(text)
    ```

    ## Fix safety
    Unsafe. The fix adds a module-level factory decorated with ``functools.cache``
    that builds the model from the same arguments, and the call site calls it: the
    model becomes one instance shared by every caller (and thread) that passes the
    same arguments, and it stays in memory for the life of the process. The fix is
    not offered when an argument cannot key the cache: a list, dict or set (a
    display, a comprehension, or a local bound to one anywhere in the function),
    another call's result (a new object per call, so the cache would never hit
    and would keep every model), ``**kwargs``, or a dict-valued keyword such as
    ``model_kwargs``; nor (like the second fix) when the module-level code could
    read another name than the function: the constructor's name is a parameter
    or a local of the function, or the function imports it from elsewhere than
    the module does. When the module imports it only under ``if
    TYPE_CHECKING:``/``try`` and the function imports it itself, the factory
    imports it too (as the function did). When every
    argument is a literal, a second fix loads the model into a module-level
    constant instead: it then loads at import time, even in processes that never
    call the function; it is not offered when the module imports the constructor
    only under ``try``/``if`` (an optional dependency must not load at import).

    ## References
    - [sentence-transformers: SentenceTransformer](https://sbert.net/docs/package_reference/sentence_transformer/SentenceTransformer.html)
    - [Python: functools.cache](https://docs.python.org/3/library/functools.html#functools.cache)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL101"
    name = "model-constructed-per-call"
    message = "Heavy model built on every call; build it once and reuse it"
    fix_title = "Build the model once in a cached module-level factory"
    fix_safety = Applicability.UNSAFE
    options = (EXTEND_HEAVY_CONSTRUCTORS,)
    alt_fix_title = "Load the model once at import time into a module-level constant"
    alt_fix_safety = Applicability.UNSAFE
    module_facts = ("helper_facts",)

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        if module_ctx.imported_helpers and any(local in text for local, _ in module_ctx.imported_helpers):
            return True  # a function of another module that the project index knows (one call deep)
        if any(package in text for package in _PACKAGES):
            return True  # a local import or a spelled-out module path
        roots = set(_PACKAGES) | {name.split(".", 1)[0] for name in settings.option(EXTEND_HEAVY_CONSTRUCTORS)}
        if not module_ctx.import_roots & roots:
            return False
        # the module loads models: a call here may be one of its helpers (one call deep)
        return "(" in text

    @classmethod
    def wants(cls, summary, settings) -> bool:
        extra = settings.option(EXTEND_HEAVY_CONSTRUCTORS)
        if any(is_heavy_constructor(qn, extra) for _, qn in summary.call_names):
            return True
        helpers = [(name, qn) for name, qn in summary.call_names if may_call_helper(name, qn, summary.module_ctx)]
        return bool(helpers) and helper_calls_may_matter(summary, helpers)

    def visit_Call(self, node: cst.Call) -> None:
        qn = self.ctx.qualified_name(node.func)
        if not is_heavy_constructor(qn, self.ctx.settings.option(EXTEND_HEAVY_CONSTRUCTORS)):
            helper = called_helper(node, self.ctx)
            if helper is not None:
                self._helper_call(node, helper)
            return
        func = self.ctx.enclosing_function(node)
        if func is None or self._one_time(func) or in_lazy_init(node, self.ctx) or self._escapes(node, func):
            return
        callee = dotted(node.func) or "model"
        loop = self.ctx.repeating_loop(node)
        if loop is not None:
            detail = "Inside a loop: the model is loaded once per iteration."
        else:
            detail = f"Paid on every call of `{func.name.value}()`: the model is loaded again each time (all-MiniLM-L6-v2, a small one: ~75 ms a load; see docs/costs.md)."
        if any(arg.star for arg in node.args) or callee_differs_at_module_level(node, func, self.ctx):
            alt = None
        else:
            alt = self._constant_fix(node, callee) if all(is_literal(arg.value) for arg in node.args) else None
        self.report(
            node,
            message=f"`{callee}(...)` loads a {_noun(callee)} on every call of `{func.name.value}()`; build it once and reuse it",
            fix=None if self._factory_declined(node, func) else self._factory_fix(node, callee, qn or callee),
            alt_fix=alt if self._module_level_callee(callee) else None,
            detail=detail,
        )

    def _helper_call(self, node: cst.Call, helper: HelperCall) -> None:
        """One call deep: ``model = load_model()`` where the module's ``load_model`` returns a newly
        loaded model (not cached): judged like the loader at this call."""
        extra = self.ctx.settings.option(EXTEND_HEAVY_CONSTRUCTORS)
        built = next((qn for qn in helper.facts.returns_new if is_heavy_constructor(qn, extra)), None)
        if built is None:
            return
        func = self.ctx.enclosing_function(node)
        if func is None or func.name.value == helper.facts.name or self._one_time(func):
            return
        if in_lazy_init(node, self.ctx) or self._escapes(node, func):
            return
        noun = _noun(built)
        where = "on every iteration" if self.ctx.repeating_loop(node) is not None else f"on every call of `{func.name.value}()`"
        self.report(
            node,
            message=(
                f"`{helper.label}` loads a new {noun} (`{_short(built)}`) "
                f"{where}; load it once and reuse it (cache `{helper.facts.name}` or keep the {noun})"
            ),
            detail=f"`{helper.facts.name}` returns a newly loaded `{built}` each time it is called (all-MiniLM-L6-v2, a small model: ~75 ms a load; see docs/costs.md).",
        )

    # -- detection -------------------------------------------------------
    def _one_time(self, func: cst.FunctionDef) -> bool:
        return is_one_time_function(func, self.ctx)

    def _escapes(self, node: cst.Call, func: cst.FunctionDef) -> bool:
        """True when the built model outlives the call: returned, yielded, or stored outside locals."""
        return built_value_escapes(node, func, self.ctx)

    def _module_level_callee(self, callee: str) -> bool:
        """The callee is imported at module level unconditionally, so a module-level constant can call it
        at import time (not an optional dependency under ``try``, nor an ``if TYPE_CHECKING:`` name)."""
        head = callee.split(".", 1)[0]
        module_ctx = self.ctx.module_ctx
        return module_ctx.imported(head) is not None and head not in module_ctx.guarded_imports

    def _factory_declined(self, node: cst.Call, func: cst.FunctionDef) -> bool:
        """No cached factory: an argument cannot key the cache, or the callee is a local of the function."""
        return has_uncacheable_arg(node, func, self.ctx) or callee_differs_at_module_level(node, func, self.ctx)

    # -- codemods ---------------------------------------------------------
    def _factory_fix(self, node: cst.Call, callee: str, qualified: str):
        return cached_factory_fix(self.ctx, node, callee, qualified, _factory_name(callee))

    def _constant_fix(self, node: cst.Call, callee: str):
        def build(fctx: FixContext) -> cst.Module | None:
            target = assigned_target(node, self.ctx)
            base = snake_to_upper(target.value) if isinstance(target, cst.Name) else snake_to_upper(_model_word(callee))
            name = fctx.unique_name("_" + base)
            fctx.add_definition(f"{name} = {self.ctx.code(node)}")
            return replace_node(fctx.chunk, node, cst.Name(name))

        return build


def _short(qualified: str) -> str:
    """``transformers.AutoModel.from_pretrained`` -> ``AutoModel.from_pretrained``; ``spacy.load`` -> ``spacy.load``;
    ``sentence_transformers.SentenceTransformer`` -> ``SentenceTransformer``."""
    parts = qualified.split(".")
    return ".".join(parts[-2:]) if parts[-1][:1].islower() else parts[-1]


def _noun(callee: str) -> str:
    return "tokenizer" if "Tokenizer" in callee else "model"


def _model_word(callee: str) -> str:
    """The word a generated name is built from: ``AutoModel.from_pretrained`` -> ``auto_model``."""
    parts = callee.split(".")
    if len(parts) > 1 and parts[-1] in {"from_pretrained", "load"}:
        return camel_to_snake(parts[-2])
    return camel_to_snake(parts[-1])


def _factory_name(callee: str) -> str:
    parts = callee.split(".")
    verb = "_load_" if len(parts) > 1 and parts[-1] in {"from_pretrained", "load"} else "_get_"
    return verb + _model_word(callee)
