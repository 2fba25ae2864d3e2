"""Rewrites several rules' fixes share: a cached module-level factory in place of a constructor call
(PFL101-PFL103), a blocking call run in a worker thread with ``asyncio.to_thread`` (PFL303, PFL304).

Each returns a fix builder (:data:`perf_lsp.fix.context.FixBuilder`).
"""

from __future__ import annotations

import libcst as cst

from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import COMPREHENSIONS
from perf_lsp.fix.codemod import replace_node
from perf_lsp.fix.context import FixContext


def local_import_line(callee: str, ctx: SemanticModel) -> str | None:
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


def cached_factory_fix(ctx: SemanticModel, node: cst.Call, callee: str, qualified: str, factory_name: str):
    """PFL101's codemod as a fix builder: ``Callee(args)`` -> ``_factory(args)`` with a cached factory.

    Adds (once per module: an existing ``functools.cache``/``lru_cache`` factory of
    ``qualified`` is reused, one that imports its callee itself included, and a fix-all
    round adds at most one per callee) a module-level ``@functools.cache def
    <factory_name>(*args, **kwargs): return <callee>(*args, **kwargs)``, importing
    the callee inside it when the chunk imported it locally, and calls it instead.
    ``callee`` must be a dotted name valid at module level or through that import.
    """
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


# -- codemods ----------------------------------------------------------------
def statement_level(call: cst.Call, ctx: SemanticModel) -> bool:
    """True when ``await`` may replace ``call`` where it is: inside the ``async def`` itself,
    not in a comprehension, lambda or nested function."""
    for anc in ctx.ancestors(call):
        if isinstance(anc, cst.FunctionDef):
            return anc.asynchronous is not None
        if isinstance(anc, (cst.Lambda, cst.ClassDef, *COMPREHENSIONS)):
            return False
    return False


def to_thread_fix(call: cst.Call, ctx: SemanticModel):
    """``f(a, k=v)`` -> ``await asyncio.to_thread(f, a, k=v)``, parenthesised when an attribute,
    subscript or call follows; None when the call is not directly in the ``async def``."""
    if not statement_level(call, ctx):
        return None
    parent = ctx.parent(call)
    wrap = (
        (isinstance(parent, cst.Attribute) and parent.value is call)
        or (isinstance(parent, cst.Subscript) and parent.value is call)
        or (isinstance(parent, cst.Call) and parent.func is call)
    )

    def build(fctx: FixContext) -> cst.Module | None:
        to_thread = fctx.parse_expression(fctx.name_ref("asyncio", "to_thread"))
        func = call.func
        if isinstance(func, (cst.Await, cst.Lambda, cst.IfExp, cst.NamedExpr)) and not func.lpar:
            func = func.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        before = call.whitespace_before_args
        if not call.args:
            args = [cst.Arg(func)]
        elif isinstance(before, cst.ParenthesizedWhitespace):  # one argument per line: the callable gets its own
            args = [cst.Arg(func, comma=cst.Comma(whitespace_after=before))]
        else:
            args = [cst.Arg(func, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))]
        args.extend(call.args)
        new: cst.BaseExpression = cst.Await(
            cst.Call(to_thread, args, lpar=[], rpar=[], whitespace_before_args=before),
            lpar=[cst.LeftParen()] if wrap else call.lpar,
            rpar=[cst.RightParen()] if wrap else call.rpar,
        )
        return replace_node(fctx.chunk, call, new)

    return build
