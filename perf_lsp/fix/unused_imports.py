"""Removing the imports a fix made unused, and only those.

A fix that rewrites the last use of a name leaves its import behind (``import json``
after every ``json.dumps`` became ``orjson.dumps``; a function's own ``import re``
after its pattern moved to a module-level constant). The engine removes such an
import when the name was read before the fix and is read nowhere after it:

- a module-level import: the name is read nowhere in the document after the fix
  (definitions the fix adds included; string annotations count as reads);
- an import inside a function: the name is read nowhere in that function (nested
  functions included) after the fix, and was read there before. An annotation of a
  local variable (``model: Model = ...``) is never evaluated (PEP 526), so it does not
  keep the import when the module binds the name too (``if TYPE_CHECKING: from m
  import Model``), where a type checker finds it.

Never removed: an import that was already unused, one inside a ``try`` (its
``except ImportError`` branch may matter), a name listed in ``__all__``, one that
``global``/``nonlocal`` names, anything in a document or function that reads names
dynamically (``eval``, ``exec``, ``globals()``, ``locals()``, ``vars()``), and any
module-level import when a statement of the document does not parse or the document is a
package's ``__init__.py`` (``Settings.package_init``: its imports may be re-exports, even
without ``__all__``). Only the alias
goes from a multi-name import; an emptied block gets ``pass``; comment lines above a
removed import stay, on the next statement.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst

from perf_lsp.analysis.bindings import DYNAMIC, IDENTIFIER, ChunkNames, DocumentNames, parse_names

Path = tuple[tuple[str, int], ...]
"""A scope inside a chunk: the (name, n-th definition of that name) of each enclosing def/class; () is module level."""


@dataclass
class _Scope:
    reads: Counter = field(default_factory=Counter)
    local_annotations: Counter = field(default_factory=Counter)  # reads in annotations of local variables
    imports: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)  # global / nonlocal
    dynamic: bool = False


def function_scopes(nodes: Sequence[ast.stmt]) -> dict[Path, _Scope]:
    """For each function of a chunk (by path): what its subtree reads and what its own imports bind."""
    scopes: dict[Path, _Scope] = {}

    def visit(
        node: ast.AST,
        path: Path,
        counts: dict[str, int],
        owners: list[_Scope],
        annotation: bool = False,
        in_function: bool = False,
        local_annotation: bool = False,
    ):
        kind = type(node)
        if kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            nth = counts.get(node.name, 0)
            counts[node.name] = nth + 1
            for deco in node.decorator_list:
                visit(deco, path, counts, owners)
            inner = (*path, (node.name, nth))
            if kind is ast.ClassDef:
                for child in (*node.bases, *node.keywords):
                    visit(child, path, counts, owners)
                inner_counts: dict[str, int] = {}
                for stmt in node.body:
                    visit(stmt, inner, inner_counts, owners)  # a class body is no function scope
                return
            scope = scopes[inner] = _Scope()
            mine = [*owners, scope]
            args = node.args
            for arg in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg):
                if arg is not None and arg.annotation is not None:
                    visit(arg.annotation, path, counts, owners, True)
            for default in (*args.defaults, *args.kw_defaults):
                if default is not None:
                    visit(default, path, counts, owners)
            if node.returns is not None:
                visit(node.returns, path, counts, owners, True)
            inner_counts = {}
            for stmt in node.body:
                visit(stmt, inner, inner_counts, mine, in_function=True)
            return
        if kind is ast.Name:
            if isinstance(node.ctx, ast.Load):
                if local_annotation:  # never evaluated (PEP 526): read by type checkers only
                    owners[-1].local_annotations[node.id] += 1
                    return
                for owner in owners:
                    owner.reads[node.id] += 1
                    if node.id in DYNAMIC:
                        owner.dynamic = True
            return
        if kind is ast.Constant:
            if annotation and isinstance(node.value, str):  # ``"re.Pattern"``: a string annotation reads ``re``
                for word in IDENTIFIER.findall(node.value):
                    for owner in owners:
                        owner.reads[word] += 1
            return
        if kind in (ast.Import, ast.ImportFrom) and owners:
            for alias in node.names:
                owners[-1].imports.add(_alias_name(alias, kind is ast.Import))
            return
        if kind in (ast.Global, ast.Nonlocal) and owners:
            owners[-1].declared.update(node.names)
            return
        if kind is ast.AnnAssign:
            local = in_function and bool(owners) and isinstance(node.target, ast.Name)
            visit(node.annotation, path, counts, owners, True, in_function, local)
            for child in (node.target, node.value):
                if child is not None:
                    visit(child, path, counts, owners, in_function=in_function)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, path, counts, owners, annotation, in_function, local_annotation)

    counts: dict[str, int] = {}
    for stmt in nodes:
        visit(stmt, (), counts, [])
    return scopes


def _alias_name(alias: ast.alias, plain_import: bool) -> str:
    if alias.asname:
        return alias.asname
    return alias.name.split(".", 1)[0] if plain_import else alias.name


def unused_after(
    names: DocumentNames,
    old_nodes: Mapping[int, Sequence[ast.stmt]],
    new_texts: Mapping[int, str],
    added: Iterable[str],
    *,
    module_level: bool = True,
) -> dict[int, dict[Path, set[str]]] | None:
    """Which imports a change makes unused: chunk index -> scope path -> names to unbind.

    ``new_texts``: the changed chunks' new text (chunk index -> text); ``old_nodes``:
    their :mod:`ast` statements before; ``added``: code of the module-level
    statements the change inserts (definitions, imports); ``module_level`` False
    keeps every module-level import (a package's ``__init__.py``, whose imports may be
    re-exports), only imports inside functions go. Returns None when a new text does
    not parse.
    """
    try:
        new_names: dict[int, ChunkNames] = {}
        new_trees: dict[int, list[ast.stmt]] = {}
        for index, text in new_texts.items():
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                return None
            new_trees[index] = tree.body
            found = parse_names(text)
            if found is None:
                return None
            new_names[index] = found
        added_loads: Counter = Counter()
        added_dynamic = False
        for code in added:
            found = parse_names(code)
            if found is None:
                return None
            added_loads.update(found.loads)
            added_dynamic |= found.dynamic
        targets: dict[int, dict[Path, set[str]]] = {}
        decreased: set[str] = set()
        for index, new in new_names.items():
            old = names.chunks[index]
            decreased.update(name for name, count in old.loads.items() if new.loads[name] < count)
        if not decreased:
            return targets
        # module level: read nowhere after the change
        dynamic = names.dynamic or added_dynamic or any(n.dynamic for n in new_names.values())
        if module_level and names.complete and not dynamic:
            for name in decreased:
                if names.loads[name] == 0 or name in names.exported:
                    continue
                after = names.loads[name] + added_loads[name]
                for index, new in new_names.items():
                    after += new.loads[name] - names.chunks[index].loads[name]
                if after:
                    continue
                for index, chunk_names in enumerate(names.chunks):
                    current = new_names.get(index, chunk_names)
                    if name in current.module_bound and name in current.imports:
                        targets.setdefault(index, {}).setdefault((), set()).add(name)
        # function level: read nowhere in the function after the change, read there before
        for index, tree in new_trees.items():
            if not (decreased & new_names[index].local_bound):
                continue
            before = function_scopes(old_nodes[index])
            for path, scope in function_scopes(tree).items():
                old = before.get(path)
                if old is None or scope.dynamic or old.dynamic:
                    continue
                for name in scope.imports & old.imports & decreased:
                    if scope.reads[name] or not old.reads[name] or name in scope.declared:
                        continue
                    if scope.local_annotations[name] and not names.bound_at_module_level(name):
                        continue  # ``x: Model = ...`` still names it, and nothing else would for a type checker
                    targets.setdefault(index, {}).setdefault(path, set()).add(name)
        return targets
    except RecursionError:  # too deeply nested to follow: no import is removed
        return {}


class _Remover(cst.CSTTransformer):
    """Drops the aliases ``targets[path]`` from the imports directly in scope ``path`` (none inside a ``try``)."""

    def __init__(self, targets: Mapping[Path, set[str]]) -> None:
        super().__init__()
        self.targets = targets
        self.path: list[tuple[str, int]] = []
        self.counts: list[dict[str, int]] = [{}]
        self.in_try = 0
        self.removed = 0

    def _enter(self, name: str) -> None:
        nth = self.counts[-1].get(name, 0)
        self.counts[-1][name] = nth + 1
        self.path.append((name, nth))
        self.counts.append({})

    def _leave(self) -> None:
        self.path.pop()
        self.counts.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._enter(node.name.value)

    def leave_FunctionDef(self, original_node, updated_node):
        self._leave()
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._enter(node.name.value)

    def leave_ClassDef(self, original_node, updated_node):
        self._leave()
        return updated_node

    def visit_Try(self, node) -> None:
        self.in_try += 1

    def leave_Try(self, original_node, updated_node):
        self.in_try -= 1
        return updated_node

    visit_TryStar = visit_Try
    leave_TryStar = leave_Try

    def _names(self) -> set[str]:
        if self.in_try:
            return set()
        return self.targets.get(tuple(self.path), set())

    def _small(self, stmts: Sequence[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement] | None:
        """``stmts`` without the removed aliases; None when nothing changed."""
        names = self._names()
        if not names:
            return None
        out: list[cst.BaseSmallStatement] = []
        changed = False
        for stmt in stmts:
            if isinstance(stmt, (cst.Import, cst.ImportFrom)):
                reduced = _without(stmt, names)
                if reduced is not stmt:
                    changed = True
                    self.removed += 1
                if reduced is None:
                    continue
                stmt = reduced
            out.append(stmt)
        if not changed:
            return None
        if out and stmts and out[-1] is not stmts[-1]:
            out[-1] = out[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return out

    def _body(self, body: Sequence[cst.BaseStatement]) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]] | None:
        """The statements without the removed imports, and the comment lines left after the last one."""
        new: list[cst.BaseStatement] = []
        carry: list[cst.EmptyLine] = []
        changed = dropped = False
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                small = self._small(stmt.body)
                if small is not None:
                    changed = True
                    if not small:  # the whole line goes; the lines above it stay (comments at least)
                        above = stmt.leading_lines
                        carry.extend(above if new else [line for line in above if line.comment is not None])
                        dropped = True
                        continue
                    stmt = stmt.with_changes(body=small)
            if dropped:
                lines = list(stmt.leading_lines)
                if not new:  # no blank line at the top of a block
                    while lines and lines[0].comment is None:
                        lines.pop(0)
                elif carry and lines and carry[-1].comment is None and lines[0].comment is None:
                    carry.pop()  # one blank line where the import had one on each side
                stmt = stmt.with_changes(leading_lines=[*carry, *lines])
                carry = []
                dropped = False
            new.append(stmt)
        if not changed:
            return None
        return new, [line for line in carry if line.comment is not None]

    def leave_IndentedBlock(self, original_node, updated_node):
        result = self._body(updated_node.body)
        if result is None:
            return updated_node
        body, rest = result
        return updated_node.with_changes(body=body, footer=[*rest, *updated_node.footer])

    leave_Module = leave_IndentedBlock  # a module's body and footer work the same way

    def leave_SimpleStatementSuite(self, original_node, updated_node):
        small = self._small(updated_node.body)
        if small is None:
            return updated_node
        return updated_node.with_changes(body=small or [cst.Pass()])


def _bound(alias: cst.ImportAlias, plain_import: bool) -> str | None:
    if alias.asname is not None:
        name = alias.asname.name
        return name.value if isinstance(name, cst.Name) else None
    node = alias.name
    if plain_import:
        while isinstance(node, cst.Attribute):
            node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _without(stmt: cst.Import | cst.ImportFrom, names: set[str]):
    """``stmt`` without the aliases binding ``names`` (None when none is left; ``stmt`` itself when unchanged)."""
    if isinstance(stmt.names, cst.ImportStar):
        return stmt
    plain = isinstance(stmt, cst.Import)
    kept = [alias for alias in stmt.names if _bound(alias, plain) not in names]
    if len(kept) == len(stmt.names):
        return stmt
    if not kept:
        return None
    last = stmt.names[-1]
    if kept[-1] is not last:
        kept[-1] = kept[-1].with_changes(comma=last.comma)
    if isinstance(stmt, cst.ImportFrom) and stmt.lpar is None and len(kept) == 1:
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return stmt.with_changes(names=kept)


def remove_imports(text: str, targets: Mapping[Path, set[str]]) -> str | None:
    """``text`` (one chunk) without the import aliases ``targets`` names; None when it cannot (parse error)."""
    try:
        module = cst.parse_module(text)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None
    remover = _Remover(targets)
    try:
        new = module.visit(remover)
    except (RecursionError, ValueError, TypeError):
        return None
    if not new.body:  # the chunk was only the import: its lines go (comment lines above it stay)
        return "".join(new.code_for_node(line) for line in (*new.header, *new.footer))
    return new.code
