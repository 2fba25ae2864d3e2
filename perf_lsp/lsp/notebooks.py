"""Notebook documents: diagnostics, hover and code actions for the Python cells of an open notebook.

The client syncs a notebook (``notebookDocument/didOpen`` ...) with one text document
per cell. Its Python code cells, in order, are analysed as one module
(:func:`perf_lsp.notebook.build_module`: IPython syntax masked line for line), through
the same :class:`~perf_lsp.lsp.features.Documents` as a file, keyed by the notebook's
URI. Results go back per cell: a diagnostic is published on its cell's URI with its
range in that cell; a fix's edits become text edits of the cells they change
(:meth:`perf_lsp.notebook.NotebookModule.cell_sources`, without new cells: imports
that would open a new cell go at the start of the first code cell). Cell positions
convert to LSP's through :mod:`perf_lsp.lsp.convert`, with the cell's own lines.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from functools import cached_property

from lsprotocol import types

from perf_lsp.lsp import convert, features
from perf_lsp.lsp.convert import FIX_ALL_KIND, QUICK_FIX_KIND, Codec, kind_allowed
from perf_lsp.model import Applicability, Diagnostic, Edit, Fix, Position, Range
from perf_lsp.notebook import NotebookError, NotebookModule, build_module
from perf_lsp.settings import Settings
from perf_lsp.text import line_body, split_lines
from perf_lsp.textedit import apply_edits, diff_edits


@dataclass(frozen=True)
class CellDocument:
    """One open Python code cell: its text document's URI and version, its index among all the
    notebook's cells (0-based) and its text."""

    uri: str
    index: int
    version: int | None
    source: str

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.source)


@dataclass(frozen=True)
class NotebookSnapshot:
    """One version of an open notebook: its Python code cells and the settings of its file.

    ``cell_uris``: every cell's text document URI (markdown ones too), for clearing diagnostics.
    """

    uri: str
    version: int
    cells: tuple[CellDocument, ...]
    cell_uris: tuple[str, ...]
    codec: Codec
    settings: Settings

    @cached_property
    def module(self) -> NotebookModule:
        return build_module((cell.index, cell.source) for cell in self.cells)

    @cached_property
    def document(self) -> features.Snapshot:
        """The module as a document snapshot, keyed by the notebook's URI."""
        return features.Snapshot(self.uri, self.version, self.module.text, self.codec, self.settings)

    def cell(self, uri: str) -> CellDocument | None:
        return next((c for c in self.cells if c.uri == uri), None)

    def by_index(self, index: int) -> CellDocument | None:
        return next((c for c in self.cells if c.index == index), None)


def _in_cell(snap: NotebookSnapshot, diag: Diagnostic) -> tuple[CellDocument, Diagnostic] | None:
    index, rng = snap.module.locate_range(diag.range)
    cell = snap.by_index(index)
    return (cell, replace(diag, range=rng)) if cell is not None else None


def _publishable(snap: NotebookSnapshot, diagnostics: list[Diagnostic]) -> dict[str, list[types.Diagnostic]]:
    out: dict[str, list[types.Diagnostic]] = {cell.uri: [] for cell in snap.cells}
    for diag in diagnostics:
        found = _in_cell(snap, diag)
        if found is None:
            continue
        cell, moved = found
        out[cell.uri].append(convert.to_lsp_diagnostic(moved, cell.lines, snap.codec, snap.settings, cell.version))
    return out


def diagnostics(docs: features.Documents, snap: NotebookSnapshot) -> dict[str, list[types.Diagnostic]]:
    """Each Python code cell's diagnostics, by cell URI (an empty list for a cell without any)."""
    return _publishable(snap, docs.analysis(snap.document).diagnostics)


def refined_diagnostics(docs: features.Documents, snap: NotebookSnapshot) -> dict[str, list[types.Diagnostic]] | None:
    """The cells' diagnostics after jedi answered the type questions, or None when nothing changed hands."""
    analysis = docs.refine(snap.document)
    return None if analysis is None else _publishable(snap, analysis.diagnostics)


def _module_position(snap: NotebookSnapshot, cell: CellDocument, pos: types.Position) -> Position:
    inside = convert.from_lsp_position(pos, cell.lines, snap.codec)
    return snap.module.to_module(cell.index, inside)


def hover(docs: features.Documents, snap: NotebookSnapshot, uri: str, position: types.Position) -> types.Hover | None:
    """Markdown about the diagnostics under ``position`` in cell ``uri``, or None."""
    cell = snap.cell(uri)
    if cell is None or snap.module.to_module(cell.index, Position(1, 0)) is None:
        return None
    doc = snap.document
    analysis = docs.analysis(doc)
    found = analysis.at(_module_position(snap, cell, position))
    if not found:
        return None
    value = "\n\n---\n\n".join(
        features.hover_markdown(
            analysis, d, lambda d, w: docs.fix(doc.uri, analysis, d, w), lambda fix: cell_preview(snap, fix)
        )
        for d in found
    )
    _, rng = snap.module.locate_range(found[0].range)
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=value),
        range=convert.to_lsp_range(rng, cell.lines, snap.codec),
    )


def cell_preview(snap: NotebookSnapshot, fix: Fix) -> str | None:
    """``fix`` as a unified diff per cell it changes (``cell N`` headers, rows in the cell); None when it
    cannot go back into the cells."""
    try:
        sources, _ = snap.module.cell_sources(apply_edits(snap.module.text, list(fix.edits)), new_cell=False)
    except (NotebookError, ValueError):
        return None
    out: list[str] = []
    for index, text in sorted(sources.items()):
        old = [line_body(line) for line in split_lines(snap.by_index(index).source)]
        new = [line_body(line) for line in split_lines(text)]
        name = f"cell {index + 1}"
        out.extend(difflib.unified_diff(old, new, fromfile=name, tofile=name, lineterm="", n=1))
    return "\n".join(out) if out else None


def cell_edit(snap: NotebookSnapshot, new_module: str) -> types.WorkspaceEdit | None:
    """The edits of the cells that turn the notebook's module into ``new_module``; None when none
    changes or a masked line (IPython syntax) would."""
    try:
        sources, _ = snap.module.cell_sources(new_module, new_cell=False)
    except NotebookError:
        return None
    changes = []
    for index, text in sorted(sources.items()):
        cell = snap.by_index(index)
        edits = diff_edits(cell.source, text)
        if edits:
            changes.append((cell.uri, cell.version, edits, cell.lines))
    return convert.documents_edit(changes, snap.codec) if changes else None


def _edit_of(snap: NotebookSnapshot, edits: list[Edit]) -> types.WorkspaceEdit | None:
    try:
        new_module = apply_edits(snap.module.text, edits)
    except ValueError:
        return None
    return cell_edit(snap, new_module)


def code_actions(
    docs: features.Documents,
    snap: NotebookSnapshot,
    uri: str,
    rng: types.Range,
    only,
    defer_fix_all: bool = False,
) -> list[types.CodeAction]:
    """Quick fixes (and "ignore") for the diagnostics in ``rng`` of cell ``uri``, then fix-all of the notebook.

    With ``defer_fix_all`` the fix-all action comes without its edit (``data`` names the notebook),
    for ``codeAction/resolve`` (:func:`resolve_fix_all`), as for a file.
    """
    cell = snap.cell(uri)
    if cell is None or snap.module.to_module(cell.index, Position(1, 0)) is None:
        return []
    doc = snap.document
    analysis = docs.analysis(doc)
    actions: list[types.CodeAction] = []
    if kind_allowed(QUICK_FIX_KIND, only):
        inside = convert.from_lsp_range(rng, cell.lines, snap.codec)
        wanted = Range(snap.module.to_module(cell.index, inside.start), snap.module.to_module(cell.index, inside.end))
        for diag in analysis.overlapping(wanted):
            found = _in_cell(snap, diag)
            if found is None or found[0].uri != uri:
                continue
            lsp_diag = convert.to_lsp_diagnostic(found[1], cell.lines, snap.codec, snap.settings, cell.version)
            for which in range(len(diag.fixes)):
                fix = docs.fix(doc.uri, analysis, diag, which)
                edit = _edit_of(snap, list(fix.edits)) if fix is not None else None
                if edit is None:
                    continue
                actions.append(features.quick_fix(fix, lsp_diag, which, edit))
            noqa = analysis.noqa_edit(diag)
            edit = _edit_of(snap, [noqa]) if noqa is not None else None
            if edit is not None:
                actions.append(
                    types.CodeAction(
                        title=f"Ignore {diag.code} on this line",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[lsp_diag],
                        edit=edit,
                    )
                )
    if kind_allowed(FIX_ALL_KIND, only):
        if defer_fix_all:
            action = features.deferred_fix_all_action(doc, analysis)
            if action is not None:
                actions.append(action)
        else:
            found = fix_all_edit(docs, snap)
            if found is not None:
                edit, applied = found
                which = "safe and unsafe" if snap.settings.unsafe_fixes else "safe"
                title = f"perf-lsp: fix all ({applied} {which} {'fix' if applied == 1 else 'fixes'})"
                actions.append(types.CodeAction(title=title, kind=FIX_ALL_KIND, edit=edit))
    return actions


def resolve_fix_all(docs: features.Documents, snap: NotebookSnapshot, action: types.CodeAction) -> types.CodeAction:
    """Fill in a deferred fix-all action's edit, for the notebook as it is now."""
    found = fix_all_edit(docs, snap)
    if found is not None:
        action.edit = found[0]
    return action


def fix_all_edit(docs: features.Documents, snap: NotebookSnapshot) -> tuple[types.WorkspaceEdit, int] | None:
    """Every applicable fix of the notebook as edits of its cells, and how many; None when there is nothing to fix."""
    doc = snap.document
    analysis = docs.analysis(doc)
    unsafe = snap.settings.unsafe_fixes
    if not any(d.fixes and (unsafe or d.fixes[0].applicability is Applicability.SAFE) for d in analysis.diagnostics):
        return None
    result, _edits = docs.fix_all(doc)
    if result.applied == 0 or result.source == doc.source:
        return None
    edit = cell_edit(snap, result.source)
    return (edit, result.applied) if edit is not None else None
