"""The server's copy of a document under random incremental edits, and its memory while typing.

Driven over stdio by pytest-lsp, as ``test_lsp.py`` (whose helpers and independent
position arithmetic this file reuses). ``PERF_LSP_LONG_TESTS=1`` runs the long variants
(2,000 fuzzed edits; every one of 1,000 keystrokes analysed).
"""

from __future__ import annotations

import ast
import os
import random
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_lsp import (
    CONFIG,
    apply_workspace_edit,
    change_document,
    code_actions,
    doc_uri,
    initialize,
    lines_of,
    mark,
    open_document,
    published,
    to_fixture,
    units,
)

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings
from perf_lsp.textedit import apply_edits

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG = os.environ.get("PERF_LSP_LONG_TESTS") == "1"


@pytest_lsp.fixture(config=CONFIG, loop_scope="module")
async def fresh(lsp_client: LanguageClient):
    """A server of its own, not initialized yet: the test initializes it."""
    yield
    await lsp_client.shutdown_session()


# -- the editor's buffer, as a reference ------------------------------------------------------------
def editor_offset(text: str, pos: types.Position) -> int:
    """Where an editor puts an LSP position (UTF-16): past the end of a line is its end, before the
    line ending; past the last line is the end of the text."""
    lines = lines_of(text)
    if pos.line >= len(lines):
        return len(text)
    body = lines[pos.line].rstrip("\r\n")
    start = sum(len(line) for line in lines[: pos.line])
    column = len(body)
    for i in range(len(body) + 1):
        if units(body[:i]) >= pos.character:
            column = i
            break
    return start + column


def editor_apply(text: str, rng: types.Range, new_text: str) -> str:
    start, end = sorted((editor_offset(text, rng.start), editor_offset(text, rng.end)))
    return text[:start] + new_text + text[end:]


def expected_diagnostics(engine: Engine, text: str, settings: Settings | None = None) -> list[dict]:
    """A fresh analysis of ``text`` (default settings unless given): code and range per diagnostic, 1-based
    lines and code-point columns, as :func:`as_published` reads the server's."""
    return [
        {
            "code": d.code,
            "row": d.range.start.line,
            "column": d.range.start.column + 1,
            "end_row": d.range.end.line,
            "end_column": d.range.end.column + 1,
        }
        for d in engine.analyze(text, settings or Settings()).diagnostics
    ]


def as_published(diagnostics: list[types.Diagnostic], text: str) -> list[dict]:
    keys = ("code", "row", "column", "end_row", "end_column")
    return [{k: entry[k] for k in keys} for entry in (to_fixture(d, text) for d in diagnostics)]


# -- random edits that keep the document parseable (mostly), with out-of-range positions ---------------
FUZZ_DOC = """import re


def tag(lines):
    out = []
    for line in lines:
        label = "é😋"
        out.append(re.findall(r"\\d+", line))
    return out


class Parser:
    def parse(self, items):
        found = []
        for s in items:
            found.append(re.match(r"x", s))
        return found
"""

STATEMENTS = [
    'x = re.sub(r"a", "b", str(x))',
    "y = 1",
    's = "é😋 ü"',
    'n = len(re.split(r",", "a,b"))',
    "pass",
]


def simple_statement_lines(text: str) -> list[tuple[int, int]]:
    """(0-based line, indentation) of the one-line simple statements inside functions."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in ast.walk(node):
                if (
                    isinstance(stmt, (ast.Assign, ast.Expr, ast.Return, ast.Pass, ast.AugAssign))
                    and stmt.lineno == stmt.end_lineno
                ):
                    found.append((stmt.lineno - 1, stmt.col_offset))
    return sorted(set(found))


def random_edit(rnd: random.Random, text: str, step: int) -> tuple[types.Range, str]:
    """One change an editor could send, positions often past the end of a line or of the document."""
    lines = lines_of(text)
    candidates = simple_statement_lines(text)
    nl = rnd.choice(["\n", "\n", "\r\n"])
    kind = rnd.choice(["append", "append", "replace", "replace", "end"]) if candidates else "end"

    def past_end(line: int) -> int:
        body = lines[line].rstrip("\r\n") if line < len(lines) else ""
        return units(body) + rnd.choice([0, 1, 1, 2, 10_000])

    if kind == "append":  # a new statement after a line, from "the end of the line"
        line, indent = rnd.choice(candidates)
        at = types.Position(line=line, character=past_end(line))
        return types.Range(start=at, end=at), nl + " " * indent + rnd.choice(STATEMENTS)
    if kind == "replace":  # a statement replaced up to "the end of the line"; sometimes a reversed range
        line, indent = rnd.choice(candidates)
        start = types.Position(line=line, character=indent)
        end = types.Position(line=line, character=past_end(line))
        if rnd.random() < 0.3:
            start, end = end, start
        return types.Range(start=start, end=end), rnd.choice(STATEMENTS)
    # a function at the end of the document, from a line past the last one
    at = types.Position(line=len(lines) + rnd.choice([0, 0, 1, 9]), character=rnd.choice([0, 3, 10_000]))
    body = f'def f{step}(s):{nl}    return re.findall(r"\\w", s){nl}'
    return types.Range(start=at, end=at), nl + nl + body


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_edits_with_out_of_range_positions_keep_the_server_in_sync(fresh: LanguageClient, seed):
    """Each change is applied by the server and by the editor's reading of it: the diagnostics the server
    publishes are a fresh analysis of the editor's text, and a quick fix (stamped with the current
    version) applied to the editor's text is the engine's fix of that text, and parses."""
    await initialize(fresh, {"debounceMs": 0})
    rnd = random.Random(seed)
    engine = Engine()
    uri = doc_uri(f"fuzz-{seed}")
    text = FUZZ_DOC
    diagnostics = await open_document(fresh, uri, text)
    assert as_published(diagnostics, text) == expected_diagnostics(engine, text)
    version = 1
    fixes = 0
    for step in range(2000 if LONG else 60):
        rng, new_text = random_edit(rnd, text, step)
        version += 1
        since = mark(fresh)
        fresh.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new_text)],
            )
        )
        text = editor_apply(text, rng, new_text)
        diagnostics = await published(fresh, uri, version, since)
        assert as_published(diagnostics, text) == expected_diagnostics(engine, text), (step, rng, new_text)
        if step % 4 != 3 or not diagnostics:
            continue
        # a quick fix, as the editor applies it
        index = rnd.randrange(len(diagnostics))
        actions = await code_actions(fresh, uri, diagnostics[index].range, only=["quickfix"])
        preferred = [a for a in actions if a.is_preferred and a.diagnostics[0].range == diagnostics[index].range]
        if not preferred:
            continue
        fixed = apply_workspace_edit(text, preferred[0].edit, uri, version)
        analysis = engine.analyze(text, Settings())
        assert fixed == apply_edits(text, analysis.fix(analysis.diagnostics[index]).edits)
        ast.parse(fixed)
        version += 1
        await change_document(fresh, uri, version, preferred[0].edit.document_changes[0].edits)
        text = fixed
        fixes += 1
    assert fixes > 0  # the fix path was exercised


# -- memory while typing in a big class -------------------------------------------
def rss_mb(pid: int) -> float:
    """The resident set size of process ``pid`` in MB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def big_class(members: int = 3000) -> str:
    """A 3,000-line class (one top-level statement) with a finding in its first method.

    Mostly comments, so that libcst parses it in ~60 ms; its tree still takes ~0.9 MB,
    which a cache of trees per version of the class kept for every keystroke.
    """
    body = "".join(f"    # member {i}: notes\n" if i % 50 else f"    attribute_{i} = {i}\n" for i in range(members))
    return (
        "import re\n\n\nclass Big:\n"
        "    def tokens(self, lines):\n"
        "        # typing here\n"
        '        return [re.findall(r"\\w+", line) for line in lines]\n\n' + body
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's RSS from /proc")
async def test_memory_stays_flat_while_typing_in_a_big_class(fresh: LanguageClient):
    """RSS after a warm-up stays within a generous bound over 1,000 keystrokes (a memory bound, not a time)."""
    # A short debounce: the keystrokes sent together are analysed once, as the last of them.
    await initialize(fresh, {"debounceMs": 10})
    pid = fresh._server.pid
    uri = doc_uri("big-class")
    text = big_class()
    assert len(await open_document(fresh, uri, text)) == 1
    row = lines_of(text).index("        # typing here\n")
    column = len("        # typing here")
    every = 1 if LONG else 10  # wait for the diagnostics of every n-th keystroke: each of those is analysed
    version = 1

    async def type_keys(count: int) -> list[types.Diagnostic]:
        nonlocal version, column
        diagnostics: list[types.Diagnostic] = []
        for i in range(count):
            version += 1
            at = types.Position(line=row, character=column)
            since = mark(fresh)
            fresh.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text="x")
                    ],
                )
            )
            column += 1
            if i % every == every - 1:
                diagnostics = await published(fresh, uri, version, since)
        return diagnostics

    await type_keys(100)  # warm-up: the cache fills up to its bound
    before = rss_mb(pid)
    diagnostics = await type_keys(1000)
    after = rss_mb(pid)
    print(f"server RSS: {before:.0f} MB after the warm-up, {after:.0f} MB after 1,000 more keystrokes")
    assert len(diagnostics) == 1
    assert after - before < 60, f"RSS grew from {before:.0f} MB to {after:.0f} MB over 1,000 keystrokes"
