"""What a fix builder may use and add: free names, imports, module-level definitions.

A rule's fix is a builder (:data:`FixBuilder`) that gets a :class:`FixContext` and
returns the rewritten chunk; the engine places the definitions and imports it
queued. :class:`FixRound` carries what the other fixes of one fix-all batch add.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from perf_lsp.analysis.bindings import BUILTINS, DocumentNames
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.analysis.tree import children

FixBuilder = Callable[["FixContext"], "cst.Module | None"]
"""Builds one fix: returns the rewritten chunk (or None when the fix cannot apply),
and may add module-level definitions and imports through the FixContext."""


@dataclass
class FixRound:
    """What the fixes already chosen for one batch (a fix-all round) add, so the next fix fits in.

    ``names``: module-level names they define (definitions and import aliases);
    ``scoped``: names they bind inside a function or comprehension, by scope (the
    ``id`` of its libcst node; all fixes of a round come from one analysis, so the
    nodes are shared); ``imports``: module -> the name they import it as (a later
    fix imports it the same way, and the engine adds the line once); ``defined``:
    keys of the module-level definitions they add (:meth:`FixContext.define`).
    """

    names: set[str] = field(default_factory=set)
    scoped: dict[int, set[str]] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    defined: set = field(default_factory=set)
    _all_scoped: set[str] = field(default_factory=set)

    def add(self, fctx: "FixContext") -> None:
        """Record what the fix built with ``fctx`` adds (it goes into the batch)."""
        self.names |= fctx.module_names
        for key, made in fctx.scoped_names.items():
            self.scoped.setdefault(key, set()).update(made)
            self._all_scoped |= made
        for module, alias in fctx.imported.items():
            self.imports.setdefault(module, alias)
        self.defined |= fctx.defines

    def clashes(self, name: str, scope: int | None = None) -> bool:
        """Whether the batch already uses ``name``: at module level, or bound in ``scope`` (a scope's
        ``id``; None: in any scope)."""
        if name in self.names:
            return True
        if scope is None:
            return name in self._all_scoped
        return name in self.scoped.get(scope, ())


class FixDeclined(Exception):
    """Raised by :class:`FixContext` when the fix cannot be written as asked (it would need an
    optional package imported unconditionally). ``Analysis.plan`` treats any exception from a fix
    builder as the builder declining (returning None); the rule should also leave such a fix out when
    it reports (see :func:`imported_only_optionally`), so that no offered fix declines."""


def runtime_alias(module_ctx: ModuleContext, qualified: str) -> str | None:
    """A module-level name that an import binds to exactly ``qualified`` whenever the module runs, or None.

    Names bound only by imports under a top-level ``try``/``if``
    (``ModuleContext.guarded_imports``: an optional dependency, may be None; ``if
    TYPE_CHECKING:``, unbound at run time) do not count.
    """
    guarded = module_ctx.guarded_imports
    for local, qn in module_ctx.imports:
        if qn == qualified and local not in guarded:
            return local
    return None


def imported_only_optionally(module_ctx: ModuleContext, module: str) -> bool:
    """True when ``module``'s top-level package is outside the standard library and the module imports it
    (anything from it) only under a top-level ``try``/``if``, or only inside a ``try`` that catches
    ``ImportError`` anywhere in the module (a function's ``try: import orjson`` / ``except ImportError:``).

    Such a package is an optional dependency (or one kept out of run time with ``if
    TYPE_CHECKING:``): a fix must not add an unconditional ``import`` of it, which would stop
    the module from importing where it is missing. A standard-library module is always there.
    An import of the package outside such a ``try`` (a plain ``import orjson`` in a method)
    says the module expects it to be installed.
    """
    package = module.split(".", 1)[0]
    if not package or package in sys.stdlib_module_names:
        return False
    guarded = module_ctx.guarded_imports
    found = False
    for local, qn in module_ctx.imports:
        if qn.split(".", 1)[0] == package:
            if local not in guarded:
                return False
            found = True
    if found:
        return True
    optional, plain = _import_sites(module_ctx).get(package, (False, False))
    return optional and not plain


_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for kind in kinds:
        if kind is None:
            return True  # a bare ``except:``
        name = kind.attr if isinstance(kind, ast.Attribute) else getattr(kind, "id", None)
        if name in _IMPORT_ERRORS:
            return True
    return False


def _import_sites(module_ctx: ModuleContext) -> dict[str, tuple[bool, bool]]:
    """package -> (imported inside a ``try`` that catches ``ImportError``, imported elsewhere outside any
    ``if``), over the whole module (``module_ctx.body``; empty when the context has none). Computed once
    per context."""
    cache = module_ctx._lazy
    found = cache.get("_import_sites")
    if found is not None:
        return found
    sites: dict[str, tuple[bool, bool]] = {}
    stack: list[tuple[ast.AST, bool, bool]] = [(stmt, False, False) for stmt in module_ctx.body]
    while stack:
        node, in_try, in_if = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom):
                packages = [node.module.split(".", 1)[0]] if node.module and not node.level else []
            else:
                packages = [alias.name.split(".", 1)[0] for alias in node.names]
            for package in packages:
                optional, plain = sites.get(package, (False, False))
                sites[package] = (optional or in_try, plain or not (in_try or in_if))
            continue
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            guarded = in_try or any(_catches_import_error(h) for h in node.handlers)
            stack.extend((child, guarded, in_if) for child in node.body)
            stack.extend((child, in_try, in_if) for part in (node.handlers, node.orelse, node.finalbody) for child in part)
            continue
        if isinstance(node, ast.If):
            stack.extend((child, in_try, True) for child in (*node.body, *node.orelse))
            continue
        stack.extend((child, in_try, in_if) for child in ast.iter_child_nodes(node) if isinstance(child, (ast.stmt, ast.excepthandler)))
    cache["_import_sites"] = sites
    return sites


@dataclass
class FixContext:
    """What a fix builder may use and add: free names, imports, module-level definitions.

    ``taken`` holds every name a new module-level name could clash with: the
    document's real bindings in any scope, the names it reads anywhere, builtins
    (words in strings, comments and attribute names do not count; see
    :mod:`perf_lsp.analysis.bindings`). ``local_imports`` are the chunk's own imports (a
    chunk that does ``import re`` inside a function may still get ``import re`` at
    module level). ``names`` (the document's :class:`~perf_lsp.analysis.bindings.DocumentNames`)
    and ``index`` (the chunk's index) let a fix find existing module-level
    definitions; ``round`` holds what the other fixes of the same batch add.
    Definitions are inserted before the chunk's statement (after the last
    module-level binding of a name they read at import time); imports after the
    module's imports. Both are libcst nodes, rendered with the chunk's own
    indentation and newline.
    """

    module_ctx: ModuleContext
    chunk: cst.Module
    taken: set[str]
    local_imports: dict[str, str] = field(default_factory=dict)
    definitions: list[cst.BaseStatement] = field(default_factory=list)
    imports: list[cst.SimpleStatementLine] = field(default_factory=list)
    names: "DocumentNames | None" = None
    index: int = -1
    round: FixRound | None = None
    defines: set = field(default_factory=set)
    """Keys of the module-level definitions this fix adds (see :meth:`define`)."""
    module_names: set[str] = field(default_factory=set)
    """Module-level names this fix defines (definitions and import aliases)."""
    scoped_names: dict[int, set[str]] = field(default_factory=dict)
    """Names this fix binds in a scope, by the scope node's ``id``."""
    imported: dict[str, str] = field(default_factory=dict)
    """module -> the name this fix imports it as."""

    def _free(self, name: str, scope: int | None = None) -> bool:
        if name in _KEYWORDS or name in self.module_names:
            return False
        if any(name in made for made in self.scoped_names.values()):
            return False
        return self.round is None or not self.round.clashes(name, scope)

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``... whichever is free at module level; reserves it."""
        name, n = base, 2
        while name in self.taken or not self._free(name):
            name, n = f"{base}_{n}", n + 1
        self.module_names.add(name)
        return name

    def local_name(self, base: str, scope: cst.CSTNode | None) -> str:
        """A name for a variable that lives only in ``scope`` (a function or a comprehension).

        It must not clash with any name ``scope`` binds or reads (which covers the
        globals it reads; strings, comments, attribute and keyword names do not
        count), a builtin, a name this fix already made, or a name another fix of
        the batch binds in the same scope or defines at module level. Outside a
        function (``scope`` None) the name must be free in the whole document.
        """
        if scope is None:
            return self.unique_name(base)
        used = scope_names(scope)
        key = id(scope)
        name, n = base, 2
        while name in used or name in BUILTINS or not self._free(name, key):
            name, n = f"{base}_{n}", n + 1
        self.scoped_names.setdefault(key, set()).add(name)
        return name

    def define(self, key: object) -> None:
        """Declare that this fix adds the module-level definition identified by ``key``.

        ``key`` is any hashable value naming what the definition is (``("factory",
        "redis.Redis")``); a fix-all round takes at most one fix per key, so a second
        fix for the same key waits one round and then reuses the first one's
        definition instead of adding a copy.
        """
        self.defines.add(key)

    def module_assignments(self) -> dict[str, ast.expr]:
        """Module-level ``NAME = value`` statements (as :mod:`ast` values) this chunk can use as they are.

        Only names bound once in the whole document, by a statement before this
        chunk, and not bound inside the chunk.
        """
        if self.names is None or self.index < 0:
            return {}
        return self.names.assignments_before(self.index)

    def module_ref(self, module: str) -> str:
        """The module-level name for ``module``, adding ``import module`` when it is not imported.

        A name bound only by a guarded import (:func:`runtime_alias`) is not used. Raises
        :class:`FixDeclined` when ``module`` would have to be imported but its package is
        imported only optionally (:func:`imported_only_optionally`).
        """
        alias = runtime_alias(self.module_ctx, module) or self.imported.get(module)
        if alias:
            return alias
        if imported_only_optionally(self.module_ctx, module):
            raise FixDeclined(f"{module} is imported only optionally")
        shared = self.round.imports.get(module) if self.round is not None else None
        if shared:  # another fix of the batch imports it: the same line, added once
            alias = shared
        else:
            head = module.split(".", 1)[0]
            if "." not in module and self._import_free(head, module):
                alias = module
                self.module_names.add(alias)
            else:
                alias = self.unique_name("_" + module.replace(".", "_"))
        stmt = f"import {module}" if alias == module else f"import {module} as {alias}"
        self.imported[module] = alias
        self.imports.append(self.parse_statement(stmt))
        return alias

    def _import_free(self, head: str, module: str) -> bool:
        if not self._free(head):
            return False
        if self.names is None:
            return head not in self.taken or self.local_imports.get(head) == module
        return self.names.import_is_free(head, module)

    def name_ref(self, module: str, name: str) -> str:
        """An expression for ``module.name`` at module level (reusing ``from module import name`` unless
        it is guarded, see :meth:`module_ref`, which it calls otherwise: raises :class:`FixDeclined`)."""
        alias = runtime_alias(self.module_ctx, f"{module}.{name}")
        if alias:
            return alias
        return f"{self.module_ref(module)}.{name}"

    def from_ref(self, module: str, name: str) -> str:
        """A module-level name for ``module.name``, adding ``from module import name`` when that name is
        free in the document (else as :meth:`name_ref`: ``module.name`` through ``import module``).

        For names written bare in the file's style (``Optional``); the line is added once per batch.
        Raises :class:`FixDeclined` as :meth:`module_ref` does."""
        key = f"{module}.{name}"
        alias = runtime_alias(self.module_ctx, key) or self.imported.get(key)
        if alias:
            return alias
        if imported_only_optionally(self.module_ctx, module):
            raise FixDeclined(f"{module} is imported only optionally")
        shared = self.round.imports.get(key) if self.round is not None else None
        if shared is None and (name in self.taken or not self._free(name)):
            return self.name_ref(module, name)
        if shared is None:
            self.module_names.add(name)
        self.imported[key] = name
        self.imports.append(self.parse_statement(f"from {module} import {name}"))
        return name

    def parse_statement(self, code: str) -> cst.BaseStatement:
        """Parse ``code`` with the chunk's parser config (its newline and indentation)."""
        return cst.parse_statement(code, config=self.chunk.config_for_parsing)

    def parse_expression(self, code: str) -> cst.BaseExpression:
        """Parse an expression with the chunk's parser config."""
        return cst.parse_expression(code, config=self.chunk.config_for_parsing)

    def add_definition(self, stmt: cst.BaseStatement | str) -> None:
        """Queue a module-level statement to insert before the chunk."""
        self.definitions.append(self.parse_statement(stmt) if isinstance(stmt, str) else stmt)


def scope_names(node: cst.CSTNode) -> set[str]:
    """Every name ``node`` binds or reads: ``Name`` nodes, except attribute and keyword-argument names.

    Strings and comments hold no ``Name`` nodes, so their words never count.
    """
    found: set[str] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is cst.Name:
            found.add(current.value)
        elif kind is cst.Attribute:
            stack.append(current.value)
        elif kind is cst.Arg:
            stack.append(current.value)
        else:
            stack.extend(children(current))
    return found


_KEYWORDS = frozenset(__import__("keyword").kwlist) | {"match", "case", "type", "_"}
