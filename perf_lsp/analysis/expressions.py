"""What an expression is, read from its code: literals, strings and bytes, builtin calls, annotated types.

Each function takes a libcst expression of an analysed chunk and, where names
must be resolved through imports, the chunk's :class:`~perf_lsp.analysis.semantic.SemanticModel`.
"""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import dotted


def decorator_name(deco: cst.Decorator, ctx: SemanticModel) -> str | None:
    """The qualified name of a decorator (``@lru_cache(maxsize=8)`` -> ``functools.lru_cache``)."""
    expr = deco.decorator
    if isinstance(expr, cst.Call):
        expr = expr.func
    return ctx.qualified_name(expr) or dotted(expr)


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


def annotation_qualified_names(annotation: cst.BaseExpression, ctx: SemanticModel) -> set[str]:
    """The qualified names an annotation can stand for, through imports.

    ``SentenceTransformer``, ``"SentenceTransformer"``, ``Optional[SentenceTransformer]``,
    ``SentenceTransformer | None``, ``Union[...]`` and pydantic's ``SerializeAsAny[...]`` all give
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
            if head.rsplit(".", 1)[-1] in {"Optional", "Union", "Annotated", "SerializeAsAny"}:  # pydantic's is transparent
                elements = expr.slice[:1] if head.endswith("Annotated") else expr.slice
                for element in elements:
                    if isinstance(element.slice, cst.Index):
                        stack.append(element.slice.value)
        else:
            qn = ctx.qualified_name(expr)
            if qn:
                found.add(qn)
    return found


def is_builtin_call(call: cst.CSTNode, name: str, ctx: SemanticModel) -> bool:
    """``name(...)`` where ``name`` is the builtin: not imported, not bound at module level."""
    return (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Name)
        and call.func.value == name
        and ctx.resolve_dotted(name) is None
        and ctx.module_ctx.binding(name) is None
    )


def is_str_expression(expr: cst.BaseExpression, ctx: SemanticModel) -> bool:
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


def is_bytes_expression(expr: cst.BaseExpression, ctx: SemanticModel) -> bool:
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
