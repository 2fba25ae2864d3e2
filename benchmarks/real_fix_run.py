"""Run ``perf-lsp fix`` over real projects and report what it did; prints figures, asserts nothing.

    python benchmarks/real_fix_run.py [--cache DIR] [--projects letta,khoj] [--no-jedi] [--markdown FILE]

The projects are those of ``docs/real-code-review.md``, from their PyPI wheels (downloaded
once into ``--cache`` with ``pip download --no-deps``, then unzipped). For each project and
each mode (``--unsafe-fixes --select ALL``, then safe fixes only with ``--select ALL``), the
package folder is copied to a temporary directory and every file the CLI would find is fixed
with the engine calls ``perf-lsp fix`` makes (per file: ``Engine.fix_all`` with a jedi
resolver for every round's text, ``--jedi-budget`` 10 s), and the fixed file is written to
the copy. Reported per project and mode:

- files checked, files changed, fixes applied;
- parse failures of the results (``ast.parse``, ``compile()``, libcst);
- files that are not idempotent (a second ``fix`` on the result changes it again);
- new Ruff ``F`` errors by code (``ruff check --select F`` on the original package and on
  the fixed copy, compared per file and code; only increases count);
- time: check (``Engine.analyze`` with jedi, a fresh engine), fix, and the slowest file to fix.

Not part of CI: it downloads ~120 MB of wheels and takes minutes. See docs/real-code-fix-run.md
for the figures of a run.
"""

from __future__ import annotations

import argparse
import ast
import collections
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import libcst as cst  # noqa: E402

from perf_lsp.engine import Engine  # noqa: E402
from perf_lsp.files import FileError, discover, read_source  # noqa: E402
from perf_lsp.settings import Settings  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projects import DEFAULT_CACHE, PROJECTS, fetch  # noqa: E402  (benchmarks/projects.py)

JEDI_BUDGET = 10.0


@dataclass
class Outcome:
    """What one fix run over one project did."""

    project: str
    mode: str
    files: int = 0
    changed: int = 0
    applied: int = 0
    parse_failures: list[str] = field(default_factory=list)
    not_idempotent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    new_ruff: collections.Counter = field(default_factory=collections.Counter)
    new_ruff_files: dict[str, dict[str, int]] = field(default_factory=dict)
    check_s: float = 0.0
    fix_s: float = 0.0
    slowest: tuple[float, str, float] = (0.0, "", 0.0)  # fix seconds, file, that file's check seconds


def _resolver(text: str, path: Path, jedi: bool):
    if not jedi:
        return None
    from perf_lsp.analysis.resolve import TypeResolver

    return TypeResolver(text, path, budget=JEDI_BUDGET)


def _parse_error(text: str) -> str | None:
    try:
        compile(ast.parse(text), "<fixed>", "exec")
        cst.parse_module(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, cst.ParserSyntaxError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def ruff_counts(folder: Path) -> dict[str, collections.Counter]:
    """``ruff check --select F`` on ``folder``: relative path -> Counter of codes ({} without ruff)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--select", "F", "--isolated", "--no-cache", "--exit-zero",
             "--output-format", "json", "."],
            capture_output=True, text=True, cwd=folder,
        )
    except FileNotFoundError:
        return {}
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for item in json.loads(proc.stdout or "[]"):
        out[Path(item["filename"]).resolve().relative_to(folder.resolve()).as_posix()][item["code"] or "syntax"] += 1
    return out


def fix_project(name: str, package: Path, unsafe: bool, jedi: bool, work: Path) -> Outcome:
    """Fix a copy of ``package`` file by file, as ``perf-lsp fix`` does; see the module docstring."""
    outcome = Outcome(name, "unsafe" if unsafe else "safe")
    copy = work / outcome.mode / package.name
    shutil.copytree(package, copy)
    settings = Settings(select=("ALL",), unsafe_fixes=unsafe)
    checker, fixer = Engine(cache_size=512), Engine(cache_size=512)
    for path in discover([copy]):
        rel = path.relative_to(copy).as_posix()
        try:
            source = read_source(path)
        except FileError as exc:
            outcome.errors.append(f"{rel}: {exc}")
            continue
        text = source.text
        outcome.files += 1
        start = time.perf_counter()
        analysis = checker.analyze(text, settings, resolver=_resolver(text, path, jedi))
        checked = time.perf_counter() - start
        outcome.check_s += checked
        if analysis.syntax_error:
            outcome.errors.append(f"{rel}: cannot parse: {analysis.syntax_error}")
            continue
        start = time.perf_counter()
        result = fixer.fix_all(text, settings, unsafe=unsafe, resolver_for=lambda t, p=path: _resolver(t, p, jedi))
        took = time.perf_counter() - start
        outcome.fix_s += took
        outcome.slowest = max(outcome.slowest, (took, rel, checked))
        if result.source == text:
            continue
        outcome.changed += 1
        outcome.applied += result.applied
        error = _parse_error(result.source)
        if error:
            outcome.parse_failures.append(f"{rel}: {error}")
            continue
        again = fixer.fix_all(result.source, settings, unsafe=unsafe, resolver_for=lambda t, p=path: _resolver(t, p, jedi))
        if again.source != result.source:
            outcome.not_idempotent.append(rel)
        data = result.source.encode("utf-8")
        path.write_bytes((b"\xef\xbb\xbf" if source.bom else b"") + data)
    before, after = ruff_counts(package), ruff_counts(copy)
    for rel in sorted(set(before) | set(after)):
        new = {code: n - before[rel][code] for code, n in after[rel].items() if n > before[rel][code]}
        if new:
            outcome.new_ruff_files[rel] = new
            outcome.new_ruff.update(new)
    return outcome


def table(outcomes: list[Outcome]) -> str:
    """The figures as a Markdown table."""
    head = ("project", "mode", "files", "changed", "fixes", "parse fail", "not idempotent", "new ruff F",
            "check s", "fix s", "fix/check", "slowest file to fix (fix s / check s)")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for o in outcomes:
        ruff = ", ".join(f"{code} {n}" for code, n in sorted(o.new_ruff.items())) or "0"
        ratio = f"{o.fix_s / o.check_s:.1f}x" if o.check_s else "-"
        rows.append(
            f"| {o.project} | {o.mode} | {o.files} | {o.changed} | {o.applied} | {len(o.parse_failures)} | "
            f"{len(o.not_idempotent)} | {ruff} | {o.check_s:.1f} | {o.fix_s:.1f} | {ratio} | "
            f"{o.slowest[1]} ({o.slowest[0]:.1f} / {o.slowest[2]:.1f}) |"
        )
    return "\n".join(rows)


def details(outcomes: list[Outcome]) -> str:
    """Every parse failure, non-idempotent file, new ruff error and skipped file, per project and mode."""
    out = []
    for o in outcomes:
        items = [f"parse failure: {x}" for x in o.parse_failures]
        items += [f"not idempotent: {x}" for x in o.not_idempotent]
        items += [f"new ruff: {rel} {new}" for rel, new in o.new_ruff_files.items()]
        items += [f"skipped: {x}" for x in o.errors]
        if items:
            out.append(f"- {o.project} ({o.mode}):")
            out += [f"  - {x}" for x in items]
    return "\n".join(out) or "(nothing)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--projects", help="comma-separated distributions (default: all five)")
    parser.add_argument("--no-jedi", action="store_true")
    parser.add_argument("--safe-only", action="store_true", help="only the safe-fix mode")
    parser.add_argument("--markdown", help="also write the figures to this Markdown file")
    args = parser.parse_args()
    wanted = set(args.projects.split(",")) if args.projects else None
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for dist, version, package in PROJECTS:
            if wanted and dist not in wanted:
                continue
            folder = fetch(Path(args.cache), dist, version, package)
            for unsafe in (False,) if args.safe_only else (True, False):
                work = Path(tmp) / f"{dist}-{'unsafe' if unsafe else 'safe'}"
                outcome = fix_project(f"{dist} {version}", folder, unsafe, not args.no_jedi, work)
                outcomes.append(outcome)
                print(table([outcome]).splitlines()[-1], flush=True)
    total = time.perf_counter() - started
    text = table(outcomes)
    print()
    print(text)
    print()
    print(details(outcomes))
    print(f"\ntotal {total:.0f} s")
    if args.markdown:
        stamp = datetime.date.today().isoformat()
        Path(args.markdown).write_text(
            f"# Real-code fix run, {stamp}\n\n`python benchmarks/real_fix_run.py{' --no-jedi' if args.no_jedi else ''}`"
            f" (total {total:.0f} s)\n\n{text}\n\n## Details\n\n{details(outcomes)}\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
