"""The ``perf-lsp`` command: ``check``, ``fix``, ``rule``, ``rules``, ``serve``.

Exit codes (as Ruff): 0 nothing found, 1 something found (or, for ``fix``, left
unfixed), 2 an error: a bad command line (an unknown code in ``--select`` or
``--ignore`` stops before anything runs), a path that does not exist, a file that
cannot be read, decoded or parsed, a fix that cannot be written (read-only, edited
meanwhile, not representable in the file's encoding). Errors name the file on
stderr and the run goes on with the other files.

Files are checked in worker processes (``--jobs N``, default one per core; ``--jobs 1``
checks in this process), and reported in the order the walk found them whatever
the scheduling. A file unchanged since a previous run with the same settings and the
same perf-lsp and Python is not checked again: its outcome comes from the cache
(:mod:`perf_lsp.cache`; ``--no-cache``, ``--cache-dir``, ``$PERF_LSP_CACHE_DIR`` or the
``cache-dir`` setting; by default ``.perf-lsp-cache`` in the directory of the
``pyproject.toml`` with ``[tool.perf-lsp]`` that applies to the current directory,
else the current directory). On a terminal, a run longer than a second shows a
progress bar on stderr (not when stderr is piped, nor with ``CI`` set).

Warnings do not change the exit code: a directory, symlink loop or broken link
skipped by the walk, a file in syntax newer than the running Python (not checked),
a statement checked only in part, a bad setting (its default is used), and no
Python file found at all (exit 0, as Ruff). "All checks passed!" is printed only
when every file found was checked completely; otherwise the summary says what was
not. Library warnings and log records (jedi's) stay off stderr unless Python's
``-W``/``PYTHONWARNINGS`` asks for warnings.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
import threading
import time
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from perf_lsp import __version__, runner
from perf_lsp.analysis.hotness import FileHotness, ProjectIndex
from perf_lsp.cache import cache_root
from perf_lsp.files import FileWalk
from perf_lsp.model import Applicability, Diagnostic
from perf_lsp.output import (
    Report,
    format_github,
    format_json,
    format_junit,
    format_sarif,
    format_statistics,
    format_text,
    rule_doc,
    rule_table,
    rules_markdown,
)
from perf_lsp.rules import CODES, OPTIONS, severity_of
from perf_lsp.settings import Settings, is_code_or_prefix, load_for

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2

NO_FILES = "No Python files found under the given path(s)"


class _Console:
    """Where messages go: stdout for reports, stderr for errors and summaries."""

    def __init__(self) -> None:
        self.errors = 0
        self._said: set[str] = set()

    def error(self, message: str) -> None:
        self.errors += 1
        print(f"perf-lsp: error: {_capped(message)}", file=sys.stderr)

    def warn(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            print(f"perf-lsp: warning: {_capped(message)}", file=sys.stderr)


def _capped(message: str, limit: int = 2_000) -> str:
    """A message cut to ``limit`` characters: none may grow with the input (a tree's repr)."""
    return message if len(message) <= limit else message[: limit - 1] + "\u2026"


@dataclass
class _Tally:
    """What a run could and could not look at, for the summary line."""

    files: int = 0  # files found (named or walked)
    failed: int = 0  # found but not checked: unreadable, undecodable, unparsable, newer syntax
    partial: int = 0  # checked, but some statement was not
    skipped: int = 0  # directories and links the walk could not enter or follow
    unwritten: int = 0  # fix: files whose fixes could not be written

    def incomplete(self) -> str:
        """``"1 file could not be checked, ..."``, or "" when everything found was checked."""
        parts = []
        if self.failed:
            parts.append(f"{_count(self.failed, 'file')} could not be checked")
        if self.partial:
            parts.append(f"{_count(self.partial, 'file')} {'was' if self.partial == 1 else 'were'} checked only in part")
        if self.skipped:
            parts.append(f"{_count(self.skipped, 'path')} {'was' if self.skipped == 1 else 'were'} skipped")
        if self.unwritten:
            parts.append(f"{_count(self.unwritten, 'file')} could not be fixed")
        return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _split_codes(values: list[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def _bad_code(args: argparse.Namespace) -> str | None:
    """The first unknown code of ``--select``/``--ignore`` as an error message, or None."""
    for flag, values in (("--select", args.select), ("--ignore", args.ignore)):
        for value in _split_codes(values) or ():
            if not is_code_or_prefix(value, CODES):
                return f"invalid value '{value}' for '{flag}': not a rule code or prefix (see `perf-lsp rules`)"
    return None


class _SettingsResolver:
    """Settings per directory: the nearest ``[tool.perf-lsp]``, then command-line overrides."""

    def __init__(self, args: argparse.Namespace, console: _Console) -> None:
        self.console = console
        self.select = _split_codes(args.select)
        self.ignore = _split_codes(args.ignore)
        self.unsafe = getattr(args, "unsafe_fixes", None)
        self._cache: dict[Path, Settings] = {}

    def for_file(self, path: Path) -> Settings:
        """The settings of ``path``: its directory's, marked ``package_init`` for an ``__init__.py``."""
        settings = self.for_directory(path.resolve().parent)
        return replace(settings, package_init=True) if path.name == "__init__.py" else settings

    def for_directory(self, directory: Path) -> Settings:
        """The settings of files in ``directory`` (a resolved path)."""
        settings = self._cache.get(directory)
        if settings is None:
            settings, messages = load_for(directory, codes=CODES, options=OPTIONS)
            for message in messages:
                self.console.warn(message)
            if self.select is not None:
                settings = replace(settings, select=self.select)
            if self.ignore is not None:
                settings = replace(settings, ignore=self.ignore)
            if self.unsafe:
                settings = replace(settings, unsafe_fixes=True)
            self._cache[directory] = settings
        return settings

    def excludes(self, path: Path, is_dir: bool) -> bool:
        """Whether the settings of ``path``'s directory exclude it from a walk (``exclude``/``extend-exclude``)."""
        return self.for_directory(path.parent).excludes(path, is_dir)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def _inputs(args: argparse.Namespace, console: _Console, resolver: _SettingsResolver, tally: _Tally) -> list[Path]:
    paths = [Path(p) for p in (args.paths or ["."])]
    for path in paths:
        try:
            path.stat()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            console.error(f"{path}: {reason[:1].lower() + reason[1:]}")
    walk = FileWalk(warn=console.warn, exclude=resolver.excludes)
    found = list(walk.discover(paths))
    tally.files, tally.skipped = len(found), walk.skipped
    if not found and not console.errors:  # (a named path that does not exist is already an error)
        hint = ""
        if walk.ignored:
            hint = f" ({_count(walk.ignored, 'Python file')} ignored by {', '.join(map(str, walk.ignored_by))})"
        console.warn(NO_FILES + hint)
    return found


_UNSET = object()


class _Jobs:
    """Runs one file's work in this process or in a pool of worker processes; results in input order.

    Workers are forked on Linux, so they share the parent's ``sys.path`` (from which
    ``python -m perf_lsp`` removed the current directory: the checked project is never
    imported) and its warning filters; elsewhere they are spawned with
    ``PYTHONSAFEPATH=1`` so that the interpreter starting the worker does not put the
    current directory first either (Python 3.11+; the variable is set while the pool lives).
    ``PERF_LSP_START_METHOD`` (``fork``, ``spawn``, ``forkserver``) overrides the choice
    (the tests run both).
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool = None
        self._saved_env: object = _UNSET

    def pool(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            method = os.environ.get("PERF_LSP_START_METHOD") or ("fork" if sys.platform == "linux" else "spawn")
            if method != "fork":  # workers (and multiprocessing's helpers) start as they are needed
                self._saved_env = os.environ.get("PYTHONSAFEPATH")
                os.environ["PYTHONSAFEPATH"] = "1"
            context = multiprocessing.get_context(method)
            self._pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=runner.worker_init)
        return self._pool

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
        if self._saved_env is not _UNSET:
            if self._saved_env is None:
                os.environ.pop("PYTHONSAFEPATH", None)
            else:
                os.environ["PYTHONSAFEPATH"] = self._saved_env
            self._saved_env = _UNSET


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cache(args: argparse.Namespace) -> str | None:
    """The cache directory of this run, or None (``--no-cache``)."""
    if getattr(args, "no_cache", False):
        return None
    if getattr(args, "cache_dir", None):
        return str(Path(args.cache_dir).resolve())
    here = Path.cwd().resolve()
    settings, _messages = load_for(here, codes=CODES, options=OPTIONS)  # the project's, not a checked file's: no warnings
    project = Path(settings.config_dir) if settings.config_dir else here
    return str(cache_root(os.environ, settings.cache_dir, project))


_clock = time.monotonic  # seconds; a name of its own so that tests can move it


class _Progress:
    """A progress bar on stderr (files done / total, findings so far) for runs longer than about a
    second, only when stderr is a terminal and not in CI."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.findings = 0
        self._start = _clock()
        self._bar = None
        self._task = None
        self._lock = threading.Lock()
        self.enabled = total > 1 and _interactive()

    def advance(self, findings: int) -> None:
        with self._lock:
            self.done += 1
            self.findings += findings
            if self.enabled:
                self._show()

    def _show(self) -> None:
        if self._bar is None:
            if _clock() - self._start < 1.0:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("Checking"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files, {task.fields[findings]} findings"),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr),
                transient=True,
                redirect_stdout=_isatty(sys.stdout),  # reports printed above the bar on the same terminal
                redirect_stderr=True,  # so are the messages
            )
            self._task = self._bar.add_task("check", total=self.total, findings=0)
            self._bar.start()
        self._bar.update(self._task, completed=self.done, findings=self.findings)

    def close(self) -> None:
        with self._lock:
            self.enabled = False
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


def _interactive() -> bool:
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    return _isatty(sys.stderr)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _outcomes(args: argparse.Namespace, console: _Console, tally: _Tally, command: str):
    """(path, display name, settings, outcome) for every input file, in the order found.

    Cache hits are looked up here; the other files go to :func:`runner.check_file` or
    :func:`runner.fix_file`, in worker processes when there are several files and more
    than one job. Messages are printed and the tally counted before a file is yielded.
    """
    resolver = _SettingsResolver(args, console)
    found = _inputs(args, console, resolver, tally)
    if not found:
        return
    cache_dir = _cache(args)
    runner.start_run()
    options = runner.Options(
        no_jedi=args.no_jedi,
        jedi_budget=args.jedi_budget,
        want_fix=command == "check" and args.output_format in ("json", "sarif"),
        diff=command == "fix" and bool(args.diff),
        cache_root=cache_dir,
    )
    cache = runner.cache_for(cache_dir)
    # how often each function runs: facts of every file checked, before any is checked
    closed = all(Path(p).is_dir() for p in args.paths or ["."])  # files named alone: their callers are not seen
    sources = [p for p in found if p.suffix == ".py"]
    jobs = _Jobs(args.jobs or _default_jobs())
    mapper = functools.partial(jobs.pool().map, chunksize=16) if jobs.jobs > 1 and len(sources) > 32 else None
    project = ProjectIndex.build(sources, store=runner.index_store(cache), closed=closed, mapper=mapper)
    progress = _Progress(len(found))
    pending: dict[int, object] = {}  # index -> outcome dict (a hit) or Future
    items = []
    try:
        for index, path in enumerate(found):
            settings = resolver.for_file(path)
            display = _display(path)
            hotness = project.for_file(path)
            if hotness == FileHotness():
                hotness = None  # nothing known: no filter, and the cache key of a run without an index
            items.append((path, display, settings))
            outcome = None
            if cache is not None:
                try:
                    data = path.read_bytes()
                except OSError:
                    data = None  # the worker reports it
                if data is not None:
                    outcome, warning = runner.lookup(cache, data, settings, options, hotness)
                    if warning:
                        console.warn(warning)
                    if outcome is not None and command == "fix":
                        if outcome["failed"] or runner.applicable(outcome, settings.unsafe_fixes):
                            outcome = None  # something to fix (or to report as fix does): run it
                        else:
                            outcome = {**outcome, "applied": 0, "changed": 0, "unwritten": 0, "diff": ""}
            if outcome is not None:
                pending[index] = outcome
                progress.advance(len(outcome["diagnostics"]))
                continue
            call = (
                (runner.work, command, str(path), settings, options)
                if command == "check"
                else (runner.work, command, str(path), display, settings, options)
            ) + ((hotness,) if hotness is not None else ())
            if jobs.jobs > 1 and len(found) > 1:
                future = jobs.pool().submit(*call)
                future.add_done_callback(
                    lambda f: progress.advance(len(f.result()["diagnostics"])) if not f.cancelled() and f.exception() is None else None
                )
                pending[index] = future
            else:
                pending[index] = call
        for index, (path, display, settings) in enumerate(items):
            item = pending.pop(index)
            if isinstance(item, tuple):
                outcome = item[0](*item[1:])
                progress.advance(len(outcome["diagnostics"]))
            elif isinstance(item, dict):
                outcome = item
            else:
                try:
                    outcome = item.result()
                except BrokenProcessPool as exc:  # a worker died (killed, out of memory): the file is not checked
                    outcome = {"diagnostics": [], "messages": [["error", f": not checked: {exc}"]], "failed": 1,
                               "partial": 0, "applied": 0, "changed": 0, "unwritten": 0, "diff": ""}
            if outcome.get("cache_problem"):
                console.warn(outcome["cache_problem"])
            for kind, suffix in outcome["messages"]:
                (console.error if kind == "error" else console.warn)(f"{display}{suffix}")
            tally.failed += int(outcome["failed"])
            tally.partial += int(outcome["partial"])
            yield path, display, settings, outcome
    except BaseException:
        progress.close()
        jobs.close(cancel=True)
        raise
    progress.close()
    jobs.close()
    if cache is not None:
        if cache.problem:
            console.warn(cache.problem)
        cache.prune()


@contextlib.contextmanager
def _quiet_libraries():
    """Keep library warnings (jedi's "Module x not importable") and log records off stderr.

    Python's ``-W`` options and ``PYTHONWARNINGS`` still apply when given.
    """
    root = logging.getLogger()
    handler = logging.NullHandler()
    added = not root.handlers
    if added:  # no handler anywhere: logging's last resort would print WARNING records to stderr
        root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            if not sys.warnoptions:
                warnings.simplefilter("ignore")
            yield
    finally:
        if added:
            root.removeHandler(handler)


def cmd_check(args: argparse.Namespace) -> int:
    console = _Console()
    bad = _bad_code(args)
    if bad:
        console.error(bad)
        return EXIT_ERROR

    def shown(diag: Diagnostic) -> bool:
        if not diag.fixes:
            return False
        return diag.fixes[0].applicability is Applicability.SAFE or bool(args.unsafe_fixes)

    reports: list[Report] = []
    hidden_unsafe = 0
    tally = _Tally()
    streaming = args.output_format == "text" and not args.statistics
    settings_of: dict[str, Settings] = {}  # display name -> the file's settings (severity levels)
    for _path, display, settings, outcome in _outcomes(args, console, tally, "check"):
        settings_of[display] = settings
        file_reports = [
            Report(display, diag, fix, cell, edit_cells)
            for (diag, fix), (cell, edit_cells) in zip(runner.diagnostics(outcome), runner.cells(outcome))
        ]
        for report in file_reports:
            diag = report.diagnostic
            if diag.fixes and diag.fixes[0].applicability is Applicability.UNSAFE and not settings.unsafe_fixes:
                hidden_unsafe += 1
        if streaming and file_reports:
            print(format_text(file_reports, shown))
        reports.extend(file_reports)

    if args.statistics:
        text = format_statistics(reports, shown, args.output_format)
        if text:
            print(text)
        if args.output_format != "json" and (reports or not args.quiet) and tally.files:
            _summary(reports, shown, hidden_unsafe if not args.unsafe_fixes else 0, tally)
    elif args.output_format == "json":
        print(format_json(reports))
    elif args.output_format == "sarif":
        print(format_sarif(reports, _level_of(settings_of)))
    elif args.output_format == "github":
        text = format_github(reports, _level_of(settings_of))
        if text:
            print(text)
    elif args.output_format == "junit":
        print(format_junit(reports, _level_of(settings_of)))
    else:
        if (reports or not args.quiet) and tally.files:
            _summary(reports, shown, hidden_unsafe if not args.unsafe_fixes else 0, tally)
    if console.errors:
        return EXIT_ERROR
    if reports and not args.exit_zero:
        return EXIT_FOUND
    return EXIT_CLEAN


def _level_of(settings_of: dict[str, Settings]):
    """``report -> "error|warning|information|hint"``: the ``severity`` setting of the report's file (else the rule's default)."""
    default = Settings()
    return lambda report: severity_of(report.diagnostic.code, settings_of.get(report.filename, default))


def _summary(reports: list[Report], shown, hidden_unsafe: int, tally: _Tally) -> None:
    incomplete = tally.incomplete()
    if not reports:
        if incomplete:
            checked = tally.files - tally.failed
            head = f"No problems found in {_count(checked, 'file')}" if checked else "Nothing was checked"
            print(f"{head}; {incomplete} (see above).", file=sys.stderr)
        else:
            print("All checks passed!", file=sys.stderr)
        return
    fixable = sum(1 for r in reports if shown(r.diagnostic))
    noun = "problem" if len(reports) == 1 else "problems"
    line = f"Found {len(reports)} {noun}."
    if incomplete:
        line = f"Found {len(reports)} {noun}; {incomplete} (see above)."
    if fixable:
        line += f"\n[*] {fixable} fixable with `perf-lsp fix`."
    if hidden_unsafe:
        line += f"\n({hidden_unsafe} more fixable with `perf-lsp fix --unsafe-fixes`.)"
    print(line, file=sys.stderr)


def cmd_fix(args: argparse.Namespace) -> int:
    console = _Console()
    bad = _bad_code(args)
    if bad:
        console.error(bad)
        return EXIT_ERROR
    applied = 0
    remaining: list[Report] = []
    changed_files = 0
    tally = _Tally()
    for _path, display, _settings, outcome in _outcomes(args, console, tally, "fix"):
        remaining.extend(
            Report(display, diag, None, cell)
            for (diag, _fix), (cell, _) in zip(runner.diagnostics(outcome), runner.cells(outcome))
        )
        tally.unwritten += int(outcome["unwritten"])
        applied += int(outcome["applied"])
        changed_files += int(outcome["changed"])
        if outcome["diff"]:
            sys.stdout.write(outcome["diff"])
    if remaining and not args.diff:
        print(format_text(remaining, lambda d: False))
    if tally.files:
        verb = "Would fix" if args.diff else "Fixed"
        line = (
            f"{verb} {applied} {'problem' if applied == 1 else 'problems'} in {_count(changed_files, 'file')}; "
            f"{len(remaining)} remaining."
        )
        incomplete = tally.incomplete()
        if incomplete:
            line = line[:-1] + f"; {incomplete} (see above)."
        print(line, file=sys.stderr)
    if console.errors:
        return EXIT_ERROR
    if args.diff:
        return EXIT_FOUND if applied else EXIT_CLEAN
    return EXIT_FOUND if remaining else EXIT_CLEAN


def cmd_rule(args: argparse.Namespace) -> int:
    text = rule_doc(args.code)
    if text is None:
        print(f"perf-lsp: error: unknown rule code '{args.code}' (see `perf-lsp rules`)", file=sys.stderr)
        return EXIT_ERROR
    print(text, end="")
    return EXIT_CLEAN


def cmd_rules(args: argparse.Namespace) -> int:
    print(rules_markdown() if args.markdown else rule_table())
    return EXIT_CLEAN


def cmd_serve(args: argparse.Namespace) -> int:
    from perf_lsp.lsp.server import serve

    serve()
    return EXIT_CLEAN


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="perf-lsp",
        description="Find and fix performance mistakes in Python services that call models, vector stores, LLM APIs and databases.",
    )
    parser.add_argument("--version", action="version", version=f"perf-lsp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
        p.add_argument("--select", action="append", metavar="CODES", help="only these rule codes or prefixes (comma-separated)")
        p.add_argument("--ignore", action="append", metavar="CODES", help="skip these rule codes or prefixes (comma-separated)")
        p.add_argument("--no-jedi", action="store_true", help="do not resolve types with jedi (faster, finds less)")
        p.add_argument(
            "--jedi-budget", type=float, default=10.0, metavar="SECONDS",
            help="time jedi may spend per file on the findings that need types (default 10)",
        )
        p.add_argument(
            "-j", "--jobs", type=_positive, default=None, metavar="N",
            help="worker processes (default: one per core; 1 checks in this process)",
        )
        p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
        p.add_argument(
            "--cache-dir", metavar="DIR",
            help="the cache directory (default: $PERF_LSP_CACHE_DIR, the cache-dir setting, or .perf-lsp-cache at the project root)",
        )

    check = sub.add_parser("check", help="report problems")
    selection(check)
    check.add_argument(
        "--output-format", choices=("text", "json", "sarif", "github", "junit"), default="text",
        help="text (default); json (Ruff's shape); sarif (2.1.0); github (workflow commands: annotations in "
        "GitHub Actions); junit (JUnit XML)",
    )
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when problems are found")
    check.add_argument("--unsafe-fixes", action="store_true", help="count unsafe fixes as available ([*])")
    check.add_argument("-q", "--quiet", action="store_true", help="no summary when nothing is found")
    check.add_argument("--statistics", action="store_true", help="count the problems per rule instead of listing them")
    check.set_defaults(func=cmd_check)

    fix = sub.add_parser("fix", help="apply fixes (safe ones unless --unsafe-fixes)")
    selection(fix)
    fix.add_argument("--unsafe-fixes", action="store_true", help="also apply fixes that can change behaviour")
    fix.add_argument("--diff", action="store_true", help="print a unified diff and write nothing")
    fix.set_defaults(func=cmd_fix)

    rule = sub.add_parser("rule", help="print a rule's documentation")
    rule.add_argument("code", metavar="CODE")
    rule.set_defaults(func=cmd_rule)

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--markdown", action="store_true", help="every rule's full docs as Markdown")
    rules.set_defaults(func=cmd_rules)

    serve = sub.add_parser("serve", help="run the language server on stdio")
    serve.add_argument("--stdio", action="store_true", help="accepted for editors that pass it; stdio is the transport")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.func is cmd_serve:
            return args.func(args)
        with _quiet_libraries():
            return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
