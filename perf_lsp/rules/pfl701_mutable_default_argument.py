"""PFL701 mutable-default-argument, and its codemod."""

from __future__ import annotations

import ast
import re

import libcst as cst

from perf_lsp.analysis.bindings import first_param, param_names
from perf_lsp.analysis.expressions import annotation_qualified_names
from perf_lsp.analysis.imports import dotted_name
from perf_lsp.analysis.tree import FUNCTION_BOUNDARIES, children, dotted
from perf_lsp.fix.annotations import union_none_allowed
from perf_lsp.fix.codemod import replace_node
from perf_lsp.fix.context import FixContext, runtime_alias
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule

_BUILTIN_FACTORIES = {"list": "list", "dict": "dict", "set": "set", "bytearray": "bytearray"}
_COLLECTION_FACTORIES = {
    "collections.defaultdict": "defaultdict",
    "collections.OrderedDict": "OrderedDict",
    "collections.deque": "deque",
    "collections.Counter": "Counter",
}
_MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
        "update", "setdefault", "popitem", "add", "discard",
        "difference_update", "intersection_update", "symmetric_difference_update",
        "appendleft", "extendleft", "popleft", "rotate", "subtract",
        "__setitem__", "__delitem__", "__iadd__", "__ior__",
    }
)
# Annotations that promise the function does not modify the argument (as Ruff's B006).
_READ_ONLY_ANNOTATIONS = frozenset(
    {
        "Sequence", "Mapping", "AbstractSet", "Collection", "Iterable", "Container", "Reversible", "Sized",
        "KeysView", "ValuesView", "ItemsView", "MappingProxyType", "Tuple", "tuple", "FrozenSet", "frozenset",
    }
)
_CACHE_WORDS = ("cache", "memo")


_LAMBDA_DEFAULT = re.compile(r"lambda[^:]*=")
"""A ``lambda`` with a default: an ``=`` before the colon that ends its parameters."""
_AST_DISPLAYS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


def _may_build_collection(func: ast.expr, summary) -> bool:
    """Whether a call of ``func`` may be one of the factories the rule reports (its :mod:`ast` form, for ``wants``)."""
    if isinstance(func, ast.Name) and func.id in _BUILTIN_FACTORIES:
        return True
    name = dotted_name(func)
    if not name:
        return False
    head, _, rest = name.partition(".")
    base = summary.local_imports.get(head) or summary.module_ctx.imported(head)
    return bool(base) and (f"{base}.{rest}" if rest else base) in _COLLECTION_FACTORIES


class MutableDefaultArgument(Rule):
    """
    ## What it does
    Reports a parameter whose default is a mutable object (``[]``, ``{}``, ``set()``,
    ``list()``, ``dict()``, ``bytearray()``, a list/dict/set display or comprehension,
    ``collections.defaultdict/OrderedDict/deque/Counter(...)``) when the function
    modifies that object or lets it out:

    - it calls a modifying method on it (``tags.append(x)``, ``seen.add(x)``,
      ``options.update(...)``), assigns or deletes an item (``cache[k] = v``), or
      extends it in place (``items += more``);
    - it returns or yields it (callers that modify the result modify the
      default);
    - it stores it in ``self.<attr>`` and a method of the class modifies
      ``self.<attr>`` in place, or stores it in a public attribute (``self.tools
      = tools``: any holder of the object can change the shared default), or
      passes it to a method of the same class (``self.m(tags)``) that does any
      of these.

    For an empty list default (``[]``, ``list()``) only growing it counts:
    ``x[0] = v`` (or ``del x[0]``) raises ``IndexError`` on the shared empty list,
    so such code (behind ``if len(x) >= 1:``) only ever changes a list the caller
    passed; slice assignment (``x[:] = ...``) can grow it and counts.

    Keyword-only, positional-only and ordinary parameters of ``def`` and
    ``lambda`` count; an alias (``items = tags``) is followed. Other callees are
    not followed: passing the default to a function the tool cannot see is not
    evidence.

    Not reported: immutable defaults (tuples, ``frozenset()``, strings, numbers,
    ``None``, a module constant's name); a default the function only reads
    (iterates, tests, indexes, copies); a parameter the function rebinds
    (``tags = list(tags)``); a parameter annotated with a read-only type
    (``Sequence``, ``Mapping``, ``Iterable``, ``tuple``..., as Ruff's B006);
    deliberate state: a parameter whose name starts with ``_`` or contains
    ``cache``/``memo`` (``_seen=set()``, ``memo={}``: private by convention, not
    meant to be passed), and functions nested in another function or lambda
    (their defaults are evaluated again on every call of the outer function; the
    ``counter=[0]`` cell idiom); dataclass fields
    (``field(default_factory=list)``), which are not function defaults.

    ## Why is this bad?
    This is a correctness rule. A default value is evaluated once, when the
    ``def`` runs, and the same object is shared by every call that omits the
    argument (the Python tutorial's "Important warning" on default values): what
    one call appends is still there in the next, so results leak between requests
    and users, and a default list or dict that is appended to on every call grows
    for the life of the process (memory, and slower scans of it). Ruff reports the
    same pattern as B006.

    ## Example
    ```python
    def ingest_artifact(store, content, thematic_tags=[]):
        thematic_tags.append("ingested")
        store.add(content, tags=thematic_tags)
    ```

    ## Use instead
    ```python
    def ingest_artifact(store, content, thematic_tags=None):
        if thematic_tags is None:
            thematic_tags = []
        thematic_tags.append("ingested")
        store.add(content, tags=thematic_tags)
    ```

    ## Fix safety
    Unsafe (as Ruff's B006). The default becomes ``None`` and the first statement
    of the body (after the docstring) creates a new object from the original
    default expression when the argument is ``None``. Behaviour changes where
    code relied on the shared object (state deliberately kept between calls),
    where a caller passes ``None`` explicitly (it now gets the default instead of
    ``None``), and where the signature is read at run time (``inspect``,
    FastAPI/Typer parameter defaults). A simple annotation becomes optional in the
    file's style: ``Optional[...]`` through the module's own ``typing.Optional``
    (not one imported only under ``if TYPE_CHECKING:``); else ``X | None`` when it
    runs (``from __future__ import annotations``, a project whose
    ``requires-python`` starts at 3.10 or later, or a file that already writes
    ``A | B`` in evaluated annotations); else ``Optional[...]`` with ``from typing
    import Optional`` added (``typing.Optional`` when that name is taken). Other
    annotations are left as they are.
    Lambdas are reported without a fix (their body is one expression).

    ## References
    - [Python tutorial: Default argument values](https://docs.python.org/3/tutorial/controlflow.html#default-argument-values)
    - [Ruff: mutable-argument-default (B006)](https://docs.astral.sh/ruff/rules/mutable-argument-default/)
    """

    code = "PFL701"
    name = "mutable-default-argument"
    message = "Mutable default argument is shared between calls and this function modifies or hands it out"
    fix_title = "Default to None and create the value in the body"
    fix_safety = Applicability.UNSAFE
    triggers = r"=\s*(?:\[|\{|(?:[\w.]+\.)?(?:list|dict|set|bytearray|defaultdict|OrderedDict|deque|Counter)\s*\()"

    @classmethod
    def applies_to(cls, text, module_ctx, settings) -> bool:
        return ("def " in text or "lambda" in text) and super().applies_to(text, module_ctx, settings)

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """A ``def``/``lambda`` with a default that may be mutable, on a parameter the rule does not exempt."""
        functions = summary.own.statements_of(ast.FunctionDef, ast.AsyncFunctionDef)  # where a finding can be
        if summary.text is None or _LAMBDA_DEFAULT.search(summary.text):
            functions = [*functions, *summary.own.of_type(ast.Lambda)]
        for func in functions:
            args = func.args
            positional = [*args.posonlyargs, *args.args]
            pairs = [*zip(positional[len(positional) - len(args.defaults) :], args.defaults), *zip(args.kwonlyargs, args.kw_defaults)]
            for arg, default in pairs:
                if default is None or arg.arg.startswith("_") or any(word in arg.arg.lower() for word in _CACHE_WORDS):
                    continue
                if isinstance(default, _AST_DISPLAYS) or (isinstance(default, ast.Call) and _may_build_collection(default.func, summary)):
                    return True
        return False

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._functions: list[cst.FunctionDef | cst.Lambda] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append(node)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._functions.append(node)

    def leave_Module(self, original_node: cst.Module) -> None:
        # checked once the whole chunk is traversed: the usage analysis follows
        # ``self.x`` and ``self.m(...)`` into methods defined later in the class
        for func in self._functions:
            self._check(func, func.body)

    # -- detection -------------------------------------------------------
    def _check(self, func: cst.FunctionDef | cst.Lambda, body: cst.CSTNode) -> None:
        if any(isinstance(anc, (cst.FunctionDef, cst.Lambda)) for anc in self.ctx.ancestors(func)):
            return  # a closure's defaults are evaluated per call of the outer function: a deliberate cell
        params = func.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            if param.default is None:
                continue
            kind = self._mutable_kind(param.default)
            if kind is None:
                continue
            name = param.name.value
            if name.startswith("_") or any(word in name.lower() for word in _CACHE_WORDS):
                continue
            if param.annotation is not None and self._read_only_annotation(param.annotation.annotation):
                continue
            evidence = _Usage(self.ctx, name, empty_list=kind in ("[]", "list()")).evidence(body)
            if evidence is None:
                continue
            fix = self._fix(func, param) if isinstance(func, cst.FunctionDef) else None
            self.report(
                param.default,
                message=f"Mutable default `{name}={kind}` is shared between calls: {evidence}",
                fix=fix,
                detail="Correctness: every call that omits the argument sees what earlier calls left in it.",
            )

    def _mutable_kind(self, expr: cst.BaseExpression) -> str | None:
        if isinstance(expr, cst.List):
            return "[]" if not expr.elements else "[...]"
        if isinstance(expr, cst.Dict):
            return "{}" if not expr.elements else "{...}"
        if isinstance(expr, cst.Set):
            return "{...}"
        if isinstance(expr, cst.ListComp):
            return "[...]"
        if isinstance(expr, (cst.DictComp, cst.SetComp)):
            return "{...}"
        if isinstance(expr, cst.Call):
            qn = self.ctx.qualified_name(expr.func)
            if qn in _COLLECTION_FACTORIES:
                return f"{_COLLECTION_FACTORIES[qn]}(...)"
            if qn is None and isinstance(expr.func, cst.Name) and expr.func.value in _BUILTIN_FACTORIES:
                if self.ctx.module_ctx.binding(expr.func.value) is None:
                    return f"{expr.func.value}()" if not expr.args else f"{expr.func.value}(...)"
        return None

    def _read_only_annotation(self, annotation: cst.BaseExpression) -> bool:
        heads: set[str] = set()
        for qn in annotation_qualified_names(annotation, self.ctx):
            heads.add(qn.rsplit(".", 1)[-1])
        expr = annotation
        if isinstance(expr, cst.Subscript):
            expr = expr.value
        name = dotted(expr)
        if name:
            heads.add(name.rsplit(".", 1)[-1])
        return bool(heads & _READ_ONLY_ANNOTATIONS)

    # -- codemod ----------------------------------------------------------
    def _fix(self, func: cst.FunctionDef, param: cst.Param):
        def build(fctx: FixContext) -> cst.Module | None:
            name = param.name.value
            new_param = param.with_changes(default=cst.Name("None"))
            if param.annotation is not None:
                union = union_none_allowed(self.ctx.module_ctx, self.ctx.settings.python_floor)
                annotation = _optional(param.annotation.annotation, fctx, union)
                if annotation is not None:
                    new_param = new_param.with_changes(annotation=param.annotation.with_changes(annotation=annotation))
            guard = cst.If(
                test=cst.Comparison(
                    left=cst.Name(name),
                    comparisons=[cst.ComparisonTarget(operator=cst.Is(), comparator=cst.Name("None"))],
                ),
                body=cst.IndentedBlock(
                    body=[
                        cst.SimpleStatementLine(
                            body=[cst.Assign(targets=[cst.AssignTarget(target=cst.Name(name))], value=param.default)]
                        )
                    ]
                ),
            )
            body = func.body
            if isinstance(body, cst.SimpleStatementSuite):
                statements: list[cst.BaseStatement] = [cst.SimpleStatementLine(body=body.body)]
                new_body = cst.IndentedBlock(body=[guard, *statements])
            else:
                statements = list(body.body)
                at = 1 if statements and _is_docstring(statements[0]) else 0
                while at < len(statements) and _is_none_guard(statements[at]):
                    at += 1  # after the guards earlier fixes wrote, in parameter order
                new_body = body.with_changes(body=[*statements[:at], guard, *statements[at:]])
            new_params = _replace_param(func.params, param, new_param)
            return replace_node(fctx.chunk, func, func.with_changes(params=new_params, body=new_body))

        return build


class _Usage:
    """How a function body uses a parameter: the first modifying or escaping use, as evidence text."""

    def __init__(
        self, ctx, name: str, depth: int = 0, defined_by: cst.CSTNode | None = None, empty_list: bool = False
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.depth = depth
        self.defined_by = defined_by  # an alias's own ``alias = param`` target
        self.empty_list = empty_list  # the default is ``[]``: only growing it shares state

    def evidence(self, body: cst.CSTNode) -> str | None:
        found: str | None = None
        for node in self._occurrences(body):
            if node is self.defined_by:
                continue
            parent = self.ctx.parent(node)
            if _binds(node, parent, self.ctx):
                return None  # rebound somewhere: later uses may be of another object
            if found is None:
                found = self._flow(node)
        return found

    def _occurrences(self, body: cst.CSTNode) -> list[cst.Name]:
        """Name nodes that read or write the variable (attribute, keyword and inner-parameter names excluded)."""
        out: list[cst.Name] = []
        stack: list[cst.CSTNode] = [body]
        while stack:
            current = stack.pop()
            if isinstance(current, cst.Name):
                if current.value == self.name:
                    out.append(current)
            elif isinstance(current, cst.Attribute):
                stack.append(current.value)
            elif isinstance(current, cst.Arg):
                stack.append(current.value)
            elif isinstance(current, (cst.FunctionDef, cst.Lambda)) and self.name in param_names(current.params):
                continue  # shadowed
            elif isinstance(current, cst.FunctionDef):
                stack.append(current.body)
                stack.extend(d.decorator for d in current.decorators)
            elif isinstance(current, cst.Param):
                if current.default is not None:
                    stack.append(current.default)
            else:
                stack.extend(children(current))
        return out

    def _flow(self, node: cst.CSTNode) -> str | None:
        """Where the value of ``node`` (the default object, or a container holding it) goes."""
        name = self.name
        parent = self.ctx.parent(node)
        if parent is None:
            return None
        if isinstance(parent, cst.AugAssign) and parent.target is node:
            return f"`{name} {self.ctx.code(parent.operator).strip()} ...` changes it in place"
        if isinstance(parent, cst.Attribute) and parent.value is node:
            method = parent.attr.value
            if method in _MUTATING_METHODS:
                grand = self.ctx.parent(parent)
                called = isinstance(grand, cst.Call) and grand.func is parent
                return f"`{name}.{method}(...)` changes it" if called else f"`{name}.{method}` is handed out"
            return None
        if isinstance(parent, cst.Subscript) and parent.value is node:
            return self._item_flow(parent)
        if isinstance(parent, (cst.Return, cst.Yield)) and parent.value is node:
            return "the function returns it" if isinstance(parent, cst.Return) else "the function yields it"
        if isinstance(parent, cst.BooleanOperation):
            if isinstance(parent.operator, cst.Or) and parent.left is node:
                return None  # ``x or other``: the (empty, unchanged) default is never the result
            return self._flow(parent)
        if isinstance(parent, cst.IfExp) and node is not parent.test:
            return self._flow(parent)
        if isinstance(parent, cst.Arg) and parent.value is node:
            if parent.star:
                return None  # ``*x``/``**x`` copy the elements
            call = self.ctx.parent(parent)
            if isinstance(call, cst.Call):
                return self._call_flow(call, parent)
            return None
        if isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is node:
            return self._assign_flow(parent)
        return None

    def _item_flow(self, subscript: cst.Subscript) -> str | None:
        parent = self.ctx.parent(subscript)
        name = self.name
        if self.empty_list and not any(isinstance(element.slice, cst.Slice) for element in subscript.slice):
            # ``x[0] = v`` on the shared ``[]`` raises IndexError: it only ever changes a list the caller passed
            # (code guarded by ``len(x) >= 1``); only growing operations share state through an empty list
            return None
        if isinstance(parent, cst.AssignTarget) and parent.target is subscript:
            return f"`{name}[...] = ...` changes it"
        if isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is subscript:
            return f"`{name}[...] {self.ctx.code(parent.operator).strip() if isinstance(parent, cst.AugAssign) else '='} ...` changes it"
        if isinstance(parent, cst.Del) or isinstance(self.ctx.parent(parent), cst.Del):
            return f"`del {name}[...]` changes it"
        if isinstance(parent, cst.Attribute) and parent.value is subscript and parent.attr.value in _MUTATING_METHODS:
            return f"`{name}[...].{parent.attr.value}(...)` changes an object it holds"
        return None

    def _call_flow(self, call: cst.Call, arg: cst.Arg) -> str | None:
        """Passed to a call: followed into a method of the same class (``self.m(x)``); other callees are
        not known to keep or modify it, so they are not evidence."""
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)) or self.depth >= 3:
            return None
        method = self._enclosing_method(call)
        if method is None or first_param(method) != func.value.value:
            return None
        cls = self.ctx.enclosing_class(method)
        target = next(
            (s for s in (cls.body.body if cls is not None else ()) if isinstance(s, cst.FunctionDef) and s.name.value == func.attr.value),
            None,
        )
        if target is None or target.decorators:
            return None
        param = _param_for(target, call, arg)
        if param is None:
            return None
        inner = _Usage(self.ctx, param, self.depth + 1, empty_list=self.empty_list).evidence(target.body)
        return f"it is passed to `{func.value.value}.{func.attr.value}()`, where {inner}" if inner else None

    def _enclosing_method(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        for anc in self.ctx.ancestors(node):
            if isinstance(anc, cst.FunctionDef):
                return anc if self.ctx.enclosing_class(anc) is not None else None
            if isinstance(anc, (cst.Lambda, cst.ClassDef)):
                return None
        return None

    def _public_on_self(self, target: cst.Attribute) -> bool:
        """``self.attr = default`` in a method, ``attr`` public: every object built without the argument hands
        out the same collection (``a.items.append(x)`` shows up in ``b.items``)."""
        if not isinstance(target.value, cst.Name) or target.attr.value.startswith("_"):
            return False
        method = self._enclosing_method(target)
        return method is not None and first_param(method) == target.value.value

    def _attribute_mutation(self, target: cst.Attribute) -> str | None:
        """``self.attr = default``: the first place in the class that changes ``self.attr`` in place."""
        if not isinstance(target.value, cst.Name):
            return None
        method = self._enclosing_method(target)
        if method is None or first_param(method) != target.value.value:
            return None
        cls = self.ctx.enclosing_class(method)
        attr = target.attr.value
        for stmt in cls.body.body if cls is not None else ():
            if not isinstance(stmt, cst.FunctionDef):
                continue
            owner = first_param(stmt)
            for node in _walk_all(stmt.body):
                if not (isinstance(node, cst.Attribute) and node.attr.value == attr and isinstance(node.value, cst.Name) and node.value.value == owner):
                    continue
                parent = self.ctx.parent(node)
                shown = f"{owner}.{attr}"
                if isinstance(parent, cst.AugAssign) and parent.target is node:
                    return f"`{shown} {self.ctx.code(parent.operator).strip()} ...` changes it in place"
                if isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in _MUTATING_METHODS:
                    return f"`{shown}.{parent.attr.value}(...)` changes it"
                if isinstance(parent, cst.Subscript) and parent.value is node:
                    grand = self.ctx.parent(parent)
                    if (isinstance(grand, cst.AssignTarget) and grand.target is parent) or (
                        isinstance(grand, cst.AugAssign) and grand.target is parent
                    ) or isinstance(grand, cst.Del):
                        return f"`{shown}[...]` is assigned"
        return None

    def _assign_flow(self, assign: cst.Assign | cst.AnnAssign) -> str | None:
        targets = [t.target for t in assign.targets] if isinstance(assign, cst.Assign) else [assign.target]
        for target in targets:
            if isinstance(target, cst.Attribute):
                inner = self._attribute_mutation(target)
                if inner:
                    return f"it is stored in `{self.ctx.code(target)}`, and {inner}"
                if self._public_on_self(target):
                    return f"it is stored in the public attribute `{self.ctx.code(target)}`, where callers can change it"
                return None
            if isinstance(target, cst.Name) and self.depth < 3:
                scope = next((a for a in self.ctx.ancestors(assign) if isinstance(a, FUNCTION_BOUNDARIES)), None)
                if isinstance(scope, (cst.FunctionDef, cst.Lambda)):
                    alias = _Usage(self.ctx, target.value, self.depth + 1, defined_by=target, empty_list=self.empty_list)
                    inner = alias.evidence(scope.body)
                    if inner:
                        value = self.ctx.code(assign.value).strip()
                        value = value if len(value) <= 30 and "\n" not in value else "..."
                        return f"`{target.value} = {value}`, then {inner}"
        return None


def _binds(node: cst.Name, parent: cst.CSTNode | None, ctx) -> bool:
    """``node`` is the target of a plain (re)binding: assignment, loop, ``with``, walrus, ``del``, import."""
    if isinstance(parent, cst.AssignTarget) and parent.target is node:
        return True
    if isinstance(parent, cst.AnnAssign) and parent.target is node:
        return True
    if isinstance(parent, (cst.For, cst.CompFor)) and parent.target is node:
        return True
    if isinstance(parent, cst.AsName) and parent.name is node:
        return True
    if isinstance(parent, cst.NamedExpr) and parent.target is node:
        return True
    if isinstance(parent, cst.Del) and parent.target is node:
        return True
    if isinstance(parent, (cst.Tuple, cst.List)) or isinstance(parent, (cst.Element, cst.StarredElement)):
        # a name inside an unpacking target
        for anc in ctx.ancestors(node):
            if isinstance(anc, (cst.AssignTarget, cst.For, cst.CompFor)):
                target = anc.target
                return any(n is node for n in _walk_all(target))
            if not isinstance(anc, (cst.Tuple, cst.List, cst.Element, cst.StarredElement)):
                return False
    return False


def _walk_all(node: cst.CSTNode):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(children(current))


def _param_for(method: cst.FunctionDef, call: cst.Call, arg: cst.Arg) -> str | None:
    """The parameter of ``method`` (called as ``self.method(...)``) that receives ``arg``."""
    if arg.keyword is not None:
        names = param_names(method.params)
        return arg.keyword.value if arg.keyword.value in names else None
    positional = [*method.params.posonly_params, *method.params.params][1:]
    index = 0
    for other in call.args:
        if other.star or other.keyword is not None:
            return None
        if other is arg:
            return positional[index].name.value if index < len(positional) else None
        index += 1
    return None


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_none_guard(stmt: cst.BaseStatement) -> bool:
    """``if name is None:`` whose body is one ``name = ...`` (what this fix writes)."""
    if not (isinstance(stmt, cst.If) and stmt.orelse is None and isinstance(stmt.test, cst.Comparison)):
        return False
    test = stmt.test
    if not (isinstance(test.left, cst.Name) and len(test.comparisons) == 1):
        return False
    target = test.comparisons[0]
    if not (isinstance(target.operator, cst.Is) and isinstance(target.comparator, cst.Name) and target.comparator.value == "None"):
        return False
    body = stmt.body
    return (
        isinstance(body, cst.IndentedBlock)
        and len(body.body) == 1
        and isinstance(body.body[0], cst.SimpleStatementLine)
        and len(body.body[0].body) == 1
        and isinstance(body.body[0].body[0], cst.Assign)
        and len(body.body[0].body[0].targets) == 1
        and isinstance(body.body[0].body[0].targets[0].target, cst.Name)
        and body.body[0].body[0].targets[0].target.value == test.left.value
    )


def _optional(annotation: cst.BaseExpression, fctx: FixContext, union: bool) -> cst.BaseExpression | None:
    """``Optional[X]`` (through the module's own ``Optional``, else one imported from ``typing``), or ``X | None``
    when ``union`` allows it and the module has no ``Optional`` of its own, for a simple annotation
    ``X``; None to leave it as it is."""
    if not isinstance(annotation, (cst.Name, cst.Attribute, cst.Subscript)):
        return None
    code = fctx.chunk.code_for_node(annotation)
    if "None" in code or "Optional" in code or "Any" == code.strip():
        return None
    optional = runtime_alias(fctx.module_ctx, "typing.Optional")  # not one bound only under ``if TYPE_CHECKING:``
    if optional is None and union:
        return cst.BinaryOperation(left=annotation, operator=cst.BitOr(), right=cst.Name("None"))
    if optional is None:
        optional = fctx.from_ref("typing", "Optional")  # ``X | None`` would not run before Python 3.10
    return cst.Subscript(value=fctx.parse_expression(optional), slice=[cst.SubscriptElement(slice=cst.Index(value=annotation))])


def _replace_param(params: cst.Parameters, old: cst.Param, new: cst.Param) -> cst.Parameters:
    def swap(items):
        return [new if p is old else p for p in items]

    return params.with_changes(
        posonly_params=swap(params.posonly_params), params=swap(params.params), kwonly_params=swap(params.kwonly_params)
    )

