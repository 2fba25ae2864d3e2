"""perf_lsp.lsp.convert and the hover's diff, without a server."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from perf_lsp.engine import Engine
from perf_lsp.lsp import convert
from perf_lsp.lsp.features import fenced, fix_preview
from perf_lsp.model import Edit, Position, Range
from perf_lsp.settings import Settings
from perf_lsp.source import split_lines

TEXT = 'x = "é😋"; re.compile(p)\r\ny = 1\n\x0cz = "\u2028"\n'
LINES = split_lines(TEXT)
CODECS = {name: PositionCodec(encoding=name) for name in ("utf-8", "utf-16", "utf-32")}


def units(text: str, encoding: str) -> int:
    return {"utf-8": len(text.encode()), "utf-16": len(text.encode("utf-16-le")) // 2, "utf-32": len(text)}[encoding]


@pytest.mark.parametrize("encoding", CODECS)
def test_every_column_round_trips(encoding):
    codec = CODECS[encoding]
    for index, line in enumerate(LINES):
        body = line.rstrip("\r\n")
        for column in range(len(body) + 1):
            lsp = convert.to_lsp_position(Position(index + 1, column), LINES, codec)
            assert (lsp.line, lsp.character) == (index, units(body[:column], encoding))
            assert convert.from_lsp_position(lsp, LINES, codec) == Position(index + 1, column)


def test_lines_break_only_at_newlines():
    assert len(LINES) == 3  # not at \x0c or U+2028
    codec = CODECS["utf-16"]
    assert convert.to_lsp_position(Position(3, 5), LINES, codec) == types.Position(line=2, character=5)


def test_out_of_range_positions_clamp():
    codec = CODECS["utf-16"]
    # past the end of a line: its end (the line ending is not a column)
    assert convert.to_lsp_position(Position(2, 99), LINES, codec) == types.Position(line=1, character=5)
    assert convert.from_lsp_position(types.Position(line=1, character=99), LINES, codec) == Position(2, 5)
    # past the last line: the end of the document
    assert convert.to_lsp_position(Position(9, 0), LINES, codec) == types.Position(line=3, character=0)
    no_newline = split_lines("a = 1")
    assert convert.to_lsp_position(Position(2, 0), no_newline, codec) == types.Position(line=0, character=5)
    assert convert.from_lsp_position(types.Position(line=7, character=0), no_newline, codec) == Position(1, 5)
    assert convert.to_lsp_position(Position(1, 0), [], codec) == types.Position(line=0, character=0)


def test_half_a_surrogate_pair_rounds_down():
    codec = CODECS["utf-16"]
    emoji = LINES[0].index("😋")
    assert convert.from_lsp_position(types.Position(line=0, character=emoji + 1), LINES, codec) == Position(1, emoji)


def test_diagnostic_severity_and_data():
    source = 'import re\n\n\ndef f(lines):\n    return [re.findall(r"\\d+", s) for s in lines]\n'
    diag = Engine().analyze(source, Settings()).diagnostics[0]
    settings = Settings(severity=(("PFL401", "hint"),))
    lsp = convert.to_lsp_diagnostic(diag, split_lines(source), CODECS["utf-16"], settings, 7)
    assert lsp.severity == types.DiagnosticSeverity.Hint
    assert (lsp.code, lsp.source) == ("PFL401", "perf-lsp")
    assert lsp.data["version"] == 7
    assert lsp.data["fixes"] == [{"title": diag.fixes[0].title, "applicability": "safe"}]
    default = convert.to_lsp_diagnostic(diag, split_lines(source), CODECS["utf-16"], Settings(), 7)
    assert default.severity == types.DiagnosticSeverity.Warning


@pytest.mark.parametrize(
    "kind, only, allowed",
    [
        ("source.fixAll.perf-lsp", None, True),
        ("source.fixAll.perf-lsp", ["source"], True),
        ("source.fixAll.perf-lsp", [types.CodeActionKind.SourceFixAll], True),
        ("source.fixAll.perf-lsp", ["source.fixAll.perf-lsp"], True),
        ("source.fixAll.perf-lsp", ["source.fix"], False),
        ("source.fixAll.perf-lsp", ["quickfix"], False),
        ("quickfix", [types.CodeActionKind.QuickFix], True),
        ("quickfix", ["source", "refactor"], False),
        ("quickfix", [], False),
    ],
)
def test_kind_allowed(kind, only, allowed):
    assert convert.kind_allowed(kind, only) is allowed


def test_workspace_edit_is_versioned_and_minimal():
    source = "a\nb\n"
    edit = convert.workspace_edit(
        "file:///x.py", 3, [convert_edit(2, 0, 2, 1, "c")], split_lines(source), CODECS["utf-16"]
    )
    (change,) = edit.document_changes
    assert change.text_document == types.OptionalVersionedTextDocumentIdentifier(uri="file:///x.py", version=3)
    assert change.edits == [
        types.TextEdit(
            range=types.Range(start=types.Position(line=1, character=0), end=types.Position(line=1, character=1)),
            new_text="c",
        )
    ]


def convert_edit(l1, c1, l2, c2, text):
    return Edit(Range(Position(l1, c1), Position(l2, c2)), text)


def test_fix_preview_shows_only_the_changed_lines_numbered_in_the_document():
    body = "".join(f"v{i} = {i}\n" for i in range(200))
    source = "import re\n" + body + '\n\ndef f(lines):\n    return [re.findall(r"\\d+", s) for s in lines]\n'
    analysis = Engine().analyze(source, Settings())
    fix = analysis.fix(analysis.diagnostics[0])
    preview = fix_preview(source, fix)
    assert "v100" not in preview
    assert '-    return [re.findall(r"\\d+", s) for s in lines]' in preview
    call_line = source.splitlines().index('    return [re.findall(r"\\d+", s) for s in lines]') + 1
    hunks = [line for line in preview.splitlines() if line.startswith("@@")]
    assert len(hunks) == 2
    assert hunks[1].startswith(f"@@ -{call_line - 1},")


def test_fenced_outgrows_backticks_inside():
    assert fenced("a ``` b", "diff") == "````diff\na ``` b\n````"
    assert fenced("plain", "diff") == "```diff\nplain\n```"


# -- out-of-range and reversed positions ---------------------------------------
def test_reversed_range_is_normalised():
    codec = CODECS["utf-16"]
    rng = types.Range(start=types.Position(line=1, character=3), end=types.Position(line=0, character=2))
    assert convert.from_lsp_range(rng, LINES, codec) == Range(Position(1, 2), Position(2, 3))


def _document(text: str, encoding: str = "utf-16"):
    from perf_lsp.lsp.server import LspLinesDocument

    return LspLinesDocument("file:///doc.py", text, version=1, position_codec=CODECS[encoding])


def _change(doc, l1: int, c1: int, l2: int, c2: int, text: str) -> str:
    doc.apply_change(
        types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=l1, character=c1), end=types.Position(line=l2, character=c2)),
            text=text,
        )
    )
    assert list(doc.lines) == split_lines(doc.source)
    return doc.source


@pytest.mark.parametrize("encoding", CODECS)
def test_incremental_change_past_the_end_of_a_line_lands_at_its_end(encoding):
    # "ab" is 2 units in every encoding: character 3 is one past its end, which pygls put after the "\n"
    doc = _document("ab\nx = 'é'\ncd", encoding)
    assert _change(doc, 0, 3, 0, 3, "X") == "abX\nx = 'é'\ncd"
    # past the end of a last line without a line ending: its end (pygls: before its last character)
    assert _change(doc, 2, 99, 2, 99, "Y") == "abX\nx = 'é'\ncdY"
    # deleting to "the end of the line" keeps the line ending, also after a non-ASCII character
    assert _change(doc, 1, 4, 1, 999, "") == "abX\nx = \ncdY"
    # lines past the end: the end of the document
    assert _change(doc, 7, 3, 9, 0, "\nz") == "abX\nx = \ncdY\nz"
    # a reversed range: the same range the right way round
    assert _change(doc, 1, 2, 0, 1, "-") == "a-= \ncdY\nz"


def test_incremental_change_never_mutates_the_params():
    doc = _document("ab\ncd")
    position = types.Position(line=1, character=50)
    change = types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position), text="!")
    doc.apply_change(change)
    assert doc.source == "ab\ncd!"
    assert (position.line, position.character) == (1, 50)


def test_a_rule_with_a_hint_default_shows_as_a_hint_unless_set():
    source = (
        "import re\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        '@app.get("/q")\ndef q(text: str):\n    return re.findall(r"\\d+", text)\n'
    )
    diag = Engine().analyze(source, Settings()).diagnostics[0]
    assert diag.code == "PFL403"
    lines = split_lines(source)
    assert convert.to_lsp_diagnostic(diag, lines, CODECS["utf-16"], Settings(), 1).severity == types.DiagnosticSeverity.Hint
    loud = Settings(severity=(("PFL403", "warning"),))
    assert convert.to_lsp_diagnostic(diag, lines, CODECS["utf-16"], loud, 1).severity == types.DiagnosticSeverity.Warning
