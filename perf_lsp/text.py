"""Coordinates in a document's text: lines, offsets and range shifts.

The core convention (:mod:`perf_lsp.model`): lines are **1-based**, columns are
**0-based code points** (Python ``str`` indices), as libcst reports them. An offset
is a 0-based code-point index into the whole text.

Lines end only at ``\\n``, ``\\r\\n`` and ``\\r``: how Python's tokenizer, libcst and
the LSP count lines. ``str.splitlines`` also splits at form feeds, U+2028 and other
separators and would shift every line after one. A line's *body* is the line
without its ending; a column past the body means the body's end, never a place
inside or after the line ending.

Every module that counts lines, turns positions into offsets and back or moves a
range does it here. The two other coordinate systems have one owner each:
:mod:`perf_lsp.lsp.convert` (LSP's 0-based lines and UTF-16 units) and
:mod:`perf_lsp.output` (the 1-based columns reports print).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from perf_lsp.model import Position, Range

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(source: str) -> list[str]:
    """Lines of ``source`` with their endings, split only at \\n, \\r\\n and \\r.

    ``"".join(split_lines(s)) == s``. A text that ends with a line ending has no
    empty last line (``"a\\n"`` is one line); ``""`` has none.
    """
    return _LINE.findall(source)


def line_body(line: str) -> str:
    """``line`` without its line ending."""
    return line.rstrip("\r\n")


def line_starts(lines: Sequence[str]) -> list[int]:
    """The offset where each of ``lines`` starts, then the text's length: ``len(lines) + 1`` numbers."""
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return starts


def clamp(lines: Sequence[str], pos: Position) -> Position:
    """``pos`` moved inside the text made of ``lines``, as LSP and editors read positions.

    A line before the first means the text's start; a line after the last, the
    text's end (``Position(len(lines) + 1, 0)``); a column past the line's body,
    the body's end; a negative column, 0.
    """
    if pos.line < 1:
        return Position(1, 0)
    if pos.line > len(lines):
        return Position(len(lines) + 1, 0)
    body = len(line_body(lines[pos.line - 1]))
    column = min(max(pos.column, 0), body)
    return pos if column == pos.column else Position(pos.line, column)


def offset_of(lines: Sequence[str], pos: Position, starts: Sequence[int] | None = None) -> int:
    """The offset of ``pos`` in the text made of ``lines``, after :func:`clamp`.

    ``starts``: :func:`line_starts` of ``lines`` when the caller has it (then O(1));
    without it the lengths of the lines before ``pos`` are summed.
    """
    pos = clamp(lines, pos)
    index = pos.line - 1
    before = starts[index] if starts is not None else sum(map(len, lines[:index]))
    return before + pos.column


def position_at(text: str, offset: int, first_line: int = 1) -> Position:
    """The position of ``offset`` (0 <= offset <= len(text)) in ``text``, whose first line is ``first_line``.

    An offset just after a line ending is column 0 of the next line; one between
    the ``\\r`` and ``\\n`` of a ``\\r\\n`` (callers avoid it) counts as after the ``\\r``.
    """
    before = text[:offset]
    newlines = before.count("\n") + before.count("\r") - before.count("\r\n")
    if newlines == 0:
        return Position(first_line, offset)
    last_break = max(before.rfind("\n"), before.rfind("\r"))
    return Position(first_line + newlines, offset - last_break - 1)


def shift_range(rng: Range, lines: int) -> Range:
    """``rng`` moved ``lines`` lines down (up when negative); columns unchanged.

    How a range relative to a piece of the document (a statement whose first line
    is line ``k``: shift by ``k - 1``) becomes a document range, and back.
    """
    if lines == 0:
        return rng
    return Range(
        Position(rng.start.line + lines, rng.start.column),
        Position(rng.end.line + lines, rng.end.column),
    )
