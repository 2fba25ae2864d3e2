"""What each request computes, from a snapshot of a document: diagnostics, hover, code actions.

These functions run in the server's analysis thread (never on the event loop)
and return LSP objects built through :mod:`perf_lsp.lsp.convert`. The hover's
markdown is built here too. Nothing here talks to the client.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from perf_lsp.analysis.hotness import FileHotness
from perf_lsp.analysis.resolve import TypeResolver
from perf_lsp.engine import Analysis, Engine, FixAllResult
from perf_lsp.lsp import convert
from perf_lsp.lsp.convert import FIX_ALL_KIND, QUICK_FIX_KIND, Codec, kind_allowed
from perf_lsp.model import Applicability, Diagnostic, Edit, Fix
from perf_lsp.rules import by_code
from perf_lsp.settings import Settings
from perf_lsp.text import line_body, shift_range, split_lines
from perf_lsp.textedit import apply_edits, diff_edits

REFINE_BUDGET_S = 3.0
"""Seconds jedi may spend on one version of a document (its first query in a process: 1-2 s)."""

LOOSE_CACHE_CHARS = 1_000_000
"""Statement text the server's engine keeps beyond what open documents' latest analyses use.

Enough for fix-all's rounds and an undo; ~15-30 MB of libcst trees at most. (Each
keystroke in a 3,000-line class used to keep one more tree of the class: ~1-3 MB.)
"""


@dataclass(frozen=True)
class Snapshot:
    """One version of one open document, with the settings that apply to it and the project
    index's answers for it (None: no index yet, nothing is filtered)."""

    uri: str
    version: int | None
    source: str
    codec: Codec
    settings: Settings
    hotness: FileHotness | None = None


class Documents:
    """The engine and the latest analysis (and fix-all result) of each document.

    An analysis is reused while the document's text and settings are unchanged, so
    a hover or code action right after the diagnostics costs nothing; otherwise the
    engine re-analyses (cheap: its cache is per statement).

    Nothing is kept per version: one analysis, one fix-all result and the fixes
    built for the latest analysis per document. The engine retains the cache
    entries of each document's latest analysis (:meth:`Engine.retain`) and bounds
    the rest (:data:`LOOSE_CACHE_CHARS`); :meth:`forget` releases them.
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine(cache_chars=LOOSE_CACHE_CHARS)
        self._analyses: dict[str, tuple[str, Settings, Analysis, FileHotness | None]] = {}
        self._fix_all: dict[str, tuple[str, Settings, bool, FixAllResult, list[Edit]]] = {}
        self._fixes: dict[str, tuple[Analysis, dict[tuple, Fix | None]]] = {}
        self._lock = threading.Lock()

    def analysis(self, snap: Snapshot) -> Analysis:
        with self._lock:
            last = self._analyses.get(snap.uri)
        if last is not None and last[1] == snap.settings and last[0] == snap.source and last[3] == snap.hotness:
            return last[2]
        previous = last[2] if last is not None else None
        analysis = self.engine.analyze(snap.source, snap.settings, previous, hotness=snap.hotness)
        self._store(snap, analysis)
        return analysis

    def _store(self, snap: Snapshot, analysis: Analysis) -> None:
        """Make ``analysis`` the document's latest: drop the fixes built for an older one, retain its cache entries."""
        with self._lock:
            self._analyses[snap.uri] = (snap.source, snap.settings, analysis, snap.hotness)
            fixes = self._fixes.get(snap.uri)
            if fixes is not None and fixes[0] is not analysis:
                del self._fixes[snap.uri]
        self.engine.retain(snap.uri, analysis)

    def refine(self, snap: Snapshot, budget: float = REFINE_BUDGET_S) -> Analysis | None:
        """Answer the latest analysis's type questions with jedi; None when there is nothing to refine.

        Runs after the fast diagnostics are out (off the keystroke path). The
        refined analysis replaces the fast one for this text, so hovers and code
        actions see what was published.
        """
        current = self.analysis(snap)
        if current.resolved or not current.asked:
            return None
        try:
            path = Path(to_fs_path(snap.uri)) if snap.uri.startswith("file:") else None
        except Exception:
            path = None
        resolver = TypeResolver(snap.source, path, budget=budget)
        refined = self.engine.analyze(snap.source, snap.settings, current, resolver=resolver, hotness=snap.hotness)
        with self._lock:
            last = self._analyses.get(snap.uri)
            latest = last is not None and last[0] == snap.source and last[1] == snap.settings and last[3] == snap.hotness
        if latest:
            self._store(snap, refined)
        return refined

    def fix(self, uri: str, analysis: Analysis, diag: Diagnostic, which: int = 0) -> Fix | None:
        """``analysis.fix(diag, which)``, remembered while ``analysis`` is the document's latest.

        Building a fix checks that the whole fixed document parses (~100 ms on
        6,000 lines), so a hover followed by code actions must not build it twice.
        """
        with self._lock:
            entry = self._fixes.get(uri)
            if entry is None or entry[0] is not analysis:
                entry = self._fixes[uri] = (analysis, {})
        key = (diag.key, which)
        if key not in entry[1]:
            entry[1][key] = analysis.fix(diag, which)
        return entry[1][key]

    def fix_all(self, snap: Snapshot) -> tuple[FixAllResult, list[Edit]]:
        """Engine.fix_all's result and the minimal edits from the document to it (remembered per text)."""
        unsafe = snap.settings.unsafe_fixes
        with self._lock:
            last = self._fix_all.get(snap.uri)
        if last is not None and last[0] == (snap.source, snap.hotness) and last[1] == snap.settings and last[2] == unsafe:
            return last[3], last[4]
        result = self.engine.fix_all(snap.source, snap.settings, unsafe=unsafe, hotness=snap.hotness)
        edits = diff_edits(snap.source, result.source) if result.source != snap.source else []
        with self._lock:
            self._fix_all[snap.uri] = ((snap.source, snap.hotness), snap.settings, unsafe, result, edits)
        return result, edits

    def forget(self, uri: str) -> None:
        """Drop everything about a document (it was closed)."""
        with self._lock:
            self._analyses.pop(uri, None)
            self._fix_all.pop(uri, None)
            self._fixes.pop(uri, None)
        self.engine.release(uri)


# -- diagnostics -------------------------------------------------------------------
def diagnostics(docs: Documents, snap: Snapshot) -> list[types.Diagnostic]:
    """The document's diagnostics, as published."""
    analysis = docs.analysis(snap)
    return [
        convert.to_lsp_diagnostic(d, analysis.lines, snap.codec, snap.settings, snap.version)
        for d in analysis.diagnostics
    ]


def refined_diagnostics(docs: Documents, snap: Snapshot) -> list[types.Diagnostic] | None:
    """The diagnostics after jedi answered the type questions, or None when nothing changed hands."""
    analysis = docs.refine(snap)
    if analysis is None:
        return None
    return [
        convert.to_lsp_diagnostic(d, analysis.lines, snap.codec, snap.settings, snap.version)
        for d in analysis.diagnostics
    ]


# -- hover ---------------------------------------------------------------------------
def hover(docs: Documents, snap: Snapshot, position: types.Position) -> types.Hover | None:
    """Markdown about the diagnostics under ``position``, or None when there are none."""
    analysis = docs.analysis(snap)
    found = analysis.at(convert.from_lsp_position(position, analysis.lines, snap.codec))
    if not found:
        return None
    value = "\n\n---\n\n".join(
        hover_markdown(analysis, d, lambda d, w: docs.fix(snap.uri, analysis, d, w)) for d in found
    )
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=value),
        range=convert.to_lsp_range(found[0].range, analysis.lines, snap.codec),
    )


_SAFETY = {
    Applicability.SAFE: "safe: it keeps the program's behaviour, and fix-all applies it",
    Applicability.UNSAFE: "unsafe: it can change behaviour; fix-all applies it only with `unsafeFixes`",
}


def hover_markdown(
    analysis: Analysis,
    diag: Diagnostic,
    build: Callable[[Diagnostic, int], Fix | None] | None = None,
    preview: Callable[[Fix], str | None] | None = None,
) -> str:
    """The rule's name and code, the message and detail, why it is slow (with its sources), and each fix as a diff.

    ``build(diag, which)`` builds a fix (default: ``analysis.fix``); ``preview(fix)`` renders it as
    a diff, None when it cannot apply (default: :func:`fix_preview` of the analysed text).
    """
    build = build or analysis.fix
    preview = preview or (lambda fix: fix_preview(analysis.source, fix))
    rule = by_code(diag.code)
    parts = [f"**{diag.code}** `{diag.name}`", diag.message]
    if diag.detail:
        parts.append(f"*{diag.detail}*")
    why = rule.section("Why is this bad?") if rule else ""
    if why:
        parts.append(f"**Why is this slow?**\n\n{why}")
    sources = rule.section("References") if rule else ""
    if sources:
        parts.append(f"**Sources**\n\n{sources}")
    labels = ("Fix", "Alternative fix")
    for which, offer in enumerate(diag.fixes):
        label = labels[which] if which < len(labels) else f"Fix {which + 1}"
        text = f"**{label}** ({_SAFETY[offer.applicability]}): {offer.title}"
        fix = build(diag, which)
        shown = preview(fix) if fix is not None else None
        if shown is None:
            text += "\n\n(This fix cannot be applied here.)"
        else:
            text += "\n\n" + fenced(shown, "diff")
        parts.append(text)
    if diag.fixes and rule and rule.section("Fix safety"):
        parts.append(f"**Fix safety**\n\n{rule.section('Fix safety')}")
    parts.append(f"Ignore it with `# noqa: {diag.code}` on the line.")
    return "\n\n".join(parts)


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def fix_preview(source: str, fix: Fix, context: int = 1) -> str:
    """The lines ``fix`` changes, as a unified diff with ``context`` lines around them (no file header).

    Only the regions around the edits are diffed (then renumbered), not the whole
    document: difflib over 6,000 lines costs ~40 ms, a region a fraction of a millisecond.
    """
    lines = split_lines(source)
    groups: list[tuple[int, int, list[Edit]]] = []  # first and last line (1-based), edits
    for edit in sorted(fix.edits, key=lambda e: (e.range.start, e.range.end)):
        first = max(1, edit.range.start.line - context)
        last = min(len(lines), edit.range.end.line + context)
        if groups and first <= groups[-1][1] + 1:
            groups[-1] = (groups[-1][0], max(groups[-1][1], last), groups[-1][2] + [edit])
        else:
            groups.append((first, last, [edit]))
    out: list[str] = []
    delta = 0  # lines added so far, for the new side's numbers
    for first, last, edits in groups:
        region = "".join(lines[first - 1 : last])
        shift = first - 1
        moved = [Edit(shift_range(e.range, -shift), e.content) for e in edits]
        old = [line_body(line) for line in split_lines(region)]
        new = [line_body(line) for line in split_lines(apply_edits(region, moved))]
        for line in list(difflib.unified_diff(old, new, lineterm="", n=context))[2:]:
            match = _HUNK.match(line)
            if match:
                a, b, c, d = match.groups()
                line = f"@@ -{int(a) + shift}{b or ''} +{int(c) + shift + delta}{d or ''} @@"
            out.append(line)
        delta += len(new) - len(old)
    return "\n".join(out)


def fenced(text: str, language: str) -> str:
    """``text`` in a markdown code block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


# -- code actions --------------------------------------------------------------------
def quick_fix(fix, lsp_diag: types.Diagnostic, which: int, edit: types.WorkspaceEdit | None) -> types.CodeAction:
    """The quick-fix code action of ``fix`` (the ``which``-th fix of the diagnostic ``lsp_diag``): preferred
    when it is the first and safe."""
    return types.CodeAction(
        title=fix.title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[lsp_diag],
        is_preferred=which == 0 and fix.applicability is Applicability.SAFE,
        edit=edit,
    )


def code_actions(
    docs: Documents, snap: Snapshot, rng: types.Range, only: Sequence[str] | None, defer_fix_all: bool = False
) -> list[types.CodeAction]:
    """Quick fixes, alternative fixes and "ignore" for the diagnostics in ``rng``, then fix-all.

    Fix-all re-analyses the document after each round of fixes (seconds on a
    6,000-line file), so with ``defer_fix_all`` its action comes without the edit,
    which ``codeAction/resolve`` computes (:func:`resolve_fix_all`). The server
    defers it when the client did not ask for source actions (a lightbulb request,
    sent on every cursor move) and can resolve edits.
    """
    analysis = docs.analysis(snap)
    lines, codec = analysis.lines, snap.codec
    actions: list[types.CodeAction] = []

    def edit(edits) -> types.WorkspaceEdit:
        return convert.workspace_edit(snap.uri, snap.version, edits, lines, codec)

    if kind_allowed(QUICK_FIX_KIND, only):
        ignored: set[tuple[str, int]] = set()
        for diag in analysis.overlapping(convert.from_lsp_range(rng, lines, codec)):
            lsp_diag = convert.to_lsp_diagnostic(diag, lines, codec, snap.settings, snap.version)
            for which in range(len(diag.fixes)):
                fix = docs.fix(snap.uri, analysis, diag, which)
                if fix is None:
                    continue
                actions.append(quick_fix(fix, lsp_diag, which, edit(fix.edits)))
            if (diag.code, diag.range.start.line) in ignored:
                continue
            noqa = analysis.noqa_edit(diag)
            if noqa is not None:
                ignored.add((diag.code, diag.range.start.line))
                actions.append(
                    types.CodeAction(
                        title=f"Ignore {diag.code} on this line",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[lsp_diag],
                        edit=edit([noqa]),
                    )
                )
    if kind_allowed(FIX_ALL_KIND, only):
        if defer_fix_all:
            action = deferred_fix_all_action(snap, analysis)
        else:
            action = fix_all_action(docs, snap, analysis)
        if action is not None:
            actions.append(action)
    return actions


def _fix_all_candidates(analysis: Analysis, settings: Settings) -> int:
    """How many diagnostics fix-all would try to fix under ``settings``."""
    unsafe = settings.unsafe_fixes
    return sum(
        1 for d in analysis.diagnostics if d.fixes and (unsafe or d.fixes[0].applicability is Applicability.SAFE)
    )


def _fix_all_title(count: int, settings: Settings) -> str:
    which = "safe and unsafe" if settings.unsafe_fixes else "safe"
    return f"perf-lsp: fix all ({count} {which} {'fix' if count == 1 else 'fixes'})"


def fix_all_edit(
    docs: Documents, snap: Snapshot, analysis: Analysis | None = None
) -> tuple[types.WorkspaceEdit, int] | None:
    """Every applicable fix as minimal edits of the document, and how many fixes; None when there is nothing to fix.

    Safe fixes only, unless the ``unsafeFixes`` setting is on.
    """
    analysis = analysis or docs.analysis(snap)
    if not _fix_all_candidates(analysis, snap.settings):
        return None
    result, edits = docs.fix_all(snap)
    if result.applied == 0 or not edits:
        return None
    return convert.workspace_edit(snap.uri, snap.version, edits, analysis.lines, snap.codec), result.applied


def fix_all_action(docs: Documents, snap: Snapshot, analysis: Analysis | None = None) -> types.CodeAction | None:
    """The ``source.fixAll.perf-lsp`` action, or None when there is nothing to fix."""
    found = fix_all_edit(docs, snap, analysis)
    if found is None:
        return None
    edit, applied = found
    return types.CodeAction(title=_fix_all_title(applied, snap.settings), kind=FIX_ALL_KIND, edit=edit)


def deferred_fix_all_action(snap: Snapshot, analysis: Analysis) -> types.CodeAction | None:
    """The ``source.fixAll.perf-lsp`` action without its edit (see :func:`resolve_fix_all`)."""
    count = _fix_all_candidates(analysis, snap.settings)
    if not count:
        return None
    return types.CodeAction(
        title=_fix_all_title(count, snap.settings),
        kind=FIX_ALL_KIND,
        data={"uri": snap.uri, "version": snap.version},
    )


def resolve_fix_all(docs: Documents, snap: Snapshot, action: types.CodeAction) -> types.CodeAction:
    """Fill in a deferred fix-all action's edit, for the document as it is now."""
    found = fix_all_edit(docs, snap)
    if found is not None:
        action.edit = found[0]
    return action
