"""The ``perf-lsp`` command: ``check``, ``fix``, ``rule``, ``rules``, ``serve``.

Exit codes: 0 nothing found, 1 something found (or, for ``fix``, left unfixed),
2 an error (a bad command line, an unreadable or unparsable file, a bad
configuration file). A file that cannot be read or parsed is reported with its
path on stderr and the run goes on.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import replace
from pathlib import Path

from perf_lsp import __version__
from perf_lsp.engine import Engine, parses
from perf_lsp.files import FileError, SourceFile, discover, read_source, write_atomic
from perf_lsp.model import Applicability, Diagnostic
from perf_lsp.resolve import TypeResolver
from perf_lsp.output import Report, format_json, format_sarif, format_text, rule_doc, rule_table, rules_markdown
from perf_lsp.settings import Settings, check_codes, load_for

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


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


def _codes(values: list[str] | None, flag: str, console: _Console) -> tuple[str, ...] | None:
    if values is None:
        return None
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    messages: list[str] = []
    good = check_codes(items, "command line", flag, messages)
    for message in messages:
        console.error(message)
    return good


class _SettingsResolver:
    """Settings per directory: the nearest ``[tool.perf-lsp]``, then command-line overrides."""

    def __init__(self, args: argparse.Namespace, console: _Console) -> None:
        self.console = console
        self.select = _codes(args.select, "--select", console)
        self.ignore = _codes(args.ignore, "--ignore", console)
        self.unsafe = getattr(args, "unsafe_fixes", None)
        self._cache: dict[Path, Settings] = {}

    def for_file(self, path: Path) -> Settings:
        directory = path.resolve().parent
        settings = self._cache.get(directory)
        if settings is None:
            settings, messages = load_for(directory)
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


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load(path: Path, console: _Console) -> SourceFile | None:
    try:
        return read_source(path)
    except FileError as exc:
        console.error(f"{_display(path)}: {exc}")
        return None


def _inputs(args: argparse.Namespace, console: _Console) -> list[Path]:
    paths = [Path(p) for p in (args.paths or ["."])]
    for path in paths:
        if not path.exists():
            console.error(f"{path}: no such file or directory")
    return list(discover([p for p in paths if p.exists()]))


def _types(args: argparse.Namespace, text: str, path: Path) -> TypeResolver | None:
    """A jedi resolver for one file's findings that need types (None with ``--no-jedi``)."""
    if args.no_jedi:
        return None
    return TypeResolver(text, path, budget=args.jedi_budget)


def _analysed(args: argparse.Namespace, console: _Console, engine: Engine):
    """(path, file, settings, analysis) for every input file that can be read and parsed.

    The others are reported on stderr (and make the exit code 2) and skipped.
    """
    resolver = _SettingsResolver(args, console)
    for path in _inputs(args, console):
        source = _load(path, console)
        if source is None:
            continue
        settings = resolver.for_file(path)
        analysis = engine.analyze(source.text, settings, resolver=_types(args, source.text, path))
        if analysis.syntax_error:
            console.error(f"{_display(path)}: cannot parse: {analysis.syntax_error}")
            continue
        for chunk, result in zip(analysis.chunks, analysis.results):
            if result.error:  # libcst rejected a statement ast accepted, or a rule failed on it
                console.warn(f"{_display(path)}:{chunk.start}: partly checked: {result.error}")
            if result.unfixable and result.findings:
                console.warn(f"{_display(path)}:{chunk.start}: no fix offered: {result.unfixable}")
        yield path, source, settings, analysis


def cmd_check(args: argparse.Namespace) -> int:
    console = _Console()
    engine = Engine(cache_size=512)
    reports: list[Report] = []
    hidden_unsafe = 0
    for path, _source, settings, analysis in _analysed(args, console, engine):
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
        if reports or not args.quiet:
            _summary(reports, shown, hidden_unsafe if not args.unsafe_fixes else 0)
    if console.errors:
        return EXIT_ERROR
    if reports and not args.exit_zero:
        return EXIT_FOUND
    return EXIT_CLEAN


def _summary(reports: list[Report], shown, hidden_unsafe: int) -> None:
    if not reports:
        print("All checks passed!", file=sys.stderr)
        return
    fixable = sum(1 for r in reports if shown(r.diagnostic))
    noun = "problem" if len(reports) == 1 else "problems"
    line = f"Found {len(reports)} {noun}."
    if fixable:
        line += f"\n[*] {fixable} fixable with `perf-lsp fix`."
    if hidden_unsafe:
        line += f"\n({hidden_unsafe} more fixable with `perf-lsp fix --unsafe-fixes`.)"
    print(line, file=sys.stderr)


def cmd_fix(args: argparse.Namespace) -> int:
    console = _Console()
    engine = Engine(cache_size=512)
    applied = 0
    remaining: list[Report] = []
    changed_files = 0
    for path, source, settings, _analysis in _analysed(args, console, engine):
        result = engine.fix_all(
            source.text, settings, unsafe=settings.unsafe_fixes, resolver_for=lambda text, path=path: _types(args, text, path)
        )
        remaining.extend(Report(_display(path), d, None) for d in result.remaining)
        if result.source == source.text:
            continue
        if not parses(result.source, strict=True):  # never write a file that does not parse
            console.error(f"{_display(path)}: fixes would not parse; file left unchanged")
            continue
        applied += result.applied
        changed_files += 1
        if args.diff:
            name = _display(path)
            sys.stdout.writelines(
                difflib.unified_diff(
                    source.text.splitlines(keepends=True),
                    result.source.splitlines(keepends=True),
                    fromfile=f"a/{name}",
                    tofile=f"b/{name}",
                )
            )
        else:
            try:
                write_atomic(source, result.source)
            except OSError as exc:
                console.error(f"{_display(path)}: cannot write: {exc}")
    if remaining and not args.diff:
        print(format_text(remaining, lambda d: False))
    verb = "Would fix" if args.diff else "Fixed"
    print(
        f"{verb} {applied} {'problem' if applied == 1 else 'problems'} in {changed_files} "
        f"{'file' if changed_files == 1 else 'files'}; {len(remaining)} remaining.",
        file=sys.stderr,
    )
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
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
