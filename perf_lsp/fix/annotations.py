"""Annotations a fix writes in the style the file and its project already use.

A parameter whose default becomes ``None`` gets ``X | None`` or ``Optional[X]``: ``X | None``
is evaluated when the ``def`` runs and raises ``TypeError`` before Python 3.10, unless the
module has ``from __future__ import annotations``.
"""

from __future__ import annotations

import ast

from perf_lsp.analysis.module import ModuleContext


def union_none_allowed(module_ctx: ModuleContext, python_floor: tuple[int, int] | None) -> bool:
    """Whether a fix may write ``X | None`` in an annotation of this module.

    Yes when annotations are not evaluated (``from __future__ import annotations``), when the
    project supports no Python older than 3.10 (``python_floor``, from ``requires-python``), or
    when the module already writes ``A | B`` in an annotation that runs (it needs 3.10 itself).
    Otherwise no: the project may run on an older Python, or nothing says which.
    """
    if any(qn == "__future__.annotations" for _, qn in module_ctx.imports):
        return True
    if python_floor is not None and python_floor >= (3, 10):
        return True
    return _uses_union_annotations(module_ctx)


def _uses_union_annotations(module_ctx: ModuleContext) -> bool:
    cache = module_ctx._lazy
    found = cache.get("_union_annotations")
    if found is None:
        found = cache["_union_annotations"] = _scan(module_ctx.body)
    return found


def _scan(body) -> bool:
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        annotations: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            annotations = [a.annotation for a in every if a is not None] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        for annotation in annotations:
            if annotation is not None and any(
                isinstance(part, ast.BinOp) and isinstance(part.op, ast.BitOr) for part in ast.walk(annotation)
            ):
                return True
        stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return False
