"""Calls that block the event loop's thread, and the module-level functions that make them.

:data:`BLOCKING_CALLS` maps the qualified name of a call that blocks on I/O or a
timer to what to use instead in ``async def``; :func:`module_blocking_helpers`
finds the module's own sync functions whose body makes one of those calls (a
:class:`~perf_lsp.analysis.module.ModuleContext` fact).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from perf_lsp.analysis import catalogs
from perf_lsp.analysis.imports import dotted_name, resolve_dotted
from perf_lsp.analysis.tree import node_memo

HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")


INSTEAD_SLEEP = "await asyncio.sleep(...)"


INSTEAD_HTTP = "an async client (httpx.AsyncClient, aiohttp) or await asyncio.to_thread(...)"


INSTEAD_FILE = "aiofiles, or await asyncio.to_thread(...) around the whole read"


INSTEAD_PROCESS = "asyncio.create_subprocess_exec(...), or await asyncio.to_thread(...)"


INSTEAD_DB = "an async driver (asyncpg, aiosqlite, aiomysql, psycopg's AsyncConnection), or await asyncio.to_thread(...)"


INSTEAD_SOCKET = "asyncio.open_connection(...), or await asyncio.to_thread(...) around the connection and its reads"


INSTEAD_HANDLE = (
    "an async client (httpx.AsyncClient, aiohttp), or await asyncio.to_thread(...) around the request "
    "and the reads of its response"
)


_INSTEAD = {
    "sleep": INSTEAD_SLEEP,
    "http": INSTEAD_HTTP,
    "handle": INSTEAD_HANDLE,
    "file": INSTEAD_FILE,
    "process": INSTEAD_PROCESS,
    "db": INSTEAD_DB,
    "socket": INSTEAD_SOCKET,
}
"""The suggestions a ``blocking`` catalog entry names by its ``instead`` key."""

BLOCKING_CALLS: dict[str, str] = {
    qn: _INSTEAD[instead] for qn, instead in catalogs.field_map("blocking", "call", "instead").items()
}
"""Qualified names of calls that block the calling thread on I/O or a timer, and
what to use instead in ``async def`` (the ``blocking`` catalog, ``perf_lsp/catalogs/blocking.toml``);
extended by ``extend-blocking-calls``."""


# -- module-level helpers (the hook for the module context) ----------------
def module_blocking_helpers(body: Iterable[ast.stmt], imports: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(name, label of the blocking call) for each module-level sync ``def`` whose own body blocks.

    Meant for :class:`perf_lsp.analysis.module.ModuleContext` (its lazy ``blocking_helpers``
    fact) so that PFL303 can report ``helper()`` called from an
    ``async def`` in another top-level statement. Judged with :mod:`ast` and the
    module's imports: the calls of :data:`BLOCKING_CALLS` (``open`` when the
    function does not rebind it). Generators and cached functions are left out.
    """
    out: dict[str, str] = {}
    imports = dict(imports)
    key = tuple(sorted(imports.items()))
    if len(_HELPER_CACHE) > 8192:
        _HELPER_CACHE.clear()
    for stmt in body:
        if not isinstance(stmt, ast.FunctionDef):
            continue
        # Rebuilt on every keystroke (the module context): unchanged statements keep their ast
        # nodes, so their answer is remembered per node and per set of imports.
        entry = _HELPER_CACHE.get(id(stmt))
        if entry is not None and entry[0] is stmt and entry[1] == key:
            label = entry[2]
        else:
            label = None
            if not any(_ast_cached(d, imports) for d in stmt.decorator_list):
                label = _ast_first_blocking(stmt, imports)
            _HELPER_CACHE[id(stmt)] = (stmt, key, label)
        if label is not None:
            out[stmt.name] = label
        else:
            out.pop(stmt.name, None)
    return tuple(sorted(out.items()))


_HELPER_CACHE: dict[int, tuple[ast.FunctionDef, tuple, str | None]] = node_memo()


def _ast_cached(deco: ast.expr, imports: Mapping[str, str]) -> bool:
    target = deco.func if isinstance(deco, ast.Call) else deco
    name = dotted_name(target) or ""
    qn = resolve_dotted(name, imports) or name
    return qn.rsplit(".", 1)[-1] in {"cache", "lru_cache", "cached", "alru_cache"}


def _ast_first_blocking(func: ast.FunctionDef, imports: Mapping[str, str]) -> str | None:
    stack: list[ast.AST] = list(reversed(func.body))
    first: str | None = None
    local_open = any(a.arg == "open" for a in ast.walk(func.args) if isinstance(a, ast.arg))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if first is None and isinstance(node, ast.Call):
            name = dotted_name(node.func)
            if name:
                qn = resolve_dotted(name, imports)
                if qn is None and name == "open" and not local_open:
                    first = "open()"
                elif qn in BLOCKING_CALLS:
                    first = qn
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return first
