"""The perf-lsp language server (pygls), run on stdio by ``perf-lsp serve``.

Handlers are thin: take a snapshot of the document (text, version, encoding,
settings), run the matching function of :mod:`perf_lsp.lsp.features` in the
analysis thread, return or publish its result. Around them:

- Diagnostics are published on open and save at once, and on change after
  ``debounceMs`` (per document: a newer change cancels the pending run). The
  analysis runs in one worker thread, off the event loop; a result whose
  document version moved on meanwhile is dropped. Closing a document clears its
  diagnostics.
- Settings: the nearest ``pyproject.toml`` ``[tool.perf-lsp]`` of each document,
  with the client's ``initializationOptions`` / ``workspace/didChangeConfiguration``
  on top. A bad value is shown (``window/showMessage``) once and its default used.
- A handler never takes the server down: an exception is logged to the client
  (``window/logMessage``) and the request gets an empty result.
- Only open documents are read: a request about any other URI gets no result
  (nothing is read from disk: a hover on ``file:///dev/zero`` or a FIFO read it
  forever or blocked the loop). A document over ``MAX_DOCUMENT_CHARS`` is not
  analysed, by diagnostics, hover or code actions.
- The transport (:mod:`perf_lsp.lsp.transport`) resynchronises after bad framing,
  answers every request (``-32002`` before ``initialize``, ``-32602`` for invalid
  params, ``-32600`` after ``shutdown``), and ``exit`` ends the process with 0
  after ``shutdown``, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument, Workspace

from perf_lsp import __version__
from perf_lsp.engine import describe_exception
from perf_lsp.files import MAX_FILE_BYTES
from perf_lsp.lsp import features, notebooks, transport
from perf_lsp.lsp.convert import FIX_ALL_KIND, SOURCE, from_lsp_range
from perf_lsp.lsp.hotindex import WorkspaceIndex
from perf_lsp.rules import CODES, OPTIONS
from perf_lsp.settings import Settings, from_lsp_options, load_for
from perf_lsp.text import split_lines
from perf_lsp.textedit import replace_range

T = TypeVar("T")

APPLY_FIX_ALL = "perf-lsp.applyFixAll"
"""``workspace/executeCommand``: apply fix-all to the document whose URI is the first argument."""

log = logging.getLogger(__name__)

MAX_LOG = 8_000
"""The longest ``window/logMessage`` or ``window/showMessage`` text we send, in characters."""
MAX_FRAMES = 30

MAX_DOCUMENT_CHARS = MAX_FILE_BYTES
"""Documents larger than this are not checked (said once with a message), as ``perf-lsp check`` skips such files."""


REFINE_DELAY_S = 0.3
"""How long the typing must pause before jedi refines the published diagnostics (seconds)."""


class Collector:
    """When the garbage collector looks at the analysed trees: at a pause in the typing, not per keystroke.

    The engine keeps a libcst and an :mod:`ast` tree per unit of every open document
    (about a million objects for the standard library's 6,500-line ``_pydecimal.py``);
    CPython's full collections scan them all, 100-200 ms each, every few keystrokes
    (the long tail of typing into a method: p95 140 ms against a 49 ms median,
    ``benchmarks/bench_lsp.py``). :meth:`settle`, called after each published
    analysis, moves every object alive into the permanent generation
    (:func:`gc.freeze`), which the collector skips; objects still go the moment
    nothing refers to them (reference counting is untouched), only reference cycles
    wait: :meth:`idle`, called when the typing pauses, collects everything once
    (:func:`gc.unfreeze`, :func:`gc.collect`: 0.3-0.6 s on that document, measured with
    ``py-spy`` in the server) when ``every`` analyses have passed since the last time,
    and typing that never pauses gets one every ``at_most`` analyses.
    """

    def __init__(self, every: int = 100, at_most: int = 1000) -> None:
        self.every = every
        self.at_most = at_most
        self.count = 0  # analyses settled since the last full collection

    def settle(self) -> None:
        """Freeze what is alive (a full collection first only after ``at_most`` analyses without a pause)."""
        self.count += 1
        if self.count >= self.at_most:
            self._collect()
        gc.freeze()

    def idle(self) -> None:
        """The typing paused: collect cyclic garbage when ``every`` analyses have passed since the last time."""
        if self.count >= self.every:
            self._collect()
            gc.freeze()

    def _collect(self) -> None:
        gc.unfreeze()
        gc.collect()
        self.count = 0


NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
        )
    ],
    save=True,
)
"""Notebook document sync, advertised to clients that support it: the Python cells of Jupyter notebooks."""


class PerfLanguageServer(LanguageServer):
    """pygls' server plus perf-lsp's state: the engine's documents, settings, pending analyses."""

    protocol: transport.Protocol

    def __init__(self) -> None:
        super().__init__(
            SOURCE,
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=NOTEBOOK_SYNC,
            protocol_cls=transport.Protocol,
        )
        self.documents = features.Documents()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perf-lsp-analysis")
        self.client_options: Any = None
        self._settings: dict[str, Settings] = {}
        self._pending: dict[str, asyncio.Task] = {}
        self._shown: set[str] = set()
        self._cells_published: dict[str, set[str]] = {}  # notebook URI -> cell URIs with diagnostics out
        self.collector = Collector()
        self.index = WorkspaceIndex(on_change=self._hotness_changed)  # how often each function runs
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the transport -------------------------------------------------------------
    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
        """Serve on stdio (:func:`perf_lsp.lsp.transport.run`) until ``exit`` or the end of the input; the exit code."""
        return transport.run(
            self.protocol, stdin or sys.stdin.buffer, stdout or sys.stdout.buffer, on_skipped=self._badly_framed
        )

    def _badly_framed(self, count: int) -> None:
        message = f"perf-lsp: skipped {count:,} bytes of badly framed input (wrong Content-Length?)"
        log.warning(message)
        with contextlib.suppress(Exception):
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=message))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A failed notification or a message that could not be read: logged, not a pop-up (pygls shows one)."""
        with contextlib.suppress(Exception):
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Error, message=f"perf-lsp: {type(error).__name__}: {error}"
                )
            )

    # -- running work ------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the analysis thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))

    async def run_for(self, snap: features.Snapshot, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` about ``snap``'s document in the analysis thread.

        If the document was closed meanwhile, what ``fn`` stored about it is forgotten
        there, after ``fn`` (a close does not wait for a running analysis).
        """

        def job() -> T:
            try:
                return fn(*args)
            finally:
                if self.document(snap.uri) is None:
                    self.documents.forget(snap.uri)

        return await self.run(job)

    def document(self, uri: str) -> TextDocument | None:
        """The open document ``uri``, or None (pygls keys documents by the percent-decoded URI)."""
        return self.workspace.text_documents.get(unquote(uri))

    def snapshot(self, uri: str) -> features.Snapshot | None:
        """The open document as it is now, with its settings; None for a document that is not open.

        Nothing is read from disk: an editor asks only about documents it opened, and a
        URI can name anything (``/dev/zero``, a FIFO, a 10 GB log).
        """
        doc = self.document(uri)
        if doc is None:
            return None
        hotness = self.index.for_path(to_fs_path(uri)) if uri.startswith("file:") else None
        return features.Snapshot(uri, doc.version, doc.source, doc.position_codec, self.settings_for(uri), hotness)

    def notebook_of(self, uri: str) -> str | None:
        """The URI of the open notebook ``uri`` is, or holds as a cell; None for a plain document."""
        notebook = self.workspace.get_notebook_document(notebook_uri=uri) or self.workspace.get_notebook_document(
            cell_uri=uri
        )
        return notebook.uri if notebook is not None else None

    def notebook_snapshot(self, uri: str) -> notebooks.NotebookSnapshot | None:
        """The open notebook ``uri`` as it is now (its Python code cells), with its settings; None when it
        is not open, is over ``MAX_DOCUMENT_CHARS`` or its settings turn notebooks off."""
        notebook = self.workspace.get_notebook_document(notebook_uri=uri)
        if notebook is None:
            return None
        settings = self.settings_for(notebook.uri)
        if not settings.notebooks:
            return None
        cells = []
        codec = None
        for index, cell in enumerate(notebook.cells):
            doc = self.document(cell.document)
            if doc is None or cell.kind != types.NotebookCellKind.Code or doc.language_id not in (None, "python"):
                continue
            codec = doc.position_codec
            cells.append(notebooks.CellDocument(cell.document, index, doc.version, doc.source))
        if sum(len(c.source) for c in cells) > MAX_DOCUMENT_CHARS:
            return None
        return notebooks.NotebookSnapshot(
            notebook.uri,
            notebook.version,
            tuple(cells),
            tuple(cell.document for cell in notebook.cells),
            codec or self.workspace.position_codec,
            settings,
        )

    def checkable(self, uri: str) -> features.Snapshot | None:
        """:meth:`snapshot`, or None when the document is over ``MAX_DOCUMENT_CHARS`` (never analysed)."""
        snap = self.snapshot(uri)
        if snap is None or too_big(snap):
            return None
        return snap

    def can_resolve_edits(self) -> bool:
        """Whether the client resolves a code action's ``edit`` with ``codeAction/resolve``."""
        properties = get_capability(
            self.client_capabilities, "text_document.code_action.resolve_support.properties", []
        )
        return "edit" in (properties or [])

    # -- messages ------------------------------------------------------------------
    def log_error(self, what: str) -> None:
        """Log the exception being handled: its type, a short message and its last frames.

        Never ``traceback.format_exc()``: an exception's message can be the ``repr()``
        of a libcst tree (1.29 GB for a deep one); the text is at most ``MAX_LOG`` characters.
        """
        exc = sys.exc_info()[1]
        frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]) if exc else []
        problem = describe_exception(exc, MAX_LOG // 4) if exc else "unknown error"
        text = f"perf-lsp: {what} failed: {problem}\nTraceback (most recent call last, at most {MAX_FRAMES}):\n{''.join(frames)}"
        text = text if len(text) <= MAX_LOG else text[: MAX_LOG - 1] + "\u2026"
        log.error(text)
        with contextlib.suppress(Exception):  # the client is gone: stderr has it
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=text))

    def warn(self, messages: list[str]) -> None:
        """Show each settings message once (until the settings change)."""
        for message in messages:
            if message not in self._shown:
                self._shown.add(message)
                text = message if len(message) <= MAX_LOG else message[: MAX_LOG - 1] + "\u2026"
                self.window_show_message(
                    types.ShowMessageParams(type=types.MessageType.Warning, message=f"perf-lsp: {text}")
                )

    def start_index(self) -> None:
        """Index the workspace folders in the background; open documents are checked again when it is ready."""
        self._loop = asyncio.get_event_loop()
        folders = [to_fs_path(f.uri) for f in (self.workspace.folders or {}).values()]
        if not folders and self.workspace.root_path:
            folders = [self.workspace.root_path]
        if folders:
            self.index.start(folders)

    def index_document(self, uri: str) -> None:
        """Re-index an open document's current text (after a save: re-indexing on every keystroke
        would recompute the whole project's answers that often)."""
        doc = self.document(uri)
        if doc is not None and uri.startswith("file:") and self.index.ready.is_set():
            self.index.update(to_fs_path(uri), doc.source)

    def _hotness_changed(self, paths: list[str]) -> None:
        """Called in the index thread: hand the paths to the event loop (documents are its to read)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._recheck, set(paths))

    def _recheck(self, paths: set[str]) -> None:
        """Check the open documents among ``paths`` (resolved file paths) again."""
        for doc in list(self.workspace.text_documents.values()):
            if doc.uri.startswith("file:") and str(Path(to_fs_path(doc.uri)).resolve()) in paths:
                self.schedule(doc.uri, 0)

    # -- settings --------------------------------------------------------------------
    def settings_for(self, uri: str) -> Settings:
        """The document's ``pyproject.toml`` settings with the client's on top (cached per document)."""
        settings = self._settings.get(uri)
        if settings is not None:
            return settings
        base, messages = Settings(), []
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if path:
            base, messages = load_for(Path(path), codes=CODES, options=OPTIONS)
        settings, client_messages = from_lsp_options(self.client_options, base, codes=CODES, rule_options=OPTIONS)
        self.warn(messages + client_messages)
        self._settings[uri] = settings
        return settings

    def configure(self, options: Any) -> None:
        """New client settings: forget every document's settings and report what is wrong with them."""
        self.client_options = options
        self._settings.clear()
        self._shown.clear()
        self.warn(from_lsp_options(options, codes=CODES, rule_options=OPTIONS)[1])

    # -- diagnostics -------------------------------------------------------------------
    def schedule(self, uri: str, delay_ms: int | None = None) -> None:
        """(Re)start the diagnostics run of ``uri`` after ``delay_ms`` (default: its ``debounceMs``)."""
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        if delay_ms is None:
            delay_ms = self.settings_for(uri).debounce_ms
        self._pending[uri] = asyncio.ensure_future(self._publish_after(uri, delay_ms))

    async def _publish_after(self, uri: str, delay_ms: int) -> None:
        task = asyncio.current_task()
        try:
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000)
            await self.publish(uri)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a failed run is logged; the next change tries again
            self.log_error(f"diagnostics of {uri}")
        finally:
            if self._pending.get(uri) is task:
                del self._pending[uri]

    async def publish(self, uri: str) -> None:
        """Analyse the document and publish its diagnostics, unless it changed or closed meanwhile."""
        if self.workspace.get_notebook_document(notebook_uri=uri) is not None:
            await self.publish_notebook(uri)
            return
        snap = self.snapshot(uri)
        if snap is None:
            return
        if too_big(snap):
            self.warn([f"{uri}: not checked: larger than {MAX_DOCUMENT_CHARS:,} characters"])
            self.documents.forget(uri)
            diagnostics: list[types.Diagnostic] = []
        else:
            diagnostics = await self.run_for(snap, features.diagnostics, self.documents, snap)
        doc = self.document(uri)
        if doc is None or doc.version != snap.version:
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=snap.version, diagnostics=diagnostics)
        )
        await self.run(self.collector.settle)  # in the analysis thread: no analysis is running meanwhile
        if too_big(snap):
            return
        # then jedi, off the keystroke path: a refined set when the findings that need types are decided,
        # once the typing pauses (a change meanwhile cancels this task: the next keystroke's analysis
        # never queues behind jedi, 0.1-0.5 s per pass on a service module)
        await asyncio.sleep(REFINE_DELAY_S)
        doc = self.document(uri)
        if doc is None or doc.version != snap.version:
            return
        await self.run(self.collector.idle)  # a pause: the time for a full collection, if one is due
        refined = await self.run_for(snap, features.refined_diagnostics, self.documents, snap)
        doc = self.document(uri)
        if refined is None or doc is None or doc.version != snap.version:
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=snap.version, diagnostics=refined)
        )

    async def publish_notebook(self, uri: str) -> None:
        """Analyse a notebook's Python cells and publish each cell's diagnostics, then jedi's refined set."""
        snap = self.notebook_snapshot(uri)
        if snap is None:  # notebooks off (or too large): say so with empty lists, clearing what was out
            notebook = self.workspace.get_notebook_document(notebook_uri=uri)
            cells = notebook.cells if notebook is not None else []
            code = [c.document for c in cells if c.kind == types.NotebookCellKind.Code]
            self._publish_cells(uri, None, {cell: [] for cell in code})
            return

        def job(fn):
            try:
                return fn(self.documents, snap)
            finally:
                if self.workspace.get_notebook_document(notebook_uri=uri) is None:
                    self.documents.forget(snap.uri)

        def current() -> bool:
            notebook = self.workspace.get_notebook_document(notebook_uri=uri)
            return notebook is not None and notebook.version == snap.version

        published = await self.run(job, notebooks.diagnostics)
        if not current():
            return
        self._publish_cells(uri, snap, published)
        await self.run(self.collector.settle)
        await asyncio.sleep(REFINE_DELAY_S)
        if not current():
            return
        await self.run(self.collector.idle)
        refined = await self.run(job, notebooks.refined_diagnostics)
        if refined is not None and current():
            self._publish_cells(uri, snap, refined)

    def _publish_cells(
        self, uri: str, snap: notebooks.NotebookSnapshot | None, by_cell: dict[str, list[types.Diagnostic]]
    ) -> None:
        """Publish ``by_cell`` and clear the cells of ``uri`` that had diagnostics and now have none."""
        versions = {cell.uri: cell.version for cell in snap.cells} if snap is not None else {}
        before = self._cells_published.get(uri, set())
        for cell_uri in before - set(by_cell):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[]))
        for cell_uri, diagnostics in by_cell.items():
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=cell_uri, version=versions.get(cell_uri), diagnostics=diagnostics)
            )
        self._cells_published[uri] = {cell_uri for cell_uri, found in by_cell.items() if found}

    def clear_notebook(self, uri: str) -> None:
        """A notebook closed: cancel its run, forget it, clear its cells' diagnostics."""
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._settings.pop(uri, None)
        self.documents.forget(uri)
        for cell_uri in self._cells_published.pop(uri, set()):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[]))

    def clear(self, uri: str) -> None:
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._settings.pop(uri, None)
        self.documents.forget(uri)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def too_big(snap: features.Snapshot) -> bool:
    """Whether the document is over ``MAX_DOCUMENT_CHARS``: never analysed."""
    return len(snap.source) > MAX_DOCUMENT_CHARS


class LspLinesDocument(TextDocument):
    """pygls' text document, with lines split where LSP splits them: ``\\n``, ``\\r\\n``, ``\\r``.

    pygls 2.1 uses ``str.splitlines``, which also splits at form feeds, U+2028 and
    other separators: in a document containing one (a ``^L`` page break is common
    in older Python files), an incremental change lands on the wrong line.

    Also applies an incremental change by slicing the text and re-splitting only the
    changed lines (:func:`~perf_lsp.textedit.replace_range`), where pygls rewrites and
    re-splits the whole document: 12 ms a keystroke on a 6,459-line file. The change's
    range is read by :func:`perf_lsp.lsp.convert.from_lsp_range`, as the editor reads
    it: a character past the end of a line is the line's end, a line past the last one
    the end of the document, a reversed range is turned round. (pygls 2.1 put a
    character one past the end after the line ending, one further before the last
    character of a final line, and wrote the clamped value back into the request:
    the server's text drifted from the editor's.)
    """

    @property
    def lines(self) -> tuple[str, ...]:
        source = self.source
        cached = self.__dict__.get("_lsp_lines")
        if cached is None or cached[0] is not source:
            cached = self.__dict__["_lsp_lines"] = (source, tuple(split_lines(source)))
        return cached[1]

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        lines = self.lines
        rng = from_lsp_range(change.range, lines, self._position_codec)
        source, new_lines = replace_range(
            self.source, lines, rng.start.line - 1, rng.start.column, rng.end.line - 1, rng.end.column, change.text
        )
        self._source = source
        self.__dict__["_lsp_lines"] = (source, tuple(new_lines))


def use_lsp_lines(workspace: Workspace) -> None:
    """Make ``workspace`` create :class:`LspLinesDocument` s (pygls has no public hook for it)."""
    create = workspace._create_text_document

    @functools.wraps(create)
    def create_document(*args: Any, **kwargs: Any) -> TextDocument:
        document = create(*args, **kwargs)
        document.__class__ = LspLinesDocument
        return document

    workspace._create_text_document = create_document


def guarded(default: Any = None):
    """Wrap a handler so that an exception is logged to the client and ``default`` returned."""

    def decorate(handler):
        if asyncio.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(ls: PerfLanguageServer, *args):
                try:
                    return await handler(ls, *args)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the server must outlive any bug in a handler
                    ls.log_error(handler.__name__)
                    return default

            return run_async

        @functools.wraps(handler)
        def run(ls: PerfLanguageServer, *args):
            try:
                return handler(ls, *args)
            except Exception:  # noqa: BLE001 - the server must outlive any bug in a handler
                ls.log_error(handler.__name__)
                return default

        return run

    return decorate


SERVER = PerfLanguageServer()


# -- lifecycle and settings ---------------------------------------------------------------
@SERVER.feature(types.INITIALIZE)
@guarded()
def initialize(ls: PerfLanguageServer, params: types.InitializeParams) -> None:
    ls.client_options = params.initialization_options
    use_lsp_lines(ls.workspace)  # pygls created the workspace just before calling us


@SERVER.feature(types.INITIALIZED)
@guarded()
def initialized(ls: PerfLanguageServer, params: types.InitializedParams) -> None:
    ls.configure(ls.client_options)
    ls.start_index()


@SERVER.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
@guarded()
async def did_change_configuration(ls: PerfLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    options = params.settings
    if options is None and get_capability(ls.client_capabilities, "workspace.configuration", False):
        # Pull model: the notification only says that something changed.
        result = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=SOURCE)])
        )
        options = result[0] if result else None
    ls.configure(options)
    cells = set()
    for notebook in list(ls.workspace.notebook_documents.values()):
        cells.update(cell.document for cell in notebook.cells)
        ls.schedule(notebook.uri, 0)
    for doc in list(ls.workspace.text_documents.values()):
        if doc.uri not in cells:
            ls.schedule(doc.uri, 0)  # the URI as the client sent it (pygls' keys are percent-decoded)


@SERVER.feature(types.SHUTDOWN)
@guarded()
def shutdown(ls: PerfLanguageServer, params: None) -> None:
    for task in ls._pending.values():
        task.cancel()
    ls.executor.shutdown(wait=False, cancel_futures=True)
    ls.index.stop()


# -- document sync --------------------------------------------------------------------------
@SERVER.feature(types.TEXT_DOCUMENT_DID_OPEN)
@guarded()
def did_open(ls: PerfLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)


@SERVER.feature(types.TEXT_DOCUMENT_DID_CHANGE)
@guarded()
def did_change(ls: PerfLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_SAVE)
@guarded()
def did_save(ls: PerfLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    ls._settings.pop(params.text_document.uri, None)  # pyproject.toml may have changed
    ls.schedule(params.text_document.uri, 0)
    ls.index_document(params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_CLOSE)
@guarded()
def did_close(ls: PerfLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.clear(params.text_document.uri)


@SERVER.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
@guarded()
def notebook_did_open(ls: PerfLanguageServer, params: types.DidOpenNotebookDocumentParams) -> None:
    ls.schedule(params.notebook_document.uri, 0)


@SERVER.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
@guarded()
def notebook_did_change(ls: PerfLanguageServer, params: types.DidChangeNotebookDocumentParams) -> None:
    ls.schedule(params.notebook_document.uri)


@SERVER.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
@guarded()
def notebook_did_save(ls: PerfLanguageServer, params: types.DidSaveNotebookDocumentParams) -> None:
    ls._settings.pop(params.notebook_document.uri, None)  # pyproject.toml may have changed
    ls.schedule(params.notebook_document.uri, 0)


@SERVER.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
@guarded()
def notebook_did_close(ls: PerfLanguageServer, params: types.DidCloseNotebookDocumentParams) -> None:
    ls.clear_notebook(params.notebook_document.uri)


# -- requests ---------------------------------------------------------------------------------
@SERVER.feature(types.TEXT_DOCUMENT_HOVER)
@guarded()
async def hover(ls: PerfLanguageServer, params: types.HoverParams) -> types.Hover | None:
    notebook = ls.notebook_of(params.text_document.uri)
    if notebook is not None:
        nb = ls.notebook_snapshot(notebook)
        if nb is None:
            return None
        return await ls.run(notebooks.hover, ls.documents, nb, params.text_document.uri, params.position)
    snap = ls.checkable(params.text_document.uri)
    if snap is None:
        return None
    return await ls.run_for(snap, features.hover, ls.documents, snap, params.position)


@SERVER.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND], resolve_provider=True),
)
@guarded()
async def code_action(ls: PerfLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    notebook = ls.notebook_of(params.text_document.uri)
    if notebook is not None:
        nb = ls.notebook_snapshot(notebook)
        if nb is None:
            return None
        only = params.context.only
        defer = only is None and ls.can_resolve_edits()
        return await ls.run(
            notebooks.code_actions, ls.documents, nb, params.text_document.uri, params.range, only, defer
        )
    snap = ls.checkable(params.text_document.uri)
    if snap is None:
        return None
    only = params.context.only
    defer = only is None and ls.can_resolve_edits()
    return await ls.run_for(snap, features.code_actions, ls.documents, snap, params.range, only, defer)


@SERVER.feature(types.CODE_ACTION_RESOLVE)
@guarded()
async def code_action_resolve(ls: PerfLanguageServer, action: types.CodeAction) -> types.CodeAction | None:
    uri = action.data.get("uri") if isinstance(action.data, dict) else None
    if action.kind != FIX_ALL_KIND or not isinstance(uri, str):
        return action
    notebook = ls.notebook_of(uri)
    if notebook is not None:
        nb = ls.notebook_snapshot(notebook)
        return action if nb is None else await ls.run(notebooks.resolve_fix_all, ls.documents, nb, action)
    snap = ls.checkable(uri)
    if snap is None:
        return action
    return await ls.run_for(snap, features.resolve_fix_all, ls.documents, snap, action)


@SERVER.command(APPLY_FIX_ALL)
@guarded()
async def apply_fix_all(ls: PerfLanguageServer, *args: Any) -> bool | None:
    """Apply fix-all to a document: arguments ``[uri]`` or ``[{"uri": uri}]``."""
    first = args[0] if args else None
    if isinstance(first, (list, tuple)):  # pygls may pass the arguments as one list
        first = first[0] if first else None
    uri = first.get("uri") if isinstance(first, dict) else first
    if not isinstance(uri, str):
        ls.warn([f"{APPLY_FIX_ALL} expects a document URI"])
        return None
    notebook = ls.notebook_of(uri)
    if notebook is not None:  # a notebook's URI, or one of its cells'
        nb = ls.notebook_snapshot(notebook)
        found = await ls.run(notebooks.fix_all_edit, ls.documents, nb) if nb is not None else None
        if found is None:
            return False
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=found[0], label="perf-lsp: fix all")
        )
        return result.applied
    snap = ls.checkable(uri)
    if snap is None:
        ls.warn([f"{APPLY_FIX_ALL}: {uri} is not open, or too large to check"])
        return False
    found = await ls.run_for(snap, features.fix_all_edit, ls.documents, snap)
    if found is None:
        return False
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=found[0], label="perf-lsp: fix all")
    )
    return result.applied


def serve() -> None:
    """Run the server on stdio until the client says exit (or closes stdin), then end the process.

    The exit code is 0 after ``shutdown``, 1 otherwise (the LSP specification). The
    process ends at once (``os._exit``): an analysis still running in the worker
    thread, or jedi, must not keep a server that was told to exit alive.
    """
    logging.basicConfig(level=logging.WARNING, format="perf-lsp %(levelname)s %(name)s: %(message)s")
    code = SERVER.start_io()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
