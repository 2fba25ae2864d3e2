"""Deep but valid code: checked partly, quickly, with short messages.

CPython compiles a 500-branch ``elif`` chain, and ``ast`` parses ``x and x and ...``
with 10,000 terms; libcst's code generation and positions recurse once per level
of its tree (a ``RecursionError`` wrapped in a ``KeyError`` whose message is the
``repr()`` of the whole tree: 191 MB), and its native parser crashes the process
on some inputs thousands of levels deep. Such a statement must be reported as
"partly checked: too deeply nested" while every other statement and file is
checked, and no message we print or log may grow with the tree.

Sources are built here; the ones that crashed the interpreter before the fix run
in a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient, client_capabilities

import perf_lsp
from perf_lsp.analysis.module import ModuleContext
from perf_lsp.engine import Engine, analyze_chunk, parses
from perf_lsp.settings import Settings
from perf_lsp.source import split_document

try:
    from perf_lsp.source import TOO_DEEP
except ImportError:  # before the fix
    TOO_DEEP = "too deeply nested"

REPO = Path(perf_lsp.__file__).resolve().parents[1]
MAX_MESSAGE = 10_000  # characters: far more than any real message, far less than a tree's repr

NORMAL = """\
import re


def tokens(lines):
    return [re.findall(r"\\w+", line) for line in lines]
"""
NORMAL_FINDING = ("PFL401", 5)  # fixable (safe)

LOOP = "    for s in xs:\n        re.match('a', s)\n"  # a finding inside the deep statement too


def elif_chain(n: int) -> str:
    lines = ["def pick(x, xs):", LOOP.rstrip("\n"), "    if x == 0:", "        return 0"]
    for i in range(1, n):
        lines += [f"    elif x == {i}:", f"        return {i}"]
    return "\n".join(lines) + "\n"


def expression(expr: str) -> str:
    return f"def pick(x, xs):\n{LOOP}    return (\n        {expr}\n    )\n"


def concatenation(n: int) -> str:
    parts = "\n".join(f'        "part {i} "' for i in range(n))
    return f"def pick(x, xs):\n{LOOP}    return (\n{parts}\n    )\n"


DEEP = {
    "elif-500": lambda: elif_chain(500),
    "sum-1000": lambda: expression(" + ".join(["x"] * 1000)),
    "sum-5000": lambda: expression(" + ".join(["x"] * 5000)),  # RecursionError in ast.parse
    "calls-190": lambda: expression("f(" * 190 + "x" + ")" * 190),
    "index-150": lambda: expression("x[" * 150 + "0" + "]" * 150),
    "generators-90": lambda: expression("sum(y for y in " * 90 + "xs" + ")" * 90),
    "attributes-1000": lambda: expression("x" + ".a" * 1000),
    "concatenation-1000": lambda: concatenation(1000),
}
# libcst's native parser crashed the interpreter on these (run in a subprocess)
CRASHING = {
    "and-10000": lambda: expression(" and ".join(["x"] * 10000)),
    "import-10000": lambda: "import " + ".".join(["a"] * 10000) + "\n",
}
# deep enough to be unusual, not too deep to check: the guard must not give up on these
CHECKED = {
    "elif-100": lambda: elif_chain(100),
    "sum-150": lambda: expression(" + ".join(["x"] * 150)),
    "calls-40": lambda: expression("f(" * 40 + "x" + ")" * 40),
    "concatenation-120": lambda: concatenation(120),
}


def document(deep: str) -> str:
    """The deep statement after a normal one: lines 1-5 are NORMAL, the deep one starts at 8."""
    return NORMAL + "\n\n" + deep


def errors(analysis) -> list[tuple[int, str]]:
    return [(chunk.start, result.error) for chunk, result in zip(analysis.chunks, analysis.results) if result.error]


# -- the engine -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DEEP)
def test_a_deep_statement_is_partly_checked(name):
    source = document(DEEP[name]())
    analysis = Engine().analyze(source, Settings())
    assert analysis.syntax_error is None
    assert [(d.code, d.range.start.line) for d in analysis.diagnostics] == [NORMAL_FINDING]
    assert errors(analysis) == [(8, TOO_DEEP)]


@pytest.mark.parametrize("name", CHECKED)
def test_a_moderately_deep_statement_is_checked(name):
    source = document(CHECKED[name]())
    analysis = Engine().analyze(source, Settings())
    assert errors(analysis) == []
    assert [(d.code, d.range.start.line) for d in analysis.diagnostics] == [NORMAL_FINDING, ("PFL401", 10)]


@pytest.mark.parametrize("name", DEEP)
def test_fix_all_fixes_the_rest_of_a_deep_document(name):
    source = document(DEEP[name]())
    result = Engine().fix_all(source, Settings())
    assert result.applied == 1
    assert result.source.endswith(DEEP[name]())  # the deep statement is left as it was
    assert "_RE" in result.source.split("def pick")[0]  # the normal statement was fixed
    assert parses(result.source, strict=True)


@pytest.mark.parametrize("name", DEEP)
def test_deep_documents_parse(name):
    assert parses(document(DEEP[name]()))
    assert parses(document(DEEP[name]()), strict=True)
    assert not parses(document(DEEP[name]()) + "def broken(:\n")


def test_a_document_ast_cannot_parse_is_split_around_the_deep_statement():
    source = document(DEEP["sum-5000"]()) + "\n\nvalue = 1\n"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default; hypothesis raises it, and ast's limit with it
    try:
        split = split_document(source)
    finally:
        sys.setrecursionlimit(limit)
    assert split.syntax_error is None
    assert [(c.start, bool(c.nodes)) for c in split.chunks] == [(1, True), (4, True), (8, False), (16, True)]


def test_chunk_errors_are_short():
    import libcst as cst

    from perf_lsp.rules.base import Rule

    class Loud(Rule):
        code = "PFL998"
        name = "loud"
        message = "never"
        triggers = r"def"

        def visit_Call(self, node: cst.Call) -> None:
            raise KeyError(cst.parse_module(DEEP["elif-500"]()))  # str() of it: the tree's repr

    class Long(Rule):
        code = "PFL997"
        name = "long"
        message = "never"
        triggers = r"def"

        def visit_Call(self, node: cst.Call) -> None:
            raise ValueError("x" * 1_000_000)

    result = analyze_chunk(NORMAL.split("\n\n\n")[1], ModuleContext(), Settings(), [Loud, Long])
    assert result.error is not None
    assert "PFL998: KeyError" in result.error and "PFL997: ValueError" in result.error
    assert len(result.error) < 1_000


# -- the command line -----------------------------------------------------------------------------
def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def perf_lsp_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perf_lsp", *args],
        cwd=cwd, env=environment(), capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.fixture()
def deep_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    for name, make in {**DEEP, **CRASHING}.items():
        (folder / f"deep_{name.replace('-', '_')}.py").write_text(document(make()), encoding="utf-8")
    (folder / "normal.py").write_text(NORMAL, encoding="utf-8")
    return folder


def test_check_reports_the_other_files_and_says_what_was_skipped(deep_folder: Path):
    result = perf_lsp_cli("check", "--no-jedi", ".", cwd=deep_folder)
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < MAX_MESSAGE, result.stderr[:2000]
    assert result.returncode == 1, result.stderr  # findings; a partly checked statement is a warning
    for path in sorted(deep_folder.iterdir()):
        if path.name == "normal.py":
            assert f"normal.py:{NORMAL_FINDING[1]}:" in result.stdout
            continue
        assert f"{path.name}:{NORMAL_FINDING[1]}:" in result.stdout, path.name
        if path.name != "deep_import_10000.py":  # an import has no findings
            assert f"{path.name}:8: partly checked: {TOO_DEEP}" in result.stderr, path.name


def test_fix_fixes_the_other_statements(deep_folder: Path):
    before = {path.name: path.read_text(encoding="utf-8") for path in deep_folder.iterdir()}
    result = perf_lsp_cli("fix", "--no-jedi", ".", cwd=deep_folder)
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < MAX_MESSAGE, result.stderr[:2000]
    for path in deep_folder.iterdir():
        after = path.read_text(encoding="utf-8")
        deep_part = before[path.name][len(NORMAL):]
        assert after.endswith(deep_part), path.name
        assert "_RE" in after.split("\n\n\ndef pick")[0].split("\n\n\nimport")[0], path.name
    again = perf_lsp_cli("check", "--no-jedi", "normal.py", cwd=deep_folder)
    assert again.returncode == 0, again.stdout + again.stderr


# -- the language server --------------------------------------------------------------------------
async def stop(client: LanguageClient) -> None:
    """Stop the client; a server still running (a failed test did not shut it down) is killed first."""
    server = getattr(client, "_server", None)  # pygls' process handle: stop() would wait for it forever
    if server is not None and server.returncode is None:
        server.kill()
    await client.stop()


async def test_server_answers_on_a_deep_document_with_short_messages(tmp_path: Path):
    client = LanguageClient(converter_factory=default_converter)
    published: list[types.PublishDiagnosticsParams] = []
    logged: list[str] = []
    arrived = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        published.append(params)
        arrived.set()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        logged.append(params.message)

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_show(params: types.ShowMessageParams) -> None:
        logged.append(params.message)

    async def diagnostics_of(uri: str, version: int) -> list[types.Diagnostic]:
        while True:
            for params in published:
                if params.uri == uri and params.version == version:
                    return list(params.diagnostics)
            arrived.clear()
            await arrived.wait()

    await client.start_io(sys.executable, "-m", "perf_lsp", "serve", cwd=str(tmp_path), env=environment())
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=tmp_path.as_uri(),
                initialization_options={"debounceMs": 0},
            )
        )
        deep = document(DEEP["elif-500"]())
        uri = (tmp_path / "deep.py").as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=deep)
            )
        )
        found = await asyncio.wait_for(diagnostics_of(uri, 1), 120)
        assert [(d.code, d.range.start.line + 1) for d in found] == [NORMAL_FINDING]
        # an edit inside the deep statement: the same again, not a second crash
        line = deep.splitlines().index("    elif x == 250:")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=14), end=types.Position(line=line, character=17)
                        ),
                        text="2500",
                    )
                ],
            )
        )
        found = await asyncio.wait_for(diagnostics_of(uri, 2), 120)
        assert [(d.code, d.range.start.line + 1) for d in found] == [NORMAL_FINDING]
        hover = await asyncio.wait_for(
            client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri), position=found[0].range.start
                )
            ),
            60,
        )
        assert hover is not None
        normal_uri = (tmp_path / "normal.py").as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=normal_uri, language_id="python", version=1, text=NORMAL)
            )
        )
        found = await asyncio.wait_for(diagnostics_of(normal_uri, 1), 60)
        assert [(d.code, d.range.start.line + 1) for d in found] == [NORMAL_FINDING]
        await asyncio.wait_for(client.shutdown_session(), 60)
    finally:
        await stop(client)
    assert all(len(message) < MAX_MESSAGE for message in logged), [len(m) for m in logged]


def test_server_log_and_show_messages_are_short(monkeypatch):
    import libcst as cst

    from perf_lsp.lsp import server

    ls = server.PerfLanguageServer()
    sent: list[str] = []
    monkeypatch.setattr(ls, "window_log_message", lambda params: sent.append(params.message))
    monkeypatch.setattr(ls, "window_show_message", lambda params: sent.append(params.message))
    wide = cst.parse_module("x = 1\n" * 5_000)  # its repr: megabytes
    try:
        raise KeyError(wide)
    except KeyError:
        ls.log_error("a test")
    ls.warn(["y" * 1_000_000])
    assert len(sent) == 2
    assert all(len(message) < MAX_MESSAGE for message in sent), [len(m) for m in sent]
    assert "a test failed: KeyError" in sent[0]


@pytest.mark.parametrize("name", ["calls-190", "index-150", "generators-90", "sum-1000", "concatenation-1000"])
def test_a_deep_expression_typed_into_a_statement_is_caught(name):
    """The edit path that re-parses one statement (perf_lsp.analysis.reparse) measures its depth too."""
    engine = Engine()
    before = document(expression("x"))
    previous = engine.analyze(before, Settings())
    assert errors(previous) == []
    analysis = engine.analyze(document(DEEP[name]()), Settings(), previous=previous)
    assert [(d.code, d.range.start.line) for d in analysis.diagnostics] == [NORMAL_FINDING]
    assert errors(analysis) == [(8, TOO_DEEP)]
