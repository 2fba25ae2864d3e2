"""The language server's project index: built in a background thread, updated per saved or edited file.

:class:`WorkspaceIndex` indexes the Python files of the workspace folders with
:class:`~perf_lsp.analysis.hotness.ProjectIndex` in its own daemon thread (not the
analysis thread, which serves keystrokes), then keeps each file's answers
(:class:`~perf_lsp.analysis.hotness.FileHotness`) in a dictionary that the event loop
reads without waiting. Until the first build is done, :meth:`WorkspaceIndex.for_path`
answers None: nothing is filtered. After a build or an update, ``on_change`` is called
(in the index thread) with the paths whose answers changed.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from perf_lsp.analysis.hotness import FileHotness, ProjectIndex
from perf_lsp.files import EXCLUDED_DIRS, discover

log = logging.getLogger(__name__)

MAX_FILES = 20_000
"""A workspace with more Python files than this is not indexed (nothing is filtered)."""


class WorkspaceIndex:
    """A :class:`ProjectIndex` of the workspace folders, kept up to date in a daemon thread.

    ``on_change(paths)``: called in the index thread with the resolved paths (``str``) whose answers
    changed, after the first build and after each batch of updates. Thread-safe: :meth:`start`,
    :meth:`update` and :meth:`for_path` may be called from any thread.
    """

    def __init__(self, on_change: Callable[[list[str]], None] | None = None) -> None:
        self._on_change = on_change or (lambda paths: None)
        self._answers: dict[str, FileHotness] | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    def start(self, roots: Iterable[str | os.PathLike]) -> None:
        """Index the Python files under ``roots`` in the background (once; later calls do nothing)."""
        if self._thread is not None:
            return
        roots = [Path(r) for r in roots]
        self._thread = threading.Thread(target=self._run, args=(roots,), name="perf-lsp-index", daemon=True)
        self._thread.start()

    def update(self, path: str | os.PathLike, text: str) -> None:
        """Re-index the file ``path`` with contents ``text`` (a Python file; others are ignored)."""
        if str(path).endswith(".py"):
            self._queue.put((str(Path(path).resolve()), text))

    def for_path(self, path: str | os.PathLike) -> FileHotness | None:
        """The file's answers, or None while the index is not built (or the file is outside it)."""
        answers = self._answers
        if answers is None:
            return None
        return answers.get(str(Path(path).resolve()))

    def stop(self) -> None:
        """Ask the index thread to end (it is a daemon thread: it never keeps the server alive)."""
        self._queue.put(None)

    def _run(self, roots: list[Path]) -> None:
        try:
            files = []
            for path in discover([r for r in roots if r.is_dir()]):
                if path.suffix == ".py" and not any(part in EXCLUDED_DIRS for part in path.parts):
                    files.append(path)
                    if len(files) > MAX_FILES:
                        log.warning("perf-lsp: more than %d Python files; the project index is off", MAX_FILES)
                        return
            root = roots[0] if len(roots) == 1 else None
            index = ProjectIndex.build(files, root=root)
            self._publish(index, files)
            self.ready.set()
            while True:
                item = self._queue.get()
                batch = [item]
                while not self._queue.empty():  # coalesce a burst of edits
                    batch.append(self._queue.get())
                if any(entry is None for entry in batch):
                    return
                for path, text in batch:
                    index.add(path, text)
                    if path not in files:
                        files.append(path)
                self._publish(index, files)
        except Exception:  # no index is no filter; the server goes on
            log.exception("perf-lsp: the project index failed")

    def _publish(self, index: ProjectIndex, files: list) -> None:
        old = self._answers or {}
        new = {str(Path(f).resolve()): index.for_file(f) for f in files}
        self._answers = new
        changed = [path for path, facts in new.items() if old.get(path) != facts]
        if changed:
            try:
                self._on_change(changed)
            except Exception:  # the index stays up to date even if a re-check could not be asked for
                log.exception("perf-lsp: after a project index update")
