"""PFL501 python-vector-math, and its codemod."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst

from perf_lsp.analysis.expressions import is_builtin_call
from perf_lsp.analysis.loops import invariant_loop
from perf_lsp.fix.codemod import replace_node
from perf_lsp.fix.context import FixContext, runtime_alias
from perf_lsp.model import Applicability
from perf_lsp.rules.base import Rule

# names that say the numbers are vectors: embeddings, similarity, norms
_SUM_CALL = re.compile(r"sum(?<=\bsum)\s*\(")
_VECTOR_WORDS = re.compile(r"(?i)embed|vec|cosine|cos_sim|simil|norm")


@dataclass
class _Shape:
    """One piece of vector math found in an expression or a loop."""

    node: cst.CSTNode
    kind: str  # "dot", "norm", "sumsq", "loop"
    operands: tuple[cst.BaseExpression, ...]
    end_node: cst.CSTNode | None = None
    cosine: bool = False  # a loop that accumulates both a dot product and a sum of squares
    invariant: cst.CSTNode | None = None  # the loop that recomputes this norm of an operand it does not change


class PythonVectorMath(Rule):
    """
    ## What it does
    Reports dot products and norms computed element by element in Python:
    ``sum(x * y for x, y in zip(a, b))``, ``sum(a[i] * b[i] for i in
    range(len(a)))``, ``math.sqrt(sum(x * x for x in v))``,
    ``sum(x ** 2 for x in v) ** 0.5``, and ``for`` loops whose body only
    accumulates such products (``dot += x * y``).

    Reported only where the numbers are vectors: the function computes both a
    dot product and a norm (cosine similarity), or the function's or the
    operands' names say so (``embedding``, ``vec``, ``cosine``, ``similarity``,
    ``norm``). A weighted sum such as ``sum(w * s for w, s in zip(weights,
    scores))`` in a function that computes no norm is not reported: for a
    handful of numbers pure Python is as fast as NumPy. Code outside functions
    is not checked.

    Also reported: a norm recomputed on every iteration of a loop that never
    changes its operand (``numpy.linalg.norm(query)`` or
    ``math.sqrt(sum(q * q for q in query))`` inside ``for doc in docs:``, with
    ``query`` neither rebound nor changed in place in the loop): the message says
    to compute it once before the loop, a change that needs no new dependency,
    and adds the NumPy alternative (all rows at once) only where the module or
    the project's dependencies have NumPy. Where they do not, a pure-Python norm
    is pointed to ``math.hypot(*v)``, the standard library's loop in C.

    ## Why is this bad?
    Each element goes through the interpreter: a multiplication, an addition and
    the generator's bookkeeping per dimension, about 1,500 of each for a
    1,536-dimension embedding, where NumPy runs one vectorised loop in C. Measured
    (``benchmarks/bench_costs.py``, ``docs/costs.md``): the cosine of two
    1,536-dimension vectors takes about 240 us in pure Python and 6 us with
    ``numpy.dot`` and ``numpy.linalg.norm`` (about 40x); a norm alone takes about
    10x less with ``math.hypot(*v)``. Scoring a whole matrix at once
    (``embeddings @ query``) or a vector index goes further still. A query's norm
    recomputed for each of 200 rows made the scoring about 2x slower than
    computing it once.

    ## Example
    ```python
    import math

    def cosine_similarity(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        norm_a = math.sqrt(sum(x * x for x in a))
        norm_b = math.sqrt(sum(y * y for y in b))
        return dot / (norm_a * norm_b)
    ```

    ## Use instead
    ```python
    import numpy as np

    def cosine_similarity(a, b):
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    ```

    ## Fix safety
    Offered only when the module already imports ``numpy`` (with any alias,
    which the fix reuses) unconditionally: the rule cannot see the project's
    dependencies, and adding a heavy import is the user's call. A module that
    imports it only under a top-level ``try``/``if`` (an optional dependency:
    the alias may be None; ``if TYPE_CHECKING:``) gets no fix. Loops and loop-invariant norms get no fix.

    Unsafe. ``sum(x * y for x, y in zip(a, b))`` becomes ``numpy.dot(a, b)``,
    ``math.sqrt(sum(x * x for x in v))`` and ``sum(...) ** 0.5`` become
    ``numpy.linalg.norm(v)``, a sum of squares alone becomes
    ``numpy.dot(v, v)``. The results differ in type and edge cases:

    - NumPy returns ``numpy.float64`` (a ``float`` subclass) for floats, but
      ``numpy.int64``, which is not an ``int`` (``json.dumps`` rejects it), for
      integer vectors; floating-point sums may differ in the last bits (NumPy
      sums pairwise);
    - empty vectors give ``0.0`` where ``sum`` gave ``0``;
    - vectors of different lengths raise ``ValueError`` where ``zip`` stopped
      at the shorter one (and ``range(len(a))`` read ``len(a)`` items);
    - an operand that is an iterator or generator, nested lists or complex
      numbers mean something else to NumPy;
    - converting a Python list to an array on each call costs time too: the
      full gain comes when the vectors are kept as arrays.

    ## References
    - [NumPy: numpy.dot](https://numpy.org/doc/stable/reference/generated/numpy.dot.html)
    - [NumPy: numpy.linalg.norm](https://numpy.org/doc/stable/reference/generated/numpy.linalg.norm.html)
    - Measured figures: `docs/costs.md`, made by `benchmarks/bench_costs.py`
    """

    code = "PFL501"
    name = "python-vector-math"
    message = "Vector math in pure Python; use NumPy (`numpy.dot`, `numpy.linalg.norm`)"
    fix_title = "Use numpy.dot / numpy.linalg.norm"
    fix_safety = Applicability.UNSAFE
    triggers = r"sum(?<=\bsum)\s*\(|\+=|norm(?<=\bnorm)\s*\("

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._pending: dict[cst.FunctionDef, list[_Shape]] = {}

    @classmethod
    def wants(cls, summary, settings) -> bool:
        """A function and ``sum(<product> for ...)`` or a ``for`` loop whose body only adds products, with
        words that say vectors (in a function's name or the code of the shape), or two shapes (a cosine)."""
        functions = summary.statements_of(ast.FunctionDef, ast.AsyncFunctionDef)
        if not functions:
            return False
        shapes: list[ast.AST] = []
        for call in summary.calls if summary.text is None or _SUM_CALL.search(summary.text) else ():
            if isinstance(call.func, ast.Name) and call.func.id == "sum" and len(call.args) == 1 and not call.keywords:
                arg = call.args[0]
                if isinstance(arg, (ast.GeneratorExp, ast.ListComp)) and len(arg.generators) == 1 and _ast_product(arg.elt):
                    shapes.append(call)
        if any(
            isinstance(call.func, ast.Attribute) and call.func.attr == "norm" and len(call.args) == 1 and not call.keywords
            for call in summary.calls
        ):
            return True  # ``numpy.linalg.norm(q)``: recomputed per row when inside a loop that leaves ``q`` alone
        for loop in summary.statements_of(ast.For):
            body = loop.body
            if not loop.orelse and 0 < len(body) <= 3 and all(
                type(stmt) is ast.AugAssign and type(stmt.op) is ast.Add and _ast_product(stmt.value) for stmt in body
            ):
                shapes.append(loop)
        if len(shapes) != 1:
            return bool(shapes)
        shape = shapes[0]
        if shape.end_lineno != shape.lineno:  # the code of an operand may hold a comment: keep it
            return True
        if any(_VECTOR_WORDS.search(func.name) for func in functions):
            return True
        try:
            return bool(_VECTOR_WORDS.search(ast.unparse(shape)))
        except (RecursionError, ValueError):
            return True

    # -- collection --------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if (
            isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "norm"
            and len(node.args) == 1
            and not node.args[0].keyword
            and not node.args[0].star
            and self.ctx.qualified_name(node.func) == "numpy.linalg.norm"
        ):
            func = self.ctx.enclosing_function(node)
            loop = invariant_loop(self.ctx, node.args[0].value, node)
            if func is not None and loop is not None:
                self._pending.setdefault(func, []).append(_Shape(node, "numpy-norm", (node.args[0].value,), invariant=loop))
            return
        if not is_builtin_call(node, "sum", self.ctx) or len(node.args) != 1 or node.args[0].keyword or node.args[0].star:
            return
        shape = _product_sum(node.args[0].value, self.ctx)
        if shape is None:
            return
        kind, operands = shape
        func = self.ctx.enclosing_function(node)
        if func is None:
            return
        if kind == "sumsq":
            outer = self._norm_around(node)
            if outer is not None:
                loop = invariant_loop(self.ctx, operands[0], outer)
                self._pending.setdefault(func, []).append(_Shape(outer, "norm", operands, invariant=loop))
                return
        self._pending.setdefault(func, []).append(_Shape(node, kind, operands))

    def visit_For(self, node: cst.For) -> None:
        found = _accumulating_loop(node, self.ctx)
        if found is None:
            return
        operands, cosine = found
        func = self.ctx.enclosing_function(node)
        if func is not None:
            self._pending.setdefault(func, []).append(_Shape(node, "loop", operands, end_node=node.iter, cosine=cosine))

    def _norm_around(self, node: cst.Call) -> cst.CSTNode | None:
        """``math.sqrt(<node>)`` or ``<node> ** 0.5`` around the sum, or None."""
        parent = self.ctx.parent(node)
        if isinstance(parent, cst.Arg) and not parent.keyword and not parent.star:
            call = self.ctx.parent(parent)
            if isinstance(call, cst.Call) and len(call.args) == 1 and self.ctx.qualified_name(call.func) == "math.sqrt":
                return call
        if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, cst.Power) and parent.left is node:
            exponent = parent.right
            if isinstance(exponent, cst.Float) and exponent.evaluated_value == 0.5:
                return parent
        return None

    # -- decision ------------------------------------------------------------
    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        shapes = self._pending.pop(node, None)
        if not shapes:
            return
        kinds = {s.kind for s in shapes}
        cosine = bool("dot" in kinds and {"norm", "sumsq"} & kinds) or any(s.cosine for s in shapes)
        numpy_alias = runtime_alias(self.ctx.module_ctx, "numpy")  # not an optional ``try: import numpy``
        has_numpy = bool(numpy_alias) or "numpy" in self.ctx.settings.project_packages
        for shape in shapes:
            words = [node.name.value, *(self.ctx.code(op) for op in shape.operands)]
            if shape.invariant is not None:
                self._report_invariant(shape, has_numpy)
                continue
            if not (cosine or any(_VECTOR_WORDS.search(w) for w in words)):
                continue
            fix = self._fix(shape) if numpy_alias and shape.kind != "loop" else None
            if shape.kind == "loop":
                message = "Dot product or norm accumulated element by element in a Python loop; use NumPy"
            elif shape.kind == "norm" and not has_numpy:
                # no NumPy in this project: the standard library's C loop, about 10x faster (docs/costs.md)
                message = "Vector norm computed element by element in Python; use `math.hypot(*v)` (no new dependency)"
            elif shape.kind == "norm":
                message = "Vector norm computed element by element in Python; use `numpy.linalg.norm`"
            else:
                message = "Dot product computed element by element in Python; use `numpy.dot`"
            self.report(
                shape.node,
                end_node=shape.end_node,
                message=message,
                fix=fix,
                detail="Per element: one interpreted multiply-add per dimension (1,536 for an OpenAI embedding); NumPy does it in C.",
            )

    def _report_invariant(self, shape: _Shape, has_numpy: bool) -> None:
        """A norm of an operand the loop around it never changes: computed again on every iteration."""
        operand = self.ctx.code(shape.operands[0])
        message = (
            f"Norm of `{operand}` recomputed on every iteration, though the loop never changes `{operand}`; "
            "compute it once before the loop"
        )
        if shape.kind == "numpy-norm":
            message += " (or score every row at once: `rows @ q / (numpy.linalg.norm(rows, axis=1) * norm_q)`)"
        elif has_numpy:
            message += " (or score every row at once with NumPy)"
        self.report(
            shape.node,
            message=message,
            detail=(
                "Per iteration: one pass over the whole vector (1,536 multiply-adds for an OpenAI embedding) "
                "that gives the same number every time."
            ),
        )

    # -- codemod -------------------------------------------------------------
    def _fix(self, shape: _Shape):
        if not all(isinstance(op, (cst.Name, cst.Attribute, cst.Subscript)) for op in shape.operands):
            return None
        node = shape.node

        def build(fctx: FixContext) -> cst.Module | None:
            np = fctx.module_ref("numpy")
            if shape.kind == "norm":
                func, args = f"{np}.linalg.norm", [shape.operands[0]]
            elif shape.kind == "sumsq":
                func, args = f"{np}.dot", [shape.operands[0], shape.operands[0]]
            else:
                func, args = f"{np}.dot", list(shape.operands)
            new = cst.Call(
                func=fctx.parse_expression(func),
                args=[cst.Arg(a.with_changes(lpar=[], rpar=[]) if a.lpar else a) for a in args],
                lpar=getattr(node, "lpar", []),
                rpar=getattr(node, "rpar", []),
            )
            return replace_node(fctx.chunk, node, new)

        return build


def _ast_product(expr: ast.expr) -> bool:
    """Whether ``expr`` may be what :func:`_product` accepts (its :mod:`ast` form): ``p * q`` or ``p ** 2``."""
    return type(expr) is ast.BinOp and (type(expr.op) is ast.Mult or type(expr.op) is ast.Pow)


def _product(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """``(p, q)`` for ``p * q``, ``(p, p)`` for ``p ** 2``, else None."""
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, cst.Multiply):
            return expr.left, expr.right
        if isinstance(expr.operator, cst.Power) and isinstance(expr.right, cst.Integer) and expr.right.value == "2":
            return expr.left, expr.left
    return None


def _same(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    return a.deep_equals(b)


def _index_of(expr: cst.BaseExpression, index: str) -> cst.BaseExpression | None:
    """``v`` for ``v[index]`` where ``v`` is a name or attribute chain, else None."""
    if (
        isinstance(expr, cst.Subscript)
        and len(expr.slice) == 1
        and isinstance(expr.slice[0].slice, cst.Index)
        and isinstance(expr.slice[0].slice.value, cst.Name)
        and expr.slice[0].slice.value.value == index
        and isinstance(expr.value, (cst.Name, cst.Attribute))
    ):
        return expr.value
    return None


def _range_len(expr: cst.BaseExpression, ctx) -> cst.BaseExpression | None:
    """``v`` for ``range(len(v))``, else None."""
    if is_builtin_call(expr, "range", ctx) and len(expr.args) == 1:
        inner = expr.args[0].value
        if is_builtin_call(inner, "len", ctx) and len(inner.args) == 1 and not inner.args[0].star:
            return inner.args[0].value
    return None


def _zip_pair(expr: cst.BaseExpression, ctx) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    if is_builtin_call(expr, "zip", ctx) and len(expr.args) == 2 and all(not a.star and not a.keyword for a in expr.args):
        return expr.args[0].value, expr.args[1].value
    return None


def _classify(
    first: cst.BaseExpression, second: cst.BaseExpression, target: cst.BaseAssignTargetExpression, iterable: cst.BaseExpression, ctx
) -> tuple[str, tuple[cst.BaseExpression, ...]] | None:
    """What ``first * second`` means for a loop ``for <target> in <iterable>``: a dot product or a sum of squares."""
    pair = _zip_pair(iterable, ctx)
    if pair is not None and isinstance(target, cst.Tuple) and len(target.elements) == 2:
        names = [el.value for el in target.elements]
        if all(isinstance(n, cst.Name) for n in names) and names[0].value != names[1].value:
            x, y = names[0].value, names[1].value
            if isinstance(first, cst.Name) and isinstance(second, cst.Name) and {first.value, second.value} == {x, y}:
                return "dot", pair
        return None
    if isinstance(target, cst.Name):
        vector = _range_len(iterable, ctx)
        if vector is not None:
            left, right = _index_of(first, target.value), _index_of(second, target.value)
            if left is None or right is None:
                return None
            if _same(left, right):
                return "sumsq", (left,)
            if _same(left, vector) or _same(right, vector):
                return "dot", (left, right)
            return None
        if (
            isinstance(first, cst.Name)
            and isinstance(second, cst.Name)
            and first.value == second.value == target.value
            and not isinstance(iterable, (cst.Tuple, cst.List, cst.Set))
        ):
            return "sumsq", (iterable,)
    return None


def _product_sum(arg: cst.BaseExpression, ctx) -> tuple[str, tuple[cst.BaseExpression, ...]] | None:
    """``("dot", (a, b))`` or ``("sumsq", (v,))`` for the argument of ``sum``, else None."""
    if not isinstance(arg, (cst.GeneratorExp, cst.ListComp)):
        return None
    comp = arg.for_in
    if comp.ifs or comp.inner_for_in is not None or comp.asynchronous is not None:
        return None
    product = _product(arg.elt)
    if product is None:
        return None
    return _classify(product[0], product[1], comp.target, comp.iter, ctx)


def _accumulating_loop(node: cst.For, ctx) -> tuple[tuple[cst.BaseExpression, ...], bool] | None:
    """(the vectors, whether it computes a dot product and a norm) of a ``for`` loop whose body only does
    ``acc += <product>``; None for other loops."""
    if node.orelse is not None or node.asynchronous is not None or not isinstance(node.body, cst.IndentedBlock):
        return None
    statements = []
    for line in node.body.body:
        if not isinstance(line, cst.SimpleStatementLine):
            return None
        statements.extend(line.body)
    if not statements or len(statements) > 3:
        return None
    operands: list[cst.BaseExpression] = []
    kinds = set()
    for stmt in statements:
        if not (isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.AddAssign) and isinstance(stmt.target, cst.Name)):
            return None
        product = _product(stmt.value)
        if product is None:
            return None
        found = _classify(product[0], product[1], node.target, node.iter, ctx)
        if found is None:
            if _zip_pair(node.iter, ctx) is not None and isinstance(node.target, cst.Tuple):
                # ``na += x * x`` inside ``for x, y in zip(a, b)``
                if isinstance(product[0], cst.Name) and isinstance(product[1], cst.Name) and product[0].value == product[1].value:
                    names = [el.value.value for el in node.target.elements if isinstance(el.value, cst.Name)]
                    if product[0].value in names:
                        kinds.add("sumsq")
                        continue
            return None
        kinds.add(found[0])
        operands.extend(op for op in found[1] if not any(_same(op, o) for o in operands))
    pair = _zip_pair(node.iter, ctx)
    if pair is not None:
        operands = list(pair)
    if "dot" not in kinds:
        return None  # squares alone: a variance, a distance... not clearly vector math
    return tuple(operands), "sumsq" in kinds

