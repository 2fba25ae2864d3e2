"""What a receiver is: the types an expression can have where it is evaluated, from the code alone.

Names resolve as Python does: the enclosing functions' parameters (by annotation),
assignments and ``with ... as`` targets, then module-level bindings; ``self.x``
through what the class assigns or annotates (in ``__init__``, any method, or the
class body). Nothing is guessed: an expression that cannot be followed has no type.

One inference, :class:`CatalogResolver`, gives the tags of a :class:`TypeCatalog`
(constructors, cached factories, annotations, method results, attributes, calls,
``with`` targets): families of receivers (API clients, database connections and
cursors) as tables, or one family of classes given by two predicates
(:class:`FamilyCatalog`: a model built by one of these constructors, or annotated
as one). Every rule asks it, through :func:`resolver` (one per chunk and catalog),
"may it be" (:meth:`CatalogResolver.tags`) or "must it be" (:meth:`CatalogResolver.kind`).

What the code alone cannot tell (an attribute set elsewhere, an object imported
from another module) is asked of jedi through one seam: a rule attaches a
:class:`~perf_lsp.analysis.resolve.TypeQuestion` to its finding, and the engine
publishes the finding only if :class:`perf_lsp.analysis.resolve.TypeResolver`
confirms it.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import libcst as cst

from perf_lsp.analysis.bindings import (
    comprehension_targets,
    first_param,
    local_binding_index,
    param_names,
)
from perf_lsp.analysis.blocking import CHAIN_METHODS, FunctionFacts
from perf_lsp.analysis.expressions import annotation_qualified_names
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import COMPREHENSIONS, SCOPES, dotted, walk


@dataclass(frozen=True, eq=False)
class TypeCatalog:
    """What a rule knows about the types of its receivers, as short tags.

    ``constructors``: qualified callable -> tag of what it returns (awaiting a
    coroutine gives the same tag); ``prefixes``: (qualified-name prefix, suffix,
    tag) for families (``langchain_community.embeddings.*Embeddings``);
    ``annotations``: qualified class -> tag; ``methods``: (tag, method) -> tag of
    the method's result (``("dbapi_conn", "cursor") -> "dbapi_cursor"``);
    ``attributes``: (tag, attribute) -> tag; ``calls``: tag -> tag of calling an
    instance (a ``sessionmaker`` makes sessions); ``enters``: tag -> tag that
    ``with x as y`` binds (default: the same tag); ``factories``: a call of a
    module-level cached factory of a catalogued constructor
    (``ModuleContext.factories``: what PFL101's fix writes) gives the constructor's
    tag; ``helpers``: a call of one of the module's own functions (``get_client()``,
    ``self._make_client()``) gives the tags of what it returns (:func:`called_helper`), so
    a rule whose catalog sets it reads the lazy module fact ``helper_facts`` and must name
    it in its ``module_facts``. A chain of :data:`~perf_lsp.analysis.blocking.CHAIN_METHODS`
    (``model.eval().to(device)``) keeps the tag of its start unless ``methods`` says
    otherwise. Compared and hashed by identity (one catalog, one resolver per chunk).
    """

    constructors: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    prefixes: tuple[tuple[str, str, str], ...] = ()
    methods: Mapping[tuple[str, str], str] = field(default_factory=dict)
    attributes: Mapping[tuple[str, str], str] = field(default_factory=dict)
    calls: Mapping[str, str] = field(default_factory=dict)
    enters: Mapping[str, str] = field(default_factory=dict)
    factories: bool = False
    helpers: bool = False

    def constructed(self, qualified: str | None) -> str | None:
        """The tag a call of ``qualified`` gives, or None."""
        if not qualified:
            return None
        tag = self.constructors.get(qualified)
        if tag is not None:
            return tag
        for prefix, suffix, tag in self.prefixes:
            if qualified.startswith(prefix) and qualified.endswith(suffix):
                return tag
        return None

    def annotated(self, qualified: str) -> str | None:
        """The tag an annotation naming ``qualified`` gives."""
        return self.annotations.get(qualified) or self.constructed(qualified)

    def built(self, qualified: str | None) -> str | None:
        """The tag of a module-level name built by a call of ``qualified``."""
        return self.annotated(qualified) if qualified else None


class FamilyCatalog(TypeCatalog):
    """A :class:`TypeCatalog` of one family of classes given by two predicates, with the one tag ``tag``.

    ``constructed_by(qualified)``: a call of that qualified name builds one;
    ``annotated_by(qualified)``: an annotation naming that class means one. With
    ``factories``, a call of a module-level cached factory of such a constructor
    (``ModuleContext.factories``: what PFL101's fix writes) builds one too; with
    ``helpers``, so does a call of one of the module's functions that returns one
    (see :class:`TypeCatalog`).
    """

    def __init__(
        self,
        constructed_by: Callable[[str | None], bool],
        annotated_by: Callable[[str], bool],
        *,
        factories: bool = False,
        helpers: bool = False,
        tag: str = "instance",
    ) -> None:
        super().__init__(constructors={}, factories=factories, helpers=helpers)
        object.__setattr__(self, "_constructed_by", constructed_by)
        object.__setattr__(self, "_annotated_by", annotated_by)
        object.__setattr__(self, "tag", tag)

    def constructed(self, qualified: str | None) -> str | None:
        return self.tag if self._constructed_by(qualified) else None

    def annotated(self, qualified: str) -> str | None:
        return self.tag if self._annotated_by(qualified) else None

    def built(self, qualified: str | None) -> str | None:
        return self.constructed(qualified)


UNKNOWN = None
"""In :meth:`CatalogResolver.infer`'s internal results: a way the expression can be bound whose type is not known."""

_MAX_DEPTH = 5


def resolver(ctx: SemanticModel, catalog: TypeCatalog) -> "CatalogResolver":
    """The one :class:`CatalogResolver` of ``catalog`` for this chunk (shared by every rule that asks)."""
    return ctx.memo(CatalogResolver, ctx, catalog)


class CatalogResolver:
    """Infers the tags (see :class:`TypeCatalog`) an expression can have where it is evaluated.

    Names resolve as Python does: the enclosing functions' parameters (by
    annotation), assignments, ``with ... as`` targets, then module-level
    bindings; ``self.x`` through what the class assigns or annotates (in any
    method or the class body); calls through the catalog's constructors, cached
    factories (when the catalog asks), method results and callable instances.
    Nothing is guessed: an expression that cannot be followed has no tags.

    Two answers: :meth:`tags` (every tag some binding gives: "may be") and
    :meth:`kind` (the one tag when every way the expression can be bound gives
    it: "must be"); :meth:`is_instance` is ``bool(tags)``. Obtain one per chunk
    and catalog with :func:`resolver`; what a class assigns to its attributes is
    remembered per class node.
    """

    def __init__(self, ctx: SemanticModel, catalog: TypeCatalog) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self._attributes: dict[tuple[int, str, int], set[str | None]] = {}

    def scopes_at(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        """The functions, lambdas, comprehensions and classes around ``node`` (visited already), innermost first."""
        return [a for a in [node, *self.ctx.ancestors(node)] if isinstance(a, SCOPES)]

    def tags(self, expr: cst.BaseExpression, at: cst.CSTNode) -> set[str]:
        """Tags of ``expr`` evaluated at ``at`` (a node the traversal has reached)."""
        return self.infer(expr, [a for a in self.ctx.ancestors(at) if isinstance(a, SCOPES)])

    def is_instance(self, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """True when ``expr``, evaluated at ``at`` (a node the traversal has reached), may have a tag."""
        return bool(self.tags(expr, at))

    def kind(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode]) -> str | None:
        """The one tag ``expr`` has however it is bound, else None.

        ``scopes``: the functions, lambdas, comprehensions and classes around
        ``expr``, innermost first (explicit, so a helper the traversal has not reached
        yet can be asked about: ``[helper, its class, *scopes_at(its class)]``).
        """
        found = self._infer(expr, scopes, 0)
        if len(found) == 1 and UNKNOWN not in found:
            return next(iter(found))
        return None

    def infer(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode], depth: int = 0) -> set[str]:
        """Every tag ``expr`` may have, ``scopes`` as for :meth:`kind`."""
        found = self._infer(expr, scopes, depth)
        found.discard(UNKNOWN)
        return found  # type: ignore[return-value]

    def annotation_tags(self, annotation: cst.BaseExpression | None) -> set[str]:
        """The tags a type annotation names (``Optional[OpenAI]``, ``"OpenAI | None"``)."""
        if annotation is None:
            return set()
        return {t for qn in annotation_qualified_names(annotation, self.ctx) if (t := self.catalog.annotated(qn))}

    # -- inference; results hold UNKNOWN for a way whose type is not known --------------
    def _infer(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode], depth: int) -> set[str | None]:
        if depth > _MAX_DEPTH:
            return {UNKNOWN}
        cat = self.catalog
        if isinstance(expr, cst.Await):
            return self._infer(expr.expression, scopes, depth + 1)
        if isinstance(expr, cst.Call):
            tag = (
                cat.constructed(self.ctx.qualified_name(expr.func) or self._driver_call(expr.func, scopes))
                or self._factory(expr.func)
            )
            results: set[str | None] = set()
            if not tag and cat.helpers:
                helper = called_helper(expr, self.ctx, scopes)
                if helper is not None:
                    found = {t for qn in helper.facts.returns if (t := cat.constructed(qn))}
                    if found:
                        return found
            if isinstance(expr.func, cst.Attribute):
                method = expr.func.attr.value
                for owner in self._infer(expr.func.value, scopes, depth + 1):
                    if owner is UNKNOWN:
                        results.add(UNKNOWN)
                    else:
                        result = cat.methods.get((owner, method))
                        if result is None and method in CHAIN_METHODS:
                            result = owner  # ``model.eval()``, ``model.to(device)``: the same object
                        results.add(result)
            elif isinstance(expr.func, cst.Name) and not tag:
                for owner in self._infer(expr.func, scopes, depth + 1):
                    results.add(cat.calls.get(owner) if owner is not UNKNOWN else UNKNOWN)
            if tag:
                results.discard(UNKNOWN)
                results.add(tag)
            return results or {UNKNOWN}
        if isinstance(expr, cst.Name):
            return self._name(expr.value, scopes, depth)
        if isinstance(expr, cst.Attribute):
            out: set[str | None] = set()
            if isinstance(expr.value, cst.Name):
                out |= self._self_attribute(expr.value.value, expr.attr.value, scopes, depth)
            if cat.attributes:
                for owner in self._infer(expr.value, scopes, depth + 1):
                    if owner is not UNKNOWN:
                        result = cat.attributes.get((owner, expr.attr.value))
                        if result:
                            out.add(result)
            return out or {UNKNOWN}
        return {UNKNOWN}

    def _driver_call(self, func: cst.BaseExpression, scopes: list[cst.CSTNode]) -> str | None:
        """``self.db.connect`` where the class keeps a driver module on ``self`` (``self.db = psycopg2``):
        the qualified name ``psycopg2.connect``; else None."""
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute)):
            return None
        holder = func.value
        if not isinstance(holder.value, cst.Name):
            return None
        for index, scope in enumerate(scopes):
            if isinstance(scope, cst.FunctionDef) and index + 1 < len(scopes) and isinstance(scopes[index + 1], cst.ClassDef):
                method, cls = scope, scopes[index + 1]
                break
        else:
            return None
        if first_param(method) != holder.value.value:
            return None
        modules = set()
        for kind, value, _where in self.ctx.memo(attribute_bindings, cls).get(holder.attr.value, ()):
            if kind != "value" or not isinstance(value, cst.Name):
                return None
            qualified = self.ctx.local_imports.get(value.value) or self.ctx.module_ctx.imported(value.value)
            if qualified is None:
                return None
            modules.add(qualified)
        if len(modules) != 1:
            return None
        return f"{modules.pop()}.{func.attr.value}"

    def _factory(self, func: cst.BaseExpression) -> str | None:
        """The tag a call of a module-level cached factory of a catalogued constructor gives."""
        if not self.catalog.factories:
            return None
        name = dotted(func)
        if name is None:
            return None
        for built, factory in self.ctx.module_ctx.factories:
            if factory == name:
                tag = self.catalog.constructed(built)
                if tag:
                    return tag
        return None

    def _annotation(self, annotation: cst.BaseExpression | None) -> set[str | None]:
        return self.annotation_tags(annotation) or {UNKNOWN}  # type: ignore[return-value]

    def _name(self, name: str, scopes: list[cst.CSTNode], depth: int) -> set[str | None]:
        for index, scope in enumerate(scopes):
            if isinstance(scope, cst.Lambda) and name in param_names(scope.params):
                return {UNKNOWN}
            if isinstance(scope, COMPREHENSIONS) and name in comprehension_targets(scope):
                return {UNKNOWN}
            if isinstance(scope, cst.FunctionDef):
                found = self.ctx.memo(local_binding_index, scope, True).get(name)
                if found is not None:  # global/nonlocal: an outer scope's binding
                    outer = scopes[index:]
                    out: set[str | None] = set()
                    for kind, value in found:
                        out |= self._binding(kind, value, outer, depth)
                    return out
        tag = self.catalog.built(self.ctx.module_ctx.binding(name))
        return {tag} if tag else {UNKNOWN}

    def _binding(self, kind: str, value: cst.CSTNode | None, scopes: list[cst.CSTNode], depth: int) -> set[str | None]:
        if kind == "annotation":
            return self._annotation(value)
        if not isinstance(value, cst.BaseExpression) or kind not in ("value", "enter"):
            return {UNKNOWN}
        if kind == "value" and isinstance(value, cst.Name) and value.value == "None":
            return set()  # ``self.conn = None`` until set-up connects: no object, no method is called on it
        tags = self._infer(value, scopes, depth + 1)
        if kind == "enter":
            return {self.catalog.enters.get(t, t) if t is not UNKNOWN else UNKNOWN for t in tags}
        return tags

    def _self_attribute(self, owner: str, attr: str, scopes: list[cst.CSTNode], depth: int) -> set[str | None]:
        """``self.attr`` where the class assigns or annotates ``attr`` (in a method or its body)."""
        for index, scope in enumerate(scopes):
            if isinstance(scope, cst.FunctionDef) and index + 1 < len(scopes) and isinstance(scopes[index + 1], cst.ClassDef):
                method, cls, outer = scope, scopes[index + 1], scopes[index + 2 :]
                break
        else:
            return {UNKNOWN}
        if first_param(method) != owner or self.ctx.enclosing_class(method) is not cls:
            return {UNKNOWN}
        key = (id(cls), attr, depth)
        found = self._attributes.get(key)
        if found is None:
            found = self._attributes[key] = self._class_attribute(cls, attr, outer, depth)
        return found

    def _class_attribute(self, cls: cst.ClassDef, attr: str, outer: list[cst.CSTNode], depth: int) -> set[str | None]:
        out: set[str | None] = set()
        for kind, value, where in self.ctx.memo(attribute_bindings, cls).get(attr, ()):
            inner = [where, cls, *outer] if where is not None else [cls, *outer]
            out |= self._binding(kind, value, inner, depth)
        return out or {UNKNOWN}


def attribute_bindings(cls: cst.ClassDef) -> dict[str, list[tuple[str, cst.CSTNode | None, cst.FunctionDef | None]]]:
    """How ``cls`` binds its instances' attributes, found in one walk of the class.

    Attribute name -> (kind, node, method) in source order: ``("annotation",
    annotation, m)`` and ``("value", expr, m)`` for ``self.attr: T = expr`` and
    ``self.attr = expr`` in method ``m`` (whose first parameter is ``self``; nested
    functions and classes left out); the same with ``m`` None for ``attr: T = expr``
    and ``attr = expr`` in the class body. Meant for ``ctx.memo``; shared: do not mutate.
    """
    table: dict[str, list[tuple[str, cst.CSTNode | None, cst.FunctionDef | None]]] = {}
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else []
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef):
            me = first_param(stmt)
            if me is None:
                continue
            for node in walk(stmt.body, stop=SCOPES):
                if isinstance(node, cst.AnnAssign) and _self_attr(node.target, me):
                    entry = table.setdefault(node.target.attr.value, [])
                    entry.append(("annotation", node.annotation.annotation, stmt))
                    if node.value is not None:
                        entry.append(("value", node.value, stmt))
                elif isinstance(node, cst.Assign):
                    for t in node.targets:
                        if _self_attr(t.target, me):
                            table.setdefault(t.target.attr.value, []).append(("value", node.value, stmt))
            continue
        for node in walk(stmt, stop=SCOPES):
            if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
                entry = table.setdefault(node.target.value, [])
                entry.append(("annotation", node.annotation.annotation, None))
                if node.value is not None:
                    entry.append(("value", node.value, None))
            elif isinstance(node, cst.Assign):
                for t in node.targets:
                    if isinstance(t.target, cst.Name):
                        table.setdefault(t.target.value, []).append(("value", node.value, None))
    return table


def _self_attr(target: cst.CSTNode, owner: str) -> bool:
    return isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == owner


@dataclass(frozen=True)
class HelperCall:
    """A call of one of the module's own functions: ``label`` as a message shows it (``make_client()``,
    ``self._fetch()``), ``name`` its local name (``make_client``, ``Store._fetch``), ``facts`` what
    calling it does (:class:`~perf_lsp.analysis.blocking.FunctionFacts`)."""

    label: str
    name: str
    facts: FunctionFacts


def called_helper(call: cst.Call, ctx: SemanticModel, scopes: list[cst.CSTNode] | None = None) -> HelperCall | None:
    """The module function or method that ``call`` calls, with its facts, or None.

    ``name(...)``: a module-level ``def`` (the name neither bound by an enclosing function
    nor imported), or a function of another module imported by name when a project index
    said what it does (``ModuleContext.imported_helpers``); ``self.name(...)`` in a method of a top-level class: that class's method
    (the first parameter, whatever it is called; a ``@staticmethod`` has no ``self``). Reads
    the lazy module fact ``helper_facts``: a rule that calls this names it in its
    ``module_facts``. ``scopes``: the functions, lambdas, comprehensions and classes around
    ``call``, innermost first (default: from its ancestors, for a node the traversal reached).
    """
    func = call.func
    if isinstance(func, cst.Name):
        name = func.value
        if ctx.local_imports.get(name):
            return None
        imported = ctx.module_ctx.imported(name) is not None
        if imported and not ctx.module_ctx.imported_helpers:
            return None
        table = ctx.memo(_imported_table, ctx.module_ctx.imported_helpers) if imported else ctx.memo(_helper_table, ctx)
        if name not in table:
            return None
    elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        table = ctx.memo(_helper_table, ctx)
        if func.attr.value not in ctx.memo(_method_names, ctx):
            return None
    else:
        return None
    if scopes is None:
        return ctx.memo(_called_helper_at, call, ctx)
    if isinstance(func, cst.Name):
        for scope in scopes:
            if isinstance(scope, cst.FunctionDef) and name in ctx.memo(local_binding_index, scope, True):
                return None
            if isinstance(scope, cst.Lambda) and name in param_names(scope.params):
                return None
            if isinstance(scope, COMPREHENSIONS) and name in comprehension_targets(scope):
                return None
        facts = table.get(name)
        return HelperCall(f"{name}()", name, facts) if facts is not None else None
    owner = func.value.value
    for index, scope in enumerate(scopes):
        if isinstance(scope, cst.FunctionDef):
            if index + 1 < len(scopes) and isinstance(scopes[index + 1], cst.ClassDef):
                method, cls, outer = scope, scopes[index + 1], scopes[index + 2 :]
                break
            return None  # a nested def: ``self`` is the outer method's, not resolved here
    else:
        return None
    if first_param(method) != owner or any(isinstance(a, (cst.FunctionDef, cst.ClassDef)) for a in outer):
        return None
    if any(isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod") for d in method.decorators):
        return None
    local = f"{cls.name.value}.{func.attr.value}"
    facts = table.get(local)
    return HelperCall(f"{owner}.{func.attr.value}()", local, facts) if facts is not None else None


def may_call_helper(dotted_callee: str | None, qualified: str | None = None, module_ctx=None) -> bool:
    """Cheap test for prefilters (no lazy module fact read): a callee spelled ``name`` (not a builtin,
    not imported) or ``self.name`` could be one of the module's own functions, and an imported
    ``name`` another module's when ``module_ctx.imported_helpers`` (part of the module context's
    fingerprint) names it; :func:`called_helper` then looks it up. Deliberately independent of the
    module's other statements: a prefilter's "no" is cached with the statement alone."""
    if not dotted_callee:
        return False
    head, _, rest = dotted_callee.partition(".")
    if qualified is not None:
        return not rest and module_ctx is not None and any(local == head for local, _ in module_ctx.imported_helpers)
    if not rest:
        return head not in _BUILTINS
    return "." not in rest and head in ("self", "cls")


_BUILTINS = frozenset(dir(builtins))


def helper_calls_may_matter(summary, calls: Iterable[tuple[str | None, str | None]]) -> bool:
    """For a prefilter, after :func:`may_call_helper`: whether one of ``calls`` ((dotted callee, qualified
    name) pairs it admitted) may be a helper a rule reports one call deep: an imported one (its facts come
    from the project index), or a function or method of the module whose facts say it builds, returns,
    requests or blocks (:attr:`FunctionFacts.interesting`). Reads the lazy fact ``helper_facts`` through
    ``summary.module_fact`` (recorded with the result), last, only when there is such a call."""
    local: set[str] = set()
    for callee, qualified in calls:
        if qualified is not None:
            return True
        if callee:
            local.add(callee.rsplit(".", 1)[-1])
    if not local:
        return False
    return any(
        facts.interesting and key.rsplit(".", 1)[-1] in local for key, facts in summary.module_fact("helper_facts")
    )


def _helper_table(ctx: SemanticModel) -> dict[str, FunctionFacts]:
    return dict(ctx.module_ctx.helper_facts)


def _imported_table(helpers: tuple[tuple[str, FunctionFacts], ...]) -> dict[str, FunctionFacts]:
    return dict(helpers)


def _method_names(ctx: SemanticModel) -> frozenset[str]:
    return frozenset(name.rpartition(".")[2] for name in ctx.memo(_helper_table, ctx) if "." in name)


def _called_helper_at(call: cst.Call, ctx: SemanticModel) -> HelperCall | None:
    """:func:`called_helper` of a call the traversal reached, once per call for every rule that asks."""
    return called_helper(call, ctx, [a for a in ctx.ancestors(call) if isinstance(a, SCOPES)])
