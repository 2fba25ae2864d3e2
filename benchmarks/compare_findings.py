"""Compare the findings of two checkouts of perf-lsp on the five real projects; exit 1 on any difference.

    python benchmarks/compare_findings.py BEFORE AFTER [--jedi] [--projects letta,khoj]
                                          [--cache DIR] [--limit 20] [--save DIR]

``BEFORE`` and ``AFTER`` are the roots of two checkouts (each holds a ``perf_lsp/``
package). For each project of ``docs/real-code-review.md`` (fetched as
``real_fix_run.py`` does, through ``benchmarks/projects.py``: ``pip download --no-deps``
into ``--cache``, then unzipped), both checkouts run

    python -m perf_lsp check --no-jedi --select ALL --output-format json <package folder>

with ``PYTHONPATH`` set to the checkout (the script first checks that this imports the
checkout's ``perf_lsp``, not an installed one). ``--jedi`` runs each project again with
jedi on (no ``--no-jedi``; slower, minutes per project).

A finding is keyed by file (relative to the package folder), code, start and end; what it
says (message, fix edits and applicability, ``noqa_row``, ``url``) is compared for the
findings both sides have. Printed per project and mode: the counts of both sides, the
findings only one side has, those both have that differ in what they say, and a change
in what the CLI wrote to stderr (files it could not read or parse); ``--limit`` differences
of each kind are listed. Exit status 0 when everything is the same, 1 otherwise, 2 when a
run failed (a crash, or an exit status other than 0 and 1).

A tool for checking that a refactoring keeps findings; it asserts nothing about speed.
``--save DIR`` keeps each run's JSON (``DIR/<side>-<project>-<mode>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projects import DEFAULT_CACHE, PROJECTS, fetch  # noqa: E402  (benchmarks/projects.py: no perf_lsp import)

Key = tuple[str, str, int, int, int, int]
"""(file relative to the package folder, code, start row, start column, end row, end column); 1-based."""


class RunError(Exception):
    """A check run crashed or exited with a status other than 0 (nothing found) and 1 (findings)."""


def environment(checkout: Path) -> dict[str, str]:
    """The environment that makes ``python -m perf_lsp`` run ``checkout``'s code."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(checkout), env.get("PYTHONPATH", "")) if p)
    return env


def check_import(checkout: Path) -> None:
    """Raise ``RunError`` unless ``perf_lsp`` imports from ``checkout`` with its environment."""
    proc = subprocess.run(
        [sys.executable, "-c", "import perf_lsp; print(perf_lsp.__file__)"],
        capture_output=True, text=True, env=environment(checkout), cwd=checkout, check=False,
    )
    where = Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None
    if where is None or checkout.resolve() not in where.parents:
        raise RunError(f"{checkout}: perf_lsp imports from {where or proc.stderr.strip()}, not from the checkout")


@dataclass
class Run:
    """One checkout's findings on one project: key -> the rest of the finding; the CLI's stderr lines."""

    findings: dict[Key, dict] = field(default_factory=dict)
    duplicates: int = 0
    stderr: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_check(checkout: Path, folder: Path, jedi: bool) -> tuple[Run, str]:
    """``perf-lsp check --select ALL`` of ``checkout`` over ``folder``: (the findings, the raw JSON)."""
    command = [sys.executable, "-m", "perf_lsp", "check", "--select", "ALL", "--output-format", "json"]
    if not jedi:
        command.append("--no-jedi")
    started = time.perf_counter()
    proc = subprocess.run(
        [*command, str(folder)], capture_output=True, text=True, env=environment(checkout), cwd=checkout, check=False
    )
    run = Run(seconds=time.perf_counter() - started)
    if proc.returncode not in (0, 1):
        raise RunError(f"{checkout} on {folder}: exit status {proc.returncode}\n{proc.stderr[-2000:]}")
    try:
        items = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise RunError(f"{checkout} on {folder}: not JSON ({exc}): {proc.stdout[:500]!r}") from exc
    for item in items:
        rel = Path(item.pop("filename")).resolve().relative_to(folder.resolve()).as_posix()
        start, end = item.pop("location"), item.pop("end_location")
        key = (rel, item.pop("code"), start["row"], start["column"], end["row"], end["column"])
        if key in run.findings:
            run.duplicates += 1
        run.findings[key] = item
    root = str(folder.resolve())
    run.stderr = sorted(line.replace(root, "<project>") for line in proc.stderr.splitlines() if line.strip())
    return run, proc.stdout


def show(key: Key) -> str:
    rel, code, row, column, end_row, end_column = key
    return f"{rel}:{row}:{column}-{end_row}:{end_column} {code}"


def compare(label: str, before: Run, after: Run, limit: int) -> int:
    """Print the differences between two runs; the number of them (0 when the same)."""
    only_before = sorted(set(before.findings) - set(after.findings))
    only_after = sorted(set(after.findings) - set(before.findings))
    changed = sorted(k for k in set(before.findings) & set(after.findings) if before.findings[k] != after.findings[k])
    stderr = before.stderr != after.stderr
    dups = before.duplicates != after.duplicates
    total = len(only_before) + len(only_after) + len(changed) + int(stderr) + int(dups)
    print(
        f"{label}: before {len(before.findings)} ({before.seconds:.0f} s), after {len(after.findings)} "
        f"({after.seconds:.0f} s): {'same' if not total else 'DIFFERENT'}"
        + (f"; only before {len(only_before)}, only after {len(only_after)}, said differently {len(changed)}" if total else ""),
        flush=True,
    )
    for key in only_before[:limit]:
        print(f"  only before: {show(key)}: {before.findings[key].get('message', '')}")
    for key in only_after[:limit]:
        print(f"  only after:  {show(key)}: {after.findings[key].get('message', '')}")
    for key in changed[:limit]:
        a, b = before.findings[key], after.findings[key]
        fields = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
        print(f"  said differently: {show(key)}: {', '.join(fields)}")
        for f in fields:
            print(f"    before {f}: {json.dumps(a.get(f))[:400]}")
            print(f"    after  {f}: {json.dumps(b.get(f))[:400]}")
    if dups:
        print(f"  findings with the same file, code and range: before {before.duplicates}, after {after.duplicates}")
    if stderr:
        gone = sorted(set(before.stderr) - set(after.stderr))
        new = sorted(set(after.stderr) - set(before.stderr))
        for line in gone[:limit]:
            print(f"  stderr only before: {line[:300]}")
        for line in new[:limit]:
            print(f"  stderr only after:  {line[:300]}")
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the root of one checkout (e.g. the base commit's)")
    parser.add_argument("after", help="the root of the other checkout")
    parser.add_argument("--jedi", action="store_true", help="also run with jedi on (slow)")
    parser.add_argument("--projects", help="comma-separated distributions (default: all five)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the projects' wheels are kept")
    parser.add_argument("--limit", type=int, default=20, help="differences listed per kind and project (default 20)")
    parser.add_argument("--save", help="write each run's JSON output into this folder")
    args = parser.parse_args()
    before, after = Path(args.before).resolve(), Path(args.after).resolve()
    wanted = set(args.projects.split(",")) if args.projects else None
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    try:
        check_import(before)
        check_import(after)
    except RunError as exc:
        print(exc, file=sys.stderr)
        return 2
    differences = 0
    for dist, version, package in PROJECTS:
        if wanted and dist not in wanted:
            continue
        folder = fetch(Path(args.cache), dist, version, package)
        for jedi in (False, True) if args.jedi else (False,):
            mode = "jedi" if jedi else "no-jedi"
            try:
                (run_a, raw_a), (run_b, raw_b) = run_check(before, folder, jedi), run_check(after, folder, jedi)
            except RunError as exc:
                print(exc, file=sys.stderr)
                return 2
            if save:
                (save / f"before-{dist}-{mode}.json").write_text(raw_a, encoding="utf-8")
                (save / f"after-{dist}-{mode}.json").write_text(raw_b, encoding="utf-8")
            differences += compare(f"{dist} {version} ({mode})", run_a, run_b, args.limit)
    print("same findings" if not differences else f"{differences} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
