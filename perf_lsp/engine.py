"""The one engine behind the CLI, the language server and the tests.

``Engine.analyze(source, settings)`` splits the document into top-level statements
(:mod:`perf_lsp.source`), skips those whose text cannot match any enabled rule,
parses the rest with libcst one statement at a time and runs the rules over each
in a single batched traversal. Per-statement results are cached by the
statement's text (plus the module's imports and the settings), so after an edit
only the edited statement is parsed and checked again. A class is analysed unit by
unit (its header, each method, nested classes likewise; :mod:`perf_lsp.analysis.units`),
each unit with the members it reads (:mod:`perf_lsp.analysis.classes`) and cached by
that text, so a keystroke inside a method parses that method, not the class.
Where names alone cannot decide, a finding carries type questions
(:class:`perf_lsp.analysis.resolve.TypeQuestion`); ``analyze`` answers them with the
jedi resolver it is given (:class:`perf_lsp.analysis.resolve.TypeResolver`), and
without one keeps or leaves out each such finding as its questions say.

Fixes are built on request (``Analysis.fix``): a rule's codemod rewrites its
statement's CST, may add module-level definitions and imports, and the change is
turned into minimal text edits, which also remove an import the fix left unused
(:mod:`perf_lsp.fix.unused_imports`). New names clash only with real bindings
(:mod:`perf_lsp.analysis.bindings`). ``Engine.fix_all`` applies, round after round, every
fix that fits with the others of its round (``Analysis.plan`` builds them,
``Analysis.render`` merges them), until none is left (bounded), and never returns
a result that does not parse.
"""

from __future__ import annotations

import ast
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import libcst as cst

from perf_lsp import noqa
from perf_lsp.analysis.bindings import DocumentNames
from perf_lsp.analysis.hotness import FileHotness, document_hotness, filter_diagnostics
from perf_lsp.analysis.imports import imports_in
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.analysis.reparse import Reparser, parse_module, unowned_members
from perf_lsp.analysis.resolve import TypeQuestion, TypeResolver
from perf_lsp.analysis.summaries import ChunkSummary
from perf_lsp.analysis.units import Unit
from perf_lsp.analysis.units import units as class_units
from perf_lsp.fix.context import FixContext, FixRound
from perf_lsp.fix.placement import FixPlan, Placement
from perf_lsp.model import Applicability, Diagnostic, Edit, Fix, FixOffer, Position, Range
from perf_lsp.rules import REGISTRY
from perf_lsp.rules.base import Finding, Rule, RuleContext
from perf_lsp.settings import Settings
from perf_lsp.source import (
    TOO_DEEP,
    Chunk,
    SplitResult,
    depth_error,
    parse_checked,
    split_document,
    split_incremental,
    split_lines,
    statements_too_deep,
)
from perf_lsp.source import too_deep as too_deep_statements
from perf_lsp.text import shift_range as _shift
from perf_lsp.text import split_lines_after_edit
from perf_lsp.textedit import apply_edits, diff_edits


@dataclass
class ChunkResult:
    """The cached outcome of analysing one chunk (or one unit of a split class): its CST (when parsed) and findings.

    For a class analysed unit by unit (:mod:`perf_lsp.analysis.units`), ``module``
    is None, ``findings`` are every unit's, chunk-relative, ``units`` holds each unit
    with its own result (unit-relative findings, the unit's CST) and ``origin[i]``
    is (unit, finding number in it) of ``findings[i]``.
    """

    module: cst.Module | None
    findings: list[Finding]
    error: str | None = None
    unfixable: str | None = None
    """Why the findings of this chunk have no fixes (libcst does not reproduce its text), or None."""
    units: tuple[tuple[Unit, "ChunkResult"], ...] | None = None
    origin: tuple[tuple[int, int], ...] = ()
    facts: tuple[tuple[str, object], ...] = ()
    """The lazy module facts the analysis read (``(name, value)``, :meth:`ModuleContext.facts`): a cached
    result serves a module whose facts still have these values."""


_EMPTY = ChunkResult(None, [])


@dataclass
class Analysis:
    """One document analysed: its diagnostics and what is needed to build their fixes.

    ``diagnostics`` are sorted by position; lines 1-based, columns 0-based code
    points. ``syntax_error`` is set when the document as a whole does not parse
    (the statements that do parse are still checked). ``asked`` counts the
    findings with type questions, ``unresolved`` those left out because they wait
    for jedi; ``resolved`` says whether jedi answered (a resolver was given);
    ``package_init`` (from ``Settings.package_init``): the document is a package's
    ``__init__.py``, so fixes keep its module-level imports (possible re-exports).
    ``candidates`` (only when a resolver was given): every finding before jedi's
    answers, in the order ``diagnostics`` were made before sorting, each as its
    diagnostic (the same object as in ``diagnostics`` when kept) and its type questions
    on document lines (empty for a finding that asks nothing), so the answers can be
    asked again without analysing the document again.
    """

    source: str
    lines: list[str]
    context: ModuleContext
    chunks: list[Chunk]
    results: list[ChunkResult]
    diagnostics: list[Diagnostic]
    syntax_error: str | None
    unresolved: int = 0
    asked: int = 0
    resolved: bool = False
    package_init: bool = False
    candidates: list[tuple[Diagnostic, tuple[TypeQuestion, ...]]] = field(default_factory=list, repr=False)
    _names: DocumentNames | None = field(default=None, repr=False)
    alone: tuple[tuple[str, ...], FileHotness | None] | None = field(default=None, repr=False)
    """Without a project index: (the first lines of the top-level statements, the document's own hotness
    answers) the hot-only rules were judged by; the next version reuses them while those lines are the same."""
    _cache_keys: tuple[tuple, ...] = field(default=(), repr=False)  # the Engine cache entries it used
    _cache_results: tuple[ChunkResult, ...] = field(default=(), repr=False)  # their results, in the same order
    _whole: Callable[[int], ChunkResult] | None = field(default=None, repr=False)  # a split chunk analysed whole

    def _finding(self, diag: Diagnostic) -> tuple[Chunk, ChunkResult, Finding] | None:
        if not diag.key:
            return None
        index, number = diag.key
        if index >= len(self.chunks):
            return None
        chunk, result = self.chunks[index], self.results[index]
        if number >= len(result.findings):
            return None
        return chunk, result, result.findings[number]

    @property
    def names(self) -> DocumentNames:
        """The document's bindings and reads (:mod:`perf_lsp.analysis.bindings`), computed on first use."""
        if self._names is None:
            self._names = DocumentNames([c.text for c in self.chunks], [c.nodes for c in self.chunks])
        return self._names

    def fix(self, diag: Diagnostic, which: int = 0) -> Fix | None:
        """Build fix number ``which`` of ``diag`` (0: primary, 1: alternative) as text edits.

        Returns None when the diagnostic has no such fix or the codemod declines,
        or when the fixed statement would not parse. The edits include removing an
        import the fix leaves unused (:mod:`perf_lsp.fix.unused_imports`).
        """
        plan = self.plan(diag, which)
        if plan is None:
            return None
        edits = self.render([plan])
        if not edits:
            return None
        return Fix(plan.offer.title, plan.offer.applicability, tuple(edits))

    def plan(self, diag: Diagnostic, which: int = 0, batch: FixRound | None = None) -> FixPlan | None:
        """Build fix ``which`` of ``diag`` against this document, before it becomes edits.

        ``batch``: what the fixes already chosen to go in with this one add (names,
        imports, definitions), so this one fits in with them. None when the fix
        does not apply: no such fix, the codemod declines or fails, the statement
        it rewrites would not parse, or a definition it adds has no place where the
        names it reads are bound before any code could use it.
        """
        found = self._finding(diag)
        if found is None:
            return None
        chunk, result, finding = found
        index = diag.key[0]
        if result.units is not None:
            return self._plan_unit(diag, which, batch, index, chunk, result, diag.key[1])
        built = self._build(finding, which, index, chunk, result.module, batch)
        if built is None:
            return None
        fctx, new_module = built
        return self._finish_plan(diag, finding.offers[which], index, chunk, result.module, new_module.code, fctx)

    def _build(
        self, finding: Finding, which: int, index: int, chunk: Chunk, module: cst.Module | None, batch: FixRound | None
    ) -> tuple[FixContext, cst.Module] | None:
        """Run fix ``which`` of ``finding`` on ``module`` (the tree it was found in): its fix context and the
        rewritten module, or None when there is no such fix, no tree, or the codemod declines or fails."""
        if which >= len(finding.builders) or module is None:
            return None
        fctx = self._fix_context(index, chunk, module, batch)
        try:
            new_module = finding.builders[which](fctx)
        except Exception:  # a codemod bug must never take the editor down
            return None
        if new_module is None:
            return None
        return fctx, new_module

    def _fix_context(self, index: int, chunk: Chunk, module: cst.Module, batch: FixRound | None) -> FixContext:
        names = self.names
        return FixContext(
            self.context, module, set(names.taken), imports_in(chunk.text), names=names, index=index, round=batch
        )

    def _plan_unit(
        self, diag: Diagnostic, which: int, batch: FixRound | None, index: int, chunk: Chunk, result: ChunkResult, number: int
    ) -> FixPlan | None:
        """:meth:`plan` for a finding of a class analysed unit by unit: the fix rewrites the unit's CST; its
        edits, mapped piece by piece onto the class's text, give the class's new text. When they cannot be
        mapped (an insertion between two pieces that are apart in the document, an edit across a gap), the
        class is analysed whole and the fix built there, as for any chunk."""
        unit_index, unit_number = result.origin[number]
        unit, unit_result = result.units[unit_index]
        finding = unit_result.findings[unit_number]
        built = self._build(finding, which, index, chunk, unit_result.module, batch)
        if built is None:
            return None
        fctx, new_module = built
        new_text = new_module.code
        if new_text == unit.text and not fctx.definitions and not fctx.imports:
            return None
        text = _unit_to_chunk(unit, chunk.text, new_text)
        if text is None:
            return self._plan_whole(diag, which, batch, index, chunk, result.findings[number])
        return self._finish_plan(diag, finding.offers[which], index, chunk, unit_result.module, text, fctx)

    def _plan_whole(
        self, diag: Diagnostic, which: int, batch: FixRound | None, index: int, chunk: Chunk, finding: Finding
    ) -> FixPlan | None:
        """Build the fix of ``finding`` (chunk-relative) with the chunk's class analysed whole."""
        if self._whole is None:
            return None
        whole = self._whole(index)
        same = next(
            (
                f
                for f in whole.findings
                if f.code == finding.code and f.range == finding.range and f.message == finding.message
            ),
            None,
        )
        built = None if same is None else self._build(same, which, index, chunk, whole.module, batch)
        if built is None:
            return None
        fctx, new_module = built
        return self._finish_plan(diag, same.offers[which], index, chunk, whole.module, new_module.code, fctx)

    def _finish_plan(
        self, diag: Diagnostic, offer: FixOffer, index: int, chunk: Chunk, old: cst.Module, text: str, fctx: FixContext
    ) -> FixPlan | None:
        """The plan for a fix that makes ``text`` of chunk ``index`` (built in ``fctx`` on ``old``)."""
        if text == chunk.text and not fctx.definitions and not fctx.imports:
            return None
        # Insertions land between top-level statements, so the document parses
        # after the fix when the rewritten statement does (a document that was
        # already broken elsewhere stays as broken, no more).
        if not parses(text):
            return None
        definitions: list[tuple[int, str]] = []
        for stmt in fctx.definitions:
            code = old.code_for_node(stmt).rstrip("\r\n")
            slot = self.placement.definition_slot(index, code)
            if slot is None:
                return None
            definitions.append((slot, code))
        imports = [old.code_for_node(stmt).rstrip("\r\n") for stmt in fctx.imports]
        edits = diff_edits(chunk.text, text, 1)
        offset = chunk.start - 1
        local = all(_within(_shift(e.range, offset), diag.range) for e in edits)
        return FixPlan(diag, offer, index, text, edits, imports, definitions, fctx, local)

    @property
    def placement(self) -> Placement:
        """Where this document's fixes put their imports and definitions (:class:`perf_lsp.fix.placement.Placement`)."""
        return Placement(self.lines, self.chunks, self.context, lambda: self.names, parses, self.package_init)

    def render(self, plans: Sequence[FixPlan]) -> list[Edit] | None:
        """The edits that apply ``plans`` (built against this document) together: :meth:`Placement.render`."""
        return self.placement.render(plans)

    def noqa_edit(self, diag: Diagnostic) -> Edit | None:
        """The edit that adds ``# noqa: CODE`` to the diagnostic's first line, or None when it cannot."""
        found = self._finding(diag)
        if found is None:
            return None
        chunk = found[0]
        rel = diag.range.start.line - chunk.start + 1
        spot = noqa.noqa_insertion(chunk.text, rel, diag.code)
        if spot is None:
            return None
        column, text = spot
        pos = Position(diag.range.start.line, column)
        return Edit(Range(pos, pos), text)

    def at(self, pos: Position) -> list[Diagnostic]:
        """Diagnostics whose range contains ``pos``."""
        return [d for d in self.diagnostics if d.range.contains(pos)]

    def overlapping(self, rng: Range) -> list[Diagnostic]:
        """Diagnostics whose range overlaps ``rng``."""
        return [d for d in self.diagnostics if d.range.overlaps(rng)]


ANY_FREQUENCY = frozenset({"PFL701"})
"""Codes reported at cold sites too: a shared mutable default is a bug however rarely its function runs."""


def taken_names(source: str) -> set[str]:
    """Every name in ``source`` that a new module-level name could clash with.

    The real bindings of every scope (assignments, parameters, imports,
    ``def``/``class``, ``global`` names...), every name read anywhere, and the
    builtins; words in strings, comments and attribute names do not count. A
    document that does not parse counts every identifier of its text.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return DocumentNames([source], [()]).taken
    return DocumentNames([source], [tree.body]).taken


def parses(source: str, strict: bool = False) -> bool:
    """True when ``source`` is valid Python.

    :func:`ast.parse` decides (C-speed: ~33 ms for 6,400 lines); with ``strict``
    libcst must parse it too (~10x slower), as ``perf-lsp fix`` checks before it
    writes a file: each top-level statement on its own, but for those too deeply
    nested for libcst (:func:`perf_lsp.source.depth_error`), which the engine never
    parses either. A document too deep for :func:`ast.parse` itself is valid when
    each of its statements is (:func:`perf_lsp.source.split_document`).
    """
    try:
        ast.parse(source)
        split = None
    except (RecursionError, MemoryError):
        split = split_document(source)
        if split.syntax_error is not None:
            return False
    except (SyntaxError, ValueError):
        return False
    if not strict:
        return True
    if split is None:
        split = split_document(source)
    for chunk in split.chunks:
        if depth_error(chunk.text) is not None:
            continue
        try:
            cst.parse_module(chunk.text)
        except Exception:  # noqa: BLE001 - ParserSyntaxError, or libcst failing on odd input
            return False
    return True


@dataclass
class FixAllResult:
    """The outcome of :meth:`Engine.fix_all`: the new text and how many fixes went in."""

    source: str
    applied: int
    rounds: int
    remaining: list[Diagnostic]


class Engine:
    """Analyses documents and applies fixes; holds the per-statement cache.

    Thread-safe: the language server analyses in a worker thread while requests
    read results.

    The cache maps a statement's text (with the module's name facts, the settings
    and the enabled rules) to its result. A result keeps its libcst tree only when
    it has findings (their fixes are built from it). Entries that a caller keeps
    with :meth:`retain` (the language server: the latest analysis of each open
    document) stay until released; the others are evicted, least recently used
    first, beyond ``cache_size`` entries or ``cache_chars`` characters of statement
    text (the text's length stands for the memory of its tree: a libcst tree takes
    ~10-30 bytes per character). So a cache of trees per version of a statement
    being typed in cannot grow without bound.

    ``hotness_alone``: without a project index, judge the rules that report only hot sites (``Rule.hot_only``)
    by indexing the document alone (a whole-document read, ~85 ms on 6,500 lines), kept while the first
    lines of its top-level statements stay the same (typing inside a body does not read it again; the answers
    go by function name); False drops their findings until an index is given.

    ``split_classes``: analyse a class unit by unit (its header and each member,
    :mod:`perf_lsp.analysis.units`), so that an edit inside a method re-checks that
    method: what an editor needs. A one-shot check (the CLI) analyses each class
    whole instead: a unit's text repeats the sibling members it reads, which costs
    a single pass more (khoj 1.42.10: 9.7 s whole, 11.5 s split) and saves nothing
    there. Both give the same findings and fixes (``tests/test_units.py`` checks
    every fixture both ways).
    """

    def __init__(
        self,
        rules: Sequence[type[Rule]] = REGISTRY,
        cache_size: int = 4096,
        cache_chars: int = 4_000_000,
        split_classes: bool = True,
        hotness_alone: bool = True,
    ) -> None:
        self.rules = tuple(rules)
        self.split_classes = split_classes
        self.hotness_alone = hotness_alone
        self._cache: OrderedDict[tuple, ChunkResult] = OrderedDict()  # not retained, least recent first
        self._cache_size = cache_size
        self._cache_chars = cache_chars
        self._chars = 0  # statement text in ``_cache``
        self._retained: dict[tuple, list] = {}  # key -> [result, how many owners retain it]
        self._owners: dict[Hashable, tuple[tuple, ...]] = {}
        self._lock = threading.Lock()
        self._reparser = Reparser() if split_classes else None  # an editor's keystrokes: reuse the unit's tree

    # -- the cache ------------------------------------------------------------------
    def retain(self, owner: Hashable, analysis: Analysis) -> None:
        """Keep the cache entries ``analysis`` used while it is ``owner``'s latest; release the previous one's.

        ``owner``: any hashable, e.g. a document's URI. What no owner retains any more
        goes back to the bounded part of the cache.
        """
        keys = tuple(dict.fromkeys(analysis._cache_keys))
        results = dict(zip(analysis._cache_keys, analysis._cache_results))
        with self._lock:
            for key in keys:
                entry = self._retained.get(key)
                if entry is not None:
                    entry[1] += 1
                    continue
                result = self._cache.pop(key, None)
                if result is None:
                    result = results[key]
                else:
                    self._chars -= len(key[0])
                self._retained[key] = [result, 1]
            self._release(self._owners.get(owner, ()))
            self._owners[owner] = keys
            self._trim()

    def release(self, owner: Hashable) -> None:
        """Stop retaining ``owner``'s entries (a document was closed)."""
        with self._lock:
            self._release(self._owners.pop(owner, ()))
            self._trim()

    def cache_stats(self) -> dict[str, int]:
        """Entries and statement characters in the cache: ``retained``/``loose`` entries, ``loose_chars``."""
        with self._lock:
            return {"retained": len(self._retained), "loose": len(self._cache), "loose_chars": self._chars}

    def _release(self, keys: Iterable[tuple]) -> None:
        for key in keys:
            entry = self._retained[key]
            entry[1] -= 1
            if entry[1] == 0:
                del self._retained[key]
                self._cache[key] = entry[0]
                self._chars += len(key[0])

    def _trim(self) -> None:
        while self._cache and (len(self._cache) > self._cache_size or self._chars > self._cache_chars):
            key, _ = self._cache.popitem(last=False)
            self._chars -= len(key[0])

    def enabled_rules(self, settings: Settings) -> tuple[type[Rule], ...]:
        """The rules that ``select``/``ignore`` leave on."""
        return tuple(rule for rule in self.rules if settings.enabled(rule.code, rule.opt_in))

    def analyze(
        self,
        source: str,
        settings: Settings,
        previous: Analysis | None = None,
        resolver: TypeResolver | None = None,
        hotness: FileHotness | None = None,
    ) -> Analysis:
        """Check one document. Never raises on bad source: syntax errors go in ``syntax_error``.

        ``previous``: the same document's last analysis, if any; then only the
        statements an edit touched are parsed again with :mod:`ast` too
        (:func:`perf_lsp.source.split_incremental`), instead of the whole document.
        ``resolver``: answers the findings' type questions with jedi (the CLI
        passes one; the server runs a fast pass without it, then a refining
        pass). Without it, a finding that needs jedi's confirmation is left out
        and counted in ``Analysis.unresolved``. ``hotness``: the project index's answers for this
        file (:mod:`perf_lsp.analysis.hotness`); findings at cold sites are left out unless
        ``settings.include_cold``, and a hot site's reason is added to its ``detail``. None: no filter.
        """
        split = None
        if previous is not None:
            lines, *same = split_lines_after_edit(previous.source, previous.lines, source)
            split = split_incremental(
                previous.lines, SplitResult(previous.chunks, previous.context, previous.syntax_error), lines, tuple(same)
            )
        else:
            lines = split_lines(source)
        if split is None:
            split = split_document(source, lines)
        helpers = hotness.helpers if hotness is not None else ()
        if split.context.imported_helpers != helpers:  # what the project index says the imported functions do
            split = replace(split, context=replace(split.context, imported_helpers=helpers))
        rules = self.enabled_rules(settings)
        results: list[ChunkResult] = []
        diagnostics: list[Diagnostic] = []
        base = (split.context.fingerprint, settings.analysis_key, tuple(rule.code for rule in rules))
        unresolved = 0
        asked = 0
        candidates: list[tuple[Diagnostic, tuple[TypeQuestion, ...]]] = []
        for index, chunk in enumerate(split.chunks):
            result = self._chunk(chunk, split.context, settings, rules, base)
            results.append(result)
            offset = chunk.start - 1
            for number, f in enumerate(result.findings):
                diag = Diagnostic(
                    code=f.code,
                    name=f.name,
                    message=f.message,
                    range=_shift(f.range, offset),
                    fixes=f.offers,
                    detail=f.detail,
                    key=(index, number),
                )
                if resolver is not None:
                    candidates.append((diag, tuple(replace(q, line=q.line + offset) for q in f.questions)))
                if f.questions:
                    asked += 1
                    if resolver is None:
                        if not all(q.keep_unresolved for q in f.questions):
                            unresolved += 1
                            continue
                    elif not all(
                        q.decide(resolver.producers(q.line + offset, q.column)) for q in f.questions
                    ):
                        continue
                diagnostics.append(diag)
        hot_only = frozenset(rule.code for rule in rules if rule.hot_only)
        pool = {id(d): d for d in [*diagnostics, *(d for d, _ in candidates)]}
        alone_entry = previous.alone if previous is not None and hotness is None else None
        if hotness is not None:  # the same filter on what jedi decided and on what it is asked again later
            mapped = {
                key: next(
                    iter(filter_diagnostics([d], split.chunks, hotness, settings.include_cold, ANY_FREQUENCY, hot_only)), None
                )
                for key, d in pool.items()
            }
        elif any(d.code in hot_only for d in pool.values()):
            # no project index: the document alone says which of its functions are handlers (a whole-document
            # read, ~85 ms on 6,500 lines: a one-shot check's, not a keystroke's); else hot-only findings wait
            alone = None
            if self.hotness_alone:
                # read again only when a top-level statement's first line changed (a def added, renamed or
                # decorated): an edit inside a body keeps the answers, which go by function name
                key = tuple(lines[c.start - 1] for c in split.chunks)
                kept = previous.alone if previous is not None else None
                alone = kept[1] if kept is not None and kept[0] == key else document_hotness(source)
                alone_entry = (key, alone)
            mapped = {
                key: (
                    next(iter(filter_diagnostics([d], split.chunks, alone, settings.include_cold, hot_only=hot_only)), None)
                    if alone is not None
                    else None
                )
                if d.code in hot_only
                else d
                for key, d in pool.items()
            }
        else:
            mapped = None
        if mapped is not None:
            diagnostics = [mapped[id(d)] for d in diagnostics if mapped[id(d)] is not None]
            candidates = [(mapped[id(d)], q) for d, q in candidates if mapped[id(d)] is not None]
        diagnostics.sort(key=lambda d: (d.range.start, d.code))
        analysis = Analysis(source, lines, split.context, split.chunks, results, diagnostics, split.syntax_error)
        analysis.alone = alone_entry
        keys: list[tuple] = []
        entries: list[ChunkResult] = []
        for chunk, result in zip(split.chunks, results):
            keys.append((chunk.text, base))
            entries.append(result)
            for unit, part in result.units or ():
                keys.append(self._unit_key(unit, chunk, base))
                entries.append(part)
        analysis._cache_keys = tuple(keys)
        analysis._cache_results = tuple(entries)
        context = split.context

        def whole(index: int) -> ChunkResult:
            return self._whole_chunk(split.chunks[index], context, settings, rules, base)

        analysis._whole = whole
        analysis.unresolved = unresolved
        analysis.asked = asked
        analysis.candidates = candidates
        analysis.resolved = resolver is not None
        analysis.package_init = settings.package_init
        return analysis

    def _chunk(self, chunk: Chunk, context: ModuleContext, settings: Settings, rules: tuple[type[Rule], ...], base: tuple) -> ChunkResult:
        """The cached result for ``chunk``, or a new one: text prefilters, then ast prefilters, then libcst.

        The cache key is the statement's text plus ``base`` (the module's name
        facts, the settings that matter and the enabled rules), so an unchanged
        statement costs one dictionary lookup (and, for a result that read lazy
        module facts, comparing them with ``context``'s). A class that splits
        (:mod:`perf_lsp.analysis.units`) is analysed unit by unit, each unit
        cached by its own text: an edit inside one method parses that method
        (and the units that read it) again, not the class.
        """
        key = (chunk.text, base)
        cached = self._lookup(key, context)
        if cached is not None:
            return cached
        parts = None
        if self.split_classes and chunk.layout is not None:
            parts = class_units(chunk.layout, chunk.text, context.imports, chunk.lines)
        if parts is None:
            result = self._analyze(chunk.text, chunk.nodes, None, None, context, settings, rules)
        else:
            result = self._split_result(chunk, parts, context, settings, rules, base)
        self._store(key, result, len(chunk.text))
        return result

    def _whole_chunk(
        self, chunk: Chunk, context: ModuleContext, settings: Settings, rules: tuple[type[Rule], ...], base: tuple
    ) -> ChunkResult:
        """``chunk`` analysed as one statement even when it is a class that splits (fixes that do not map onto
        its units are built on it). Cached beside the units' results."""
        key = (chunk.text, "whole", base)
        cached = self._lookup(key, context)
        if cached is not None:
            return cached
        result = self._analyze(chunk.text, chunk.nodes, None, None, context, settings, rules)
        self._store(key, result, len(chunk.text))
        return result

    def _unit_key(self, unit: Unit, chunk: Chunk, base: tuple) -> tuple:
        imports = unit.imports if unit.imports is not None else tuple(sorted(imports_in(chunk.text).items()))
        return (unit.text, unit.owned, imports, base)

    def _split_result(
        self, chunk: Chunk, parts: list[Unit], context: ModuleContext, settings: Settings, rules: tuple[type[Rule], ...], base: tuple
    ) -> ChunkResult:
        """The result of a split class: each unit's (cached by its own text), findings mapped onto the chunk."""
        findings: list[tuple[Finding, int, int]] = []
        errors: list[str] = []
        unfixable = None
        done: list[tuple[Unit, ChunkResult]] = []
        for unit_index, unit in enumerate(parts):
            key = self._unit_key(unit, chunk, base)
            result = self._lookup(key, context)
            if result is None:
                imports = dict(key[2])
                result = self._analyze(
                    unit.text, unit.nodes, imports, unit.owns, context, settings, rules, unit.text + "\n" + unit.import_text,
                    unit.own_nodes,
                )
                self._store(key, result, len(unit.text))
            done.append((unit, result))
            if result.error and result.error not in errors:
                errors.append(result.error)
            if result.findings and result.unfixable and unfixable is None:
                unfixable = result.unfixable
            for number, finding in enumerate(result.findings):
                findings.append((_to_chunk(finding, unit), unit_index, number))
        findings.sort(key=lambda item: (item[0].range.start, item[0].code))
        error = _shorten("; ".join(errors)) or None
        return ChunkResult(
            None,
            [f for f, _, _ in findings],
            error=error,
            unfixable=unfixable,
            units=tuple(done),
            origin=tuple((u, n) for _, u, n in findings),
            facts=tuple(sorted({fact for _, part in done for fact in part.facts})),
        )

    def _lookup(self, key: tuple, context: ModuleContext) -> ChunkResult | None:
        """The cached result for ``key``, unless it read lazy module facts that ``context`` has changed."""
        with self._lock:
            entry = self._retained.get(key)
            if entry is not None:
                cached = entry[0]
            else:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
        if cached is not None and cached.facts and context.facts(name for name, _ in cached.facts) != cached.facts:
            return None
        return cached

    def _store(self, key: tuple, result: ChunkResult, chars: int) -> None:
        """Cache ``result``; it replaces a result the key had (one :meth:`_lookup` found stale)."""
        with self._lock:
            entry = self._retained.get(key)
            if entry is not None:
                entry[0] = result
            elif key in self._cache:
                self._cache[key] = result
            else:
                self._cache[key] = result
                self._chars += chars
                self._trim()

    def _analyze(
        self,
        text: str,
        nodes: tuple,
        imports: dict[str, str] | None,
        owns: Callable[[int], bool] | None,
        context: ModuleContext,
        settings: Settings,
        rules: tuple[type[Rule], ...],
        prefilter_text: str | None = None,
        own_nodes: tuple | None = None,
    ) -> ChunkResult:
        """Prefilters, then libcst: the result of one chunk or unit (``imports``, ``owns``: see :func:`analyze_chunk`).

        ``prefilter_text``: what the rules' text prefilters look at (default ``text``;
        a unit's text and its class's import statements); ``own_nodes``: a unit's nodes on
        its own lines (:attr:`ChunkSummary.own`), None for a whole statement. The lazy module facts
        (``Rule.module_facts``) are computed only for the rules left after both
        prefilters and for an :mod:`ast` prefilter that read one
        (:meth:`ChunkSummary.module_fact`), and recorded in the result
        (``ChunkResult.facts``), an empty one included."""
        shown = text if prefilter_text is None else prefilter_text
        candidates = [rule for rule in rules if rule.applies_to(shown, context, settings)]
        read: set[str] = set()  # lazy module facts a prefilter decided on
        if candidates and nodes:
            summary = ChunkSummary(nodes, context, imports, shown, own_nodes)
            candidates = [rule for rule in candidates if rule.wants(summary, settings)]
            read = summary.facts_read
            if candidates and imports is None:
                imports = summary.text_imports  # what analyze_chunk would read from the text again
        if not candidates:
            return ChunkResult(None, [], facts=context.facts(sorted(read))) if read else _EMPTY
        result = analyze_chunk(text, context, settings, candidates, imports, owns, self._reparser)
        if result.module is not None and not result.findings:
            result = ChunkResult(None, [], result.error)  # only fixes need the tree: do not keep it
        names = sorted(read | {name for rule in candidates for name in rule.module_facts})
        if names:  # what the rules read of them, so a cached result is not used once they change
            result.facts = context.facts(names)
        return result

    def fix_all(
        self,
        source: str,
        settings: Settings,
        *,
        unsafe: bool | None = None,
        codes: Iterable[str] | None = None,
        max_rounds: int = 25,
        resolver_for: Callable[[str], TypeResolver] | None = None,
        hotness: FileHotness | None = None,
    ) -> FixAllResult:
        """Apply every applicable fix, re-checking between rounds, at most ``max_rounds`` rounds.

        ``unsafe`` defaults to ``settings.unsafe_fixes``; ``codes`` limits the rules
        whose fixes are applied. A round applies every fix it can at once: the
        fixes that rewrite only their own finding's code go in together when their
        edits do not overlap, however many a statement has; a fix that rewrites
        more of its statement (a loop, a block) goes in alone for that statement,
        and the rest of the statement waits for the next round. A fix that would add
        a definition another fix of the round adds (same factory, same pattern)
        waits one round and then reuses it. The result of every round must parse:
        when the round's batch does not, the fixes go in one by one, each kept when
        the result still parses; a fix that breaks the document alone is never
        retried. ``resolver_for(source)`` gives a jedi resolver for each round's
        text, so findings that need jedi are fixed too. ``hotness``: as for :meth:`analyze` (cold
        findings are neither fixed nor left).
        """
        allow_unsafe = settings.unsafe_fixes if unsafe is None else unsafe
        wanted = set(codes) if codes is not None else None
        applied = 0
        broken: set[tuple] = set()
        rounds = 0

        def check(text: str) -> Analysis:
            return self.analyze(text, settings, resolver=resolver_for(text) if resolver_for else None, hotness=hotness)

        analysis = check(source)
        for rounds in range(1, max_rounds + 1):
            batch = FixRound()
            plans: list[FixPlan] = []
            claimed: dict[int, list[Range]] = {}
            whole: set[int] = set()  # statements a non-local fix rewrites this round
            for diag in analysis.diagnostics:
                if wanted is not None and diag.code not in wanted:
                    continue
                if not diag.fixes:
                    continue
                if diag.fixes[0].applicability is Applicability.UNSAFE and not allow_unsafe:
                    continue
                ident = (diag.code, diag.range, diag.message)
                if ident in broken or not diag.key:
                    continue
                index = diag.key[0]
                if index in whole or any(_conflict(diag.range, r) for r in claimed.get(index, ())):
                    continue
                plan = analysis.plan(diag, batch=batch)
                if plan is None:
                    broken.add(ident)
                    continue
                if plan.fctx.defines & batch.defined:
                    continue  # reuses what another fix of the round adds: next round
                offset = analysis.chunks[index].start - 1
                ranges = [_shift(e.range, offset) for e in plan.edits]
                if not plan.local:
                    if index in claimed:
                        continue
                    whole.add(index)
                elif any(_conflict(a, b) for a in ranges for b in claimed.get(index, ())):
                    continue
                claimed.setdefault(index, []).extend(ranges or [diag.range])
                batch.add(plan.fctx)
                plans.append(plan)
            if not plans:
                break
            new_source, plans = _apply_plans(analysis, source, plans, broken)
            if new_source is None:
                continue
            source = new_source
            applied += len(plans)
            analysis = check(source)
        remaining = [d for d in analysis.diagnostics if wanted is None or d.code in wanted]
        return FixAllResult(source, applied, rounds, remaining)


def _within(inner: Range, outer: Range) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def _conflict(a: Range, b: Range) -> bool:
    """Whether edits at ``a`` and ``b`` cannot go in together: they overlap, or an insertion touches the other."""
    if a.start < b.end and b.start < a.end:
        return True
    if a.start == a.end:
        return b.start <= a.start <= b.end
    if b.start == b.end:
        return a.start <= b.start <= a.end
    return False


def _apply(source: str, edits: list[Edit] | None) -> str | None:
    """``source`` with ``edits`` applied, or None when they are missing, overlap or the result does not parse."""
    if edits is None:
        return None
    try:
        text = apply_edits(source, edits)
    except ValueError:
        return None
    return text if parses(text) else None


def _apply_plans(
    analysis: Analysis, source: str, plans: list[FixPlan], broken: set[tuple]
) -> tuple[str | None, list[FixPlan]]:
    """Apply ``plans`` together; when that does not parse, one by one, keeping each that still parses.

    Returns the new text (None when nothing went in) and the plans applied; a plan
    that breaks the document on its own goes into ``broken``.
    """
    text = _apply(source, analysis.render(plans))
    if text is not None:
        return text, plans
    kept: list[FixPlan] = []
    best: str | None = None
    for plan in plans:
        text = _apply(source, analysis.render([*kept, plan]))
        if text is not None:
            kept.append(plan)
            best = text
        elif not kept or _apply(source, analysis.render([plan])) is None:
            broken.add((plan.diag.code, plan.diag.range, plan.diag.message))
    return best, kept


def analyze_chunk(
    text: str,
    context: ModuleContext,
    settings: Settings,
    rules: Iterable[type[Rule]],
    imports: dict[str, str] | None = None,
    owns: Callable[[int], bool] | None = None,
    reparser: Reparser | None = None,
) -> ChunkResult:
    """Parse one chunk with libcst and run ``rules`` over it in one batched traversal.

    ``reparser``: parses with libcst reusing a recent tree when the text differs from
    it inside one statement line (:mod:`perf_lsp.analysis.reparse`; the server's
    engine keeps one), else every chunk is parsed whole.

    ``imports``: the names the rules resolve through besides the module's (default:
    the imports anywhere in ``text``; a unit of a split class gets its class's).
    ``owns(line)``: whether a finding starting on ``text`` line ``line`` is kept (a
    unit keeps those on its own lines); default all.

    Findings on a line with a matching ``# noqa`` are dropped here. A chunk that
    libcst cannot parse gives no findings and an ``error``; so does a chunk too
    deeply nested for libcst (:func:`perf_lsp.source.depth_error`: never parsed,
    error :data:`~perf_lsp.source.TOO_DEEP`). A rule that fails costs only its
    own findings (named in ``error``); the recursion limit reached anywhere costs
    the chunk's. ``error`` is at most :data:`MAX_ERROR` characters.
    """
    tree, too_deep = parse_checked(text, depth=reparser is None)
    if too_deep is not None:
        return ChunkResult(None, [], error=too_deep)
    try:
        module = None
        if reparser is not None:  # an edit inside one statement: only that statement's depth is measured
            module = reparser.reuse(text, tree, statements_too_deep)
            if module is None and tree is not None and too_deep_statements(tree.body, split_lines(text)):
                return ChunkResult(None, [], error=TOO_DEEP)
        if module is None:
            module = parse_module(text) if reparser is None else reparser.parse_whole(text)
    except Exception as exc:  # ParserSyntaxError, and whatever else libcst raises on odd input
        if _recursion(exc):
            return ChunkResult(None, [], error=TOO_DEEP)
        return ChunkResult(None, [], error=_describe(exc, first_line=True))
    ctx = RuleContext(module, context, settings, text, imports, tree=tree)
    instances = [rule(ctx) for rule in rules]
    errors: list[str] = []
    skip = unowned_members(module, tree, owns) if owns is not None and tree is not None else frozenset()
    try:
        ctx.run(instances, skip)
    except Exception as exc:
        if _recursion(exc):
            return ChunkResult(module, [], error=TOO_DEEP)
        # A rule's bug must cost only that rule's findings: run them one by one.
        instances = []
        for rule in rules:
            alone = rule(RuleContext(module, context, settings, text, imports, tree=tree))
            try:
                alone.ctx.run([alone], skip)
            except Exception as exc:  # reported in ChunkResult.error, never raised
                if _recursion(exc):
                    return ChunkResult(module, [], error=TOO_DEEP)
                errors.append(f"{rule.code}: {_describe(exc)}")
                continue
            instances.append(alone)
    findings = [f for rule in instances for f in rule.findings]
    # a finding's fix builder refers to its rule and so to the context: neither refers back (no reference cycle
    # to wait for the cycle collector, which the server runs only when the typing pauses)
    for rule in instances:
        rule.findings = []
        rule.ctx.forget_memo()
    if owns is not None:
        findings = [f for f in findings if owns(f.range.start.line)]
    suppress = noqa.noqa_map(text)
    if suppress:
        findings = [f for f in findings if not noqa.is_suppressed(suppress, f.range.start.line, f.code)]
    findings.sort(key=lambda f: (f.range.start, f.code))
    unfixable = None
    if any(f.offers for f in findings) and _may_not_reproduce(text):
        module, unfixable = _reproducing(module, text)
        if unfixable is not None:
            findings = [_without_fixes(f) for f in findings]
    return ChunkResult(module, findings, error=_shorten("; ".join(errors)) or None, unfixable=unfixable)


UNFIXABLE = (
    "libcst does not give this statement's text back exactly (bare CR or mixed line endings, "
    "a form feed before it), so a fix could move code"
)


def _may_not_reproduce(text: str) -> bool:
    """Whether libcst could give ``text`` back differently: it holds a carriage return, a form feed or a
    line ending in a backslash.

    libcst's code generation gives back exactly the text it parsed except around
    those (a bare ``\\r`` or mixed line endings, a form feed before a statement,
    ``tests/test_line_endings.py``; a backslash continuation line before a
    statement is dropped); the round trip is checked (a code generation, about a
    third of a parse) only for text holding one of them.
    """
    return "\r" in text or "\x0c" in text or "\\\n" in text


def _reproducing(module: cst.Module, text: str) -> tuple[cst.Module, str | None]:
    """``module``, or a repaired copy, whose code is exactly ``text``; else the reason to offer no fix.

    A fix is the difference between a chunk's text and its fixed code: any
    character libcst loses is deleted by the fix (a bare ``\\r`` lost at the end
    moved the next statement into a loop). Checked only for chunks with fixes
    (code generation costs about a parse). libcst looks for ``\\n`` to set
    ``has_trailing_newline``: a chunk whose lines end in a bare ``\\r`` loses only
    its last one, and is repaired when setting the flag gives the text back.
    """
    try:
        if module.code == text:
            return module, None
        if not module.has_trailing_newline:
            repaired = module.with_changes(has_trailing_newline=True)
            if repaired.code == text:
                return repaired, None
    except Exception:  # noqa: BLE001 - code generation failing is a reason not to fix, like any other
        pass
    return module, UNFIXABLE


def _without_fixes(finding: Finding) -> Finding:
    note = f"No fix offered: {UNFIXABLE}."
    return replace(finding, offers=(), builders=(), detail=f"{finding.detail} {note}".strip())


MAX_ERROR = 300
"""The longest ``ChunkResult.error``, in characters."""


def _recursion(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a ``RecursionError``.

    libcst turns one into a ``KeyError`` of the node it was generating code for
    (whose ``str()`` is the ``repr()`` of the whole tree).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RecursionError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def describe_exception(exc: BaseException, limit: int = MAX_ERROR) -> str:
    """``Type: message`` of ``exc`` in at most ``limit`` characters, built without ``str()`` of arbitrary objects.

    For messages about exceptions that may come from libcst (a ``KeyError`` whose
    message is the ``repr()`` of a deep tree: hundreds of megabytes).
    """
    return _shorten(_describe(exc), limit)


def _describe(exc: BaseException, first_line: bool = False) -> str:
    """``Type: message``, at most :data:`MAX_ERROR` characters; never ``str()`` of anything but strings.

    An exception's message can be the ``repr()`` of a libcst tree (hundreds of
    megabytes for a deep one): only ``str``, ``int`` and ``float`` arguments are
    shown.
    """
    name = type(exc).__name__
    if isinstance(exc, cst.ParserSyntaxError):
        try:
            message = str(exc)
        except Exception:  # noqa: BLE001 - a message that cannot be formatted is left out
            message = ""
    else:
        message = ", ".join(str(a) for a in exc.args if isinstance(a, (str, int, float)))
    if first_line:
        message = message.strip().splitlines()[0] if message.strip() else ""
        return _shorten(message or name)
    return _shorten(f"{name}: {message}" if message else name, 10 * MAX_ERROR)


def _shorten(text: str, limit: int = MAX_ERROR) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _to_chunk(finding: Finding, unit: Unit) -> Finding:
    """``finding`` (``unit``-relative) with its range and type questions on the chunk's lines."""
    rng = finding.range
    start = Position(unit.chunk_line(rng.start.line), rng.start.column)
    end = Position(unit.chunk_line(rng.end.line), rng.end.column)
    questions = tuple(replace(q, line=unit.chunk_line(q.line)) for q in finding.questions)
    return replace(finding, range=Range(start, end), questions=questions)


def _unit_to_chunk(unit: Unit, chunk_text: str, new_text: str) -> str | None:
    """The chunk's text after the change of ``unit``'s text to ``new_text``; None when an edit cannot be placed.

    Each edit of ``unit.text`` is placed on the piece it falls in. An edit that
    spans two pieces apart in the document, or inserts exactly between them, or
    falls on a synthetic line, has no single place in the chunk.
    """
    pieces = unit.pieces
    total = sum(count for _, _, count, _ in pieces)

    def place(line: int, column: int, side: str) -> Position | None:
        # side: "start" (a position that begins a range), "end" (one that ends it), "at" (an insertion)
        if line > total:  # the end of the text
            first, chunk_first, count, _ = pieces[-1]
            return Position(chunk_first + count, 0) if chunk_first and line == total + 1 and column == 0 else None
        for number, (first, chunk_first, count, _) in enumerate(pieces):
            if first <= line < first + count:
                if not chunk_first:
                    return None
                if line == first and column == 0 and number:
                    _, before, before_count, _ = pieces[number - 1]
                    if not before or before + before_count != chunk_first:  # apart in the document
                        if side == "at":
                            return None
                        if side == "end":
                            return Position(before + before_count, 0)
                return Position(line - first + chunk_first, column)
        return None

    mapped: list[Edit] = []
    for edit in diff_edits(unit.text, new_text, 1):
        empty = edit.range.start == edit.range.end
        start = place(edit.range.start.line, edit.range.start.column, "at" if empty else "start")
        end = place(edit.range.end.line, edit.range.end.column, "at" if empty else "end")
        if start is None or end is None:
            return None
        if not empty and not _same_piece(unit, edit.range.start.line, edit.range.end):
            return None
        mapped.append(Edit(Range(start, end), edit.content))
    try:
        return apply_edits(chunk_text, mapped)
    except ValueError:
        return None


def _same_piece(unit: Unit, line: int, end: Position) -> bool:
    """Whether a range from ``line`` to ``end`` (unit text) stays within pieces adjacent in the document."""
    pieces = unit.pieces
    last = end.line - 1 if end.column == 0 else end.line
    inside = [p for p in pieces if p[0] + p[2] > line and p[0] <= last]
    for before, after in zip(inside, inside[1:]):
        if not before[1] or not after[1] or before[1] + before[2] != after[1]:
            return False
    return True
