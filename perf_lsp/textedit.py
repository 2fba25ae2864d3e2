"""Text edits: applying them, and turning a before/after pair into minimal edits.

Positions follow the core convention (1-based lines, 0-based code-point columns);
lines, offsets and clamping come from :mod:`perf_lsp.text`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from perf_lsp.model import Edit, Position, Range
from perf_lsp.text import clamp, line_starts, offset_of, position_at, split_lines


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping ``edits`` to ``text``; raises ValueError when two edits overlap.

    Insertions at the same position are applied in the order given.
    """
    lines = split_lines(text)
    starts = line_starts(lines)
    spans = [
        (offset_of(lines, e.range.start, starts), offset_of(lines, e.range.end, starts), i, e.content)
        for i, e in enumerate(edits)
    ]
    spans.sort(key=lambda s: (s[0], s[1], s[2]))
    out: list[str] = []
    cursor = 0
    for start, end, _, content in spans:
        if start < cursor:
            raise ValueError("overlapping edits")
        out.append(text[cursor:start])
        out.append(content)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def diff_edits(old: str, new: str, first_line: int = 1) -> list[Edit]:
    """The smallest line-and-character edits that turn ``old`` into ``new``.

    ``first_line`` is the document line where ``old`` starts, so edits computed on
    one chunk land at the right place in the document. Lines are diffed with
    :class:`difflib.SequenceMatcher`, then each changed block is trimmed to the
    characters that differ.
    """
    old_lines = split_lines(old)
    new_lines = split_lines(new)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    edits: list[Edit] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        a = "".join(old_lines[i1:i2])
        b = "".join(new_lines[j1:j2])
        prefix = 0
        limit = min(len(a), len(b))
        while prefix < limit and a[prefix] == b[prefix]:
            prefix += 1
        suffix = 0
        while suffix < limit - prefix and a[len(a) - 1 - suffix] == b[len(b) - 1 - suffix]:
            suffix += 1
        # Keep "\r\n" whole: never split it between the kept and the edited part.
        if 0 < prefix < len(a) and a[prefix - 1] == "\r" and a[prefix] == "\n":
            prefix -= 1
        cut = len(a) - suffix
        if 0 < cut < len(a) and a[cut - 1] == "\r" and a[cut] == "\n":
            suffix -= 1
        start = position_at(a, prefix, first_line + i1)
        end = position_at(a, len(a) - suffix, first_line + i1)
        edits.append(Edit(Range(start, end), b[prefix : len(b) - suffix]))
    return edits


def merge_insertions(edits: Iterable[Edit]) -> list[Edit]:
    """Sort edits and merge insertions at the same position into one edit, in order.

    Raises ValueError when two edits overlap otherwise.
    """
    ordered = sorted(enumerate(edits), key=lambda ie: (ie[1].range.start, ie[1].range.end, ie[0]))
    out: list[Edit] = []
    for _, edit in ordered:
        if out:
            prev = out[-1]
            if prev.range.start == prev.range.end == edit.range.start:
                out[-1] = Edit(Range(prev.range.start, edit.range.end), prev.content + edit.content)
                continue
            if edit.range.start < prev.range.end:
                raise ValueError("overlapping edits")
        out.append(edit)
    return out


def replace_range(
    source: str, lines: Sequence[str], start_line: int, start_col: int, end_line: int, end_col: int, text: str
) -> tuple[str, list[str]]:
    """Replace a range of ``source`` by ``text``; returns (new source, its lines).

    ``lines`` is ``split_lines(source)``. Lines are 0-based, columns code points. A range
    is read as LSP (and every editor) reads it: a column past the end of its line means
    the line's end, before its line ending; a line past the last one (or a column on the
    line just after a final line ending) means the end of the text; a negative line or
    column means 0; a reversed range is the same range the right way round. So the
    result never depends on how a client rounds an out-of-range position.

    Costs one slice of the text and a re-split of the changed lines and their
    neighbours, not of the whole document: what a language server needs per keystroke.
    """
    n = len(lines)
    start = clamp(lines, Position(start_line + 1, start_col))
    end = clamp(lines, Position(end_line + 1, end_col))
    if end < start:
        start, end = end, start
    if start.line > n:
        return source + text, _append(lines, text) if lines else split_lines(text)
    start_offset = offset_of(lines, start)
    end_offset = offset_of(lines, end)
    (start_line, start_col), (end_line, end_col) = (start.line - 1, start.column), (end.line - 1, end.column)
    suffix = lines[end_line][end_col:] if end_line < n else ""
    new_source = source[:start_offset] + text + source[end_offset:]
    # Re-split the changed lines with one neighbour on each side: a "\r" left at the end of
    # the line before may join a "\n" that the new text starts with, and the other way round.
    first = max(0, start_line - 1)
    last = min(n - 1, end_line + 1)
    middle = lines[start_line][:start_col] + text + suffix
    segment = "".join(lines[first:start_line]) + middle + "".join(lines[end_line + 1 : last + 1])
    return new_source, [*lines[:first], *split_lines(segment), *lines[last + 1 :]]


def _append(lines: Sequence[str], text: str) -> list[str]:
    # text added after the last line: only the last line and the new text can merge
    return [*lines[:-1], *split_lines(lines[-1] + text)]
