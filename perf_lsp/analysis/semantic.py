"""The semantic model of one chunk: its tree's parents, the enclosing scopes and loops, names through imports.

Built once per analysed chunk and shared by every rule (rules get it as their
context, :class:`perf_lsp.rules.base.RuleContext` adds what is theirs); the
functions of :mod:`perf_lsp.analysis` take it to navigate the tree and to
remember per-function and per-loop facts (:meth:`SemanticModel.memo`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import libcst as cst

from perf_lsp.analysis.module import ModuleContext, imports_in
from perf_lsp.analysis.tree import COMPREHENSIONS, FUNCTION_BOUNDARIES, dotted

ResultT = TypeVar("ResultT")


ResultT = TypeVar("ResultT")


class RuleContext:
    """Facts about one chunk that rules share: parents, positions and qualified names.

    Built once per analysed chunk. ``qualified_name`` resolves through imports
    (the chunk's own, then the module's); it is the seam where jedi-based type
    resolution will plug in.
    """

    def __init__(self, module: cst.Module, module_ctx: ModuleContext, settings: Settings, text: str) -> None:
        self.module = module
        self.module_ctx = module_ctx
        self.settings = settings
        self.text = text
        self._parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._positions = None
        self._local_imports: dict[str, str] | None = None
        self._memo: dict[tuple, object] = {}

    def run(self, rules: list["Rule"]) -> None:
        """Run ``rules`` over the chunk in one traversal, recording every node's parent on the way.

        The walk reads each node's dataclass fields directly and skips punctuation
        and whitespace (see :func:`children`; about twice as fast as libcst's
        visitor machinery on a 2,400-line module), and calls the rules'
        ``visit_<Node>`` before and ``leave_<Node>`` after the node's children.
        Positions are computed only if a rule reports.
        """
        visits: dict[type, list] = {}
        leaves: dict[type, list] = {}
        for rule in rules:
            for name, method in rule.get_visitors().items():
                kind, _, type_name = name.partition("_")
                node_type = getattr(cst, type_name, None)
                if node_type is None:
                    continue
                (visits if kind == "visit" else leaves).setdefault(node_type, []).append(method)
        parents = self._parents
        stack: list[tuple[cst.CSTNode, bool]] = [(self.module, False)]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                for method in leaves.get(type(node), ()):
                    method(node)
                continue
            for method in visits.get(type(node), ()):
                method(node)
            stack.append((node, True))
            children_ = children(node)
            for child in children_:
                parents[child] = node
            stack.extend((child, False) for child in reversed(children_))

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

    # -- tree navigation -------------------------------------------------
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
        for anc in self.ancestors(node):
            if isinstance(anc, cst.FunctionDef):
                return anc
            if isinstance(anc, (cst.Lambda, cst.ClassDef)):
                return None
        return None

    def enclosing_class(self, func: cst.FunctionDef) -> cst.ClassDef | None:
        """The class whose body defines ``func`` directly, or None."""
        for anc in self.ancestors(func):
            if isinstance(anc, cst.ClassDef):
                return anc
            if isinstance(anc, (cst.FunctionDef, cst.Lambda)):
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

    def range_of(self, node: cst.CSTNode, end_node: cst.CSTNode | None = None) -> Range:
        """Chunk-relative range from ``node``'s start to ``end_node``'s (or its own) end."""
        if self._positions is None:
            self._positions = ChunkPositions(self.module, self.text, self._parents)
        start = self._positions[node].start
        end = self._positions[end_node or node].end
        return Range(Position(start.line, start.column), Position(end.line, end.column))

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


def _only_in_first_iter(node: cst.CSTNode, comp_for: cst.CompFor, ctx: RuleContext) -> bool:
    """True when ``node`` sits in the outermost iterable of a comprehension (evaluated once)."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is comp_for:
            return child is comp_for.iter
        child = anc
    return False
