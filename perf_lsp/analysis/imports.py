"""Imports and dotted names, from :mod:`ast`: which qualified name a local name or a dotted callee stands for.

``import numpy as np`` binds ``np`` to ``numpy``; ``from a import b as c`` binds
``c`` to ``a.b``; through those, ``np.dot`` resolves to ``numpy.dot``.
"""

from __future__ import annotations

import ast


def import_bindings(node: ast.stmt) -> list[tuple[str, str]]:
    """The (local name, qualified name) pairs an ``import`` statement binds.

    ``import a.b`` binds ``a`` to ``a``; ``import a.b as c`` binds ``c`` to ``a.b``;
    ``from .m import x`` binds ``x`` to ``.m.x``. Star imports bind nothing.
    """
    out: list[tuple[str, str]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, alias.name))
            else:
                head = alias.name.split(".", 1)[0]
                out.append((head, head))
    elif isinstance(node, ast.ImportFrom):
        base = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                continue
            qn = f"{base}.{alias.name}" if base and not base.endswith(".") else base + alias.name
            out.append((alias.asname or alias.name, qn))
    return out


def imports_in(text: str) -> dict[str, str]:
    """Names bound by ``import`` statements anywhere in ``text`` (which must parse; {} if not)."""
    if "import" not in text:
        return {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # RecursionError: too deeply nested
        return {}
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(import_bindings(node))
    return found


def dotted_name(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def resolve_dotted(dotted: str, imports: dict[str, str]) -> str | None:
    """Resolve ``rx.compile`` to ``re.compile`` through ``imports``; None if the head is not imported."""
    head, _, rest = dotted.partition(".")
    qn = imports.get(head)
    if qn is None:
        return None
    return f"{qn}.{rest}" if rest else qn
