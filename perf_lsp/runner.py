"""Checking and fixing files for the command line: one file at a time, in this process or in workers.

:func:`check_file` and :func:`fix_file` take a path and its settings and return an
*outcome*: a small JSON-serialisable dict (no tree, no file text) with the file's
diagnostics, the messages to print (each a ``(kind, suffix)`` pair: ``kind`` is
``"error"`` or ``"warn"``, the text follows the file's display name) and counts.
Outcomes travel from worker processes to the parent and into the cache
(:mod:`perf_lsp.cache`) as they are. :func:`diagnostics` and :func:`primary_fixes` turn
one back into :class:`~perf_lsp.model.Diagnostic` objects.

A notebook (``.ipynb``, :mod:`perf_lsp.notebook`) is checked as the module of its code
cells; its outcome's diagnostics carry their cell (:func:`cells`) and positions in that
cell, and ``fix`` writes the changed cells back into its JSON.

Cache policy: an outcome is stored when it does not depend on anything outside the
file, its settings and perf-lsp itself. A file some of whose findings asked jedi a
type question (``Analysis.asked``) with jedi on is stored as its findings before
jedi's answers with their questions (``candidates``): jedi's answer depends on other
files and installed packages, so a later run asks jedi again (in the worker, without
analysing the file again) and keeps the findings its answers keep: never stale. Such
an entry is a miss for :func:`lookup`. With ``--no-jedi`` the answer is fixed (left
out or kept unresolved), so the outcome itself is stored (``--no-jedi`` is part of the
key). Files that cannot be read are never stored.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from perf_lsp.cache import Cache, CorruptEntry
from perf_lsp.model import Applicability, Diagnostic, Edit, Fix, FixOffer, Position, Range
from perf_lsp.notebook import (
    NOTEBOOK_SUFFIX,
    NotebookError,
    NotebookModule,
    build_module,
    read_notebook,
    render_notebook,
)
from perf_lsp.settings import Settings

if TYPE_CHECKING:  # the engine, jedi and libcst are imported by the first file not in the cache
    from perf_lsp.analysis.hotness import FileHotness
    from perf_lsp.analysis.resolve import TypeResolver
    from perf_lsp.engine import Engine


@dataclass(frozen=True)
class Options:
    """What a run asks of every file, besides its settings.

    ``no_jedi``/``jedi_budget`` (seconds per file): as the command-line flags;
    ``want_fix``: build each fixable diagnostic's primary fix (JSON and SARIF show its
    edits); ``diff``: ``fix`` prints a diff and writes nothing; ``cache_root``: the cache
    directory, or None for no cache.
    """

    no_jedi: bool = False
    jedi_budget: float = 10.0
    want_fix: bool = False
    diff: bool = False
    cache_root: str | None = None


_CACHES: dict[str, Cache] = {}


def engine() -> Engine:
    """A fresh engine for one file: its statement cache (trees of the statements with findings,
    for their fixes) lives as long as the file's check, so no tree outlives its file. Classes are
    analysed whole (``split_classes=False``): units pay off only for the next keystroke of an editor."""
    from perf_lsp.engine import Engine

    return Engine(cache_size=512, split_classes=False)


def forget_trees() -> None:
    """Empty the analysis' memo tables keyed by node identity (:func:`perf_lsp.analysis.tree.forget_node_memos`).

    They serve the language server, whose unchanged statements keep their nodes from one
    keystroke to the next; in a batch run every file's nodes are new, so the tables only
    keep up to thousands of finished files' trees alive (RSS grew ~70 MB per 100 sympy
    files). Called after every file.
    """
    from perf_lsp.analysis.tree import forget_node_memos

    forget_node_memos()


def start_run() -> None:
    """Forget this process's caches: a new command starts from nothing (as a worker process
    does), so nothing a previous run in the same process saw is reused."""
    _CACHES.clear()


def cache_for(root: str | None) -> Cache | None:
    """This process's :class:`Cache` for ``root`` (None: no cache)."""
    if root is None:
        return None
    cache = _CACHES.get(root)
    if cache is None:
        cache = _CACHES[root] = Cache(Path(root))
    return cache


def index_store(cache: Cache | None):
    """A :class:`~perf_lsp.analysis.hotness.FileStore` keeping each file's project-index facts in ``cache``
    (None: a store that keeps nothing)."""
    from perf_lsp.analysis.hotness import FileStore

    class Store(FileStore):
        def load(self, data: bytes, material: str) -> dict | None:
            try:
                return cache.get(Cache.key(data, material))
            except CorruptEntry:
                return None

        def save(self, data: bytes, material: str, facts: dict) -> None:
            cache.put(Cache.key(data, material), facts)

    return Store() if cache is not None else FileStore()


def key_material(settings: Settings, options: Options, hotness: FileHotness | None = None) -> str:
    """What besides the file's bytes and perf-lsp itself changes a check's outcome (``hotness``: the
    project index's answers for the file, which depend on other files)."""
    extra = () if hotness is None else (hotness, settings.include_cold)
    return repr((settings.analysis_key, settings.package_init, options.no_jedi, *extra))


def _types(options: Options, text: str, path: Path) -> TypeResolver | None:
    if options.no_jedi:
        return None
    from perf_lsp.analysis.resolve import TypeResolver

    return TypeResolver(text, path, budget=options.jedi_budget)


def _range(r: Range) -> list[int]:
    return [r.start.line, r.start.column, r.end.line, r.end.column]


def _unrange(v: list[int]) -> Range:
    return Range(Position(v[0], v[1]), Position(v[2], v[3]))


def _encode(diag: Diagnostic, fix: Fix | None, module: NotebookModule | None = None) -> list:
    """A diagnostic as stored in an outcome; in a notebook (``module``), its range and its fix's
    edits in cell coordinates, each edit followed by its cell's 1-based number."""
    cell = None
    if module is not None:
        index, rng = module.locate_range(diag.range)
        diag, cell = replace(diag, range=rng), index + 1
    encoded_fix = None
    if fix is not None:
        edits = []
        for e in fix.edits:
            if module is None:
                edits.append([*_range(e.range), e.content])
            else:
                index, rng = module.locate_range(e.range)
                edits.append([*_range(rng), e.content, index + 1])
        encoded_fix = [fix.title, fix.applicability.value, edits]
    return [
        diag.code,
        diag.name,
        diag.message,
        _range(diag.range),
        [[offer.title, offer.applicability.value] for offer in diag.fixes],
        diag.detail,
        encoded_fix,
        cell,
    ]


def diagnostics(outcome: dict) -> list[tuple[Diagnostic, Fix | None]]:
    """The outcome's diagnostics, each with its primary fix when one was built (else None).

    Raises ValueError/TypeError/KeyError/IndexError on an outcome of the wrong shape.
    """
    out = []
    for code, name, message, rng, offers, detail, fix, *_cell in outcome["diagnostics"]:
        diag = Diagnostic(
            code=str(code),
            name=str(name),
            message=str(message),
            range=_unrange(rng),
            fixes=tuple(FixOffer(str(t), Applicability(a)) for t, a in offers),
            detail=str(detail),
        )
        built = None
        if fix is not None:
            title, applicability, edits = fix
            built = Fix(str(title), Applicability(applicability), tuple(Edit(_unrange(e[:4]), str(e[4])) for e in edits))
        out.append((diag, built))
    return out


def cells(outcome: dict) -> list[tuple[int | None, tuple[int, ...]]]:
    """For each of the outcome's diagnostics (in :func:`diagnostics`' order): its notebook cell
    (1-based) and its fix's edits' cells, or ``(None, ())`` in a Python file."""
    out = []
    for entry in outcome["diagnostics"]:
        cell = entry[7] if len(entry) > 7 else None
        fix = entry[6]
        edit_cells = tuple(e[5] for e in fix[2]) if cell is not None and fix is not None else ()
        out.append((cell, edit_cells))
    return out


def _where(line: int, module: NotebookModule | None) -> str:
    """``:line`` in a file, ``:cell N:row`` in a notebook (``line`` a module line)."""
    if module is None:
        return f":{line}"
    index, pos = module.locate(Position(line, 0))
    return f":cell {index + 1}:{pos.line}"


def _outcome(analysis, want_fix: bool, module: NotebookModule | None = None) -> dict:
    """The outcome of a file that parsed (see the module docstring); ``module``: the notebook's, if it is one."""
    messages = []
    partial = False
    for chunk, result in zip(analysis.chunks, analysis.results):
        if result.error:  # libcst rejected a statement ast accepted, or a rule failed on it
            partial = True
            messages.append(["warn", f"{_where(chunk.start, module)}: partly checked: {result.error}"])
        if result.unfixable and result.findings:
            messages.append(["warn", f"{_where(chunk.start, module)}: no fix offered: {result.unfixable}"])
    if module is not None:
        for index, reason in module.skipped:
            if not reason.startswith("%%"):  # a cell in another language is not a failure
                partial = True
                messages.append(["warn", f":cell {index + 1}: not checked: {reason}"])
    encoded = [
        _encode(diag, analysis.fix(diag) if want_fix and diag.fixes else None, module)
        for diag in analysis.diagnostics
    ]
    fixes = want_fix or not any(diag.fixes for diag in analysis.diagnostics)  # nothing to build: serves any run
    return {"diagnostics": encoded, "messages": messages, "failed": 0, "partial": int(partial), "fixes": fixes}


def _syntax_outcome(text: str, error: str) -> dict:
    from perf_lsp.source import needs_newer_python

    match = re.match(r"line (\d+)", error)
    version = needs_newer_python(text, int(match.group(1))) if match else None
    if version is not None:
        running = ".".join(map(str, sys.version_info[:2]))
        message = ["warn", f": needs Python {version[0]}.{version[1]} syntax (perf-lsp runs on Python {running}); not checked"]
    else:
        message = ["error", f": cannot parse: {error}"]
    return {"diagnostics": [], "messages": [message], "failed": 1, "partial": 0, "fixes": True}


def lookup(
    cache: Cache | None, data: bytes, settings: Settings, options: Options, hotness: FileHotness | None = None
) -> tuple[dict | None, str | None]:
    """(the cached outcome for a file whose bytes are ``data``, or None; a warning, or None).

    A corrupt entry gives (None, a warning naming it); it is overwritten when the file is
    checked again. An entry without built fixes does not serve a run that wants them.
    """
    if cache is None:
        return None, None
    key = Cache.key(data, key_material(settings, options, hotness))
    try:
        entry = cache.get(key)
    except CorruptEntry as exc:
        return None, f"cache entry {cache.describe(key)} is unusable ({exc}); ignored"
    if entry is None or (options.want_fix and not entry.get("fixes")) or "candidates" in entry:
        return None, None  # (findings whose questions jedi answers again: the worker does)
    try:
        diagnostics(entry)  # the shape is checked before anything is printed
        if not isinstance(entry["messages"], list) or not all(
            isinstance(m, list) and len(m) == 2 and m[0] in ("warn", "error") and isinstance(m[1], str)
            for m in entry["messages"]
        ):
            raise ValueError("messages")
        int(entry["failed"]), int(entry["partial"])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None, f"cache entry {cache.describe(key)} is unusable (not an entry of this perf-lsp); ignored"
    return entry, None


def _notebook(path: str, text: str) -> NotebookModule | None:
    """The module of a notebook's code cells, or None for a Python file; raises NotebookError."""
    if not path.endswith(NOTEBOOK_SUFFIX):
        return None
    return build_module(read_notebook(text))


def check_file(path: str, settings: Settings, options: Options, hotness: FileHotness | None = None) -> dict:
    """Check one file; returns its outcome (see the module docstring), storing it in the cache
    when the policy allows. Never raises for a bad file: read and parse errors are messages.
    ``hotness``: the project index's answers for the file (cold findings are left out)."""
    from perf_lsp.files import FileError, read_source

    try:
        source = read_source(Path(path))
        module = _notebook(path, source.text)
    except (FileError, NotebookError) as exc:
        return {"diagnostics": [], "messages": [["error", f": {exc}"]], "failed": 1, "partial": 0, "fixes": True}
    text = source.text if module is None else module.text
    resolver = _types(options, text, Path(path))
    cache = cache_for(options.cache_root)
    key = None
    if cache is not None and source.data is not None:
        key = Cache.key(source.data, key_material(settings, options, hotness))
        if resolver is not None and module is None:
            answered = _ask_again(cache, key, resolver, options.want_fix)
            if answered is not None:
                return answered
    analysis = engine().analyze(text, settings, resolver=resolver, hotness=hotness)
    if analysis.syntax_error:
        outcome = _syntax_outcome(text, analysis.syntax_error)
    else:
        outcome = _outcome(analysis, options.want_fix, module)
    if key is not None:
        entry = outcome
        if analysis.asked and resolver is not None:
            # a notebook's findings map to cells through its module: asked again only by a new analysis
            entry = _questions_entry(analysis, outcome, options.want_fix) if module is None else None
        if entry is not None:
            cache.put(key, entry)
            if cache.problem:
                outcome["cache_problem"] = cache.problem
    return outcome


def _questions_entry(analysis, outcome: dict, want_fix: bool) -> dict | None:
    """The cache entry of a file whose findings asked jedi: ``outcome`` with every finding before jedi's
    answers (``candidates``: [encoded diagnostic, its questions]) instead of ``diagnostics``. None when a
    finding jedi left out has a fix that a run wanting fixes would have to build."""
    built = {id(diag): encoded for diag, encoded in zip(analysis.diagnostics, outcome["diagnostics"])}
    candidates = []
    for diag, questions in analysis.candidates:
        encoded = built.get(id(diag))
        if encoded is None:
            if want_fix and diag.fixes:
                return None
            encoded = _encode(diag, None)
        asked = [[q.line, q.column, sorted(q.accept), sorted(q.reject), q.keep_unresolved] for q in questions]
        candidates.append([encoded, asked])
    fixes = want_fix or not any(diag.fixes for diag, _ in analysis.candidates)
    return {**outcome, "diagnostics": [], "candidates": candidates, "fixes": fixes}


def _ask_again(cache: Cache, key: str, resolver: TypeResolver, want_fix: bool) -> dict | None:
    """The outcome from a cache entry of findings with their type questions (:func:`_questions_entry`),
    with jedi asked again, as the engine asks (finding by finding, in the same order); None when there
    is no such entry (or it does not serve this run, or is unusable)."""
    from perf_lsp.analysis.resolve import TypeQuestion

    try:
        entry = cache.get(key)
    except CorruptEntry:
        return None
    if not isinstance(entry, dict) or "candidates" not in entry or (want_fix and not entry.get("fixes")):
        return None
    try:
        kept = []
        for encoded, asked in entry["candidates"]:
            questions = [
                TypeQuestion(int(line), int(column), frozenset(accept), frozenset(reject), bool(keep))
                for line, column, accept, reject, keep in asked
            ]
            if all(q.decide(resolver.producers(q.line, q.column)) for q in questions):
                kept.append(encoded)
        kept.sort(key=lambda e: (e[3][0], e[3][1], e[0]))  # as the engine sorts: position, then code
        outcome = {
            "diagnostics": kept,
            "messages": list(entry["messages"]),
            "failed": int(entry["failed"]),
            "partial": int(entry["partial"]),
            "fixes": bool(entry["fixes"]),
        }
        diagnostics(outcome)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    return outcome


def fix_file(path: str, display: str, settings: Settings, options: Options, hotness: FileHotness | None = None) -> dict:
    """Fix one file (write it back atomically, or diff it with ``options.diff``); returns an
    outcome with the diagnostics left, and ``applied`` (fixes), ``changed`` (0/1),
    ``unwritten`` (0/1) and ``diff`` (unified diff text, ``a/<display>`` and ``b/<display>``);
    ``hotness`` as for :func:`check_file` (cold findings are not fixed)."""
    import difflib

    from perf_lsp.engine import parses
    from perf_lsp.files import FileError, encode_source, read_source, write_source
    from perf_lsp.text import split_lines

    base = {"diagnostics": [], "messages": [], "failed": 0, "partial": 0, "applied": 0, "changed": 0, "unwritten": 0, "diff": ""}
    try:
        source = read_source(Path(path))
        module = _notebook(path, source.text)
    except (FileError, NotebookError) as exc:
        return {**base, "messages": [["error", f": {exc}"]], "failed": 1}
    text = source.text if module is None else module.text
    the_engine = engine()
    analysis = the_engine.analyze(text, settings, resolver=_types(options, text, Path(path)), hotness=hotness)
    if analysis.syntax_error:
        return {**base, **_syntax_outcome(text, analysis.syntax_error)}
    checked = _outcome(analysis, False, module)
    del analysis
    result = the_engine.fix_all(
        text,
        settings,
        unsafe=settings.unsafe_fixes,
        resolver_for=lambda text: _types(options, text, Path(path)),
        hotness=hotness,
    )
    out = {**base, "messages": checked["messages"], "partial": checked["partial"]}
    out["diagnostics"] = [_encode(d, None) for d in result.remaining]
    if result.source == text:
        if module is not None:
            out["diagnostics"] = [_encode(d, None, module) for d in result.remaining]
        return out
    if not parses(result.source, strict=True):  # never write a file that does not parse
        out["messages"] = [*out["messages"], ["error", ": fixes would not parse; file left unchanged"]]
        out["unwritten"] = 1
        return out
    new_text = result.source
    if module is not None:
        try:
            new_text, out["diagnostics"], cell_diff = _fixed_notebook(
                source.text, module, result.source, display, the_engine, settings, options, path, bool(result.remaining)
            )
        except NotebookError as exc:
            out["messages"] = [*out["messages"], ["error", f": {exc}"]]
            out["unwritten"] = 1
            return out
        if new_text == source.text:  # the cells came out as they were
            return out
    try:
        encode_source(source, new_text)
        if not options.diff:
            write_source(source, new_text)
    except FileError as exc:
        out["messages"] = [*out["messages"], ["error", f": {exc}; left unchanged"]]
        out["unwritten"] = 1
        return out
    out["applied"] = result.applied
    out["changed"] = 1
    if options.diff and module is not None:
        out["diff"] = cell_diff
    elif options.diff:
        out["diff"] = "".join(
            difflib.unified_diff(
                split_lines(source.text), split_lines(result.source), fromfile=f"a/{display}", tofile=f"b/{display}"
            )
        )
    return out


def _fixed_notebook(
    original: str,
    module: NotebookModule,
    fixed: str,
    display: str,
    the_engine: Engine,
    settings: Settings,
    options: Options,
    path: str,
    remaining: bool,
) -> tuple[str, list, str]:
    """(the notebook's new JSON text, the diagnostics left in cell coordinates, a diff per changed
    cell) after its module became ``fixed``; raises NotebookError when a fix cannot go back into
    the cells."""
    import difflib

    notebook = read_notebook(original)
    sources, top = module.cell_sources(fixed)
    new_text = render_notebook(notebook, sources, top)
    diff = []
    changed = [(index, notebook.cells[index].source, text) for index, text in sorted(sources.items())]
    if top is not None:
        changed.insert(0, (None, "", top))
    for index, old, new in changed:
        name = f"{display}:cell {index + 1}" if index is not None else f"{display}:new cell"
        for line in difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{name}", tofile=f"b/{name}"
        ):
            diff.append(line if line.endswith("\n") else line + "\n\\ No newline at end of cell\n")
    left = []
    if remaining:  # where they are in the new notebook (a new cell moves the others down)
        new_module = build_module(read_notebook(new_text))
        analysis = the_engine.analyze(new_module.text, settings, resolver=_types(options, new_module.text, Path(path)))
        left = [_encode(d, None, new_module) for d in analysis.diagnostics]
    return new_text, left, "".join(diff)


def applicable(outcome: dict, unsafe: bool) -> bool:
    """Whether a check outcome has a diagnostic whose primary fix ``fix`` would apply."""
    for _code, _name, _message, _rng, offers, _detail, _fix, *_cell in outcome["diagnostics"]:
        if offers and (offers[0][1] == Applicability.SAFE.value or unsafe):
            return True
    return False


def work(command: str, *args) -> dict:
    """``check_file(*args)`` (``command`` ``"check"``) or ``fix_file(*args)`` (``"fix"``), then
    :func:`forget_trees`: what a worker is sent (by name, so the function is looked up in the
    worker), and what the command line runs in its own process with ``--jobs 1``."""
    try:
        return (check_file if command == "check" else fix_file)(*args)
    finally:
        forget_trees()


_INHERITED: list = []


def worker_init() -> None:
    """Set up a worker process: Ctrl-C is the parent's to handle (it cancels the pool), and a
    worker forked from a process whose jedi subprocess runs starts its own.

    The inherited jedi environment talks to the parent's jedi subprocess through pipes that
    every forked worker would share; it is kept referenced (never collected, so its clean-up
    cannot stop the parent's subprocess) and replaced by a fresh one on first use.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resolve = sys.modules.get("perf_lsp.analysis.resolve")
    if resolve is not None and getattr(resolve, "_ENVIRONMENT", None) is not None:
        _INHERITED.append(resolve._ENVIRONMENT)
        resolve._ENVIRONMENT = None
