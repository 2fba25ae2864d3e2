"""Time typing inside a method of a big class, in process: ``Engine.analyze`` per keystroke; prints figures.

    python benchmarks/bench_units.py [--file PATH] [--keys 40] [--compare PATH] [--profile N]

The document is ``--file`` (default: the standard library's ``_pydecimal.py``). The
place typed at is the middle method (by position) of its largest class (by lines): on
an assignment or expression line in the middle of that method, one ``x`` is inserted
after the line's first identifier character per keystroke, ``--keys`` times, so every
version parses. Each keystroke is one ``Engine.analyze(text, settings,
previous=last)`` with every rule selected and no type resolver (the language
server's fast pass), after an analysis of the opened document (timed as "open").
Printed: open time, keystroke median, p95 and max in milliseconds, and the findings.
``--compare PATH`` runs the same in another checkout's ``perf_lsp`` (e.g. ``git
worktree`` of the base commit), in a child process, and prints the two side by side
with ratios. ``--profile N``: also prints the N most expensive functions of the
keystrokes (cProfile, cumulative time) for this checkout.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def place(source: str) -> tuple[int, int, str]:
    """(0-based line, column, description) of the typing place: see the module docstring."""
    tree = ast.parse(source)
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    cls = max(classes, key=lambda n: (n.end_lineno or n.lineno) - n.lineno)
    methods = [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    method = methods[len(methods) // 2]
    lines = [
        s
        for s in ast.walk(method)
        if isinstance(s, (ast.Assign, ast.Expr, ast.AugAssign))
        and isinstance(getattr(s, "targets", [getattr(s, "target", getattr(s, "value", None))])[0], ast.Name)
    ]
    if not lines:
        lines = [s for s in ast.walk(method) if isinstance(s, ast.stmt) and s is not method]
    stmt = lines[len(lines) // 2]
    size = (cls.end_lineno or cls.lineno) - cls.lineno + 1
    where = f"{cls.name} ({size} lines), method {method.name} (line {method.lineno}), line {stmt.lineno}"
    return stmt.lineno - 1, stmt.col_offset + 1, where


def run(path: Path, keys: int, profile: int) -> dict:
    """Open and type in this process's ``perf_lsp``; timings in ms."""
    from perf_lsp.engine import Engine
    from perf_lsp.settings import Settings

    source = path.read_text()
    row, column, where = place(source)
    settings = Settings(select=("ALL",))
    engine = Engine()
    started = time.perf_counter()
    analysis = engine.analyze(source, settings)
    opened = (time.perf_counter() - started) * 1000
    lines = source.splitlines(keepends=True)
    times: list[float] = []
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    for _ in range(keys):
        line = lines[row]
        lines[row] = line[:column] + "x" + line[column:]
        text = "".join(lines)
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        analysis = engine.analyze(text, settings, previous=analysis)
        times.append((time.perf_counter() - started) * 1000)
        if profiler is not None:
            profiler.disable()
    if profiler is not None:
        import io
        import pstats

        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(profile)
        print(out.getvalue(), file=sys.stderr)
    ordered = sorted(times)
    return {
        "where": where,
        "open": opened,
        "median": statistics.median(times),
        "p95": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))],
        "max": ordered[-1],
        "findings": len(analysis.diagnostics),
    }


def child(checkout: Path, path: Path, keys: int) -> dict:
    """:func:`run` in another checkout, in a child process."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
        "import bench_units; from pathlib import Path;"
        "print(json.dumps(bench_units.run(Path(sys.argv[3]), int(sys.argv[4]), 0)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(checkout), str(ROOT / "benchmarks"), str(path), str(keys)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, help="the document (default: the standard library's _pydecimal.py)")
    parser.add_argument("--keys", type=int, default=40, help="keystrokes (default 40)")
    parser.add_argument("--compare", type=Path, help="another checkout whose perf_lsp to time too")
    parser.add_argument("--profile", type=int, default=0, help="print the N most expensive functions (this checkout)")
    args = parser.parse_args()
    path = args.file
    if path is None:
        import _pydecimal

        path = Path(_pydecimal.__file__)
    path = path.resolve()
    sys.path.insert(0, str(ROOT))
    mine = run(path, args.keys, args.profile)
    print(f"file = {path}")
    print(f"typing in {mine['where']}, {args.keys} keystrokes")
    rows = [("this checkout", mine)]
    if args.compare:
        rows.append((str(args.compare), child(args.compare.resolve(), path, args.keys)))
    print(f"{'':>40} {'open ms':>9} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'findings':>9}")
    for name, row in rows:
        print(
            f"{name[-40:]:>40} {row['open']:9.1f} {row['median']:10.1f} {row['p95']:8.1f} {row['max']:8.1f} {row['findings']:9d}"
        )
    if args.compare:
        other = rows[1][1]
        print(
            f"{'ratio (compare / this checkout)':>40} {other['open'] / mine['open']:9.2f} "
            f"{other['median'] / mine['median']:10.2f} {other['p95'] / mine['p95']:8.2f} {other['max'] / mine['max']:8.2f}"
        )


if __name__ == "__main__":
    main()
