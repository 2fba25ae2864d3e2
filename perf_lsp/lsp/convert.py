"""The one place where the engine's positions and objects become LSP's, and back.

Index schemes
-------------
Engine (``perf_lsp.model``): lines are **1-based**; columns are **0-based, counted
in code points** (Python ``str`` indices), as libcst reports them.

LSP: lines are **0-based**; ``character`` is **0-based, counted in code units of
the negotiated position encoding**: UTF-16 unless the client offered another one
in ``general.positionEncodings`` at initialize (pygls picks the first of the
client's list it supports: ``utf-8``, ``utf-16`` or ``utf-32``). The document's
``position_codec`` (pygls) knows the encoding; we only use it to count the code
units of a string, so every function here works for all three encodings.

In ``x = "é😋"; re.compile(...)``, the ``r`` of ``re`` is at code-point column 10,
UTF-16 character 11 (``😋`` is a surrogate pair), UTF-8 character 14.

Both sides split lines only at ``\\n``, ``\\r\\n`` and ``\\r`` (LSP's rule, Python's
tokenizer's rule): ``lines`` below always come from
:func:`perf_lsp.text.split_lines` (never ``str.splitlines``, which also splits at
form feeds and U+2028 and would shift every line after them).

Out-of-range positions are read as the LSP specification and editors read them,
in both directions: a line ending is not part of a line's columns, so a column
(``character``) past the end of a line means the line's end, before its line
ending; a line past the last one means the end of the document; a negative line
or character means 0. A reversed range is the same range the right way round.
The server's copy of a document applies incremental changes through these
functions (:class:`perf_lsp.lsp.server.LspLinesDocument`), so it stays equal to
the editor's whatever a client sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from lsprotocol import types

from perf_lsp.model import Diagnostic, Edit, Position, Range
from perf_lsp.rules import severity_of
from perf_lsp.settings import Settings
from perf_lsp.text import line_body

SOURCE = "perf-lsp"
"""The ``source`` of every diagnostic the server publishes."""

FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.{SOURCE}"
"""``source.fixAll.perf-lsp``: the kind of the fix-all code action."""

QUICK_FIX_KIND = types.CodeActionKind.QuickFix.value

SEVERITIES = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


class Codec(Protocol):
    """What we use of pygls' ``PositionCodec``: code units of a string in the negotiated encoding."""

    def client_num_units(self, string: str) -> int: ...


def _units(codec: Codec, text: str) -> int:
    if text.isascii():  # one unit per character in UTF-8, UTF-16 and UTF-32
        return len(text)
    return codec.client_num_units(text)


# -- positions ----------------------------------------------------------------
def _end_of_text(lines: Sequence[str], codec: Codec) -> types.Position:
    if not lines:
        return types.Position(line=0, character=0)
    last = lines[-1]
    if last.endswith(("\n", "\r")):
        return types.Position(line=len(lines), character=0)
    return types.Position(line=len(lines) - 1, character=_units(codec, last))


def to_lsp_position(pos: Position, lines: Sequence[str], codec: Codec) -> types.Position:
    """Engine position (1-based line, code-point column) -> LSP position (0-based line, code units)."""
    index = pos.line - 1
    if index < 0:
        return types.Position(line=0, character=0)
    if index >= len(lines):
        return _end_of_text(lines, codec)
    body = line_body(lines[index])
    column = max(0, min(pos.column, len(body)))
    return types.Position(line=index, character=_units(codec, body[:column]))


def from_lsp_position(pos: types.Position, lines: Sequence[str], codec: Codec) -> Position:
    """LSP position -> engine position, clamped to the document (see the module docstring).

    A character inside a code point (half a surrogate pair, a UTF-8 continuation
    byte) rounds down to that code point's start. Never mutates ``pos``.
    """
    if pos.line >= len(lines):
        end = _end_of_text(lines, codec)
        if end.line >= len(lines):
            return Position(len(lines) + 1, 0)
        return Position(end.line + 1, len(line_body(lines[end.line])))
    if pos.line < 0:
        return Position(1, 0)
    body = line_body(lines[pos.line])
    target = max(pos.character, 0)
    prefix = body[:target]
    if prefix.isascii() and len(prefix) == target:  # fast path: all ASCII up to the position
        return Position(pos.line + 1, target)
    count = column = 0
    for char in body:
        width = codec.client_num_units(char)
        if count + width > target:
            break
        count += width
        column += 1
    return Position(pos.line + 1, column)


def to_lsp_range(rng: Range, lines: Sequence[str], codec: Codec) -> types.Range:
    """Engine range -> LSP range."""
    return types.Range(start=to_lsp_position(rng.start, lines, codec), end=to_lsp_position(rng.end, lines, codec))


def from_lsp_range(rng: types.Range, lines: Sequence[str], codec: Codec) -> Range:
    """LSP range -> engine range, clamped to the document; a reversed range comes back the right way round."""
    start, end = from_lsp_position(rng.start, lines, codec), from_lsp_position(rng.end, lines, codec)
    if end < start:
        start, end = end, start
    return Range(start, end)


# -- diagnostics ----------------------------------------------------------------
def severity(code: str, settings: Settings) -> types.DiagnosticSeverity:
    """The LSP severity configured for ``code`` (the rule's default unless set: Warning for most)."""
    return SEVERITIES.get(severity_of(code, settings), types.DiagnosticSeverity.Warning)


def to_lsp_diagnostic(
    diag: Diagnostic, lines: Sequence[str], codec: Codec, settings: Settings, version: int | None
) -> types.Diagnostic:
    """An engine diagnostic as published. ``data`` names the fixes on offer (built on request)."""
    return types.Diagnostic(
        range=to_lsp_range(diag.range, lines, codec),
        message=diag.message,
        severity=severity(diag.code, settings),
        code=diag.code,
        source=SOURCE,
        data={
            "name": diag.name,
            "fixes": [{"title": f.title, "applicability": f.applicability.value} for f in diag.fixes],
            "version": version,
        },
    )


# -- edits ----------------------------------------------------------------------
def to_text_edit(edit: Edit, lines: Sequence[str], codec: Codec) -> types.TextEdit:
    """An engine edit (positions in the document ``lines``) -> an LSP text edit."""
    return types.TextEdit(range=to_lsp_range(edit.range, lines, codec), new_text=edit.content)


def workspace_edit(
    uri: str, version: int | None, edits: Iterable[Edit], lines: Sequence[str], codec: Codec
) -> types.WorkspaceEdit:
    """Edits of one document, tied to its version (the client refuses them if it moved on)."""
    return documents_edit([(uri, version, edits, lines)], codec)


def documents_edit(
    changes: Iterable[tuple[str, int | None, Iterable[Edit], Sequence[str]]], codec: Codec
) -> types.WorkspaceEdit:
    """Edits of several documents (the cells of a notebook): (uri, version, edits, lines) each, every
    one tied to its document's version."""
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                edits=[to_text_edit(e, lines, codec) for e in edits],
            )
            for uri, version, edits, lines in changes
        ]
    )


# -- code action kinds -------------------------------------------------------------
def kind_allowed(kind: str, only: Sequence[str] | None) -> bool:
    """Whether a code action of ``kind`` may be returned for ``context.only``.

    Kinds are hierarchical: ``source`` and ``source.fixAll`` allow
    ``source.fixAll.perf-lsp``; ``quickfix`` allows every quick fix.
    """
    if only is None:
        return True
    wanted = [str(getattr(want, "value", want)) for want in only]
    return any(kind == want or kind.startswith(want + ".") for want in wanted)
