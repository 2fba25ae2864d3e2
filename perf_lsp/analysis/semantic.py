"""The semantic model of one chunk: its tree's parents, the enclosing scopes and loops, names through imports.

Built once per analysed chunk and shared by every rule (rules get it as their
context, :class:`perf_lsp.rules.base.SemanticModel` adds what is theirs); the
functions of :mod:`perf_lsp.analysis` take it to navigate the tree and to
remember per-function and per-loop facts (:meth:`SemanticModel.memo`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import libcst as cst

from perf_lsp.analysis.imports import imports_in
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.analysis.tree import COMPREHENSIONS, FUNCTION_BOUNDARIES, children, dotted

ResultT = TypeVar("ResultT")


class SemanticModel:
    """Facts about one chunk that every rule shares: parents, enclosing scopes and loops, qualified names.

    ``module`` is the chunk's libcst tree, ``text`` its source, ``module_ctx`` the
    module's facts. The parents are recorded in one table: by the one traversal of
    the chunk (:meth:`perf_lsp.rules.base.RuleContext.run` records each node's parent
    as it goes), and, for code a rule looks at ahead of the traversal (a whole
    function's body), by :meth:`record_parents`; navigation is valid for the nodes
    recorded. ``qualified_name`` resolves through
    imports only (the chunk's own, then the module's): what a value is at run time
    is asked of jedi separately, through :class:`perf_lsp.analysis.resolve.TypeQuestion`.
    """

    def __init__(
        self, module: cst.Module, module_ctx: ModuleContext, text: str, local_imports: dict[str, str] | None = None
    ) -> None:
        self.module = module
        self.module_ctx = module_ctx
        self.text = text
        self._parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._local_imports: dict[str, str] | None = local_imports
        self._memo: dict[tuple, object] = {}
        self._recorded: set[cst.CSTNode] = set()

    def memo(self, compute: Callable[..., ResultT], *args: object) -> ResultT:
        """``compute(*args)``, computed once per chunk analysis and shared by every rule and call site.

        For per-function and per-loop facts (the names a loop body binds, a function's
        local values) asked once per call inside them: computing them once per node
        keeps a rule's cost linear in the size of a function instead of quadratic.
        ``args`` are hashable (libcst nodes hash by identity, and their trees are
        immutable); ``compute`` must depend only on ``args`` and this chunk. The
        result is shared: callers must not mutate it.
        """
        key = (compute, *args)
        memo = self._memo
        if key in memo:
            return memo[key]  # type: ignore[return-value]
        value = memo[key] = compute(*args)
        return value

    def forget_memo(self) -> None:
        """Drop what :meth:`memo` computed, once the rules have run over the chunk.

        Memoised values may refer back to this model (a receiver resolver holds it),
        which would make every analysed chunk garbage that only the cycle collector
        frees. Fixes built later compute again what they ask for.
        """
        self._memo = {}

    # -- tree navigation -------------------------------------------------
    def record_parents(self, root: cst.CSTNode) -> dict[cst.CSTNode, cst.CSTNode]:
        """Record the parent of every node under ``root`` (once per root) in the chunk's one parent table; return it.

        For a rule that looks past the node being visited (the rest of a function's
        body): the traversal records parents only up to where it is. The table is
        shared and grows; lookups are valid for ``root``'s subtree and every node the
        traversal has reached. Do not mutate it.
        """
        parents = self._parents
        if root in self._recorded:
            return parents
        self._recorded.add(root)
        stack = [root]
        while stack:
            node = stack.pop()
            for child in children(node):
                parents[child] = node
                stack.append(child)
        return parents

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The node's parent, or None for the module."""
        return self._parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """Parents of ``node``, nearest first, up to the module."""
        current = self._parents.get(node)
        while current is not None:
            yield current
            current = self._parents.get(current)

    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        """The nearest ``def`` around ``node`` (lambdas and classes stop the search)."""
        return self._nearest(node, cst.FunctionDef, (cst.Lambda, cst.ClassDef))

    def enclosing_class(self, func: cst.FunctionDef) -> cst.ClassDef | None:
        """The class whose body defines ``func`` directly, or None."""
        return self._nearest(func, cst.ClassDef, (cst.FunctionDef, cst.Lambda))

    def _nearest(self, node: cst.CSTNode, kind: type, stops: tuple[type, ...]):
        """The nearest ancestor of ``node`` of type ``kind``, unless one of type ``stops`` comes first."""
        for anc in self.ancestors(node):
            if isinstance(anc, kind):
                return anc
            if isinstance(anc, stops):
                return None
        return None

    def repeating_loop(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The innermost loop that runs ``node`` once per iteration, within the same function.

        A ``for`` loop's body (not its iterable or ``else``), a ``while`` loop's test
        and body, and a comprehension's element, conditions and inner iterables
        count; the outermost iterable of a comprehension runs once and does not.
        Returns the ``For``/``While``/comprehension node, or None.
        """
        child = node
        for anc in self.ancestors(node):
            if isinstance(anc, FUNCTION_BOUNDARIES):
                return None
            if isinstance(anc, cst.For) and child is anc.body:
                return anc
            if isinstance(anc, cst.While) and (child is anc.body or child is anc.test):
                return anc
            if isinstance(anc, COMPREHENSIONS):
                outer = anc.for_in
                if not (child is outer and _only_in_first_iter(node, outer, self)):
                    return anc
            child = anc
        return None

    def code(self, node: cst.CSTNode) -> str:
        """The source text of ``node`` as the chunk writes it."""
        return self.module.code_for_node(node)

    # -- names -----------------------------------------------------------
    @property
    def local_imports(self) -> dict[str, str]:
        """Names bound by ``import`` statements anywhere inside the chunk."""
        if self._local_imports is None:
            self._local_imports = imports_in(self.text)
        return self._local_imports

    def resolve_dotted(self, name: str) -> str | None:
        """Resolve a dotted name through the chunk's and the module's imports."""
        head, _, rest = name.partition(".")
        qn = self.local_imports.get(head) or self.module_ctx.imported(head)
        if qn is None:
            return None
        return f"{qn}.{rest}" if rest else qn

    def qualified_name(self, expr: cst.BaseExpression) -> str | None:
        """The qualified name an expression refers to through imports (``rx.sub`` -> ``re.sub``), or None."""
        name = dotted(expr)
        return self.resolve_dotted(name) if name else None


def _only_in_first_iter(node: cst.CSTNode, comp_for: cst.CompFor, ctx: SemanticModel) -> bool:
    """True when ``node`` sits in the outermost iterable of a comprehension (evaluated once)."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is comp_for:
            return child is comp_for.iter
        child = anc
    return False


def assigned_target(call: cst.CSTNode, ctx: SemanticModel) -> cst.BaseAssignTargetExpression | None:
    """The single target of ``target = call`` when ``call`` is the whole right-hand side."""
    parent = ctx.parent(call)
    if isinstance(parent, cst.Assign) and parent.value is call and len(parent.targets) == 1:
        return parent.targets[0].target
    if isinstance(parent, cst.AnnAssign) and parent.value is call:
        return parent.target
    return None


def runs_before(stmt: cst.CSTNode, node: cst.CSTNode, ctx: SemanticModel, stop: cst.CSTNode) -> bool:
    """True when the statement ``stmt`` always runs before ``node`` is reached, within ``stop``.

    That is: ``stmt`` is an earlier statement of a block that encloses ``node``
    (the block of ``node`` itself or of one of its ancestors up to ``stop``).
    """
    child = node
    for anc in ctx.ancestors(node):
        if isinstance(anc, (cst.IndentedBlock, cst.Module)):
            index_child = index_stmt = None
            for index, item in enumerate(anc.body):
                if item is child:
                    index_child = index
                if item is stmt:
                    index_stmt = index
            if index_child is not None and index_stmt is not None:
                return index_stmt < index_child
        if anc is stop:
            return False
        child = anc
    return False


def enclosing_functions(node: cst.CSTNode, ctx: SemanticModel) -> Iterator[cst.FunctionDef]:
    """Every ``def`` around ``node``, nearest first (through nested functions, not through classes)."""
    for anc in ctx.ancestors(node):
        if isinstance(anc, cst.FunctionDef):
            yield anc
        elif isinstance(anc, cst.ClassDef):
            return
