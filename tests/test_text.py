"""perf_lsp.text: line splitting, positions <-> offsets, clamping and range shifts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perf_lsp.model import Position, Range
from perf_lsp.text import (
    clamp,
    line_body,
    line_starts,
    offset_of,
    position_at,
    shift_range,
    split_lines,
    split_lines_after_edit,
)

# the pieces that make line counting go wrong: every line ending, separators str.splitlines
# also breaks at, a character outside the BMP (two UTF-16 units, one code point)
PIECES = ["a", "é", "😋", " ", "\n", "\r", "\r\n", "\x0c", "\u2028", "\x1c"]
texts = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def test_split_lines_breaks_only_at_newline_crlf_and_cr():
    assert split_lines("a\r\nb\rc\nd") == ["a\r\n", "b\r", "c\n", "d"]
    assert split_lines("a\x0cb\u2028c\x1cd\n") == ["a\x0cb\u2028c\x1cd\n"]


def test_split_lines_has_no_empty_last_line():
    assert split_lines("") == []
    assert split_lines("a\n") == ["a\n"]
    assert split_lines("a\n\n") == ["a\n", "\n"]
    assert split_lines("\r\r\n") == ["\r", "\r\n"]


@given(texts)
def test_split_lines_keeps_every_character(text):
    lines = split_lines(text)
    assert "".join(lines) == text
    assert all(line for line in lines)
    # every line but the last ends with a line ending, and holds no other
    assert all(line_body(line) == line.rstrip("\r\n") and "\n" not in line_body(line) and "\r" not in line_body(line)
               for line in lines)


def test_columns_count_code_points():
    text = 'x = "😋"; y\r\nz'
    lines = split_lines(text)
    assert offset_of(lines, Position(1, 9)) == text.index("y") == 9  # 10 in UTF-16
    assert position_at(text, text.index("y")) == Position(1, 9)
    assert position_at(text, text.index("z")) == Position(2, 0)


def test_clamp_reads_out_of_range_positions_as_editors_do():
    lines = split_lines("ab\r\ncd")
    assert clamp(lines, Position(1, 9)) == Position(1, 2)  # before the line ending, not inside it
    assert clamp(lines, Position(1, -3)) == Position(1, 0)
    assert clamp(lines, Position(0, 5)) == Position(1, 0)
    assert clamp(lines, Position(7, 1)) == Position(3, 0)  # the end of the text
    assert offset_of(lines, Position(1, 9)) == 2
    assert offset_of(lines, Position(7, 1)) == 6
    assert offset_of(split_lines("ab\n"), Position(2, 4)) == 3  # the empty line after the last line ending


def test_line_starts_end_with_the_length():
    lines = split_lines("a\r\nbb\rc")
    assert line_starts(lines) == [0, 3, 6, 7]
    assert line_starts([]) == [0]


@given(texts, st.data())
def test_offsets_and_positions_round_trip(text, data):
    offset = data.draw(st.integers(0, len(text)))
    if 0 < offset < len(text) and text[offset - 1 : offset + 1] == "\r\n":
        offset -= 1  # not a position: between the two characters of one line ending
    lines = split_lines(text)
    pos = position_at(text, offset)
    assert offset_of(lines, pos) == offset
    assert offset_of(lines, pos, line_starts(lines)) == offset
    assert clamp(lines, pos) == pos


@given(texts, st.integers(1, 5))
def test_position_at_counts_from_first_line(text, first):
    assert position_at(text, len(text), first).line == position_at(text, len(text)).line + first - 1


def test_shift_range_moves_lines_only():
    rng = Range(Position(2, 3), Position(4, 0))
    assert shift_range(rng, 10) == Range(Position(12, 3), Position(14, 0))
    assert shift_range(shift_range(rng, 10), -10) == rng
    assert shift_range(rng, 0) is rng


_EDIT_TEXTS = ["", "a", "\n", "a\nb\nc", "a\n\nb\n", "def f():\n    x = 1\n\n    return x\n", "x = 1\r\ny = 2\r\n"]


@given(
    st.sampled_from(_EDIT_TEXTS),
    st.integers(0, 40),
    st.integers(0, 6),
    st.text("ab\n \r", max_size=5),
)
def test_split_lines_after_edit_is_split_lines(old, at, removed, inserted):
    """Reusing the unchanged lines gives exactly split_lines of the new text, and the counts are right."""
    at = min(at, len(old))
    new = old[:at] + inserted + old[at + removed :]
    old_lines = split_lines(old)
    lines, first, tail = split_lines_after_edit(old, old_lines, new)
    assert lines == split_lines(new)
    assert first + tail <= min(len(old_lines), len(lines))
    assert lines[:first] == old_lines[:first]
    assert tail == 0 or lines[-tail:] == old_lines[-tail:]


def test_split_lines_after_edit_reuses_lines_of_a_long_text():
    old = "".join(f"line {i}\n" for i in range(1000))
    new = old.replace("line 500\n", "line 500 edited\n")
    lines, first, tail = split_lines_after_edit(old, split_lines(old), new)
    assert (first, tail) == (500, 499)
    assert lines[500] == "line 500 edited\n"
