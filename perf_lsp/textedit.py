"""Text edits: applying them, and turning a before/after pair into minimal edits.

Positions follow the core convention (1-based lines, 0-based code-point columns).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from perf_lsp.model import Edit, Position, Range
from perf_lsp.source import split_lines


def _offsets(lines: Sequence[str]) -> list[int]:
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return starts


def offset_of(lines: Sequence[str], starts: Sequence[int], pos: Position) -> int:
    """The code-point offset of ``pos`` in the text made of ``lines``, clamped to the text."""
    if pos.line < 1:
        return 0
    if pos.line > len(lines):
        return starts[-1]
    line = lines[pos.line - 1]
    body = len(line.rstrip("\r\n"))
    return starts[pos.line - 1] + min(pos.column, body)


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping ``edits`` to ``text``; raises ValueError when two edits overlap.

    Insertions at the same position are applied in the order given.
    """
    lines = split_lines(text)
    starts = _offsets(lines)
    spans = [
        (offset_of(lines, starts, e.range.start), offset_of(lines, starts, e.range.end), i, e.content)
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


def _position_at(block: str, offset: int, first_line: int) -> Position:
    before = block[:offset]
    newlines = before.count("\n") + before.count("\r") - before.count("\r\n")
    if newlines == 0:
        return Position(first_line, offset)
    last_break = max(before.rfind("\n"), before.rfind("\r"))
    return Position(first_line + newlines, offset - last_break - 1)


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
        start = _position_at(a, prefix, first_line + i1)
        end = _position_at(a, len(a) - suffix, first_line + i1)
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
