"""Guesses several rules share: caches, lazy singletons, one-time setup, cold paths, what a factory can key on.

The rule-agnostic facts these guesses read (bindings, loops, the tree) are in
:mod:`perf_lsp.analysis`. Each function takes libcst nodes of an analysed chunk and
its :class:`~perf_lsp.rules.base.RuleContext`.
"""

from __future__ import annotations

import re

import libcst as cst

from perf_lsp.analysis.bindings import all_params, imported_as, name_bindings
from perf_lsp.analysis.expressions import decorator_name, is_builtin_call, is_str_expression
from perf_lsp.analysis.hotness import ROUTE_DECORATORS
from perf_lsp.analysis.semantic import enclosing_functions
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, dotted, walk
from perf_lsp.rules.base import RuleContext

CACHE_DECORATORS = frozenset(
    {
        "functools.cache",
        "functools.lru_cache",
        "functools.cached_property",
        "async_lru.alru_cache",
        "cachetools.cached",
        "cachetools.func.lru_cache",
        "cachetools.func.ttl_cache",
        "streamlit.cache_resource",
        "streamlit.cache_data",
    }
)
"""Decorators that make a function's result computed once per distinct arguments."""

ONE_TIME_METHODS = frozenset({"__init__", "__new__", "__post_init__", "__init_subclass__", "setUp", "setUpClass"})
"""Methods that run once per instance or class: building things there is set-up, not a hot path."""


def is_cached_function(func: cst.FunctionDef, ctx: RuleContext) -> bool:
    """True when ``func`` is decorated with a caching decorator (:data:`CACHE_DECORATORS`)."""
    for deco in func.decorators:
        name = decorator_name(deco, ctx)
        if name and (name in CACHE_DECORATORS or name.rsplit(".", 1)[-1] in {"cache", "lru_cache", "cached_property", "alru_cache", "cache_resource"}):
            return True
    return False


def _is_none_test(test: cst.BaseExpression) -> bool:
    """``X is None``, ``not X``, ``X not in cache``, ``key not in self._cache``, and ``or``/``and`` of them."""
    if isinstance(test, cst.BooleanOperation):
        return _is_none_test(test.left) or _is_none_test(test.right)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return True
    if isinstance(test, cst.Comparison):
        for target in test.comparisons:
            if isinstance(target.operator, cst.Is) and isinstance(target.comparator, cst.Name) and target.comparator.value == "None":
                return True
            if isinstance(target.operator, cst.NotIn):
                return True
    if isinstance(test, cst.Call) and dotted(test.func) in {"hasattr"}:
        return False
    return False


def in_lazy_init(node: cst.CSTNode, ctx: RuleContext) -> bool:
    """True when ``node`` runs under a lazy-initialisation guard in its function.

    ``if self._model is None: self._model = ...``, ``if not _cache: ...``,
    ``if key not in cache: ...`` and ``if not hasattr(self, "x"): ...``: the value is
    built once and kept.
    """
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, FUNCTION_BOUNDARIES):
            return False
        if isinstance(anc, cst.If) and child is anc.body and _is_none_test(anc.test):
            return True
        child = anc
    return False


# -- things built per call: shared by PFL101 (models), PFL102 (clients), PFL103 (connections) -------------

ONE_TIME_DECORATOR_SUFFIXES = ("command", "on_event", "lifespan", "fixture", "group", "callback", "main")
"""Last parts of decorators of functions that run once per process (CLI commands, start-up hooks, fixtures)."""

ONE_TIME_FUNCTION_NAMES = frozenset({"main", "_main", "cli", "setup", "setup_module", "load_model", "load_models"})
"""Names of functions that run once per process."""


def is_one_time_function(func: cst.FunctionDef, ctx: RuleContext, extra_names: frozenset[str] = frozenset()) -> bool:
    """True when ``func`` runs once (set-up methods, ``main``, tests, start-up hooks) or caches its result.

    The same test as PFL101's: :data:`ONE_TIME_METHODS`, :data:`ONE_TIME_FUNCTION_NAMES`
    and ``extra_names``, ``test_*`` functions, cached functions, and functions decorated
    with a decorator whose last part is in :data:`ONE_TIME_DECORATOR_SUFFIXES`.
    """
    name = func.name.value
    if name in ONE_TIME_METHODS or name in ONE_TIME_FUNCTION_NAMES or name in extra_names or name.startswith("test_"):
        return True
    if is_cached_function(func, ctx):
        return True
    for deco in func.decorators:
        deco_name = decorator_name(deco, ctx) or ""
        if deco_name.rsplit(".", 1)[-1] in ONE_TIME_DECORATOR_SUFFIXES:
            return True
    return False


def calls_method_of(call: cst.Call, name: str, methods: frozenset[str] | set[str]) -> bool:
    """True when ``call`` is ``name.<method>(...)`` for a local ``name`` and a method in ``methods``."""
    callee = call.func
    return (
        isinstance(callee, cst.Attribute)
        and isinstance(callee.value, cst.Name)
        and callee.value.value == name
        and callee.attr.value in methods
    )


_CLOSERS = frozenset({"close", "aclose", "disconnect", "dispose", "shutdown", "__exit__", "__aexit__"})


def closed_or_context_managed(name: str, func: cst.FunctionDef) -> bool:
    """True when ``func`` closes local ``name`` (``name.close()``/``aclose()``/``disconnect()``) or enters it
    in a ``with`` (``with name:``, ``with closing(name):``): sharing the object would close it for everyone."""
    for node in walk(func.body):
        if isinstance(node, cst.Call):
            if calls_method_of(node, name, _CLOSERS):
                return True
        elif isinstance(node, cst.WithItem):
            item = node.item
            if isinstance(item, cst.Call) and item.args:
                item = item.args[0].value  # ``closing(name)``
            if isinstance(item, cst.Name) and item.value == name:
                return True
    return False


# -- what a functools.cache factory can key on (PFL101, PFL102, PFL103) --------------------------------

_FRESH_VALUES = (
    cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp, cst.GeneratorExp, cst.Lambda, cst.Await,
    cst.Yield,
)
"""Expressions that build a new object each time they run: unhashable (displays), or hashable by identity
only (a generator, a lambda), so a cache keyed by them raises or never hits."""

CONTAINER_KEYWORDS = frozenset(
    {
        "default_headers", "default_query", "headers", "extra_headers", "http_options", "cookies", "params",
        "mounts", "event_hooks", "connect_args", "execution_options", "model_kwargs", "tokenizer_kwargs",
        "config_kwargs", "model_card_data", "callbacks", "tags", "metadata",
    }
)
"""Keywords of the clients, engines and models the factory fix rewrites that take a dict or a list
(headers, ``connect_args``, ``model_kwargs``, LangChain ``callbacks``...): a cache keyed by the arguments
cannot hash them, whatever expression passes them."""

_SCALAR_CALLS = frozenset({"os.getenv", "os.environ.get"})
_SCALAR_BUILTINS = ("str", "int", "float", "bool")


def has_uncacheable_arg(call: cst.Call, func: cst.FunctionDef | None, ctx: RuleContext) -> bool:
    """True when a ``functools.cache`` factory called with ``call``'s arguments would raise or never hit.

    Shared by the cached-factory fixes of PFL101, PFL102 and PFL103, which decline then. An argument
    fails when it is (or is a local of ``func`` bound, anywhere in ``func``, to) a list, dict or set
    display or comprehension, a generator expression, a lambda, an ``await``, a nested ``def``/``class``
    or a call (a new object per call: ``OpenAI(http_client=httpx.Client())`` would keep every client
    alive, ``httpx.Timeout(...)`` cannot be hashed), except calls that give a string or a number
    (``os.getenv(...)``, ``os.environ.get(...)``, ``str``/``int``/``float``/``bool(...)``, ``"".join``);
    when it is a parameter whose default is such a value; when a dict is spread (``**kwargs``); and when
    a keyword of :data:`CONTAINER_KEYWORDS` passes anything but ``None``. Parameters, attributes,
    subscripts and globals are unknown and pass, as literals, f-strings and tuples of passing values do.
    """
    params = {p.name.value: p for p in all_params(func.params)} if func is not None else {}
    for arg in call.args:
        if arg.star == "**":
            return True
        if arg.keyword is not None and arg.keyword.value in CONTAINER_KEYWORDS and not _is_none(arg.value):
            return True
        value = arg.value
        if arg.star == "*":
            # ``*args`` passes the elements (unknown); ``*[a, b]`` passes ``a`` and ``b``
            displayed = isinstance(value, (cst.List, cst.Tuple, cst.Set))
            if displayed and not all(_cacheable(el.value, func, params, ctx, set()) for el in value.elements):
                return True
            continue
        if not _cacheable(value, func, params, ctx, set()):
            return True
    return False


def callee_differs_at_module_level(call: cst.Call, func: cst.FunctionDef | None, ctx: RuleContext) -> bool:
    """True when ``call``'s callee, read at module level (by a factory or a constant a fix adds there), may
    not be what ``func`` calls.

    That is when the callee's head is a parameter of ``func`` or bound in it by anything but an import
    (``def f(redis): redis.Redis()``, ``SentenceTransformer = fake``), or imported by ``func`` from
    elsewhere than the module imports that name from. When the module imports it from the same place
    only under ``try``/``if`` (``if TYPE_CHECKING:``: unbound at run time), the factory imports it
    itself as ``func`` does (:func:`local_import_line`), so the callee is the same.
    """
    head = (dotted(call.func) or "").split(".", 1)[0]
    if func is None or not head:
        return False
    if any(p.name.value == head for p in all_params(func.params)):
        return True
    module_ctx = ctx.module_ctx
    for kind, node, _value in name_bindings(func, head):
        if kind != "import":
            return True
        at_module = module_ctx.imported(head)
        if at_module is not None and at_module != imported_as(node, head):
            return True
    return False


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _cacheable(
    expr: cst.BaseExpression, func: cst.FunctionDef | None, params: dict[str, cst.Param], ctx: RuleContext, seen: set[str]
) -> bool:
    """False when ``expr`` is (or may be, through a local) a fresh or unhashable value; see :func:`has_uncacheable_arg`."""
    if isinstance(expr, _FRESH_VALUES):
        return False
    if isinstance(expr, cst.Call):
        return _scalar_call(expr, ctx) and all(
            not arg.star and _cacheable(arg.value, func, params, ctx, seen) for arg in expr.args
        )
    if isinstance(expr, cst.Tuple):
        return all(_cacheable(el.value, func, params, ctx, seen) for el in expr.elements)
    if isinstance(expr, cst.UnaryOperation):
        return _cacheable(expr.expression, func, params, ctx, seen)
    if isinstance(expr, (cst.BinaryOperation, cst.BooleanOperation)):
        return _cacheable(expr.left, func, params, ctx, seen) and _cacheable(expr.right, func, params, ctx, seen)
    if isinstance(expr, cst.IfExp):
        return _cacheable(expr.body, func, params, ctx, seen) and _cacheable(expr.orelse, func, params, ctx, seen)
    if isinstance(expr, cst.NamedExpr):
        return _cacheable(expr.value, func, params, ctx, seen)
    if isinstance(expr, cst.Name):
        return _cacheable_name(expr.value, func, params, ctx, seen)
    return True  # literals, f-strings, comparisons; attributes and subscripts are unknown


def _scalar_call(call: cst.Call, ctx: RuleContext) -> bool:
    """A call that gives a string or a number: an environment lookup, a scalar conversion, ``"".join``."""
    if ctx.qualified_name(call.func) in _SCALAR_CALLS:
        return True
    return any(is_builtin_call(call, name, ctx) for name in _SCALAR_BUILTINS) or is_str_expression(call, ctx)


def _cacheable_name(
    name: str, func: cst.FunctionDef | None, params: dict[str, cst.Param], ctx: RuleContext, seen: set[str]
) -> bool:
    if func is None or name in seen:
        return True
    seen.add(name)
    param = params.get(name)
    if param is not None and param.default is not None and not _cacheable(param.default, None, {}, ctx, seen):
        return False  # ``def f(hosts=[...])``: the default is one list, unhashable
    for kind, _node, value in name_bindings(func, name):
        if kind == "def":
            return False  # a function or class defined per call: never the same key twice
        if kind in ("assign", "augassign") and value is not None and not _cacheable(value, func, params, ctx, seen):
            return False
    return True


_SETUP_FUNCTION_NAME = re.compile(
    r"(^|_)(lifespan|startup|shutdown|init|initiali[sz]e|initiali[sz]ation|setup|bootstrap|configure|configuration|"
    r"migrat\w*|connect|reconnect|health\w*|ping|readiness|liveness|create_tables|create_pool|"
    r"get_(db|database|conn|connection|engine|pool|session|client|redis))($|_)"
)
_SETUP_METHODS = frozenset({"__enter__", "__aenter__", "start", "open"})


def is_setup_function_name(name: str) -> bool:
    """A function whose name says it sets up, opens or checks a connection or client: start-up and
    shutdown hooks, ``init_*``/``setup_*``/``configure_*``, ``get_connection``, health checks and
    migrations. They run once, or want a fresh connection on purpose."""
    return name in _SETUP_METHODS or _SETUP_FUNCTION_NAME.search(name.lower()) is not None


def is_test_function(func: cst.FunctionDef) -> bool:
    """A pytest/unittest test (``test_*``): sequential or blocking on purpose, not a served code path."""
    name = func.name.value
    return name.startswith("test_") or (name.startswith("test") and name[4:5].isupper())


# -- cold paths: admin endpoints, model catalogs, credential checks (PFL102, PFL103) -------------------

_DEPENDENCY_MARKERS = frozenset({"Depends", "Security"})


def _dependency_target(expr: cst.BaseExpression | None) -> str | None:
    """``Depends(get_admin_user)`` / ``fastapi.Security(auth.require_admin)`` -> the dependency's dotted name."""
    if not isinstance(expr, cst.Call) or not expr.args:
        return None
    head = dotted(expr.func) or ""
    if head.rsplit(".", 1)[-1] not in _DEPENDENCY_MARKERS:
        return None
    target = expr.args[0].value
    if isinstance(target, cst.Call):
        target = target.func  # ``Depends(require_role("admin"))``
        if any("admin" in (dotted(a.value) or "") or (isinstance(a.value, cst.SimpleString) and "admin" in a.value.value.lower()) for a in expr.args[0].value.args):
            return "admin"
    return dotted(target)


def is_admin_endpoint(func: cst.FunctionDef) -> bool:
    """A web handler only administrators may call: a parameter defaulting to ``Depends(get_admin_user)``
    (FastAPI; any dependency whose name says admin), or ``dependencies=[Depends(...admin...)]`` in its
    route decorator. Such endpoints run when an admin configures something, not per user request."""
    params = func.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        target = _dependency_target(param.default)
        if target is None and param.annotation is not None:
            # ``user: Annotated[User, Depends(get_admin_user)]``
            annotation = param.annotation.annotation
            if isinstance(annotation, cst.Subscript):
                for element in annotation.slice[1:]:
                    if isinstance(element.slice, cst.Index):
                        target = target or _dependency_target(element.slice.value)
        if target and "admin" in target.lower():
            return True
    for deco in func.decorators:
        call = deco.decorator
        if not isinstance(call, cst.Call):
            continue
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "dependencies" and isinstance(arg.value, (cst.List, cst.Tuple)):
                for element in arg.value.elements:
                    target = _dependency_target(element.value)
                    if target and "admin" in target.lower():
                        return True
    return False


_MODEL_CATALOG_NAME = re.compile(
    r"(^|_)(list|get|fetch|load|refresh|sync|discover)_(\w+_)?(models|model_list|model_names|model_ids|"
    r"model_details?|model_info|model_metadata|deployments|deployed_models?)(_|$)"
    r"|(^|_)model_list(_|$)"
)


def is_model_catalog_name(name: str) -> bool:
    """A function that lists or describes a provider's models (``list_llm_models_async``, ``get_models``,
    ``mistral_get_model_list``, ``_get_model_details``): model catalogs are read when a provider is
    added or synced and then cached, not per request."""
    return _MODEL_CATALOG_NAME.search(name.lower()) is not None


_CREDENTIAL_CHECK_NAME = re.compile(
    r"(^|_)(check|validate|verify|test)_(\w+_)?(api_key|key|keys|credentials?|auth|token|connection)(_|$)"
    r"|(^|_)(api_key|credentials?)_(check|validation|is_valid)(_|$)"
)


def is_credential_check_name(name: str) -> bool:
    """A function that checks a user's credentials or a connection with one probe request
    (``check_api_key``, ``google_ai_check_valid_api_key_async``, ``verify_credentials``): it runs when
    a key is entered, and a fresh client per key is what it wants."""
    return _CREDENTIAL_CHECK_NAME.search(name.lower()) is not None


_ONE_OFF_NAME = re.compile(
    r"(^|_)(migrate|migration|migrations|legacy|backfill|reindex|rebuild_index)(_|$)"
    r"|(^|_)(refresh_(access_)?token|token_refresh|renew_token)(_|$)"
)


def is_one_off_name(name: str) -> bool:
    """A function whose name says it runs once or rarely: a migration or backfill (``import_legacy_config``,
    ``migrate_users``), a full re-index, a token refresh (once per token lifetime)."""
    return _ONE_OFF_NAME.search(name.lower()) is not None


def is_cold_path(node: cst.CSTNode, ctx: RuleContext) -> bool:
    """``node`` runs once per process or when an administrator acts, not per request: some function around
    it (nearest first, through nested functions) runs once (:func:`runs_once`: set-up, ``main``, tests,
    start-up hooks and the private methods only they call), is an admin-only endpoint, a credential check,
    a model-catalog listing or a one-off job (:func:`is_one_off_name`). Found on the five real codebases
    of ``docs/real-code-review.md``: the per-request cost rules were wrong there every time."""
    for func in enclosing_functions(node, ctx):
        name = func.name.value
        if runs_once(func, ctx) or is_admin_endpoint(func):
            return True
        if is_credential_check_name(name) or is_model_catalog_name(name) or is_one_off_name(name):
            return True
        if _is_route_handler(func):
            return False  # a handler registered by a set-up function runs per request, not when it is set up
    return False


def _is_route_handler(func: cst.FunctionDef) -> bool:
    """``@router.post("/documents")`` (any ``X.<verb or route>(...)`` decorator of :data:`ROUTE_DECORATORS`)."""
    return any(
        isinstance(deco.decorator, cst.Call)
        and isinstance(deco.decorator.func, cst.Attribute)
        and deco.decorator.func.attr.value in ROUTE_DECORATORS
        for deco in func.decorators
    )


_CATALOG_METHODS = frozenset({"list", "retrieve", "get", "list_models", "list_foundation_models"})


def client_only_reads_catalog(name: str, func: cst.FunctionDef) -> bool:
    """Every request the local client ``name`` makes in ``func`` reads the provider's model catalog:
    ``client.models.list()``, ``client.models.retrieve(id)``, ``client.aio.models.list()`` (and the
    client is used for nothing else but configuration). Model listing is a cold, cached path."""
    uses = 0
    for node in walk(func.body, stop=FUNCTION_BOUNDARIES):
        if not isinstance(node, cst.Call):
            continue
        chain = dotted(node.func)
        if chain is None:
            continue
        parts = chain.split(".")
        if parts[0] != name or len(parts) < 2:
            continue
        uses += 1
        if not (len(parts) >= 3 and parts[-2] == "models" and parts[-1] in _CATALOG_METHODS):
            return False
    if uses == 0:
        return False
    # the client must not be handed on (``run(client)``) or iterated by other code
    for node in walk(func.body, stop=FUNCTION_BOUNDARIES):
        if isinstance(node, cst.Arg) and isinstance(node.value, cst.Name) and node.value.value == name:
            return False
    return True


# -- code that runs once (PFL301, PFL302) -----------------


def runs_once(func: cst.FunctionDef, ctx: RuleContext) -> bool:
    """``func`` runs once per process: a one-time or set-up function (:func:`is_one_time_function`,
    :func:`is_setup_function_name`), or a private method (``_name``) that its class calls only from such
    methods (``init_async`` -> ``self._sync_models()``). Decided once per function and chunk analysis
    (the callers' search walks the class), whichever rule asks."""
    return ctx.memo(_runs_once, func, ctx)


def _runs_once(func: cst.FunctionDef, ctx: RuleContext) -> bool:
    if is_one_time_function(func, ctx) or is_setup_function_name(func.name.value):
        return True
    name = func.name.value
    if not name.startswith("_") or name.startswith("__"):
        return False
    cls = ctx.enclosing_class(func)
    if cls is None:
        return False
    callers: list[cst.FunctionDef] = []
    for method in walk(cls.body, stop=(cst.ClassDef,)):
        if not isinstance(method, cst.FunctionDef) or method is func:
            continue
        for node in walk(method.body):
            if isinstance(node, cst.Attribute) and node.attr.value == name:
                callers.append(method)
                break
    return bool(callers) and all(
        is_one_time_function(c, ctx) or is_setup_function_name(c.name.value) for c in callers
    )
