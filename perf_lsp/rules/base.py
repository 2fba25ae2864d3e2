"""What every rule is built on: the rule class, the per-chunk context and the fix context.

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
import dataclasses
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import libcst as cst

from perf_lsp.bindings import BUILTINS, DocumentNames
from perf_lsp.model import Applicability, FixOffer, Position, Range
from perf_lsp.names import ModuleContext, imports_in
from perf_lsp.resolve import TypeQuestion
from perf_lsp.rules.positions import ChunkPositions
from perf_lsp.rules.summary import ChunkSummary
from perf_lsp.settings import Settings

ResultT = TypeVar("ResultT")

FixBuilder = Callable[["FixContext"], "cst.Module | None"]
"""Builds one fix: returns the rewritten chunk (or None when the fix cannot apply),
and may add module-level definitions and imports through the FixContext."""


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


def dotted(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of attribute accesses on a name, else None."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


FUNCTION_BOUNDARIES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class RuleContext:
    """Facts about one chunk that rules share: parents, positions and qualified names.

    Built once per analysed chunk. ``qualified_name`` resolves through imports
    (the chunk's own, then the module's); it is the seam where jedi-based type
    resolution will plug in. ``local_imports``: the chunk's own imports when known
    (a unit of a split class resolves through its whole class's); default: the
    imports anywhere in ``text``.
    """

    def __init__(
        self,
        module: cst.Module,
        module_ctx: ModuleContext,
        settings: Settings,
        text: str,
        local_imports: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.module_ctx = module_ctx
        self.settings = settings
        self.text = text
        self._parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._positions = None
        self._local_imports: dict[str, str] | None = local_imports
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


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_PUNCTUATION_FIELDS = frozenset(
    {
        "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "comma", "semicolon", "dot", "colon",
        "equal", "operator", "leading_lines", "lines_after_decorators", "trailing_whitespace", "header",
        "footer", "newline", "asynchronous",
    }
)


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """``node``'s child nodes that can hold names or statements, in field order (mostly source order).

    Punctuation, operators, whitespace and comment lines are left out. Much cheaper
    than libcst's ``node.children``, which runs a visitor over the node.
    """
    names = _CHILD_FIELDS.get(type(node))
    if names is None:
        names = _CHILD_FIELDS[type(node)] = tuple(
            f.name
            for f in dataclasses.fields(node)
            if f.name not in _PUNCTUATION_FIELDS and not f.name.startswith("whitespace")
        )
    out: list[cst.CSTNode] = []
    append = out.append
    is_node = _IS_NODE
    for name in names:
        value = getattr(node, name)
        kind = type(value)
        if kind is list or kind is tuple:
            for item in value:
                flag = is_node.get(type(item))
                if flag is None:
                    flag = is_node[type(item)] = issubclass(type(item), cst.CSTNode)
                if flag:
                    append(item)
        else:
            flag = is_node.get(kind)
            if flag is None:
                flag = is_node[kind] = issubclass(kind, cst.CSTNode)
            if flag:
                append(value)
    return out


# type -> is it a CSTNode subclass; isinstance() against the CSTNode ABC costs ~1 us a call
_IS_NODE: dict[type, bool] = {}


def _only_in_first_iter(node: cst.CSTNode, comp_for: cst.CompFor, ctx: RuleContext) -> bool:
    """True when ``node`` sits in the outermost iterable of a comprehension (evaluated once)."""
    child = node
    for anc in ctx.ancestors(node):
        if anc is comp_for:
            return child is comp_for.iter
        child = anc
    return False


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
    (anything from it) at module level only under a top-level ``try``/``if``.

    Such a package is an optional dependency (or one kept out of run time with ``if
    TYPE_CHECKING:``): a fix must not add an unconditional ``import`` of it, which would stop
    the module from importing where it is missing. A standard-library module is always there.
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
    return found


@dataclass
class FixContext:
    """What a fix builder may use and add: free names, imports, module-level definitions.

    ``taken`` holds every name a new module-level name could clash with: the
    document's real bindings in any scope, the names it reads anywhere, builtins
    (words in strings, comments and attribute names do not count; see
    :mod:`perf_lsp.bindings`). ``local_imports`` are the chunk's own imports (a
    chunk that does ``import re`` inside a function may still get ``import re`` at
    module level). ``names`` (the document's :class:`~perf_lsp.bindings.DocumentNames`)
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


class Rule(cst.BatchableCSTVisitor):
    """Base class of every rule; subclasses set the class attributes and ``visit_*`` methods.

    ``triggers`` is a regular expression searched in a chunk's text before it is
    parsed: a chunk with no match cannot be reported by the rule and is skipped.
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
    triggers: ClassVar[str] = ""
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
        """Structural prefilter on the chunk's :mod:`ast` (see :mod:`perf_lsp.rules.summary`).

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

    @classmethod
    def offers(cls) -> tuple[FixOffer, ...]:
        """The fixes this rule can offer, primary first."""
        out = []
        if cls.fix_title and cls.fix_safety:
            out.append(FixOffer(cls.fix_title, cls.fix_safety))
        if cls.alt_fix_title and cls.alt_fix_safety:
            out.append(FixOffer(cls.alt_fix_title, cls.alt_fix_safety))
        return tuple(out)

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
        """A :class:`~perf_lsp.resolve.TypeQuestion` about ``expr`` (asked at its last name) for :meth:`report`.

        Without ``keep_unresolved`` the finding is published only once jedi confirms
        that a producer of the value is in ``accept`` (names alone could not
        decide); with it, the finding stands unless jedi shows a type in ``reject``
        (or, when ``accept`` is given, a type outside it).
        """
        last = expr.attr if isinstance(expr, cst.Attribute) else expr
        start = self.ctx.range_of(last).start
        return TypeQuestion(start.line, start.column, frozenset(accept), frozenset(reject), keep_unresolved)
