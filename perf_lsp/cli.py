"""The ``perf-lsp`` command: ``check``, ``fix``, ``rule``, ``rules``, ``serve``.

Exit codes (as Ruff): 0 nothing found, 1 something found (or, for ``fix``, left
unfixed), 2 an error: a bad command line (an unknown code in ``--select`` or
``--ignore`` stops before anything runs), a path that does not exist, a file that
cannot be read, decoded or parsed, a fix that cannot be written (read-only, edited
meanwhile, not representable in the file's encoding). Errors name the file on
stderr and the run goes on with the other files.

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
import difflib
import logging
import re
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from perf_lsp import __version__
from perf_lsp.analysis.resolve import TypeResolver
from perf_lsp.engine import Engine, parses
from perf_lsp.files import FileError, FileWalk, SourceFile, encode_source, read_source, write_source
from perf_lsp.model import Applicability, Diagnostic
from perf_lsp.output import Report, format_json, format_sarif, format_text, rule_doc, rule_table, rules_markdown
from perf_lsp.rules import CODES
from perf_lsp.settings import Settings, is_code_or_prefix, load_for
from perf_lsp.source import needs_newer_python
from perf_lsp.text import split_lines

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
            settings, messages = load_for(directory, codes=CODES)
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


def _load(path: Path, console: _Console) -> SourceFile | None:
    try:
        return read_source(path)
    except FileError as exc:
        console.error(f"{_display(path)}: {exc}")
        return None


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


def _types(args: argparse.Namespace, text: str, path: Path) -> TypeResolver | None:
    """A jedi resolver for one file's findings that need types (None with ``--no-jedi``)."""
    if args.no_jedi:
        return None
    return TypeResolver(text, path, budget=args.jedi_budget)


def _analysed(args: argparse.Namespace, console: _Console, engine: Engine, tally: _Tally):
    """(path, file, settings, analysis) for every input file that can be read and parsed.

    The others are reported on stderr and counted in ``tally``: an error (exit code 2)
    for a file that cannot be read or parsed, a warning for one in syntax newer than
    the running Python.
    """
    resolver = _SettingsResolver(args, console)
    for path in _inputs(args, console, resolver, tally):
        source = _load(path, console)
        if source is None:
            tally.failed += 1
            continue
        settings = resolver.for_file(path)
        analysis = engine.analyze(source.text, settings, resolver=_types(args, source.text, path))
        if analysis.syntax_error:
            tally.failed += 1
            match = re.match(r"line (\d+)", analysis.syntax_error)
            version = needs_newer_python(source.text, int(match.group(1))) if match else None
            if version is not None:
                running = ".".join(map(str, sys.version_info[:2]))
                console.warn(
                    f"{_display(path)}: needs Python {version[0]}.{version[1]} syntax "
                    f"(perf-lsp runs on Python {running}); not checked"
                )
            else:
                console.error(f"{_display(path)}: cannot parse: {analysis.syntax_error}")
            continue
        partial = False
        for chunk, result in zip(analysis.chunks, analysis.results):
            if result.error:  # libcst rejected a statement ast accepted, or a rule failed on it
                partial = True
                console.warn(f"{_display(path)}:{chunk.start}: partly checked: {result.error}")
            if result.unfixable and result.findings:
                console.warn(f"{_display(path)}:{chunk.start}: no fix offered: {result.unfixable}")
        tally.partial += partial
        yield path, source, settings, analysis


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
    engine = Engine(cache_size=512, split_classes=False)
    reports: list[Report] = []
    hidden_unsafe = 0
    tally = _Tally()
    for path, _source, settings, analysis in _analysed(args, console, engine, tally):
        for diag in analysis.diagnostics:
            fix = analysis.fix(diag) if args.output_format in ("json", "sarif") and diag.fixes else None
            reports.append(Report(_display(path), diag, fix))
            if diag.fixes and diag.fixes[0].applicability is Applicability.UNSAFE and not settings.unsafe_fixes:
                hidden_unsafe += 1

    def shown(diag: Diagnostic) -> bool:
        if not diag.fixes:
            return False
        return diag.fixes[0].applicability is Applicability.SAFE or bool(args.unsafe_fixes)

    if args.output_format == "json":
        print(format_json(reports))
    elif args.output_format == "sarif":
        severity = Settings().severity_of
        print(format_sarif(reports, severity))
    else:
        if reports:
            print(format_text(reports, shown))
        if (reports or not args.quiet) and tally.files:
            _summary(reports, shown, hidden_unsafe if not args.unsafe_fixes else 0, tally)
    if console.errors:
        return EXIT_ERROR
    if reports and not args.exit_zero:
        return EXIT_FOUND
    return EXIT_CLEAN


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
    engine = Engine(cache_size=512, split_classes=False)
    applied = 0
    remaining: list[Report] = []
    changed_files = 0
    tally = _Tally()
    for path, source, settings, _analysis in _analysed(args, console, engine, tally):
        result = engine.fix_all(
            source.text, settings, unsafe=settings.unsafe_fixes, resolver_for=lambda text, path=path: _types(args, text, path)
        )
        remaining.extend(Report(_display(path), d, None) for d in result.remaining)
        if result.source == source.text:
            continue
        name = _display(path)
        if not parses(result.source, strict=True):  # never write a file that does not parse
            console.error(f"{name}: fixes would not parse; file left unchanged")
            tally.unwritten += 1
            continue
        try:
            encode_source(source, result.source)
            if not args.diff:
                write_source(source, result.source)
        except FileError as exc:
            console.error(f"{name}: {exc}; left unchanged")
            tally.unwritten += 1
            continue
        applied += result.applied
        changed_files += 1
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    split_lines(source.text),
                    split_lines(result.source),
                    fromfile=f"a/{name}",
                    tofile=f"b/{name}",
                )
            )
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

    check = sub.add_parser("check", help="report problems")
    selection(check)
    check.add_argument("--output-format", choices=("text", "json", "sarif"), default="text")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when problems are found")
    check.add_argument("--unsafe-fixes", action="store_true", help="count unsafe fixes as available ([*])")
    check.add_argument("-q", "--quiet", action="store_true", help="no summary when nothing is found")
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
