"""The server indexes its workspace folder in the background: cold findings disappear once it is ready,
a hot finding's hover says why it is hot, and a save updates the index."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_lsp import CONFIG, mark, middle

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = textwrap.dedent(
    """\
    from fastapi import FastAPI
    from app.helpers import make_client

    app = FastAPI()

    @app.post("/ask")
    async def ask(q: str):
        return make_client(q)
    """
)
HELPERS = textwrap.dedent(
    """\
    import httpx

    def make_client(q):
        return httpx.Client().get(q)

    def only_main():
        return httpx.Client().get("u")

    if __name__ == "__main__":
        only_main()
    """
)


async def wait_for(client: LanguageClient, uri: str, since: int, accept, timeout: float = 30) -> list[types.Diagnostic]:
    """The first diagnostics published for ``uri`` after ``since`` that ``accept`` likes."""

    async def wait():
        index = since
        while True:
            for params in client.published[index:]:
                if params.uri == uri and accept(params.diagnostics):
                    return list(params.diagnostics)
            index = len(client.published)
            waiter = asyncio.get_running_loop().create_future()
            client.publish_waiters.append(waiter)
            await waiter

    return await asyncio.wait_for(wait(), timeout)


@pytest_lsp.fixture(config=CONFIG, loop_scope="module")
async def fresh(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_the_workspace_index_hides_cold_findings_and_explains_hot_ones(fresh: LanguageClient, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app/__init__.py").write_text("")
    (tmp_path / "app/api.py").write_text(API)
    helpers = tmp_path / "app/helpers.py"
    helpers.write_text(HELPERS)
    await fresh.initialize_session(
        types.InitializeParams(
            capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
            initialization_options={"select": ["ALL"]},
            root_uri=tmp_path.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="proj")],
        )
    )
    uri = helpers.as_uri()
    since = mark(fresh)
    fresh.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=HELPERS)
        )
    )
    diagnostics = await wait_for(fresh, uri, since, lambda ds: [d.range.start.line for d in ds] == [3])
    hover = await fresh.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=middle(diagnostics[0].range))
    )
    assert hover is not None and "Called per request from POST /ask (app/api.py:6)" in hover.contents.value

    # the route goes away: after a save of api.py, make_client is no longer hot (and only_main stays cold)
    api_uri = (tmp_path / "app/api.py").as_uri()
    plain = API.replace('@app.post("/ask")\n', "")
    fresh.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=api_uri, language_id="python", version=1, text=plain)
        )
    )
    since = mark(fresh)
    fresh.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=api_uri)))

    async def hover_text() -> str:
        while True:
            result = await fresh.text_document_hover_async(
                types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=middle(diagnostics[0].range))
            )
            if result is not None and "POST /ask" not in result.contents.value:
                return result.contents.value
            await asyncio.sleep(0.05)

    text = await asyncio.wait_for(hover_text(), 30)
    assert "PFL103" in text
