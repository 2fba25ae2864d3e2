"""The reparser's trees are the trees a full libcst parse gives, whatever the edit (perf_lsp.analysis.reparse)."""

from __future__ import annotations

import ast

import libcst as cst
import pytest
from fixtures import CASES
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from perf_lsp.analysis.reparse import Reparser
from perf_lsp.text import split_lines

NESTED = '''\
import re


class Service:
    """A class with every kind of block."""

    def handle(self, items, flag):
        # leading comment
        total = 0  # trailing comment
        for item in items:
            if flag:
                total += len(
                    item,  # continuation with a comment
                )
            elif item:
                total -= 1; total += 2
            else:
                pass
        try:
            value = re.match(r"a+", items[0])
        except (ValueError,
                KeyError) as exc:
            raise RuntimeError(exc)
        else:
            note = """two
   lines of a string"""
        finally:
            done = True
        while total > 10:
            total //= 2
        with open("x") as handle:
            handle.write(str(total))
        match flag:
            case 1:
                total = -total
            case _:
                pass
        return total, value, note, done

    async def stream(self, rows):
        async for row in rows:
            await self.send(row)
        async with self.lock:
            return [
                r
                for r in rows
            ]
'''

TEXTS = [NESTED, *sorted({case.source for case in CASES})[:60]]
ALPHABET = "abxyz0123 ()[],.:;=+-'\"#\\\n"


def _full(text: str) -> cst.Module | None:
    try:
        return cst.parse_module(text)
    except Exception:  # noqa: BLE001
        return None


@st.composite
def edits(draw):
    text = draw(st.sampled_from(TEXTS))
    lines = split_lines(text)
    row = draw(st.integers(0, len(lines) - 1))
    line = lines[row]
    body = line.rstrip("\r\n")
    start = draw(st.integers(0, len(body)))
    end = draw(st.integers(start, min(len(body), start + 4)))
    inserted = draw(st.text(ALPHABET, max_size=4))
    new_line = body[:start] + inserted + body[end:] + line[len(body) :]
    new = "".join([*lines[:row], new_line, *lines[row + 1 :]])
    return text, new


@pytest.mark.filterwarnings("ignore::SyntaxWarning", "ignore::DeprecationWarning")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(edits())
def test_reparse_equals_full_parse(edit):
    old, new = edit
    try:
        tree = ast.parse(new)
    except (SyntaxError, ValueError):
        assume(False)
        return
    full = _full(new)
    assume(full is not None and full.code == new)  # libcst's own round trip (it drops a lone backslash line)
    reparser = Reparser()
    reparser.parse(old, ast.parse(old))
    module = reparser.parse(new, tree)
    assert module.code == new
    assert module.deep_equals(full)


def test_a_sequence_of_keystrokes_equals_full_parses():
    """Typing a statement character by character into a method, each version against a fresh parse."""
    reparser = Reparser()
    lines = split_lines(NESTED)
    row = next(i for i, line in enumerate(lines) if "total = 0" in line)
    typed = 'extra = [re.findall(r"\\w+", s) for s in ()]'
    text = NESTED
    reparser.parse(text, ast.parse(text))
    reused_before = reparser.reused
    for count in range(1, len(typed) + 1):
        new_line = lines[row] + lines[row][: len(lines[row]) - len(lines[row].lstrip())] + typed[:count] + "\n"
        text = "".join([*lines[:row], new_line, *lines[row + 1 :]])
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        module = reparser.parse(text, tree)
        assert module.code == text
        assert module.deep_equals(cst.parse_module(text))
    assert reparser.reused > reused_before  # the typing was answered by splicing, not only by full parses


@pytest.mark.parametrize(
    "old,new",
    [
        # an edit that opens a string swallowing the next lines: the old statement is not the new one's lines
        ("def f():\n    x = 1\n    y = 2\n", 'def f():\n    x = """1\n    y = 2"""\n'),
        # one small statement becomes two
        ("def f():\n    x = 1\n    y = 2\n", "def f():\n    x = 1; z = 3\n    y = 2\n"),
        # a simple statement becomes a compound one's header
        ("def f():\n    x = 1\n    pass\n", "def f():\n    if x:\n        pass\n"),
        # a continuation line less indented than its block
        ("def f():\n    x = (1,\n2)\n", "def f():\n    x = (10,\n2)\n"),
        # a string across lines whose indentation is its content
        ('def f():\n    x = """a\n    b"""\n', 'def f():\n    x = """ab\n    b"""\n'),
    ],
)
def test_edits_that_change_structure(old, new):
    reparser = Reparser()
    reparser.parse(old, ast.parse(old))
    module = reparser.parse(new, ast.parse(new))
    assert module.code == new
    assert module.deep_equals(cst.parse_module(new))


def test_parse_module_without_validation_is_libcst_parse():
    """The same trees as libcst's validating parse, and validation is back on after it (and after a failure)."""
    from perf_lsp.analysis.reparse import parse_module

    for text in TEXTS:
        assert parse_module(text).deep_equals(cst.parse_module(text))
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def (:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")  # built outside the parse: validated as always
