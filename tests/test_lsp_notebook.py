"""The real language server with notebook documents (``notebookDocument/*``), driven by pytest-lsp.

The notebook is the rebuilt audit notebook (``tests/notebooks/memory_agent.ipynb``): its cells
are sent as the cell text documents of a ``jupyter-notebook``, as VS Code sends them.
Positions are checked with test_lsp's own conversion, independent of ``perf_lsp.lsp.convert``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_lsp import CONFIG, apply_lsp_edits, mark, published

from perf_lsp.notebook import read_notebook

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOTEBOOK = Path(__file__).parent / "notebooks" / "memory_agent.ipynb"
ROOT = Path("/nonexistent-perf-lsp-tests")
NB_URI = (ROOT / "memory_agent.ipynb").as_uri()
TIMEOUT = 20


def cell_uri(index: int) -> str:
    return f"vscode-notebook-cell:{ROOT}/memory_agent.ipynb#W{index}"


def cells_of(path: Path = NOTEBOOK) -> list[tuple[str, str]]:
    """(kind, source) of each cell of the notebook file."""
    return [(c.kind, c.source) for c in read_notebook(path.read_text(encoding="utf-8")).cells]


def capabilities(notebooks: bool = True) -> types.ClientCapabilities:
    caps = pytest_lsp.client_capabilities("visual-studio-code")
    if notebooks:
        caps.notebook_document = types.NotebookDocumentClientCapabilities(
            synchronization=types.NotebookDocumentSyncClientCapabilities(execution_summary_support=True)
        )
    return caps


async def initialize(client: LanguageClient, options=None, notebooks: bool = True) -> types.InitializeResult:
    return await client.initialize_session(
        types.InitializeParams(capabilities=capabilities(notebooks), initialization_options=options, root_uri=ROOT.as_uri())
    )


async def cell_diagnostics(client: LanguageClient, uris: list[str], since: int) -> dict[str, list[types.Diagnostic]]:
    """The first publication for each of ``uris`` after ``since``."""
    found = await asyncio.gather(*(published(client, uri, None, since) for uri in uris))
    return dict(zip(uris, found))


async def open_notebook(client: LanguageClient, cells: list[tuple[str, str]]) -> dict[str, list[types.Diagnostic]]:
    since = mark(client)
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=NB_URI,
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(
                        kind=types.NotebookCellKind.Code if kind == "code" else types.NotebookCellKind.Markup,
                        document=cell_uri(i),
                    )
                    for i, (kind, _) in enumerate(cells)
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(
                    uri=cell_uri(i), language_id="python" if kind == "code" else "markdown", version=1, text=source
                )
                for i, (kind, source) in enumerate(cells)
            ],
        )
    )
    code = [cell_uri(i) for i, (kind, _) in enumerate(cells) if kind == "code" and not source_is_bash(cells[i][1])]
    return await cell_diagnostics(client, code, since)


def source_is_bash(source: str) -> bool:
    return source.startswith("%%bash")


def summary(found: dict[str, list[types.Diagnostic]]) -> list[tuple[int, str, int, int]]:
    """(cell index, code, 0-based line, character) of every published diagnostic."""
    return sorted(
        (int(uri.rsplit("#W", 1)[1]), d.code, d.range.start.line, d.range.start.character)
        for uri, diagnostics in found.items()
        for d in diagnostics
    )


# the audit notebook's findings, cell by cell (0-based cell index and line; UTF-16 characters)
EXPECTED = sorted([
    (4, "PFL101", 3, 12),  # model loaded per call of generate_embedding
    (5, "PFL701", 6, 65),  # mutable default
    (5, "PFL602", 12, 22),  # same content hashed twice
    (5, "PFL201", 20, 27),  # one encode per document
    (9, "PFL401", 12, 36),  # the refine loop's regex
])


@pytest_lsp.fixture(config=CONFIG, loop_scope="module")
async def fresh(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_notebook_sync_is_advertised_to_clients_that_support_it(fresh: LanguageClient):
    result = await initialize(fresh)
    sync = result.capabilities.notebook_document_sync
    assert sync is not None and sync.save is True
    selector = sync.notebook_selector[0]
    assert selector.notebook == "jupyter-notebook"
    assert [c.language for c in selector.cells] == ["python"]


async def test_no_notebook_sync_for_clients_without_it(fresh: LanguageClient):
    result = await initialize(fresh, notebooks=False)
    assert result.capabilities.notebook_document_sync is None


async def test_audit_notebook_diagnostics_per_cell_hover_and_close(fresh: LanguageClient):
    await initialize(fresh)
    cells = cells_of()
    found = await open_notebook(fresh, cells)
    assert summary(found) == EXPECTED
    # the %%bash cell is not Python: nothing published for it; markdown cells neither
    assert cell_uri(7) not in found and cell_uri(0) not in found
    diag = found[cell_uri(4)][0]
    assert cells[4][1].splitlines()[diag.range.start.line][diag.range.start.character :].startswith("SentenceTransformer(model_name)")
    assert diag.data["version"] == 1
    hover = await fresh.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=cell_uri(4)), position=diag.range.start)
    )
    assert hover is not None and "**PFL101**" in hover.contents.value
    # the fix's preview is per cell, with the cell's own rows
    assert "--- cell 5\n+++ cell 5\n@@ -1 +1,6 @@\n+@functools.cache\n" in hover.contents.value
    assert "--- cell 3\n+++ cell 3\n" in hover.contents.value
    assert hover.range == diag.range
    nothing = await fresh.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=cell_uri(4)), position=types.Position(line=0, character=0))
    )
    assert nothing is None
    since = mark(fresh)
    fresh.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=NB_URI),
            cell_text_documents=[types.TextDocumentIdentifier(uri=cell_uri(i)) for i in range(len(cells))],
        )
    )
    cleared = await cell_diagnostics(fresh, [cell_uri(4), cell_uri(5), cell_uri(9)], since)
    assert all(len(d) == 0 for d in cleared.values())


def apply_cell_edits(sources: dict[str, str], edit: types.WorkspaceEdit, versions: dict[str, int]) -> dict[str, str]:
    """``sources`` (cell URI -> text) after ``edit``, whose edits must name the cells' versions."""
    assert edit.changes is None and edit.document_changes
    out = dict(sources)
    for change in edit.document_changes:
        uri = change.text_document.uri
        assert change.text_document.version == versions[uri]
        out[uri] = apply_lsp_edits(out[uri], change.edits)
    return out


async def test_quick_fixes_edit_the_right_cells(fresh: LanguageClient):
    await initialize(fresh)
    cells = cells_of()
    found = await open_notebook(fresh, cells)
    sources = {cell_uri(i): source for i, (_, source) in enumerate(cells)}
    versions = {uri: 1 for uri in sources}

    async def quick_fix(uri: str, diag: types.Diagnostic) -> types.CodeAction:
        actions = await fresh.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=diag.range,
                context=types.CodeActionContext(diagnostics=[diag], only=[types.CodeActionKind.QuickFix]),
            )
        )
        return actions[0]

    # the mutable default: an edit of cell 6 only
    pfl701 = next(d for d in found[cell_uri(5)] if d.code == "PFL701")
    action = await quick_fix(cell_uri(5), pfl701)
    assert action.title == "Default to None and create the value in the body"
    assert [c.text_document.uri for c in action.edit.document_changes] == [cell_uri(5)]
    fixed = apply_cell_edits(sources, action.edit, versions)
    assert "thematic_tags=None):\n        if thematic_tags is None:\n            thematic_tags = []\n" in fixed[cell_uri(5)]
    # the model: the factory's import in the imports cell, the factory before the function that needs it
    pfl101 = found[cell_uri(4)][0]
    action = await quick_fix(cell_uri(4), pfl101)
    assert [c.text_document.uri for c in action.edit.document_changes] == [cell_uri(2), cell_uri(4)]
    fixed = apply_cell_edits(sources, action.edit, versions)
    assert fixed[cell_uri(2)].endswith("cosine_similarity\nimport functools\n\nclient = OpenAI()")
    assert fixed[cell_uri(4)].startswith("@functools.cache\ndef _get_sentence_transformer(*args, **kwargs):")
    assert "model = _get_sentence_transformer(model_name)" in fixed[cell_uri(4)]
    assert {uri: text for uri, text in fixed.items() if uri not in (cell_uri(2), cell_uri(4))} == {
        uri: text for uri, text in sources.items() if uri not in (cell_uri(2), cell_uri(4))
    }


async def test_fix_all_matches_the_command_line_and_a_change_republishes(fresh: LanguageClient, tmp_path):
    await initialize(fresh, {"unsafeFixes": True})
    cells = cells_of()
    await open_notebook(fresh, cells)
    actions = await fresh.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cell_uri(4)),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
        )
    )
    assert [a.title for a in actions] == ["perf-lsp: fix all (4 safe and unsafe fixes)"]
    sources = {cell_uri(i): source for i, (_, source) in enumerate(cells)}
    fixed = apply_cell_edits(sources, actions[0].edit, {uri: 1 for uri in sources})
    # the same cells as `perf-lsp fix --unsafe-fixes` writes
    from perf_lsp import cli

    target = tmp_path / "memory_agent.ipynb"
    target.write_bytes(NOTEBOOK.read_bytes())
    assert cli.main(["fix", "--unsafe-fixes", "--no-cache", str(target)]) == 1
    expected = cells_of(target)
    assert [fixed[cell_uri(i)] for i in range(len(cells))] == [source for _, source in expected]
    # apply it as the editor would: one change of the notebook with the cells' new text
    since = mark(fresh)
    changed = [uri for uri in sources if fixed[uri] != sources[uri]]
    fresh.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=NB_URI, version=2),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                            changes=[types.TextDocumentContentChangeWholeDocument(text=fixed[uri])],
                        )
                        for uri in changed
                    ]
                )
            ),
        )
    )
    again = await cell_diagnostics(fresh, [cell_uri(4), cell_uri(5), cell_uri(9)], since)
    assert summary(again) == [(5, "PFL602", 14, 22)]
    assert again[cell_uri(5)][0].data["version"] == 2


async def test_cells_added_and_removed(fresh: LanguageClient):
    await initialize(fresh)
    cells = [("code", "import re"), ("code", "def f(rows):\n    return [re.match('a+', r) for r in rows]")]
    found = await open_notebook(fresh, cells)
    assert summary(found) == [(1, "PFL401", 1, 12)]
    # the finding's cell goes away: its diagnostics are cleared; a new cell is checked with the others
    since = mark(fresh)
    fresh.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=NB_URI, version=2),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    structure=types.NotebookDocumentCellChangeStructure(
                        array=types.NotebookCellArrayChange(
                            start=1,
                            delete_count=1,
                            cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=cell_uri(7))],
                        ),
                        did_open=[
                            types.TextDocumentItem(
                                uri=cell_uri(7),
                                language_id="python",
                                version=1,
                                text="def g(items, seen=[]):\n    seen.append(items)\n    return seen",
                            )
                        ],
                        did_close=[types.TextDocumentIdentifier(uri=cell_uri(1))],
                    )
                )
            ),
        )
    )
    again = await cell_diagnostics(fresh, [cell_uri(1), cell_uri(7)], since)
    assert len(again[cell_uri(1)]) == 0
    assert summary({cell_uri(7): again[cell_uri(7)]}) == [(7, "PFL701", 0, 18)]


async def test_notebooks_setting_off_publishes_nothing_for_cells(fresh: LanguageClient):
    await initialize(fresh, {"notebooks": False})
    cells = [("code", "import re"), ("code", "def f(rows):\n    return [re.match('a+', r) for r in rows]")]
    found = await open_notebook(fresh, cells)
    assert all(len(d) == 0 for d in found.values())
    # a plain Python document is still checked
    since = mark(fresh)
    uri = (ROOT / "plain.py").as_uri()
    fresh.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text="\n\n".join(c[1] for c in cells))
        )
    )
    assert [d.code for d in await published(fresh, uri, 1, since)] == ["PFL401"]


async def test_fix_all_on_a_lightbulb_request_is_resolved_later(fresh: LanguageClient):
    await initialize(fresh)
    cells = [("code", "import re"), ("code", "def f(rows):\n    return [re.match('a+', r) for r in rows]")]
    found = await open_notebook(fresh, cells)
    diag = found[cell_uri(1)][0]
    actions = await fresh.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cell_uri(1)),
            range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag]),  # no `only`: what a cursor move sends
        )
    )
    fix_all = next(a for a in actions if a.kind == "source.fixAll.perf-lsp")
    assert fix_all.edit is None and fix_all.data["uri"] == NB_URI
    resolved = await fresh.code_action_resolve_async(fix_all)
    fixed = apply_cell_edits({cell_uri(i): s for i, (_, s) in enumerate(cells)}, resolved.edit, {cell_uri(0): 1, cell_uri(1): 1})
    assert fixed[cell_uri(0)] == "import re"
    assert fixed[cell_uri(1)] == "_F_RE = re.compile('a+')\n\n\ndef f(rows):\n    return [_F_RE.match(r) for r in rows]"
