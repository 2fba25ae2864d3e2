"""The one engine behind the CLI, the language server and the tests.

``Engine.analyze(source, settings)`` splits the document into top-level statements
(:mod:`perf_lsp.source`), skips those whose text cannot match any enabled rule,
parses the rest with libcst one statement at a time and runs the rules over each
in a single batched traversal. Per-statement results are cached by the
statement's text (plus the module's imports and the settings), so after an edit
only the edited statement is parsed and checked again.

Fixes are built on request (``Analysis.fix``): a rule's codemod rewrites its
statement's CST, may add module-level definitions and imports, and the change is
turned into minimal text edits. ``Engine.fix_all`` applies fixes until none is
left (bounded), and never returns a result that does not parse.
"""

from __future__ import annotations

import ast
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import libcst as cst

from perf_lsp import noqa
from perf_lsp.model import Applicability, Diagnostic, Edit, Fix, Position, Range
from perf_lsp.names import ModuleContext, imports_in
from perf_lsp.rules import REGISTRY
from perf_lsp.rules.base import Finding, FixContext, Rule, RuleContext
from perf_lsp.resolve import TypeResolver
from perf_lsp.rules.summary import ChunkSummary
from perf_lsp.settings import Settings
from perf_lsp.source import TOO_DEEP, Chunk, SplitResult, depth_error, split_document, split_incremental, split_lines
from perf_lsp.textedit import apply_edits, diff_edits, merge_insertions

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFINITION_START = re.compile(r"(@|def\b|async\s+def\b|class\b)")


@dataclass
class ChunkResult:
    """The cached outcome of analysing one chunk: its CST (when parsed) and findings."""

    module: cst.Module | None
    findings: list[Finding]
    error: str | None = None
    unfixable: str | None = None
    """Why the findings of this chunk have no fixes (libcst does not reproduce its text), or None."""


_EMPTY = ChunkResult(None, [])


@dataclass
class Analysis:
    """One document analysed: its diagnostics and what is needed to build their fixes.

    ``diagnostics`` are sorted by position; lines 1-based, columns 0-based code
    points. ``syntax_error`` is set when the document as a whole does not parse
    (the statements that do parse are still checked). ``asked`` counts the
    findings with type questions, ``unresolved`` those left out because they wait
    for jedi; ``resolved`` says whether jedi answered (a resolver was given).
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
    _taken: set[str] | None = field(default=None, repr=False)

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

    def fix(self, diag: Diagnostic, which: int = 0, reserved: set[str] | None = None) -> Fix | None:
        """Build fix number ``which`` of ``diag`` (0: primary, 1: alternative) as text edits.

        Returns None when the diagnostic has no such fix or the codemod declines,
        or when the fixed document would not parse. ``reserved``: names that other
        fixes about to be applied together with this one will define; the new
        names this fix defines are added to it.
        """
        found = self._finding(diag)
        if found is None:
            return None
        chunk, result, finding = found
        if which >= len(finding.builders) or result.module is None:
            return None
        if self._taken is None:
            self._taken = taken_names(self.source)
        taken = self._taken | reserved if reserved else set(self._taken)
        fctx = FixContext(self.context, result.module, taken, imports_in(chunk.text))
        try:
            new_module = finding.builders[which](fctx)
        except Exception:  # a codemod bug must never take the editor down
            return None
        if new_module is None:
            return None
        edits = self._edits_for(diag.key[0], result.module, new_module, fctx)
        if not edits:
            return None
        offer = finding.offers[which]
        # Insertions land between top-level statements, so the document parses
        # after the fix when the rewritten statement does (a document that was
        # already broken elsewhere stays as broken, no more).
        if not parses(new_module.code):
            return None
        if reserved is not None:
            reserved |= fctx.taken
        return Fix(offer.title, offer.applicability, tuple(edits))

    def _edits_for(self, index: int, old: cst.Module, new: cst.Module, fctx: FixContext) -> list[Edit]:
        chunk = self.chunks[index]
        nl = old.default_newline
        edits: list[Edit] = []
        if fctx.imports:
            text = "".join(old.code_for_node(stmt).rstrip("\r\n") + nl for stmt in fctx.imports)
            anchor = self.context.import_anchor(chunk.start)
            has_imports = any(end == anchor for end in self.context.import_lines)
            if anchor == 0:
                anchor = self._after_leading_comments()
                text += nl
            elif not has_imports:  # right after the docstring
                text = nl + text
            edits.append(self._insertion(anchor + 1, text, nl))
        if fctx.definitions:
            edits.append(self._definitions_edit(index, old, fctx.definitions, nl))
        edits.extend(diff_edits(chunk.text, new.code, chunk.start))
        return merge_insertions(edits)

    def _insertion(self, line: int, text: str, nl: str) -> Edit:
        """Insert ``text`` at the start of ``line`` (1-based); past the end, after a newline."""
        if line > len(self.lines) and self.lines and not self.lines[-1].endswith(("\n", "\r")):
            text = nl + text
        if line > len(self.lines) + 1:
            line = len(self.lines) + 1
        return Edit(Range(Position(line, 0), Position(line, 0)), text)

    def _definitions_edit(self, index: int, old: cst.Module, definitions: list[cst.BaseStatement], nl: str) -> Edit:
        """Module-level definitions go before the chunk at ``index``, PEP 8 spaced.

        Functions and classes go right above the chunk (and its comments) with two
        blank lines after them. Simple statements (constants) go right after the
        previous top-level statement: a block of constants grows in place.
        """
        chunk = self.chunks[index]
        blocks = [old.code_for_node(stmt).rstrip("\r\n") + nl for stmt in definitions]
        compound = any(isinstance(s, (cst.FunctionDef, cst.ClassDef)) for s in definitions)
        if compound or index == 0:
            gap = nl * 2 if compound or _DEFINITION_START.match(chunk.text.lstrip()) else ""
            return self._insertion(self._definition_line(chunk), gap.join(blocks) + gap, nl)
        previous = self.chunks[index - 1]
        first = previous.text.lstrip()
        if _DEFINITION_START.match(first):
            lead = nl * 2
        elif first.startswith(("import ", "from ")) or first.startswith(('"', "'")):
            lead = nl
        else:
            lead = ""
        trail = ""
        if previous.end + 1 == self._definition_line(chunk):  # no blank line between the two statements
            trail = nl * 2 if _DEFINITION_START.match(chunk.text.lstrip()) else ""
        return self._insertion(previous.end + 1, lead + "".join(blocks) + trail, nl)

    def _definition_line(self, chunk: Chunk) -> int:
        """The line to insert a module-level definition for ``chunk``: above its leading comments."""
        line = chunk.start
        while line > 1 and self.lines[line - 2].lstrip().startswith("#") and not self.lines[line - 2].startswith("#!"):
            line -= 1
        return line

    def _after_leading_comments(self) -> int:
        line = 0
        while line < len(self.lines) and self.lines[line].startswith("#"):
            line += 1
        return line

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


_FROM_MODULE = re.compile(r"(?m)^([ \t]*from[ \t]+)[\w.]+")


def taken_names(source: str) -> set[str]:
    """Every identifier in ``source`` that a new name could clash with.

    Conservative: names in strings and comments count too. The module path of a
    ``from X import y`` does not (it binds ``y``, not ``X``).
    """
    return set(_IDENTIFIER.findall(_FROM_MODULE.sub(r"\1", source)))


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


def _shift(rng: Range, offset: int) -> Range:
    return Range(
        Position(rng.start.line + offset, rng.start.column),
        Position(rng.end.line + offset, rng.end.column),
    )


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
    read results. ``cache_size`` bounds the number of cached statements.
    """

    def __init__(self, rules: Sequence[type[Rule]] = REGISTRY, cache_size: int = 4096) -> None:
        self.rules = tuple(rules)
        self._cache: OrderedDict[tuple, ChunkResult] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def enabled_rules(self, settings: Settings) -> tuple[type[Rule], ...]:
        """The rules that ``select``/``ignore`` leave on."""
        return tuple(rule for rule in self.rules if settings.enabled(rule.code))

    def analyze(
        self,
        source: str,
        settings: Settings,
        previous: Analysis | None = None,
        resolver: TypeResolver | None = None,
    ) -> Analysis:
        """Check one document. Never raises on bad source: syntax errors go in ``syntax_error``.

        ``previous``: the same document's last analysis, if any; then only the
        statements an edit touched are parsed again with :mod:`ast` too
        (:func:`perf_lsp.source.split_incremental`), instead of the whole document.
        ``resolver``: answers the findings' type questions with jedi (the CLI
        passes one; the server runs a fast pass without it, then a refining
        pass). Without it, a finding that needs jedi's confirmation is left out
        and counted in ``Analysis.unresolved``.
        """
        lines = split_lines(source)
        split = None
        if previous is not None:
            split = split_incremental(previous.lines, SplitResult(previous.chunks, previous.context, previous.syntax_error), lines)
        if split is None:
            split = split_document(source, lines)
        rules = self.enabled_rules(settings)
        results: list[ChunkResult] = []
        diagnostics: list[Diagnostic] = []
        base = (split.context.fingerprint, settings.analysis_key, tuple(rule.code for rule in rules))
        unresolved = 0
        asked = 0
        for index, chunk in enumerate(split.chunks):
            result = self._chunk(chunk, split.context, settings, rules, base)
            results.append(result)
            offset = chunk.start - 1
            for number, f in enumerate(result.findings):
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
                diagnostics.append(
                    Diagnostic(
                        code=f.code,
                        name=f.name,
                        message=f.message,
                        range=_shift(f.range, offset),
                        fixes=f.offers,
                        detail=f.detail,
                        key=(index, number),
                    )
                )
        diagnostics.sort(key=lambda d: (d.range.start, d.code))
        analysis = Analysis(source, lines, split.context, split.chunks, results, diagnostics, split.syntax_error)
        analysis.unresolved = unresolved
        analysis.asked = asked
        analysis.resolved = resolver is not None
        return analysis

    def _chunk(self, chunk: Chunk, context: ModuleContext, settings: Settings, rules: tuple[type[Rule], ...], base: tuple) -> ChunkResult:
        """The cached result for ``chunk``, or a new one: text prefilters, then ast prefilters, then libcst.

        The cache key is the statement's text plus ``base`` (the module's name
        facts, the settings that matter and the enabled rules), so an unchanged
        statement costs one dictionary lookup.
        """
        key = (chunk.text, base)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        candidates = [rule for rule in rules if rule.applies_to(chunk.text, context, settings)]
        if candidates and chunk.nodes:
            summary = ChunkSummary(chunk.nodes, context)
            candidates = [rule for rule in candidates if rule.wants(summary, settings)]
        result = analyze_chunk(chunk.text, context, settings, candidates) if candidates else _EMPTY
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
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
    ) -> FixAllResult:
        """Apply every applicable fix, re-checking between rounds, at most ``max_rounds`` rounds.

        ``unsafe`` defaults to ``settings.unsafe_fixes``; ``codes`` limits the rules
        whose fixes are applied. In each round the fixes whose edits do not touch
        each other go in together; the result of every round must parse, or the
        round is retried with its first fix alone, and a fix that breaks the
        document is never retried. ``resolver_for(source)`` gives a jedi resolver
        for each round's text, so findings that need jedi are fixed too.
        """
        allow_unsafe = settings.unsafe_fixes if unsafe is None else unsafe
        wanted = set(codes) if codes is not None else None
        applied = 0
        broken: set[tuple] = set()
        rounds = 0
        reserved: set[str] = set()
        def check(text: str) -> Analysis:
            return self.analyze(text, settings, resolver=resolver_for(text) if resolver_for else None)

        analysis = check(source)
        for rounds in range(1, max_rounds + 1):
            batch: list[Fix] = []
            occupied: list[Range] = []
            first_key: tuple | None = None
            for diag in analysis.diagnostics:
                if wanted is not None and diag.code not in wanted:
                    continue
                if not diag.fixes:
                    continue
                if diag.fixes[0].applicability is Applicability.UNSAFE and not allow_unsafe:
                    continue
                ident = (diag.code, diag.range, diag.message)
                if ident in broken:
                    continue
                fix = analysis.fix(diag, reserved=reserved)
                if fix is None:
                    broken.add(ident)
                    continue
                if any(_touches(e.range, r) for e in fix.edits for r in occupied):
                    continue
                batch.append(fix)
                occupied.extend(e.range for e in fix.edits)
                if first_key is None:
                    first_key = ident
            reserved = set()
            if not batch:
                break
            new_source = _apply_fixes(source, batch)
            if new_source is None or not parses(new_source):
                new_source = _apply_fixes(source, batch[:1])
                if new_source is None or not parses(new_source):
                    broken.add(first_key)
                    continue
                batch = batch[:1]
            source = new_source
            applied += len(batch)
            analysis = check(source)
        remaining = [d for d in analysis.diagnostics if wanted is None or d.code in wanted]
        return FixAllResult(source, applied, rounds, remaining)


def _touches(a: Range, b: Range) -> bool:
    return a.start <= b.end and b.start <= a.end


def _apply_fixes(source: str, fixes: list[Fix]) -> str | None:
    try:
        return apply_edits(source, merge_insertions(e for f in fixes for e in f.edits))
    except ValueError:
        return None


def analyze_chunk(text: str, context: ModuleContext, settings: Settings, rules: Iterable[type[Rule]]) -> ChunkResult:
    """Parse one chunk with libcst and run ``rules`` over it in one batched traversal.

    Findings on a line with a matching ``# noqa`` are dropped here. A chunk that
    libcst cannot parse gives no findings and an ``error``; so does a chunk too
    deeply nested for libcst (:func:`perf_lsp.source.depth_error`: never parsed,
    error :data:`~perf_lsp.source.TOO_DEEP`). A rule that fails costs only its
    own findings (named in ``error``); the recursion limit reached anywhere costs
    the chunk's. ``error`` is at most :data:`MAX_ERROR` characters.
    """
    too_deep = depth_error(text)
    if too_deep is not None:
        return ChunkResult(None, [], error=too_deep)
    try:
        module = cst.parse_module(text)
    except Exception as exc:  # ParserSyntaxError, and whatever else libcst raises on odd input
        if _recursion(exc):
            return ChunkResult(None, [], error=TOO_DEEP)
        return ChunkResult(None, [], error=_describe(exc, first_line=True))
    ctx = RuleContext(module, context, settings, text)
    instances = [rule(ctx) for rule in rules]
    errors: list[str] = []
    try:
        ctx.run(instances)
    except Exception as exc:
        if _recursion(exc):
            return ChunkResult(module, [], error=TOO_DEEP)
        # A rule's bug must cost only that rule's findings: run them one by one.
        instances = []
        for rule in rules:
            alone = rule(RuleContext(module, context, settings, text))
            try:
                alone.ctx.run([alone])
            except Exception as exc:  # reported in ChunkResult.error, never raised
                if _recursion(exc):
                    return ChunkResult(module, [], error=TOO_DEEP)
                errors.append(f"{rule.code}: {_describe(exc)}")
                continue
            instances.append(alone)
    findings = [f for rule in instances for f in rule.findings]
    suppress = noqa.noqa_map(text)
    if suppress:
        findings = [f for f in findings if not noqa.is_suppressed(suppress, f.range.start.line, f.code)]
    findings.sort(key=lambda f: (f.range.start, f.code))
    unfixable = None
    if any(f.offers for f in findings):
        module, unfixable = _reproducing(module, text)
        if unfixable is not None:
            findings = [_without_fixes(f) for f in findings]
    return ChunkResult(module, findings, error=_shorten("; ".join(errors)) or None, unfixable=unfixable)


UNFIXABLE = (
    "libcst does not give this statement's text back exactly (bare CR or mixed line endings, "
    "a form feed before it), so a fix could move code"
)


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
