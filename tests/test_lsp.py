"""The real language server, driven over stdio by pytest-lsp.

Case-driven tests share two servers per module (default settings, and
``unsafeFixes``); each test opens its documents under its own URIs. Tests about
settings, encodings and lifecycle start their own server. Positions are checked
with this file's own conversion (LSP 0-based lines and UTF-16/8/32 units to the
fixtures' 1-based code-point columns), independent of ``perf_lsp.lsp.convert``.
"""

from __future__ import annotations

import ast
import asyncio
import re
import sys
from pathlib import Path

import pytest
import pytest_lsp
from fixtures import CASES, normalise
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings
from perf_lsp.textedit import apply_edits

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLISH = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS


def record_diagnostics(client: LanguageClient, params: types.PublishDiagnosticsParams):
    """Keep every publication (``wait_for_notification`` misses one that arrives with another)."""
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)
    for waiter in client.publish_waiters:
        if not waiter.done():
            waiter.set_result(None)
    client.publish_waiters.clear()


def make_client() -> LanguageClient:
    from pygls.protocol import default_converter

    client = LanguageClient(converter_factory=default_converter)
    client.published = []
    client.publish_waiters = []
    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, PUBLISH: record_diagnostics})
    return client


CONFIG = ClientServerConfig(server_command=[sys.executable, "-m", "perf_lsp", "serve"], client_factory=make_client)
TIMEOUT = 20
FIX_ALL = "source.fixAll.perf-lsp"
ROOT = Path("/nonexistent-perf-lsp-tests")  # no pyproject.toml above these documents

WITH_DIAGNOSTICS = [c for c in CASES if c.expected and all("code" in d for d in c.expected)]
FIXABLE = [c for c in CASES if c.fixable]
ONE_FIXABLE = [c for c in FIXABLE if len(c.expected) == 1]
WITH_ALT = [c for c in CASES if c.alt is not None]


def ids(case):
    return case.id


# -- positions and edits, independently of perf_lsp.lsp.convert ----------------------------
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def lines_of(text: str) -> list[str]:
    return _LINE.findall(text)


def units(text: str, encoding: str = "utf-16") -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def code_point_column(body: str, character: int, encoding: str = "utf-16") -> int:
    for column in range(len(body) + 1):
        if units(body[:column], encoding) >= character:
            return column
    return len(body)


def offset(text: str, pos: types.Position, encoding: str = "utf-16") -> int:
    lines = lines_of(text)
    if pos.line >= len(lines):
        return len(text)
    start = sum(len(line) for line in lines[: pos.line])
    return start + code_point_column(lines[pos.line].rstrip("\r\n"), pos.character, encoding)


def apply_lsp_edits(text: str, edits, encoding: str = "utf-16") -> str:
    spans = sorted(
        (
            (offset(text, e.range.start, encoding), offset(text, e.range.end, encoding), i, e.new_text)
            for i, e in enumerate(edits)
        ),
        key=lambda s: (s[0], s[1], s[2]),
    )
    out, cursor = [], 0
    for start, end, _, new_text in spans:
        assert start >= cursor, "overlapping edits"
        out.append(text[cursor:start])
        out.append(new_text)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def apply_workspace_edit(text: str, edit: types.WorkspaceEdit, uri: str, version: int, encoding: str = "utf-16") -> str:
    assert edit.changes is None, "edits must go in document_changes"
    assert edit.document_changes and len(edit.document_changes) == 1
    change = edit.document_changes[0]
    assert change.text_document.uri == uri
    assert change.text_document.version == version
    return apply_lsp_edits(text, change.edits, encoding)


def to_fixture(diag: types.Diagnostic, source: str, encoding: str = "utf-16") -> dict:
    lines = lines_of(source) + [""]
    start, end = diag.range.start, diag.range.end
    fixes = (diag.data or {}).get("fixes", [])
    return {
        "code": diag.code,
        "row": start.line + 1,
        "column": code_point_column(lines[start.line].rstrip("\r\n"), start.character, encoding) + 1,
        "end_row": end.line + 1,
        "end_column": code_point_column(lines[end.line].rstrip("\r\n"), end.character, encoding) + 1,
        "fix": fixes[0]["title"] if fixes else None,
        "alt_fix": fixes[1]["title"] if len(fixes) > 1 else None,
    }


def by_position(entries: list[dict]) -> list[dict]:
    return sorted(entries, key=lambda d: (d["row"], d["column"], d["code"]))


def middle(rng: types.Range) -> types.Position:
    if rng.start.line == rng.end.line:
        return types.Position(line=rng.start.line, character=(rng.start.character + rng.end.character) // 2)
    return types.Position(line=rng.start.line, character=rng.start.character + 1)


# -- driving the client ------------------------------------------------------------------------
async def initialize(client: LanguageClient, options=None, spec: str = "visual-studio-code") -> types.InitializeResult:
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=pytest_lsp.client_capabilities(spec),
            initialization_options=options,
            root_uri=ROOT.as_uri(),
        )
    )


def mark(client: LanguageClient) -> int:
    """Where the publications that follow an action start: take it before the action."""
    return len(client.published)


async def published(client: LanguageClient, uri: str, version: int | None, since: int) -> list[types.Diagnostic]:
    """The first diagnostics published for ``uri`` (at ``version`` when given) after ``since``."""

    async def wait():
        index = since
        while True:
            for params in client.published[index:]:
                if params.uri == uri and (version is None or params.version == version):
                    return list(params.diagnostics)
            index = len(client.published)
            waiter = asyncio.get_running_loop().create_future()
            client.publish_waiters.append(waiter)
            await waiter

    return await asyncio.wait_for(wait(), TIMEOUT)


async def open_document(client: LanguageClient, uri: str, text: str, version: int = 1) -> list[types.Diagnostic]:
    since = mark(client)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return await published(client, uri, version, since)


async def change_document(client: LanguageClient, uri: str, version: int, edits) -> list[types.Diagnostic]:
    """Send ``edits`` as incremental changes, last first so that positions stay valid."""
    ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
    since = mark(client)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in ordered],
        )
    )
    return await published(client, uri, version, since)


async def code_actions(client: LanguageClient, uri: str, rng: types.Range, only=None) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=rng,
            context=types.CodeActionContext(diagnostics=[], only=only),
        )
    )
    return list(result or [])


def whole(text: str) -> types.Range:
    lines = lines_of(text)
    return types.Range(start=types.Position(line=0, character=0), end=types.Position(line=len(lines), character=0))


def doc_uri(name: str, case=None) -> str:
    return (ROOT / name / (case.id if case else "doc")).with_suffix(".py").as_uri()


# -- fixtures ---------------------------------------------------------------------------------------
@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient):
    await initialize(lsp_client, {"select": ["ALL"]})  # the fixtures cover the opt-in rules too
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def unsafe_client(lsp_client: LanguageClient):
    await initialize(lsp_client, {"unsafeFixes": True, "select": ["ALL"]})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG, loop_scope="module")
async def fresh(lsp_client: LanguageClient):
    """A server of its own, not initialized yet: the test initializes it."""
    yield
    await lsp_client.shutdown_session()


# -- case-driven tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_diagnostics(client: LanguageClient, case):
    uri = doc_uri("diagnostics", case)
    diagnostics = await open_document(client, uri, case.source)
    assert by_position([to_fixture(d, case.source) for d in diagnostics]) == by_position(normalise(case.expected))
    for diag in diagnostics:
        assert diag.source == "perf-lsp"
        # every rule's default is a warning but PFL403's, a hint (Rule.default_severity)
        hint = diag.code == "PFL403"
        assert diag.severity == (types.DiagnosticSeverity.Hint if hint else types.DiagnosticSeverity.Warning)
        assert diag.data["version"] == 1
        assert all(set(f) == {"title", "applicability"} for f in diag.data["fixes"])


@pytest.mark.parametrize("case", WITH_DIAGNOSTICS, ids=ids)
async def test_hover(client: LanguageClient, case):
    uri = doc_uri("hover", case)
    diagnostics = await open_document(client, uri, case.source)
    assert len(diagnostics) == len(case.expected)
    for diag in diagnostics:
        hover = await client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=middle(diag.range))
        )
        assert hover is not None
        assert hover.contents.kind == types.MarkupKind.Markdown
        text = hover.contents.value
        assert diag.code in text
        assert diag.data["name"] in text
        assert "**Sources**" in text and "](https://" in text  # sources a user can open
        assert "audit report" not in text.lower()
        if diag.data["fixes"]:
            assert "```diff\n" in text
            assert "\n+" in text and "\n-" in text


@pytest.mark.parametrize("case", FIXABLE, ids=ids)
async def test_each_quick_fix(client: LanguageClient, case):
    uri = doc_uri("quickfix", case)
    diagnostics = await open_document(client, uri, case.source)
    for diag in diagnostics:
        actions = await code_actions(client, uri, diag.range, only=[types.CodeActionKind.QuickFix])
        titles = [f["title"] for f in diag.data["fixes"]]
        fixes = [a for a in actions if a.title in titles and a.diagnostics and a.diagnostics[0].range == diag.range]
        assert [a.title for a in fixes] == titles
        assert all(a.kind == types.CodeActionKind.QuickFix for a in actions)
        for which, action in enumerate(fixes):
            safe = diag.data["fixes"][which]["applicability"] == "safe"
            assert bool(action.is_preferred) == (which == 0 and safe)
            fixed = apply_workspace_edit(case.source, action.edit, uri, 1)
            ast.parse(fixed)
            if len(case.expected) == 1 and which == 0:
                assert fixed == case.fixed
            if len(case.expected) == 1 and which == 1:
                assert fixed == case.alt


@pytest.mark.parametrize("case", WITH_ALT, ids=ids)
async def test_alternative_fix(client: LanguageClient, case):
    uri = doc_uri("alt", case)
    diagnostics = await open_document(client, uri, case.source)
    diag = next(d for d in diagnostics if len(d.data["fixes"]) > 1)
    actions = await code_actions(client, uri, diag.range, only=["quickfix"])
    action = next(a for a in actions if a.title == diag.data["fixes"][1]["title"])
    assert apply_workspace_edit(case.source, action.edit, uri, 1) == case.alt


@pytest.mark.parametrize("case", FIXABLE, ids=ids)
async def test_fix_all_with_unsafe_fixes(unsafe_client: LanguageClient, case):
    uri = doc_uri("fixall-unsafe", case)
    await open_document(unsafe_client, uri, case.source)
    actions = await code_actions(unsafe_client, uri, whole(case.source), only=[types.CodeActionKind.SourceFixAll])
    assert [a.kind for a in actions] == [FIX_ALL]
    edits = actions[0].edit.document_changes[0].edits
    assert all(e.new_text != case.source for e in edits), "a whole-document replacement"
    assert apply_workspace_edit(case.source, actions[0].edit, uri, 1) == case.fixed


@pytest.mark.parametrize("case", FIXABLE, ids=ids)
async def test_fix_all_applies_only_safe_fixes(client: LanguageClient, case):
    uri = doc_uri("fixall-safe", case)
    await open_document(client, uri, case.source)
    actions = await code_actions(client, uri, whole(case.source), only=[types.CodeActionKind.Source])
    expected = Engine().fix_all(case.source, Settings(select=("ALL",)), unsafe=False).source
    if expected == case.source:
        assert actions == []
        return
    assert [a.kind for a in actions] == [FIX_ALL]
    fixed = apply_workspace_edit(case.source, actions[0].edit, uri, 1)
    assert fixed == expected
    if all(d.get("fix") is None or d["code"] == "PFL401" for d in case.expected):  # PFL401's fix is safe
        assert fixed == case.fixed


@pytest.mark.parametrize("case", WITH_DIAGNOSTICS, ids=ids)
async def test_ignore_action_adds_noqa_and_silences(client: LanguageClient, case):
    uri = doc_uri("noqa", case)
    diagnostics = await open_document(client, uri, case.source)
    diag = diagnostics[0]
    actions = await code_actions(client, uri, diag.range, only=["quickfix"])
    ignore = next(a for a in actions if a.title == f"Ignore {diag.code} on this line")
    assert ignore.diagnostics[0].code == diag.code
    edits = ignore.edit.document_changes[0].edits
    fixed = apply_workspace_edit(case.source, ignore.edit, uri, 1)
    assert f"# noqa: {diag.code}" in fixed.splitlines()[diag.range.start.line]
    after = await change_document(client, uri, 2, edits)
    same_line = [d for d in diagnostics if d.code == diag.code and d.range.start.line == diag.range.start.line]
    assert len(after) == len(diagnostics) - len(same_line)
    assert after == [] or all(d.data["version"] == 2 for d in after)


async def test_code_action_kinds_follow_context_only(client: LanguageClient):
    case = next(c for c in FIXABLE if any(d["code"] == "PFL401" for d in c.expected))
    uri = doc_uri("kinds", case)
    diagnostics = await open_document(client, uri, case.source)
    rng = diagnostics[0].range
    everything = await code_actions(client, uri, rng)
    assert {a.kind for a in everything} == {types.CodeActionKind.QuickFix, FIX_ALL}
    # unasked-for (a lightbulb request), fix-all's edit is left to codeAction/resolve (it costs re-analyses)
    lazy = next(a for a in everything if a.kind == FIX_ALL)
    assert lazy.edit is None
    resolved = await client.code_action_resolve_async(lazy)
    asked = await code_actions(client, uri, rng, only=["source.fixAll"])
    assert resolved.edit == asked[0].edit
    for only in (["source"], ["source.fixAll"], [FIX_ALL]):
        assert [a.kind for a in await code_actions(client, uri, rng, only=only)] == [FIX_ALL]
    quick = await code_actions(client, uri, rng, only=["quickfix"])
    assert quick and {a.kind for a in quick} == {types.CodeActionKind.QuickFix}
    assert await code_actions(client, uri, rng, only=["refactor"]) == []
    assert await code_actions(client, uri, rng, only=["source.organizeImports"]) == []
    # away from any diagnostic: no quick fix, fix-all still on offer
    far = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    if all(d.range.start.line > 0 for d in diagnostics):
        assert [a.kind for a in await code_actions(client, uri, far)] == [FIX_ALL]


# -- a syntax error, a broken request -------------------------------------------------------------------
BROKEN = """import re


def broken(:
    return re.findall(r"\\d+", "1 2")


def words(lines):
    return [re.findall(r"\\w+", line) for line in lines]
"""


async def test_syntax_error_still_reports_statements_that_parse(client: LanguageClient):
    uri = doc_uri("broken")
    diagnostics = await open_document(client, uri, BROKEN)
    assert [(d.code, d.range.start.line) for d in diagnostics] == [("PFL401", 8)]
    rng = diagnostics[0].range
    actions = await code_actions(client, uri, rng, only=["quickfix"])
    # the engine declines fixes while the document does not parse; ignoring still works
    assert "Ignore PFL401 on this line" in [a.title for a in actions]
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=3, character=5)
        )
    )
    assert hover is None
    # typing inside the broken statement keeps the server working
    edit = types.TextEdit(
        range=types.Range(start=types.Position(line=3, character=11), end=types.Position(line=3, character=11)),
        new_text="x",
    )
    after = await change_document(client, uri, 2, [edit])
    assert len(after) == 1


async def test_a_request_about_an_unopened_document_is_answered_empty(client: LanguageClient):
    # Nothing is read from disk (a URI can name /dev/zero or a FIFO): no result, and nothing failed.
    missing = (ROOT / "never-opened.py").as_uri()
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=missing), position=types.Position(line=0, character=0)
        )
    )
    assert hover is None
    assert not any("failed" in m.message and m.type == types.MessageType.Error for m in client.log_messages)
    # and the server still answers
    uri = doc_uri("after-failure")
    assert len(await open_document(client, uri, BROKEN)) == 1


# -- encodings ---------------------------------------------------------------------------------------------
NON_ASCII = """import re


def tag(lines):
    return [("é😋", re.findall(r"\\d+", line)) for line in lines]
"""


@pytest.mark.parametrize(
    "spec, encoding",
    [("visual-studio-code", "utf-16"), ("neovim@v0.11.0", "utf-8"), ("emacs", "utf-32")],
)
async def test_non_ascii_positions(fresh: LanguageClient, spec, encoding):
    result = await initialize(fresh, spec=spec)
    assert result.capabilities.position_encoding == encoding
    uri = doc_uri(f"non-ascii-{encoding}")
    diagnostics = await open_document(fresh, uri, NON_ASCII)
    assert len(diagnostics) == 1
    line = NON_ASCII.splitlines()[4]
    start = line.index("re.findall")
    end = line.index(", line)") + len(", line)")
    rng = diagnostics[0].range
    assert (rng.start.line, rng.end.line) == (4, 4)
    assert rng.start.character == units(line[:start], encoding)
    assert rng.end.character == units(line[:end], encoding)
    # the quick fix lands where the engine says
    analysis = Engine().analyze(NON_ASCII, Settings())
    expected = apply_edits(NON_ASCII, analysis.fix(analysis.diagnostics[0]).edits)
    actions = await code_actions(fresh, uri, rng, only=["quickfix"])
    fix = next(a for a in actions if a.is_preferred)
    assert apply_workspace_edit(NON_ASCII, fix.edit, uri, 1, encoding) == expected
    # a hover just after the emoji is inside the diagnostic; one just before `re` is not
    inside = types.Position(line=4, character=units(line[: start + 1], encoding))
    before = types.Position(line=4, character=units(line[: start - 2], encoding))
    for position, found in ((inside, True), (before, False)):
        hover = await fresh.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
        )
        assert (hover is not None) == found


SEPARATORS = 'import re\n\x0c\n\ndef tag(lines):\n    s = "\u2028\x1c"\n    return [re.findall(r"\\d+", line) for line in lines]\n'


async def test_form_feed_and_unicode_line_separators_are_not_line_breaks(client: LanguageClient):
    """LSP breaks lines at \\n, \\r\\n and \\r only; ``str.splitlines`` also breaks at ^L, U+2028, ..."""
    uri = doc_uri("separators")
    diagnostics = await open_document(client, uri, SEPARATORS)
    assert [d.range.start.line for d in diagnostics] == [5]
    actions = await code_actions(client, uri, diagnostics[0].range, only=["quickfix"])
    ignore = next(a for a in actions if a.title.startswith("Ignore"))
    expected = apply_workspace_edit(SEPARATORS, ignore.edit, uri, 1)
    assert expected.split("\n")[5].endswith("# noqa: PFL401")
    # applied incrementally by the server's copy of the document: it must land on the same line
    assert len(await change_document(client, uri, 2, ignore.edit.document_changes[0].edits)) == 0
    edit = types.TextEdit(
        range=types.Range(start=types.Position(line=5, character=0), end=types.Position(line=5, character=0)),
        new_text="    x = 1\n",
    )
    after = await change_document(client, uri, 3, [edit])
    assert len(after) == 0


# -- settings -------------------------------------------------------------------------------------------------
PFL401_CASE = next((c for c in CASES if c.id.startswith("pfl401/") and c.fixable), None)


async def test_settings_change_republishes(fresh: LanguageClient):
    await initialize(fresh)
    uri = doc_uri("settings")
    assert len(await open_document(fresh, uri, PFL401_CASE.source)) == 1
    since = mark(fresh)
    fresh.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"perf-lsp": {"ignore": ["PFL401"]}})
    )
    assert len(await published(fresh, uri, 1, since)) == 0
    since = mark(fresh)
    fresh.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"perf-lsp": {"severity": {"PFL401": "error"}}})
    )
    again = await published(fresh, uri, 1, since)
    assert [d.severity for d in again] == [types.DiagnosticSeverity.Error]


async def test_bad_setting_shows_a_message_and_keeps_working(fresh: LanguageClient):
    await initialize(fresh, {"perf-lsp": {"debounceMs": "soon", "unsafeFixes": True}})
    uri = doc_uri("bad-setting")
    assert len(await open_document(fresh, uri, PFL401_CASE.source)) == 1
    assert any("debounceMs" in m.message and m.type == types.MessageType.Warning for m in fresh.messages)
    since, shown = mark(fresh), len(fresh.messages)
    fresh.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"select": 42}))
    assert len(await published(fresh, uri, 1, since)) == 1  # the message goes before the diagnostics
    assert any("'select'" in m.message and m.type == types.MessageType.Warning for m in fresh.messages[shown:])


async def test_pyproject_settings_apply_under_client_settings(fresh: LanguageClient, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.perf-lsp]\nignore = ["PFL401"]\n', encoding="utf-8")
    await initialize(fresh)
    uri = (tmp_path / "pkg" / "module.py").as_uri()
    assert len(await open_document(fresh, uri, PFL401_CASE.source)) == 0
    since = mark(fresh)
    fresh.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"ignore": []}))
    assert len(await published(fresh, uri, 1, since)) == 1


# -- lifecycle ----------------------------------------------------------------------------------------------------
async def test_debounce_publishes_only_the_last_version(fresh: LanguageClient):
    await initialize(fresh, {"debounceMs": 150})
    uri = doc_uri("debounce")
    await open_document(fresh, uri, PFL401_CASE.source)
    since = mark(fresh)
    for version in range(2, 7):
        fresh.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
                        ),
                        text="#\n",
                    )
                ],
            )
        )
    diagnostics = await published(fresh, uri, None, since)
    assert [(p.uri, p.version) for p in fresh.published[since:]] == [(uri, 6)]
    assert len(diagnostics) == 1
    assert diagnostics[0].range.start.line == PFL401_CASE.expected[0]["row"] - 1 + 5


async def test_close_clears_diagnostics(fresh: LanguageClient):
    await initialize(fresh)
    uri = doc_uri("close")
    assert len(await open_document(fresh, uri, PFL401_CASE.source)) == 1
    since = mark(fresh)
    fresh.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert len(await published(fresh, uri, None, since)) == 0


async def test_save_republishes_and_fix_all_command(fresh: LanguageClient):
    await initialize(fresh)
    applied: list[types.ApplyWorkspaceEditParams] = []

    @fresh.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    uri = doc_uri("save")
    await open_document(fresh, uri, PFL401_CASE.source)
    since = mark(fresh)
    fresh.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert len(await published(fresh, uri, 1, since)) == 1
    result = await fresh.workspace_execute_command_async(
        types.ExecuteCommandParams(command="perf-lsp.applyFixAll", arguments=[uri])
    )
    assert result is True
    assert apply_workspace_edit(PFL401_CASE.source, applied[0].edit, uri, 1) == PFL401_CASE.fixed


async def test_a_huge_document_is_skipped_with_a_message(fresh: LanguageClient):
    from perf_lsp.files import MAX_FILE_BYTES

    await initialize(fresh)
    uri = doc_uri("huge")
    filler = "x = 1\n" * (MAX_FILE_BYTES // 6 + 10)
    diagnostics = await open_document(fresh, uri, PFL401_CASE.source + filler)
    assert len(diagnostics) == 0
    assert any("not checked" in m.message and m.type == types.MessageType.Warning for m in fresh.messages)


async def test_jedi_refines_after_the_fast_diagnostics(fresh: LanguageClient, tmp_path):
    from test_resolve import MODELS, SERVICE

    app = tmp_path / "app"
    app.mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.perf-lsp]\nselect = ['PFL201']\n", encoding="utf-8")
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "models.py").write_text(MODELS, encoding="utf-8")
    path = app / "service.py"
    path.write_text(SERVICE, encoding="utf-8")
    await initialize(fresh)
    uri = path.as_uri()
    since = mark(fresh)
    fast = await open_document(fresh, uri, SERVICE)
    assert len(fast) == 0  # names alone cannot tell what ``embedder`` and ``self.model`` are
    refined = await published(fresh, uri, 1, since + 1)
    assert sorted(d.range.start.line for d in refined) == [11, 14]  # jedi: both are SentenceTransformers
    hover = await fresh.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=refined[0].range.start)
    )
    assert hover is not None and "PFL201" in hover.contents.value
