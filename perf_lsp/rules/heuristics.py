"""Shapes several rules recognise: caches, lazy singletons, one-time setup, constants.

Each function takes libcst nodes of an analysed chunk and its :class:`RuleContext`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import libcst as cst

from perf_lsp.analysis.tree import COMPREHENSIONS, FUNCTION_BOUNDARIES, children, dotted, parent_map, walk
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


def decorator_name(deco: cst.Decorator, ctx: RuleContext) -> str | None:
    """The qualified name of a decorator (``@lru_cache(maxsize=8)`` -> ``functools.lru_cache``)."""
    expr = deco.decorator
    if isinstance(expr, cst.Call):
        expr = expr.func
    return ctx.qualified_name(expr) or dotted(expr)


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
        if isinstance(anc, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            return False
        if isinstance(anc, cst.If) and child is anc.body and _is_none_test(anc.test):
            return True
        child = anc
    return False


def is_constant_string(expr: cst.BaseExpression) -> bool:
    """A string or bytes literal, or an implicit concatenation of them (no f-string fields)."""
    if isinstance(expr, cst.SimpleString):
        return True
    if isinstance(expr, cst.ConcatenatedString):
        return is_constant_string(expr.left) and is_constant_string(expr.right)
    if isinstance(expr, cst.FormattedString):
        return all(isinstance(part, cst.FormattedStringText) for part in expr.parts)
    return False


def is_literal(expr: cst.BaseExpression) -> bool:
    """A literal value: strings, numbers, True/False/None, and tuples/lists/dicts of literals."""
    if is_constant_string(expr) or isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary)):
        return True
    if isinstance(expr, cst.Name):
        return expr.value in {"True", "False", "None"}
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return is_literal(expr.expression)
    if isinstance(expr, (cst.Tuple, cst.List)):
        return all(isinstance(el, cst.Element) and is_literal(el.value) for el in expr.elements)
    if isinstance(expr, cst.Dict):
        return all(isinstance(el, cst.DictElement) and is_literal(el.key) and is_literal(el.value) for el in expr.elements)
    return False


def assigned_target(call: cst.CSTNode, ctx: RuleContext) -> cst.BaseAssignTargetExpression | None:
    """The single target of ``target = call`` when ``call`` is the whole right-hand side."""
    parent = ctx.parent(call)
    if isinstance(parent, cst.Assign) and parent.value is call and len(parent.targets) == 1:
        return parent.targets[0].target
    if isinstance(parent, cst.AnnAssign) and parent.value is call:
        return parent.target
    return None


def snake_to_upper(name: str) -> str:
    """``word_re`` -> ``WORD_RE``; ``self._pat`` style prefixes are stripped by callers."""
    return name.strip("_").upper() or "VALUE"


def camel_to_snake(name: str) -> str:
    """``SentenceTransformer`` -> ``sentence_transformer``; ``AutoModelForCausalLM`` -> ``auto_model_for_causal_lm``."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out).strip("_")


def referenced_names(node: cst.CSTNode, skip: cst.CSTNode | None = None) -> set[str]:
    """Every variable name ``node`` mentions (read or written), attribute and keyword-argument names excluded.

    ``d.text + f(x, sep=s)`` -> ``{"d", "f", "x", "s"}``. Conservative: names bound by a
    lambda or comprehension inside ``node`` count too. The subtree ``skip`` is left out.
    """
    found: set[str] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if current is skip:
            continue
        if isinstance(current, cst.Name):
            found.add(current.value)
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)
        elif isinstance(current, cst.Arg):
            stack.append(current.value)
        else:
            stack.extend(children(current))
    return found


def all_params(params: cst.Parameters) -> list[cst.Param]:
    """Every parameter of a signature: positional-only, normal, keyword-only, ``*args`` and ``**kwargs``."""
    out = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            out.append(star)
    return out


def target_leaves(target: cst.CSTNode) -> list[cst.CSTNode]:
    """The single targets inside a tuple/list/starred target, in order (``a, (b.x, *c)`` -> ``a``, ``b.x``, ``c``)."""
    if isinstance(target, (cst.Tuple, cst.List)):
        return [leaf for element in target.elements for leaf in target_leaves(element.value)]
    if isinstance(target, cst.StarredElement):
        return target_leaves(target.value)
    return [target]


def stored_names(target: cst.CSTNode) -> set[str]:
    """The bare names a target stores into (not the names read by ``a.b = ``/``a[i] = ``)."""
    return {leaf.value for leaf in target_leaves(target) if isinstance(leaf, cst.Name)}


def target_names(target: cst.CSTNode) -> set[str] | None:
    """The names an assignment or loop target binds (``i, (a, *b)`` -> ``{"i", "a", "b"}``).

    None when the target also stores into an attribute or a subscript.
    """
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        names: set[str] = set()
        for element in target.elements:
            inner = target_names(element.value)
            if inner is None:
                return None
            names |= inner
        return names
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    return None


def annotation_qualified_names(annotation: cst.BaseExpression, ctx: RuleContext) -> set[str]:
    """The qualified names an annotation can stand for, through imports.

    ``SentenceTransformer``, ``"SentenceTransformer"``, ``Optional[SentenceTransformer]``,
    ``SentenceTransformer | None`` and ``Union[...]`` all give
    ``{"sentence_transformers.SentenceTransformer", ...}``; unresolved parts are left out.
    """
    found: set[str] = set()
    stack: list[cst.BaseExpression] = [annotation]
    while stack:
        expr = stack.pop()
        if isinstance(expr, cst.Annotation):
            stack.append(expr.annotation)
        elif isinstance(expr, cst.SimpleString):
            text = expr.evaluated_value
            if isinstance(text, str) and len(text) < 500:
                try:
                    stack.append(cst.parse_expression(text.strip()))
                except (cst.ParserSyntaxError, RecursionError, ValueError):
                    pass
        elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            stack.extend((expr.left, expr.right))
        elif isinstance(expr, cst.Subscript):
            head = ctx.qualified_name(expr.value) or dotted(expr.value) or ""
            if head.rsplit(".", 1)[-1] in {"Optional", "Union", "Annotated"}:
                elements = expr.slice[:1] if head.endswith("Annotated") else expr.slice
                for element in elements:
                    if isinstance(element.slice, cst.Index):
                        stack.append(element.slice.value)
        else:
            qn = ctx.qualified_name(expr)
            if qn:
                found.add(qn)
    return found


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


def built_value_escapes(node: cst.Call, func: cst.FunctionDef, ctx: RuleContext) -> bool:
    """True when the object ``node`` builds outlives the call of ``func`` (PFL101's factory test).

    It does when it is returned or yielded (as is, or inside what is returned:
    ``return cls(model=...)``), stored in an attribute or item (``self.x = ...``),
    or assigned to a local that is itself returned, yielded, stored, declared
    ``global``/``nonlocal`` or used to build something that is. ``await`` around
    the call is looked through (``pool = await asyncpg.create_pool()``), and so is
    an attribute that is not called (``self.client = OpenAI(**p).embeddings``
    stores the client with its sub-resource). Using the object
    (``return client.get(url)``, ``OpenAI().models.list()``) is not leaving.
    """
    holder: cst.CSTNode = node
    parent = ctx.parent(node)
    if isinstance(parent, cst.Await):
        holder = parent
    child: cst.CSTNode = holder
    for anc in ctx.ancestors(holder):
        if isinstance(anc, cst.Attribute) and child is anc.value:
            # ``Client(...).method()`` uses the object; ``Client(...).embeddings`` (a sub-resource that
            # keeps a reference to it) carries it on to wherever the attribute goes
            outer: cst.CSTNode = anc
            while isinstance(ctx.parent(outer), cst.Attribute) and ctx.parent(outer).value is outer:
                outer = ctx.parent(outer)
            grand = ctx.parent(outer)
            if isinstance(grand, cst.Call) and grand.func is outer:
                break
            holder = outer
            child = anc
            continue
        if isinstance(anc, cst.Call) and child is anc.func:
            break
        if isinstance(anc, (cst.Return, cst.Yield)):
            return True
        if isinstance(anc, (cst.BaseSmallStatement, cst.BaseCompoundStatement, cst.Lambda)):
            break
        child = anc
    target = assigned_target(holder, ctx)
    if isinstance(target, (cst.Attribute, cst.Subscript)):
        return True
    if isinstance(target, cst.Name):
        return local_escapes(target.value, func, ctx)
    return False


def local_escapes(name: str, func: cst.FunctionDef, ctx: RuleContext | None = None) -> bool:
    """True when the object in local ``name`` of ``func`` leaves it (see :func:`built_value_escapes`).

    Given ``ctx``, what ``func`` does with its locals is collected once per function
    and chunk analysis (:meth:`RuleContext.memo`), not once per name asked about.
    """
    finder = ctx.memo(_escape_finder, func) if ctx is not None else _escape_finder(func)
    return finder.escapes(name)


def _escape_finder(func: cst.FunctionDef) -> _LocalEscapeFinder:
    finder = _LocalEscapeFinder()
    func.body.visit(finder)
    return finder


class _LocalEscapeFinder(cst.CSTVisitor):
    """What a function does with the objects of its locals: the values it returns, yields or stores in
    an attribute or item (outlets), its assignments to names, and its ``global``/``nonlocal`` names.
    Each value is kept as the names it passes on (:func:`passed_names`)."""

    def __init__(self) -> None:
        super().__init__()
        self._declared: set[str] = set()
        self._assignments: list[tuple[str, frozenset[str]]] = []
        self._outlets: list[frozenset[str]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested def has its own scope

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            self._outlets.append(passed_names(node.value))

    def visit_Yield(self, node: cst.Yield) -> None:
        if isinstance(node.value, cst.BaseExpression):
            self._outlets.append(passed_names(node.value))

    def visit_Global(self, node: cst.Global) -> None:
        self._declared.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._declared.update(item.name.value for item in node.names)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, (cst.Attribute, cst.Subscript)):
                self._outlets.append(passed_names(node.value))
            elif isinstance(target.target, cst.Name):
                self._assignments.append((target.target.value, passed_names(node.value)))

    def escapes(self, name: str) -> bool:
        """Whether local ``name``'s object leaves the function: declared global/nonlocal, or passed
        (directly or through other locals assigned from it) to an outlet."""
        if name in self._declared:
            return True
        names = {name}
        changed = True
        while changed:
            changed = False
            for target, passed in self._assignments:
                if target not in names and not passed.isdisjoint(names):
                    names.add(target)
                    changed = True
        return any(not passed.isdisjoint(names) for passed in self._outlets)


class _PassFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def visit_Call(self, node: cst.Call) -> bool:
        if not isinstance(node.func, cst.Name):  # calling the object is a use, not a pass
            node.func.visit(self)
        for arg in node.args:
            arg.visit(self)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return False  # ``client.config`` is a use of the object, not the object

    def visit_Name(self, node: cst.Name) -> None:
        self.found.add(node.value)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def passed_names(expr: cst.BaseExpression) -> frozenset[str]:
    """The names ``expr`` hands on as a value, not only as a callee or receiver: ``f(a, b.c)`` -> ``{"a"}``
    (``f`` is called, ``b.c`` uses ``b``). Keyword names count too (``g(x=a)`` -> ``{"x", "a"}``),
    which is conservative: a local named like a keyword is taken as passed."""
    finder = _PassFinder()
    expr.visit(finder)
    return frozenset(finder.found)


def passes_name(expr: cst.BaseExpression, names: set[str]) -> bool:
    """Whether ``expr`` hands one of ``names`` on as a value (not only as a callee or receiver)."""
    return not passed_names(expr).isdisjoint(names)


def local_import_line(callee: str, ctx: RuleContext) -> str | None:
    """The import a module-level factory needs when the chunk imports ``callee``'s head locally.

    None when the module imports the head itself, unless only under a top-level ``try``/``if``
    (``if TYPE_CHECKING:``: unbound at run time), where the factory imports it as the chunk does.
    """
    head = callee.split(".", 1)[0]
    if ctx.module_ctx.imported(head) is not None and head not in ctx.module_ctx.guarded_imports:
        return None
    qualified = ctx.local_imports.get(head)
    if qualified is None:
        return None
    dots = len(qualified) - len(qualified.lstrip("."))
    bare = qualified[dots:]
    if "." in bare or dots:
        package, _, last = bare.rpartition(".")
        source = "." * dots + package
        return f"from {source} import {last}" + ("" if last == head else f" as {head}")
    return f"import {bare}" + ("" if bare == head else f" as {head}")


def cached_factory_fix(ctx: RuleContext, node: cst.Call, callee: str, qualified: str, factory_name: str):
    """PFL101's codemod as a fix builder: ``Callee(args)`` -> ``_factory(args)`` with a cached factory.

    Adds (once per module: an existing ``functools.cache``/``lru_cache`` factory of
    ``qualified`` is reused, one that imports its callee itself included, and a fix-all
    round adds at most one per callee) a module-level ``@functools.cache def
    <factory_name>(*args, **kwargs): return <callee>(*args, **kwargs)``, importing
    the callee inside it when the chunk imported it locally, and calls it instead.
    ``callee`` must be a dotted name valid at module level or through that import.
    """
    from perf_lsp.fix.codemod import replace_node

    def build(fctx):
        existing = fctx.module_ctx.factory_for(qualified)
        if existing:
            name = existing
        else:
            fctx.define(("factory", qualified))  # a second fix of the batch for this callee waits and reuses it
            name = fctx.unique_name(factory_name)
            cache = fctx.name_ref("functools", "cache")
            body = local_import_line(callee, ctx)
            lines = [f"@{cache}", f"def {name}(*args, **kwargs):"]
            indent = fctx.chunk.default_indent
            if body:
                lines.append(f"{indent}{body}")
                lines.append("")
            lines.append(f"{indent}return {callee}(*args, **kwargs)")
            fctx.add_definition(fctx.chunk.default_newline.join(lines) + fctx.chunk.default_newline)
        return replace_node(fctx.chunk, node, node.with_changes(func=cst.Name(name)), ctx.ancestors(node))

    return build


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


def name_bindings(scope: cst.CSTNode, name: str) -> Iterator[tuple[str, cst.CSTNode, cst.BaseExpression | None]]:
    """Every place ``scope`` binds ``name``, as ``(kind, node, value)``, in source order: the body of a
    function (its locals), or any other node (a statement: what it binds in its own scope).

    Kinds: ``"import"`` (``node`` the ``Import``/``ImportFrom``, see :func:`imported_as`; ``value``
    None), ``"assign"`` (``node`` the
    ``Assign``/``AnnAssign``/``NamedExpr``; ``value`` the assigned expression, None when it cannot be
    told: an unpacking, an annotation without a value), ``"augassign"`` (``value`` the operand),
    ``"def"`` (a nested ``def``/``class``), ``"target"`` (a ``for``/``with``/``except``/``match``
    target: an unknown value), ``"del"`` and ``"global"`` (``global``/``nonlocal`` declarations).
    Nested functions, lambdas and classes are not entered (their names are their own), nor the
    targets of comprehensions; parameters are not included.
    """
    stack: list[cst.CSTNode] = [scope.body if isinstance(scope, cst.FunctionDef) else scope]
    found: list[tuple[str, cst.CSTNode, cst.BaseExpression | None]] = []
    while stack:
        node = stack.pop()
        kids = children(node)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            if node.name.value == name:
                found.append(("def", node, None))
            continue
        if isinstance(node, cst.Lambda):
            continue
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            if imported_as(node, name) is not None:
                found.append(("import", node, None))
            continue
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if name in stored_names(target.target):
                    value = node.value if isinstance(target.target, cst.Name) else None
                    found.append(("assign", node, value))
        elif isinstance(node, cst.AnnAssign):
            if isinstance(node.target, cst.Name) and node.target.value == name:
                found.append(("assign", node, node.value))
        elif isinstance(node, cst.AugAssign):
            if isinstance(node.target, cst.Name) and node.target.value == name:
                found.append(("augassign", node, node.value))
        elif isinstance(node, cst.NamedExpr):
            if isinstance(node.target, cst.Name) and node.target.value == name:
                found.append(("assign", node, node.value))
        elif isinstance(node, cst.For):
            if name in stored_names(node.target):
                found.append(("target", node, None))
        elif isinstance(node, cst.WithItem):
            if node.asname is not None and name in stored_names(node.asname.name):
                found.append(("target", node, None))
        elif isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler)):
            if node.name is not None and name in stored_names(node.name.name):
                found.append(("target", node, None))
        elif isinstance(node, (cst.MatchAs, cst.MatchStar)):
            if node.name is not None and node.name.value == name:
                found.append(("target", node, None))
        elif isinstance(node, cst.MatchMapping):
            if node.rest is not None and node.rest.value == name:
                found.append(("target", node, None))
        elif isinstance(node, cst.Del):
            if name in stored_names(node.target):
                found.append(("del", node, None))
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            if any(item.name.value == name for item in node.names):
                found.append(("global", node, None))
        elif isinstance(node, cst.CompFor):
            kids = [child for child in kids if child is not node.target]
        stack.extend(reversed(kids))
    return iter(found)


def imported_as(stmt: cst.Import | cst.ImportFrom, name: str) -> str | None:
    """The qualified name an import statement binds to ``name``, or None when it does not bind it.

    ``import a.b`` binds ``a`` to ``a``; ``import a.b as c`` binds ``c`` to ``a.b``; ``from a import b
    as c`` binds ``c`` to ``a.b``; a relative ``from .m import x`` binds ``x`` to ``.m.x``. A star
    import binds nothing this can tell.
    """
    if isinstance(stmt.names, cst.ImportStar):
        return None
    module = ""
    if isinstance(stmt, cst.ImportFrom):
        module = "." * len(stmt.relative) + (dotted(stmt.module) or "" if stmt.module is not None else "")
    for alias in stmt.names:
        full = dotted(alias.name) or ""
        if alias.asname is not None:
            bound = alias.asname.name.value if isinstance(alias.asname.name, cst.Name) else None
            qualified = full
        elif isinstance(stmt, cst.Import):
            bound = qualified = full.split(".", 1)[0]
        else:
            bound = qualified = full
        if bound != name:
            continue
        if isinstance(stmt, cst.ImportFrom):
            return f"{module}.{qualified}" if module and not module.endswith(".") else module + qualified
        return qualified
    return None


# -- local variables: occurrences, bindings, dominance (PFL402, PFL503) -----------------


_SCOPE_NODES = (cst.FunctionDef, cst.Lambda, cst.ClassDef, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def is_store_position(node: cst.CSTNode, parents: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """True when the name ``node`` is written (bound or deleted) where it stands."""
    child = node
    parent = parents.get(child)
    # climb through tuple/list/starred targets: ``a, (b, *c) = ...``
    while isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
        child, parent = parent, parents.get(parent)
    if isinstance(parent, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)):
        return parent.target is child
    if isinstance(parent, (cst.For, cst.CompFor)):
        return parent.target is child
    if isinstance(parent, cst.NamedExpr):
        return parent.target is child
    if isinstance(parent, (cst.Del, cst.NameItem, cst.Param, cst.AsName, cst.ImportAlias)):
        return True
    if isinstance(parent, (cst.FunctionDef, cst.ClassDef)):
        return parent.name is child
    if isinstance(parent, (cst.MatchAs, cst.MatchStar)):
        return True
    if isinstance(parent, cst.MatchMapping):
        return parent.rest is child
    return False


def name_occurrences(
    root: cst.CSTNode, name: str, parents: dict[cst.CSTNode, cst.CSTNode]
) -> list[tuple[cst.Name, bool]]:
    """Every use of the variable ``name`` under ``root`` as ``(node, is_store)``, in source order.

    Attribute names (``obj.name``) and keyword names (``f(name=1)``) are not
    variables and are left out; uses inside nested functions, lambdas, classes and
    comprehensions are included (conservative: they may be the same variable).
    """
    out: list[tuple[cst.Name, bool]] = []
    for node in walk(root):
        if not isinstance(node, cst.Name) or node.value != name:
            continue
        parent = parents.get(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            continue
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            continue
        out.append((node, is_store_position(node, parents)))
    return out


def occurrences_in(
    ctx: RuleContext, root: cst.CSTNode
) -> tuple[dict[cst.CSTNode, cst.CSTNode], dict[str, list[tuple[cst.Name, bool]]]]:
    """``parent_map(root)`` and, for every variable name, ``name_occurrences(root, name, parents)``.

    Built in one walk of ``root`` and remembered for the chunk's analysis
    (:meth:`RuleContext.memo`), so that a rule asking about one name per site in a
    long function stays linear in the function's size. Shared: do not mutate.
    """
    return ctx.memo(_occurrences_in, root)


def _occurrences_in(root: cst.CSTNode) -> tuple[dict[cst.CSTNode, cst.CSTNode], dict[str, list[tuple[cst.Name, bool]]]]:
    parents = parent_map(root)
    by_name: dict[str, list[tuple[cst.Name, bool]]] = {}
    for node in walk(root):
        if not isinstance(node, cst.Name):
            continue
        parent = parents.get(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            continue
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            continue
        by_name.setdefault(node.value, []).append((node, is_store_position(node, parents)))
    return parents, by_name


def inside(node: cst.CSTNode, ancestor: cst.CSTNode, parents: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """True when ``node`` is ``ancestor`` or lies under it (by ``parents``)."""
    current: cst.CSTNode | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = parents.get(current)
    return False


def in_nested_scope(node: cst.CSTNode, func: cst.CSTNode, parents: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """True when ``node`` sits in a function, lambda, class or comprehension nested in ``func``."""
    current = parents.get(node)
    while current is not None and current is not func:
        if isinstance(current, _SCOPE_NODES):
            return True
        current = parents.get(current)
    return False


def runs_before(stmt: cst.CSTNode, node: cst.CSTNode, ctx: RuleContext, stop: cst.CSTNode) -> bool:
    """True when the statement ``stmt`` always runs before ``node`` is reached, within ``stop``.

    That is: ``stmt`` is an earlier statement of a block that encloses ``node``
    (the block of ``node`` itself or of one of its ancestors up to ``stop``).
    """
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (cst.IndentedBlock, cst.Module)):
            index_child = index_stmt = None
            for index, item in enumerate(anc.body):
                if item is child:
                    index_child = index
                if item is stmt:
                    index_stmt = index
            if index_child is not None and index_stmt is not None:
                return index_stmt < index_child
        if anc is stop:
            return False
        child = anc
    return False


def is_builtin_call(call: cst.CSTNode, name: str, ctx: RuleContext) -> bool:
    """``name(...)`` where ``name`` is the builtin: not imported, not bound at module level."""
    return (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Name)
        and call.func.value == name
        and ctx.resolve_dotted(name) is None
        and ctx.module_ctx.binding(name) is None
    )


def is_str_expression(expr: cst.BaseExpression, ctx: RuleContext) -> bool:
    """An expression whose value is an exact ``str``.

    String literals (not bytes), f-strings, ``str(...)``, and ``"...".join/format(...)``
    on a string literal.
    """
    if isinstance(expr, cst.SimpleString):
        return "b" not in expr.prefix.lower()
    if isinstance(expr, cst.ConcatenatedString):
        return is_str_expression(expr.left, ctx) and is_str_expression(expr.right, ctx)
    if isinstance(expr, cst.FormattedString):
        return "b" not in expr.prefix.lower()
    if isinstance(expr, cst.Call):
        if is_builtin_call(expr, "str", ctx):
            return True
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in {"join", "format"}:
            return isinstance(func.value, (cst.SimpleString, cst.ConcatenatedString)) and is_str_expression(func.value, ctx)
    return False


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


OTHER_EVENT_LOOPS = frozenset({"trio", "anyio", "curio"})
"""Async libraries whose code cannot await ``asyncio`` helpers (``asyncio.gather``, ``to_thread``, ``sleep``)."""


def uses_other_event_loop(ctx: RuleContext) -> bool:
    """True when the module or chunk imports trio, anyio or curio: an ``asyncio`` fix would not run there."""
    qualified = [qn for _, qn in ctx.module_ctx.imports] + list(ctx.local_imports.values())
    return any(qn.split(".", 1)[0] in OTHER_EVENT_LOOPS for qn in qualified)


def is_test_function(func: cst.FunctionDef) -> bool:
    """A pytest/unittest test (``test_*``): sequential or blocking on purpose, not a served code path."""
    name = func.name.value
    return name.startswith("test_") or (name.startswith("test") and name[4:5].isupper())


def dotted_refs(node: cst.CSTNode) -> set[tuple[str, ...]]:
    """The maximal name/attribute chains ``node`` reads: ``d.text + x[i]`` -> {(d, text), (x,), (i,)}."""
    found: set[tuple[str, ...]] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.Name, cst.Attribute)):
            name = dotted(current)
            if name is not None:
                found.add(tuple(name.split(".")))
                continue
        if isinstance(current, cst.Attribute):
            stack.append(current.value)
        elif isinstance(current, cst.Arg):
            stack.append(current.value)
        else:
            stack.extend(children(current))
    return found


def store_path(target: cst.CSTNode) -> tuple[str, ...] | None:
    """``a.b = `` -> (a, b); ``a.b[i] = `` -> (a, b); ``a = `` -> (a,)."""
    while isinstance(target, cst.Subscript):
        target = target.value
    name = dotted(target) if isinstance(target, (cst.Name, cst.Attribute)) else None
    return tuple(name.split(".")) if name else None


def paths_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One path is a prefix of the other: a write to one may change the other."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


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
    a model-catalog listing or a one-off job (:func:`is_one_off_name`). Found on five real codebases
    in the hand review of issue 3: the per-request cost rules were wrong there every time."""
    for func in enclosing_functions(node, ctx):
        name = func.name.value
        if runs_once(func, ctx) or is_admin_endpoint(func):
            return True
        if is_credential_check_name(name) or is_model_catalog_name(name) or is_one_off_name(name):
            return True
    return False


def enclosing_functions(node: cst.CSTNode, ctx: RuleContext) -> Iterator[cst.FunctionDef]:
    """Every ``def`` around ``node``, nearest first (through nested functions, not through classes)."""
    for anc in ctx.ancestors(node):
        if isinstance(anc, cst.FunctionDef):
            yield anc
        elif isinstance(anc, cst.ClassDef):
            return


_CATALOG_METHODS = frozenset({"list", "retrieve", "get", "list_models", "list_foundation_models"})


def client_only_reads_catalog(name: str, func: cst.FunctionDef) -> bool:
    """Every request the local client ``name`` makes in ``func`` reads the provider's model catalog:
    ``client.models.list()``, ``client.models.retrieve(id)``, ``client.aio.models.list()`` (and the
    client is used for nothing else but configuration). Model listing is a cold, cached path."""
    uses = 0
    for node in walk(func.body, stop=(cst.FunctionDef, cst.Lambda, cst.ClassDef)):
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
    for node in walk(func.body, stop=(cst.FunctionDef, cst.Lambda, cst.ClassDef)):
        if isinstance(node, cst.Arg) and isinstance(node.value, cst.Name) and node.value.value == name:
            return False
    return True


def is_bytes_expression(expr: cst.BaseExpression, ctx: RuleContext) -> bool:
    """An expression whose value is an exact ``bytes``: a bytes literal (or an implicit concatenation
    of them), ``bytes(...)``, or ``b"...".join(...)``."""
    if isinstance(expr, cst.SimpleString):
        return "b" in expr.prefix.lower()
    if isinstance(expr, cst.ConcatenatedString):
        return is_bytes_expression(expr.left, ctx) and is_bytes_expression(expr.right, ctx)
    if isinstance(expr, cst.Call):
        if is_builtin_call(expr, "bytes", ctx):
            return True
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value == "join":
            return isinstance(func.value, cst.SimpleString) and is_bytes_expression(func.value, ctx)
    return False


# -- awaits that cannot overlap, code that runs once (PFL301, PFL302) -----------------

_DJANGO_ASYNC_VERBS = (
    "get", "first", "last", "count", "exists", "create", "update", "delete", "filter", "is_", "has_", "save",
    "all", "aggregate", "bulk_", "iterator", "contains", "in_bulk", "earliest", "latest", "set_", "refresh_from_db",
)


def runs_on_one_thread(call: cst.Call, ctx: RuleContext) -> bool:
    """An awaited call that asgiref runs on Django's single sync thread, so awaiting several at once
    overlaps nothing: ``await sync_to_async(f)(...)`` (``thread_sensitive`` is True by default), and,
    in a module that imports ``django`` or ``asgiref.sync``, Django's async ORM and the wrappers named
    after it (``a`` + the sync name: ``afirst()``, ``aget_user(...)``, ``ais_subscribed(...)``)."""
    func = call.func
    if isinstance(func, cst.Call):
        inner = ctx.qualified_name(func.func) or dotted(func.func) or ""
        if inner.endswith("sync_to_async"):
            return not any(
                arg.keyword is not None and arg.keyword.value == "thread_sensitive" and dotted(arg.value) == "False"
                for arg in func.args
            )
        return False
    qualified = [qn for _, qn in ctx.module_ctx.imports] + list(ctx.local_imports.values())
    if not any(qn.split(".", 1)[0] == "django" or qn.startswith("asgiref.sync") for qn in qualified):
        return False
    name = func.attr.value if isinstance(func, cst.Attribute) else (func.value if isinstance(func, cst.Name) else "")
    return len(name) > 2 and name[0] == "a" and name[1:].startswith(_DJANGO_ASYNC_VERBS)


def runs_once(func: cst.FunctionDef, ctx: RuleContext) -> bool:
    """``func`` runs once per process: a one-time or set-up function (:func:`is_one_time_function`,
    :func:`is_setup_function_name`), or a private method (``_name``) that its class calls only from such
    methods (``init_async`` -> ``self._sync_models()``)."""
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


# -- what a function binds locally ------------------------------------------
_FUNCTION_SCOPES = FUNCTION_BOUNDARIES + COMPREHENSIONS
_VALUES_CACHE: dict[int, tuple[cst.FunctionDef, dict[str, list[cst.BaseExpression] | None]]] = {}


def local_values(func: cst.FunctionDef, name: str) -> list[cst.BaseExpression] | None:
    """The values ``func`` assigns to local ``name`` (``x = v``, ``with v as x``); None when it binds it otherwise.

    Found for every name in one walk of the function, remembered per function node
    (receivers repeat within a function; one walk per name was quadratic in its size).
    """
    entry = _VALUES_CACHE.get(id(func))
    if entry is None or entry[0] is not func:
        if len(_VALUES_CACHE) > 4096:
            _VALUES_CACHE.clear()
        entry = _VALUES_CACHE[id(func)] = (func, _find_local_values(func))
    return entry[1].get(name, [])


def _find_local_values(func: cst.FunctionDef) -> dict[str, list[cst.BaseExpression] | None]:
    """Name -> the values ``func`` assigns to it, in source order; None for a name bound otherwise too
    (a parameter, a loop or tuple target, ``+=``, a walrus, ``global``/``nonlocal``)."""
    table: dict[str, list[cst.BaseExpression] | None] = {}

    def add(name: str, value: cst.BaseExpression) -> None:
        values = table.setdefault(name, [])
        if values is not None:
            values.append(value)

    def other(names: Iterable[str]) -> None:
        for name in names:
            table[name] = None

    for node in walk(func.body, stop=_FUNCTION_SCOPES):
        if isinstance(node, cst.Assign):
            for t in node.targets:
                if isinstance(t.target, cst.Name):
                    add(t.target.value, node.value)
                else:
                    other(stored_names(t.target))
        elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
            if node.value is not None:
                add(node.target.value, node.value)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            if isinstance(node.asname.name, cst.Name):
                add(node.asname.name.value, node.item)
        elif isinstance(node, (cst.For, cst.CompFor, cst.AugAssign, cst.NamedExpr)):
            other(stored_names(node.target))
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            other(n.name.value for n in node.names)
    other(param.name.value for param in all_params(func.params))
    return table


_BOUND_CACHE: dict[int, tuple[cst.FunctionDef, frozenset[str]]] = {}


def binds_locally(func: cst.FunctionDef, name: str) -> bool:
    """True when ``func`` binds ``name`` locally (a parameter, an assignment, an import, a nested def...)."""
    return name in _locally_bound_names(func)


def _locally_bound_names(func: cst.FunctionDef) -> frozenset[str]:
    """Every name ``func`` binds locally, found in one walk and remembered per function node."""
    entry = _BOUND_CACHE.get(id(func))
    if entry is not None and entry[0] is func:
        return entry[1]
    names = {p.name.value for p in all_params(func.params)}
    for node in walk(func.body, stop=_FUNCTION_SCOPES):
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            names.add(node.name.value)
        target = None
        if isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor, cst.NamedExpr)):
            target = node.target
        elif isinstance(node, cst.Assign):
            for t in node.targets:
                names |= stored_names(t.target)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            target = node.asname.name
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            target = node.name.name
        elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                bound = alias.asname.name if alias.asname else cst.Name((dotted(alias.name) or "").split(".")[0] or "_")
                if isinstance(bound, cst.Name):
                    names.add(bound.value)
        if target is not None:
            names |= stored_names(target)
    if len(_BOUND_CACHE) > 4096:
        _BOUND_CACHE.clear()
    result = frozenset(names)
    _BOUND_CACHE[id(func)] = (func, result)
    return result


def first_param(func: cst.FunctionDef) -> str | None:
    """The name of ``func``'s first positional parameter (``self`` in a method), or None."""
    params = [*func.params.posonly_params, *func.params.params]
    return params[0].name.value if params else None


# -- loops over independent items --------------------------------------------
_PACING_WORDS = frozenset({"sleep", "throttle", "limiter", "backoff", "ratelimit", "pace", "wait"})
_CHANGING_METHODS = frozenset(
    {
        "append", "extend", "insert", "add", "update", "pop", "popleft", "appendleft", "remove", "clear",
        "setdefault", "discard", "put", "put_nowait", "push", "set", "sort", "reverse",
    }
)


def per_item_in_loop(call: cst.Call, func: cst.FunctionDef, ctx: RuleContext) -> bool:
    """True when ``call`` runs once per item of a ``for`` loop whose items look independent.

    Then ``await asyncio.to_thread(...)`` in its place would be an await in a loop that
    PFL302 reports (one call after another, where the threads could run together), so
    PFL303 and PFL304 offer no ``to_thread`` fix there. The loop is taken as dependent, and the fix kept, when
    PFL302 would stay silent: an ``async for``; a body that returns, yields, breaks this
    loop, awaits, paces itself (``sleep``, ``limiter``...) or holds the call in a ``with``;
    a call that reads nothing the loop binds (the same call each time: polling); or one
    that reads something the body changes (``done.append(x)``, ``total += ...``).
    """
    loop = ctx.repeating_loop(call)
    if not isinstance(loop, cst.For) or loop.asynchronous is not None:
        return False
    for anc in ctx.ancestors(call):
        if anc is loop:
            break
        if isinstance(anc, cst.With):
            return False
    body = loop.body
    bound = set(stored_names(loop.target))
    changed: set[str] = set()
    for inner in walk(body, stop=FUNCTION_BOUNDARIES):
        if isinstance(inner, (cst.Await, cst.Return, cst.Yield)):
            return False
        if isinstance(inner, (cst.With, cst.For)) and inner.asynchronous is not None:
            return False
        if isinstance(inner, cst.Call):
            name = dotted(inner.func) or (inner.func.attr.value if isinstance(inner.func, cst.Attribute) else "")
            words = {w for seg in name.split(".") for w in camel_to_snake(seg).split("_")}
            if words & _PACING_WORDS or "rate_limit" in name.lower():
                return False
            if isinstance(inner.func, cst.Attribute) and inner.func.attr.value in _CHANGING_METHODS:
                root = _root_name(inner.func.value)
                if root is not None:
                    changed.add(root)
        elif isinstance(inner, cst.Assign):
            for target in inner.targets:
                bound |= stored_names(target.target)
                for leaf in target_leaves(target.target):
                    root = None if isinstance(leaf, cst.Name) else _root_name(leaf)
                    if root is not None:
                        changed.add(root)  # ``seen[key] = ...``, ``self.last = ...``
        elif isinstance(inner, (cst.AugAssign, cst.AnnAssign)):
            bound |= stored_names(inner.target)
            root = _root_name(inner.target)
            if root is not None and (isinstance(inner, cst.AugAssign) or not isinstance(inner.target, cst.Name)):
                changed.add(root)
        elif isinstance(inner, (cst.For, cst.CompFor)):
            bound |= stored_names(inner.target)
        elif isinstance(inner, cst.WithItem) and inner.asname is not None:
            bound |= stored_names(inner.asname.name)
        elif isinstance(inner, cst.NamedExpr):
            bound |= stored_names(inner.target)
    if breaks_loop(body):
        return False
    reads = referenced_names(call)
    if not reads & bound:
        return False  # the same call on every iteration: a retry or polling loop
    return not reads & (changed - set(stored_names(loop.target)))


def _root_name(expr: cst.CSTNode) -> str | None:
    while isinstance(expr, (cst.Attribute, cst.Subscript)):
        expr = expr.value
    return expr.value if isinstance(expr, cst.Name) else None


def breaks_loop(body: cst.CSTNode) -> bool:
    """A ``break`` of the loop whose body this is (not of a loop nested in it; a nested loop's ``else`` counts)."""
    stack = list(children(body))
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Break):
            return True
        if isinstance(node, (cst.For, cst.While)):
            if node.orelse is not None:  # a nested loop's ``else`` runs in this loop
                stack.append(node.orelse)
            continue
        if isinstance(node, FUNCTION_BOUNDARIES):
            continue
        stack.extend(children(node))
    return False


# -- threading locks held across an await -------------------------------------
_THREAD_LOCKS = frozenset(
    f"{module}.{name}"
    for module in ("threading", "multiprocessing")
    for name in ("Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore")
)
_LOCK_WORDS = ("lock", "locks", "rlock", "mutex", "semaphore", "sem", "condition", "cond")


def held_thread_lock(node: cst.CSTNode, ctx: RuleContext, func: cst.FunctionDef) -> str | None:
    """The code of a threading lock held where ``node`` runs in ``func``, or None.

    An ``await`` there would keep the lock across a suspension (PFL303 and PFL304 offer
    no fix that awaits there). Held means: ``node`` is in the body of a plain (not ``async``) ``with`` whose item
    is a threading lock (see :func:`_is_thread_lock`), in the body of ``if
    X.acquire(...):``, or after a statement that calls ``X.acquire()`` (not awaited)
    in an enclosing block with no ``X.release()`` in between.
    """
    child = node
    for anc in ctx.ancestors(node):
        if anc is func or isinstance(anc, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            return None
        if isinstance(anc, cst.With) and anc.asynchronous is None and child is anc.body:
            for item in anc.items:
                if _is_thread_lock(item.item, ctx, func):
                    return ctx.code(item.item)
        if isinstance(anc, cst.If) and child is anc.body:
            for call in _calls_in(anc.test):
                receiver = _sync_method_receiver(call, "acquire", ctx)
                if receiver is not None:
                    return receiver
        if isinstance(anc, cst.IndentedBlock):
            held: dict[str, bool] = {}
            for stmt in anc.body:
                if stmt is child:
                    break
                for call in _calls_in(stmt):
                    for method, state in (("acquire", True), ("release", False)):
                        receiver = _sync_method_receiver(call, method, ctx)
                        if receiver is not None:
                            held[receiver] = state
            locked = [receiver for receiver, state in held.items() if state]
            if locked:
                return locked[0]
        child = anc
    return None


def _calls_in(node: cst.CSTNode) -> list[cst.Call]:
    """The calls under ``node`` in source order, nested functions and classes left out."""
    out = [node] if isinstance(node, cst.Call) else []
    out.extend(n for n in walk(node, stop=FUNCTION_BOUNDARIES) if isinstance(n, cst.Call))
    return out


def _sync_method_receiver(call: cst.Call, method: str, ctx: RuleContext) -> str | None:
    """The receiver's code when ``call`` is ``X.method(...)`` and is not awaited (an asyncio lock's is)."""
    if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == method):
        return None
    if isinstance(ctx.parent(call), cst.Await):
        return None
    return ctx.code(call.func.value)


def _is_thread_lock(expr: cst.BaseExpression, ctx: RuleContext, func: cst.FunctionDef) -> bool:
    """True when ``expr``, used with a plain ``with`` in an ``async def``, is a threading lock.

    Built by a ``threading``/``multiprocessing`` lock constructor (here, in a local,
    in a module-level name, or in ``self.X = ...``/a class attribute of the enclosing
    class), or named like one (``self._lock``, ``write_mutex``, ``locks[key]``): an
    ``asyncio.Lock`` cannot be used with a plain ``with``, so such a name is a thread one.
    """
    if isinstance(expr, cst.Call):
        return ctx.qualified_name(expr.func) in _THREAD_LOCKS
    if isinstance(expr, cst.Subscript):
        expr = expr.value
    name = dotted(expr)
    if name is None:
        return False
    last = camel_to_snake(name.rsplit(".", 1)[-1]).split("_")
    if last and last[-1] in _LOCK_WORDS:
        return True
    if "." not in name:
        values = local_values(func, name) if binds_locally(func, name) else None
        if values:
            return any(_is_thread_lock(v, ctx, func) for v in values if isinstance(v, cst.Call))
        return ctx.module_ctx.binding(name) in _THREAD_LOCKS
    owner, _, attr = name.partition(".")
    cls = ctx.enclosing_class(func)
    if cls is None or "." in attr or owner != first_param(func):
        return False
    for node in walk(cls.body, stop=(cst.ClassDef, cst.Lambda)):
        if not isinstance(node, cst.Assign) or not isinstance(node.value, cst.Call):
            continue
        if ctx.qualified_name(node.value.func) not in _THREAD_LOCKS:
            continue
        for target in node.targets:
            bound = dotted(target.target)
            if bound is not None and (bound == attr or bound.split(".", 1)[-1] == attr and "." in bound):
                return True
    return False
