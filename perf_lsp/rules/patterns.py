"""Shapes several rules recognise: caches, lazy singletons, one-time setup, constants.

Each function takes libcst nodes of an analysed chunk and its :class:`RuleContext`.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from perf_lsp.rules.base import RuleContext, children, dotted

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


def walk(node: cst.CSTNode, stop: tuple[type[cst.CSTNode], ...] = ()) -> Iterator[cst.CSTNode]:
    """``node``'s descendants, depth first, in source order; the children of ``stop`` types are not entered.

    ``stop`` holds concrete node classes, matched exactly (``isinstance`` on libcst's
    abstract classes is slow). A descendant of a ``stop`` type is itself yielded,
    only its children are skipped. Punctuation, operators, whitespace and comments are not walked.
    """
    stop_types = frozenset(stop)
    stack = list(reversed(children(node)))
    while stack:
        current = stack.pop()
        yield current
        if type(current) not in stop_types:
            stack.extend(reversed(children(current)))


def referenced_names(node: cst.CSTNode) -> set[str]:
    """Every variable name ``node`` mentions (read or written), attribute and keyword-argument names excluded.

    ``d.text + f(x, sep=s)`` -> ``{"d", "f", "x", "s"}``. Conservative: names bound by a
    lambda or comprehension inside ``node`` count too.
    """
    found: set[str] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            found.add(current.value)
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)
        elif isinstance(current, cst.Arg):
            stack.append(current.value)
        else:
            stack.extend(children(current))
    return found


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
