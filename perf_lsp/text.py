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


def split_lines_after_edit(old: str, old_lines: Sequence[str], new: str) -> tuple[list[str], int, int]:
    """:func:`split_lines` of ``new``, reusing the lines of ``old`` (``old_lines``) that an edit left alone.

    Returns (lines of ``new``, how many of them are equal to ``old``'s first lines,
    how many equal to its last lines), the two counts never overlapping. Equal
    text is found with string comparisons (C speed), so a keystroke in a
    6,500-line document splits one line instead of all of them. Text with a
    ``\\r`` is split whole (then the counts are 0).
    """
    if "\r" in old or "\r" in new or not old or not new:
        return split_lines(new), 0, 0
    limit = min(len(old), len(new))
    prefix = _common_prefix(old, new, limit)
    suffix = _common_suffix(old, new, limit - prefix)
    first = old.count("\n", 0, prefix)  # lines before the one holding the first difference
    start = old.rfind("\n", 0, prefix) + 1  # where that line starts (the same in both)
    q, qn = len(old) - suffix, len(new) - suffix  # where the common suffix starts in each
    if suffix == 0:
        tail_start = len(old)
    elif (q == 0 or old[q - 1] == "\n") and (qn == 0 or new[qn - 1] == "\n"):
        tail_start = q  # the suffix starts a line in both texts
    else:  # its first line is partly changed: whole lines start after its first line ending
        newline = old.find("\n", q)
        tail_start = len(old) if newline < 0 else newline + 1
    tail_chars = len(old) - tail_start
    tail = len(old_lines) - (old.count("\n", 0, tail_start) if tail_start < len(old) else len(old_lines))
    middle = split_lines(new[start : len(new) - tail_chars])
    lines = [*old_lines[:first], *middle, *old_lines[len(old_lines) - tail :]] if tail else [*old_lines[:first], *middle]
    return lines, first, tail


_BLOCK = 4096


def _common_prefix(a: str, b: str, limit: int) -> int:
    """How many characters ``a`` and ``b`` share at the start (at most ``limit``)."""
    at = 0
    while at < limit and a[at : at + _BLOCK] == b[at : at + _BLOCK]:
        at += _BLOCK
    if at >= limit:
        return limit
    lo, hi = at, min(at + _BLOCK, limit)  # a[:lo] == b[:lo]; the first difference is before hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """How many characters ``a`` and ``b`` share at the end (at most ``limit``)."""
    la, lb = len(a), len(b)
    at = 0
    while at < limit and a[max(la - at - _BLOCK, la - limit) : la - at] == b[max(lb - at - _BLOCK, lb - limit) : lb - at]:
        at += _BLOCK
    if at >= limit:
        return limit
    lo, hi = at, min(at + _BLOCK, limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid : la - lo] == b[lb - mid : lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


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
