"""What a receiver is: the types an expression can have where it is evaluated, from the code alone.

Names resolve as Python does: the enclosing functions' parameters (by annotation),
assignments and ``with ... as`` targets, then module-level bindings; ``self.x``
through what the class assigns or annotates (in ``__init__``, any method, or the
class body). Nothing is guessed: an expression that cannot be followed has no type.

Two resolvers share those rules:

- :class:`CatalogResolver` gives the tags of a :class:`TypeCatalog` (constructors,
  annotations, method results, attributes, calls, ``with`` targets), for rules whose
  receivers come in families (API clients, database connections and cursors);
- :class:`InstanceResolver` answers yes/no for one family of classes given by two
  predicates (a model built by one of these constructors, or annotated as one).

What the code alone cannot tell (an attribute set elsewhere, an object imported
from another module) is asked of jedi through one seam: a rule attaches a
:class:`~perf_lsp.analysis.resolve.TypeQuestion` to its finding, and the engine
publishes the finding only if :class:`perf_lsp.analysis.resolve.TypeResolver`
confirms it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import libcst as cst

from perf_lsp.analysis.bindings import (
    comprehension_targets,
    first_param,
    is_self_attr,
    local_binding_index,
    param_names,
)
from perf_lsp.analysis.expressions import annotation_qualified_names
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import COMPREHENSIONS, SCOPES, dotted, walk


@dataclass(frozen=True)
class TypeCatalog:
    """What a rule knows about the types of its receivers, as short tags.

    ``constructors``: qualified callable -> tag of what it returns (awaiting a
    coroutine gives the same tag); ``prefixes``: (qualified-name prefix, suffix,
    tag) for families (``langchain_community.embeddings.*Embeddings``);
    ``annotations``: qualified class -> tag; ``methods``: (tag, method) -> tag of
    the method's result (``("dbapi_conn", "cursor") -> "dbapi_cursor"``);
    ``attributes``: (tag, attribute) -> tag; ``calls``: tag -> tag of calling an
    instance (a ``sessionmaker`` makes sessions); ``enters``: tag -> tag that
    ``with x as y`` binds (default: the same tag).
    """

    constructors: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    prefixes: tuple[tuple[str, str, str], ...] = ()
    methods: Mapping[tuple[str, str], str] = field(default_factory=dict)
    attributes: Mapping[tuple[str, str], str] = field(default_factory=dict)
    calls: Mapping[str, str] = field(default_factory=dict)
    enters: Mapping[str, str] = field(default_factory=dict)

    def constructed(self, qualified: str | None) -> str | None:
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
        return self.annotations.get(qualified) or self.constructed(qualified)


class CatalogResolver:
    """Infers the tags (see :class:`TypeCatalog`) an expression can have where it is evaluated.

    Names resolve as Python does: the enclosing functions' parameters (by
    annotation), assignments, ``with ... as`` targets, then module-level
    bindings; ``self.x`` through what the class assigns or annotates. A name
    bound several ways gets every tag any binding gives. Nothing is guessed: an
    expression that cannot be followed has no tags.
    """

    def __init__(self, ctx: SemanticModel, catalog: TypeCatalog) -> None:
        self.ctx = ctx
        self.catalog = catalog

    def scopes_at(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        """The functions, lambdas, comprehensions and classes around ``node`` (visited already), innermost first."""
        return [a for a in [node, *self.ctx.ancestors(node)] if isinstance(a, SCOPES)]

    def tags(self, expr: cst.BaseExpression, at: cst.CSTNode) -> set[str]:
        """Tags of ``expr`` evaluated at ``at`` (a node the traversal has reached)."""
        return self.infer(expr, [a for a in self.ctx.ancestors(at) if isinstance(a, SCOPES)])

    def infer(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode], depth: int = 0) -> set[str]:
        if depth > 5:
            return set()
        cat = self.catalog
        if isinstance(expr, cst.Await):
            return self.infer(expr.expression, scopes, depth + 1)
        if isinstance(expr, cst.Call):
            out: set[str] = set()
            tag = cat.constructed(self.ctx.qualified_name(expr.func))
            if tag:
                out.add(tag)
            if isinstance(expr.func, cst.Attribute):
                method = expr.func.attr.value
                for owner in self.infer(expr.func.value, scopes, depth + 1):
                    result = cat.methods.get((owner, method))
                    if result:
                        out.add(result)
            elif isinstance(expr.func, cst.Name) and not tag:
                for owner in self.infer(expr.func, scopes, depth + 1):
                    result = cat.calls.get(owner)
                    if result:
                        out.add(result)
            return out
        if isinstance(expr, cst.Name):
            return self._name(expr.value, scopes, depth)
        if isinstance(expr, cst.Attribute):
            out = set()
            if isinstance(expr.value, cst.Name):
                out |= self._self_attribute(expr.value.value, expr.attr.value, scopes, depth)
            if cat.attributes:
                for owner in self.infer(expr.value, scopes, depth + 1):
                    result = cat.attributes.get((owner, expr.attr.value))
                    if result:
                        out.add(result)
            return out
        return set()

    def annotation_tags(self, annotation: cst.BaseExpression | None) -> set[str]:
        if annotation is None:
            return set()
        return {t for qn in annotation_qualified_names(annotation, self.ctx) if (t := self.catalog.annotated(qn))}

    def _name(self, name: str, scopes: list[cst.CSTNode], depth: int) -> set[str]:
        for index, scope in enumerate(scopes):
            if isinstance(scope, cst.Lambda) and name in param_names(scope.params):
                return set()
            if isinstance(scope, COMPREHENSIONS) and name in comprehension_targets(scope):
                return set()
            if isinstance(scope, cst.FunctionDef):
                found = self.ctx.memo(local_binding_index, scope, True).get(name)
                if found is not None:
                    outer = scopes[index:]
                    out: set[str] = set()
                    for kind, value in found:
                        out |= self._binding(kind, value, outer, depth)
                    return out
        qualified = self.ctx.module_ctx.binding(name)
        if qualified:
            tag = self.catalog.annotated(qualified)
            return {tag} if tag else set()
        return set()

    def _binding(self, kind: str, value: cst.CSTNode | None, scopes: list[cst.CSTNode], depth: int) -> set[str]:
        if kind == "annotation":
            return self.annotation_tags(value)
        if not isinstance(value, cst.BaseExpression):
            return set()
        tags = self.infer(value, scopes, depth + 1)
        if kind == "enter":
            return {self.catalog.enters.get(t, t) for t in tags}
        return tags if kind == "value" else set()

    def _self_attribute(self, owner: str, attr: str, scopes: list[cst.CSTNode], depth: int) -> set[str]:
        """``self.attr`` where the class assigns or annotates ``attr``."""
        for index, scope in enumerate(scopes):
            if isinstance(scope, cst.FunctionDef) and index + 1 < len(scopes) and isinstance(scopes[index + 1], cst.ClassDef):
                method, cls, outer = scope, scopes[index + 1], scopes[index + 2 :]
                break
        else:
            return set()
        if first_param(method) != owner or self.ctx.enclosing_class(method) is not cls:
            return set()
        out: set[str] = set()
        body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else []
        for stmt in body:
            if isinstance(stmt, cst.FunctionDef):
                me = first_param(stmt)
                if me is None:
                    continue
                inner = [stmt, cls, *outer]
                for node in walk(stmt.body, stop=SCOPES):
                    if isinstance(node, cst.AnnAssign) and is_self_attr(node.target, me, attr):
                        out |= self.annotation_tags(node.annotation.annotation)
                        if node.value is not None:
                            out |= self.infer(node.value, inner, depth + 1)
                    elif isinstance(node, cst.Assign) and any(is_self_attr(t.target, me, attr) for t in node.targets):
                        out |= self.infer(node.value, inner, depth + 1)
                continue
            for node in walk(stmt, stop=SCOPES):
                if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and node.target.value == attr:
                    out |= self.annotation_tags(node.annotation.annotation)
                    if node.value is not None:
                        out |= self.infer(node.value, [cls, *outer], depth + 1)
                elif isinstance(node, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == attr for t in node.targets
                ):
                    out |= self.infer(node.value, [cls, *outer], depth + 1)
        return out


class InstanceResolver:
    """Whether an expression is an instance of one family of classes where it is evaluated.

    The family is given by ``constructed(qualified)`` (a call of that qualified name
    builds one) and ``annotated(qualified)`` (an annotation naming that class means
    one); with ``factories``, a call of a module-level cached factory of such a
    constructor (``ModuleContext.factories``: what PFL101's fix writes) builds one
    too. Follows calls, local and module-level assignments, annotated parameters
    and ``self.x`` set in the class, three assignments deep.
    """

    def __init__(
        self,
        ctx: SemanticModel,
        constructed: Callable[[str | None], bool],
        annotated: Callable[[str], bool],
        *,
        factories: bool = False,
    ) -> None:
        self.ctx = ctx
        self.constructed = constructed
        self.annotated = annotated
        self.factories = factories

    def is_instance(self, expr: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """True when ``expr``, evaluated at ``at`` (a node the traversal has reached), is one of the family."""
        scopes = [a for a in self.ctx.ancestors(at) if isinstance(a, SCOPES)]
        return self._resolves(expr, scopes, 0)

    def _resolves(self, expr: cst.BaseExpression, scopes: list[cst.CSTNode], depth: int) -> bool:
        """``expr`` is one of the family; ``scopes`` are the functions, lambdas,
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
        if self.constructed(self.ctx.qualified_name(expr)):
            return True
        if not self.factories:
            return False
        name = dotted(expr)  # a cached factory of the class
        return name is not None and any(
            factory == name and self.constructed(built) for built, factory in self.ctx.module_ctx.factories
        )

    def _is_model_annotation(self, annotation: cst.BaseExpression | None) -> bool:
        if annotation is None:
            return False
        return any(self.annotated(qn) for qn in annotation_qualified_names(annotation, self.ctx))

    def _name_is_model(self, name: str, scopes: list[cst.CSTNode], depth: int) -> bool:
        """Resolve ``name`` as Python would: enclosing functions (not class bodies), then the module."""
        for index, scope in enumerate(scopes):
            if isinstance(scope, cst.Lambda) and name in param_names(scope.params):
                return False
            if isinstance(scope, COMPREHENSIONS) and name in comprehension_targets(scope):
                return False
            if isinstance(scope, cst.FunctionDef):
                found = self.ctx.memo(local_binding_index, scope).get(name)
                if found is not None:
                    outer = scopes[index:]
                    return any(self._binding_is_model(kind, value, outer, depth) for kind, value in found)
        return self._module_binding_is_model(name)

    def _module_binding_is_model(self, name: str) -> bool:
        """Whether module-level ``name`` was built by one of the constructors."""
        return self.constructed(self.ctx.module_ctx.binding(name))

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
        if first_param(method) != owner or self.ctx.enclosing_class(method) is not cls:
            return False
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef):
                if self._method_sets_model(stmt, attr, [stmt, cls, *outer], depth):
                    return True
                continue
            for node in walk(stmt, stop=SCOPES):
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
        owner = first_param(method)
        if owner is None:
            return False
        for node in walk(method.body, stop=SCOPES):
            if isinstance(node, cst.AnnAssign) and is_self_attr(node.target, owner, attr):
                if self._is_model_annotation(node.annotation.annotation):
                    return True
                if node.value is not None and self._resolves(node.value, scopes, depth + 1):
                    return True
            if isinstance(node, cst.Assign) and any(is_self_attr(t.target, owner, attr) for t in node.targets):
                if self._resolves(node.value, scopes, depth + 1):
                    return True
        return False
