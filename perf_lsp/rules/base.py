"""What every rule is built on: the rule class, the findings it reports and the per-chunk context.

A rule is one class in one file: a stable ``code``, a ``name``, a ``message``, a
``fix_title`` and ``fix_safety``, a docstring in Ruff's sections (What it does /
Why is this bad? / Example / Use instead / Fix safety / References) with the cost
figures measured by ``benchmarks/bench_costs.py`` (``docs/costs.md``) and links to the
libraries' documentation, and its codemod beside it as fix builders. Rules are libcst
:class:`~libcst.BatchableCSTVisitor` s: all rules that may apply to a chunk run in
one traversal of it.

Positions inside a chunk are chunk-relative (line 1 is the chunk's first line);
the engine shifts them into the document.
"""

from __future__ import annotations

import ast

import inspect
import re
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from perf_lsp.analysis.module import ModuleContext
from perf_lsp.analysis.resolve import TypeQuestion
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.summaries import ChunkSummary
from perf_lsp.analysis.tree import children
from perf_lsp.fix.context import FixBuilder
from perf_lsp.model import Applicability, FixOffer, Position, Range
from perf_lsp.rules.positions import ChunkPositions
from perf_lsp.settings import RuleOption, Settings


@dataclass
class Finding:
    """One report of a rule in a chunk; ``range`` is chunk-relative."""

    code: str
    name: str
    message: str
    range: Range
    offers: tuple[FixOffer, ...] = ()
    builders: tuple[FixBuilder, ...] = ()
    detail: str = ""
    questions: tuple[TypeQuestion, ...] = ()


class RuleContext(SemanticModel):
    """What a rule sees of one chunk: the chunk's :class:`~perf_lsp.analysis.semantic.SemanticModel`,
    the settings, and chunk-relative ranges of its nodes.

    Built once per analysed chunk; :meth:`run` runs the rules over it in one traversal.
    ``qualified_name`` resolves through imports and never asks jedi: where names cannot
    decide, a rule attaches a type question to its finding (:meth:`Rule.type_question`)
    and the engine answers it after the chunk is checked, when it has a resolver.
    ``local_imports``: the chunk's own imports when known (a unit of a split class
    resolves through its whole class's); default: the imports anywhere in ``text``.
    """

    def __init__(
        self,
        module: cst.Module,
        module_ctx: ModuleContext,
        settings: Settings,
        text: str,
        local_imports: dict[str, str] | None = None,
        tree: ast.Module | None = None,
    ) -> None:
        super().__init__(module, module_ctx, text, local_imports)
        self.settings = settings
        self._positions = None
        self._tree = tree  # the text's ast.parse, when the caller has it (saves the positions a parse)

    def run(self, rules: list["Rule"], skip: "set[cst.CSTNode] | frozenset[cst.CSTNode]" = frozenset()) -> None:
        """Run ``rules`` over the chunk in one traversal, recording every node's parent on the way.

        The walk reads each node's dataclass fields directly and skips punctuation
        and whitespace (see :func:`children`; about twice as fast as libcst's
        visitor machinery on a 2,400-line module), and calls the rules'
        ``visit_<Node>`` before and ``leave_<Node>`` after the node's children.
        Positions are computed only if a rule reports. ``skip``: statements whose
        subtrees the rules do not visit (a unit's sibling members, whose findings
        belong to their own units); their parents are recorded all the same, for the
        rules' queries into them.
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
            if node in skip:
                self.record_parents(node)
                continue
            for method in visits.get(type(node), ()):
                method(node)
            stack.append((node, True))
            children_ = children(node)
            for child in children_:
                parents[child] = node
            stack.extend((child, False) for child in reversed(children_))

    def range_of(self, node: cst.CSTNode, end_node: cst.CSTNode | None = None) -> Range:
        """Chunk-relative range from ``node``'s start to ``end_node``'s (or its own) end."""
        if self._positions is None:
            self._positions = ChunkPositions(self.module, self.text, self._parents, self._tree)
        start = self._positions[node].start
        end = self._positions[end_node or node].end
        return Range(Position(start.line, start.column), Position(end.line, end.column))


class Rule(cst.BatchableCSTVisitor):
    """Base class of every rule; subclasses set the class attributes and ``visit_*`` methods.

    ``triggers`` is a regular expression searched in a chunk's text before it is
    parsed: a chunk with no match cannot be reported by the rule and is skipped.
    Start it with literal text and put a word boundary after that as a look-behind
    (``await(?<=\\bawait)\\b``, not ``\\bawait\\b``): :mod:`re` then skips to each
    occurrence of the literal instead of trying every position (30x faster on a
    long statement without a match).
    """

    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    fix_title: ClassVar[str | None] = None
    fix_safety: ClassVar[Applicability | None] = None
    alt_fix_title: ClassVar[str | None] = None
    alt_fix_safety: ClassVar[Applicability | None] = None
    opt_in: ClassVar[bool] = False
    """Off unless ``select`` names the code (or ``ALL``): for rules whose findings depend on
    sizes the analysis cannot see, which the hand review found mostly small in real code."""
    hot_only: ClassVar[bool] = False
    """Reported only at sites the project index finds hot (a request or event handler, or a function one
    calls), not at sites of unknown frequency: for costs that matter only when paid per request. Without
    a project index the engine indexes the document alone (:mod:`perf_lsp.analysis.hotness`)."""
    default_severity: ClassVar[str] = "warning"
    """The severity (``error|warning|information|hint``) the editor shows unless ``severity`` sets one."""
    triggers: ClassVar[str] = ""
    options: ClassVar[tuple[RuleOption, ...]] = ()
    """The options this rule declares and reads (``settings.option(EXTEND_CLIENTS)``): its own
    keys, names, kinds and docs; settings read them for it (:class:`~perf_lsp.settings.RuleOption`)."""
    module_facts: ClassVar[tuple[str, ...]] = ()
    """The lazy :class:`~perf_lsp.analysis.module.ModuleContext` facts this rule reads
    (``blocking_helpers``, ``mutated_globals``; :data:`~perf_lsp.analysis.module.LAZY_FACTS`):
    they are computed only for statements this rule's :meth:`applies_to` and :meth:`wants`
    admit, and recorded with the statement's cached result, which is not reused once they
    change. :meth:`applies_to` never reads them; :meth:`wants` may read one of them only
    through :meth:`~perf_lsp.analysis.summaries.ChunkSummary.module_fact` (which records it),
    and last, when the statement's own code cannot decide."""
    _trigger_re: ClassVar[re.Pattern[str] | None] = None

    def __init__(self, ctx: RuleContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.findings: list[Finding] = []

    _visitor_names: ClassVar[dict[type, tuple[str, ...]]] = {}

    def get_visitors(self):
        """The ``visit_*``/``leave_*`` methods, listed once per class.

        libcst's default runs :func:`inspect.getmembers` on every instance, which
        cost more than parsing on real code; the list depends only on the class.
        """
        cls = type(self)
        names = Rule._visitor_names.get(cls)
        if names is None:
            names = tuple(
                name
                for name in dir(cls)
                if name.startswith(("visit_", "leave_"))
                and callable(getattr(cls, name))
                and not getattr(getattr(cls, name), "_is_no_op", False)
            )
            Rule._visitor_names[cls] = names
        return {name: getattr(self, name) for name in names}

    @classmethod
    def applies_to(cls, text: str, module_ctx: ModuleContext, settings: Settings) -> bool:
        """Cheap text test: can this chunk contain a finding of this rule?"""
        if cls._trigger_re is None or cls._trigger_re.pattern != cls.triggers:
            cls._trigger_re = re.compile(cls.triggers)
        return bool(cls._trigger_re.search(text))

    @classmethod
    def wants(cls, summary: "ChunkSummary", settings: Settings) -> bool:
        """Structural prefilter on the chunk's :mod:`ast` (see :mod:`perf_lsp.analysis.summaries`).

        Runs after :meth:`applies_to` and before the libcst parse; False skips the
        chunk for this rule. The default keeps every chunk.
        """
        return True

    @classmethod
    def docs(cls) -> str:
        """The rule's documentation (its docstring, dedented)."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def section(cls, title: str) -> str:
        """One ``## title`` section of the docs, without its heading ('' when absent)."""
        match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", cls.docs(), re.M | re.S)
        return match.group(1).strip() if match else ""

    def report(
        self,
        node: cst.CSTNode,
        *,
        end_node: cst.CSTNode | None = None,
        message: str | None = None,
        fix: FixBuilder | None = None,
        alt_fix: FixBuilder | None = None,
        detail: str = "",
        question: TypeQuestion | None = None,
        questions: tuple[TypeQuestion, ...] = (),
    ) -> None:
        """Record a finding at ``node`` (to ``end_node``), with its fix builders if the fix applies here."""
        offers: list[FixOffer] = []
        builders: list[FixBuilder] = []
        if fix is not None and self.fix_title and self.fix_safety:
            offers.append(FixOffer(self.fix_title, self.fix_safety))
            builders.append(fix)
        if alt_fix is not None and self.alt_fix_title and self.alt_fix_safety:
            offers.append(FixOffer(self.alt_fix_title, self.alt_fix_safety))
            builders.append(alt_fix)
        self.findings.append(
            Finding(
                code=self.code,
                name=self.name,
                message=message or self.message,
                range=self.ctx.range_of(node, end_node),
                offers=tuple(offers),
                builders=tuple(builders),
                detail=detail,
                questions=(question, *questions) if question is not None else tuple(questions),
            )
        )

    def type_question(
        self,
        expr: cst.BaseExpression,
        accept: frozenset[str] = frozenset(),
        *,
        reject: frozenset[str] = frozenset(),
        keep_unresolved: bool = False,
    ) -> TypeQuestion:
        """A :class:`~perf_lsp.analysis.resolve.TypeQuestion` about ``expr`` (asked at its last name) for :meth:`report`.

        Without ``keep_unresolved`` the finding is published only once jedi confirms
        that a producer of the value is in ``accept`` (names alone could not
        decide); with it, the finding stands unless jedi shows a type in ``reject``
        (or, when ``accept`` is given, a type outside it).
        """
        last = expr.attr if isinstance(expr, cst.Attribute) else expr
        start = self.ctx.range_of(last).start
        return TypeQuestion(start.line, start.column, frozenset(accept), frozenset(reject), keep_unresolved)


def short_code(code: str) -> str:
    code = " ".join(code.split())
    return code if len(code) <= 40 else code[:37] + "..."
