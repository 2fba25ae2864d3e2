"""Time ``perf-lsp check`` on a large tree, beside ``ruff check`` on the same tree; prints figures, asserts nothing.

    python benchmarks/bench_check.py [PATH ...] [--projects] [--repeat 1] [--markdown] [--engine]
        [--baseline CHECKOUT] [--cold-only] [--no-jobs1]

Without PATH, the sdist of sympy (``SYMPY``, a pinned version) is downloaded with pip
(``pip download --no-binary :all:``) into ``$TMPDIR/perf-lsp-real-code/sdist`` and
unpacked there on first use. ``--projects`` checks the five projects of
``docs/real-code-review.md`` instead (``benchmarks/projects.py`` fetches them), all
in one command.

Each figure is a ``perf-lsp check`` command run as a separate process (this
checkout's code, ``python -m perf_lsp``) with JSON output:

- ``cold, jobs 1``: ``--no-cache --jobs 1`` (one process, the debugging mode);
- ``cold``: ``--no-cache`` with the default jobs (one worker per core);
- ``cold, fills cache``: the default run on an empty cache directory;
- ``warm``: the same again (every file unchanged);
- ``warm, jobs 1``: ``--jobs 1`` on the warm cache;
- ``ruff check --select ASYNC,B006,PERF,FURB --no-cache --isolated``: the speed bar.

For each: the median wall time over ``--repeat`` runs, the CPU time of its processes (user +
system, ``getrusage(RUSAGE_CHILDREN)``: what a loaded machine does not inflate as it does the
wall time), lines per wall-second, the peak
RSS of the process tree (the sum over the command's processes, sampled every 20 ms
from ``/proc``, or with psutil when installed) and the largest single process's peak
(``getrusage(RUSAGE_CHILDREN)`` of a wrapper process: exact), and the ratio of the
wall time to ruff's. The JSON reports of every perf-lsp run are compared: a
difference is printed. ``--markdown`` prints the table as Markdown for
``benchmarks/README.md``. ``--engine`` adds the former figures of this script: the
engine in this process, cold and warm per-statement cache, beside ``ast.parse`` and
``libcst.parse_module`` of every file. ``--baseline CHECKOUT`` runs another checkout's
cold run right after each of this one's (``baseline cold``: the same load, so the ratio
holds on a busy machine) and compares their JSON; ``--cold-only`` skips the cache runs;
``--no-jobs1`` the ``--jobs 1`` runs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SYMPY = ("sympy", "1.14.0")
"""The pinned sdist: 1,543 Python files, 756,337 lines."""

TARGETS = {"cold": 30.0, "warm": 3.0, "rss_mb": 500.0}
"""Issue 10's targets on a 2-core machine: seconds, seconds, MB."""

_WRAP = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "wb"), stderr=subprocess.DEVNULL).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(f"{code} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}\\n")
"""


def fetch_sympy(cache: Path) -> Path:
    """The unpacked sympy sdist folder (downloads and unpacks it when missing)."""
    name, version = SYMPY
    target = cache / "sdist" / f"{name}-{version}"
    if not (target / name).is_dir():
        (cache / "sdist").mkdir(parents=True, exist_ok=True)
        archive = cache / "sdist" / f"{name}-{version}.tar.gz"
        if not archive.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                 f"{name}=={version}", "-d", str(cache / "sdist")],
                check=True,
            )
        with tarfile.open(archive) as tar:
            tar.extractall(cache / "sdist", filter="data")
    return target


def count_lines(paths: list[Path]) -> tuple[int, int]:
    """(Python files, lines) under ``paths`` as ``perf-lsp check`` finds them."""
    from perf_lsp.files import discover

    files = lines = 0
    for path in discover(paths):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        files += 1
        lines += data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
    return files, lines


def _tree_rss(pid: int) -> int:
    """The resident set size in bytes of ``pid``'s descendants (not ``pid``: the wrapper)."""
    try:
        import psutil

        try:
            return sum(child.memory_info().rss for child in psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            return 0
    except ImportError:
        pass
    total = 0
    stack = [pid]
    seen = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
            if current != pid:
                with open(f"/proc/{current}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
    return total


def measure(command: list[str], cwd: Path, env: dict) -> dict:
    """Run ``command``; its wall time (s), CPU time of its process tree (user + system, s), exit code, output
    bytes, peak tree RSS and peak single-process RSS (bytes)."""
    with tempfile.NamedTemporaryFile(suffix=".out", delete=False) as out:
        out_path = out.name
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRAP, out_path, *command], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    code, maxrss, cpu = err.strip().splitlines()[-1].split()
    output = Path(out_path).read_bytes()
    os.unlink(out_path)
    return {"wall": wall, "cpu": float(cpu), "code": int(code), "output": output, "tree_rss": peak,
            "proc_rss": int(maxrss) * 1024}


def cli_figures(
    paths: list[Path], repeat: int, baseline: Path | None = None, cold_only: bool = False, jobs1: bool = True
) -> tuple[list[dict], int, int]:
    """The rows of the table (see the module docstring), files and lines. ``baseline``: another checkout whose
    cold run goes beside this one's, alternating run by run (``baseline cold``); ``cold_only``: only the cold
    runs (and ruff); ``jobs1``: False leaves out the ``--jobs 1`` runs."""
    files, lines = count_lines(paths)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PERF_LSP_CACHE_DIR", None)
    base_env = {**env, "PYTHONPATH": str(baseline)} if baseline is not None else None
    cwd = Path(tempfile.mkdtemp(prefix="bench-check-"))
    cache = cwd / "cache"
    base = [sys.executable, "-m", "perf_lsp", "check", "--output-format", "json", "--exit-zero",
            "--cache-dir", str(cache), *map(str, paths)]
    runs = [
        ("cold, jobs 1", ["--no-cache", "--jobs", "1"], None),
        ("cold", ["--no-cache"], None),
        ("cold, fills cache", [], "clear"),
        ("warm", [], None),
        ("warm, jobs 1", ["--jobs", "1"], None),
    ]
    if cold_only:
        runs = runs[:2]
    if not jobs1:
        runs = [run for run in runs if "jobs 1" not in run[0]]
    rows = []
    outputs = {}
    baseline_rows = []
    for label, flags, before in runs:
        results, others = [], []
        for _ in range(repeat):
            if before == "clear":
                shutil.rmtree(cache, ignore_errors=True)
            results.append(measure([*base, *flags], cwd, env))
            print(f"  {label}: {results[-1]['wall']:.2f} s (CPU {results[-1]['cpu']:.2f} s)", file=sys.stderr, flush=True)
            if base_env is not None and label == "cold":
                others.append(measure([*base, *flags], cwd, base_env))
                print(f"  baseline {label}: {others[-1]['wall']:.2f} s (CPU {others[-1]['cpu']:.2f} s)", file=sys.stderr, flush=True)
        outputs[label] = results[-1]["output"]
        rows.append(_row(label, results, lines))
        if others:
            baseline_rows.append(_row(f"baseline {label}", others, lines))
            if others[-1]["output"] != results[-1]["output"]:
                print(f"DIFFERENT JSON output: baseline {label!r} vs {label!r}", file=sys.stderr)
    rows.extend(baseline_rows)
    ruff = shutil.which("ruff")
    if ruff:
        command = [ruff, "check", "--isolated", "--no-cache", "--select", "ASYNC,B006,PERF,FURB", "--exit-zero",
                   "-q", *map(str, paths)]
        rows.append(_row("ruff check (ASYNC,B006,PERF,FURB)", [measure(command, cwd, env) for _ in range(repeat)], lines))
    first = next(iter(outputs))
    reference = outputs[first]
    findings = len(json.loads(reference or b"[]"))
    for label, output in outputs.items():
        if output != reference:
            print(f"DIFFERENT JSON output: {label!r} vs {first!r}", file=sys.stderr)
    print(f"{findings} findings; JSON output identical in every perf-lsp run: "
          f"{all(o == reference for o in outputs.values())}", file=sys.stderr)
    shutil.rmtree(cwd, ignore_errors=True)
    return rows, files, lines


def _row(label: str, results: list[dict], lines: int) -> dict:
    wall = statistics.median(r["wall"] for r in results)
    return {
        "label": label,
        "wall": wall,
        "cpu": statistics.median(r["cpu"] for r in results),
        "lines_per_s": lines / wall if wall else 0.0,
        "tree_rss_mb": max(r["tree_rss"] for r in results) / 2**20,
        "proc_rss_mb": max(r["proc_rss"] for r in results) / 2**20,
        "code": results[-1]["code"],
    }


def print_table(rows: list[dict], markdown: bool) -> None:
    ruff = next((r for r in rows if r["label"].startswith("ruff")), None)
    header = ["run", "wall s", "CPU s", "lines/s", "tree peak RSS MB", "max process RSS MB", "x ruff"]
    table = []
    for r in rows:
        ratio = f"{r['wall'] / ruff['wall']:.0f}" if ruff and ruff["wall"] else "-"
        table.append([r["label"], f"{r['wall']:.2f}", f"{r['cpu']:.2f}", f"{r['lines_per_s']:,.0f}", f"{r['tree_rss_mb']:.0f}",
                      f"{r['proc_rss_mb']:.0f}", ratio])
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for line in table:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(str(x[i])) for x in [header, *table]) for i in range(len(header))]
        for line in [header, *table]:
            print("  ".join(str(cell).ljust(w) if i == 0 else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))


def print_targets(rows: list[dict], what: str) -> None:
    by = {r["label"]: r for r in rows}
    cold, warm = by["cold"], by.get("warm")
    rss = max(r["tree_rss_mb"] for r in rows if not r["label"].startswith(("ruff", "baseline")))
    checks = [(f"{what} cold < {TARGETS['cold']:.0f} s", cold["wall"], cold["wall"] < TARGETS["cold"])]
    if "baseline cold" in by:
        print(f"cold: {by['baseline cold']['wall'] / cold['wall']:.1f}x faster than the baseline checkout (same run), "
              f"CPU {by['baseline cold']['cpu'] / cold['cpu']:.1f}x less")
    if what == "sympy" and warm is not None:
        checks += [
            (f"warm < {TARGETS['warm']:.0f} s", warm["wall"], warm["wall"] < TARGETS["warm"]),
            (f"peak RSS < {TARGETS['rss_mb']:.0f} MB", rss, rss < TARGETS["rss_mb"]),
        ]
    for name, value, met in checks:
        print(f"target {name}: {value:.2f} -> {'met' if met else 'NOT met'}")


def engine_figures(paths: list[Path], repeat: int) -> None:
    """The engine in this process: cold and warm per-statement cache, beside ast and libcst parsing."""
    import libcst as cst

    from perf_lsp.engine import Engine
    from perf_lsp.files import FileError, discover, read_source
    from perf_lsp.settings import Settings

    texts = []
    for path in discover(paths):
        try:
            texts.append(read_source(path).text)
        except FileError:
            pass
    lines = sum(t.count("\n") + 1 for t in texts)
    settings = Settings()

    def run(label: str, fn, fresh=None) -> None:
        walls, cpus = [], []
        for _ in range(repeat):
            if fresh:
                fresh()
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        w, c = statistics.median(walls), statistics.median(cpus)
        print(f"{label:<34} wall {w:7.2f} s   cpu {c:7.2f} s   {lines / c:9,.0f} lines/cpu-s")

    def parse_all(parse, errors):
        """A run that parses every file with ``parse``, ignoring ``errors``."""

        def run_once() -> None:
            for t in texts:
                try:
                    parse(t)
                except errors:
                    pass

        return run_once

    parse_ast = parse_all(ast.parse, SyntaxError)
    parse_cst = parse_all(cst.parse_module, Exception)

    engine = Engine()

    def reset() -> None:
        nonlocal engine
        engine = Engine(cache_size=100_000)

    def check() -> None:
        for t in texts:
            engine.analyze(t, settings)

    run("baseline: ast.parse", parse_ast)
    run("baseline: libcst.parse_module", parse_cst)
    run("perf-lsp engine, cold cache", check, fresh=reset)
    run("perf-lsp engine, warm cache", check)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="trees to check (default: the sympy sdist)")
    parser.add_argument("--projects", action="store_true", help="the five projects of docs/real-code-review.md")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--engine", action="store_true", help="also the engine in this process (the former figures)")
    parser.add_argument("--baseline", type=Path, help="another checkout: its cold run beside this one's")
    parser.add_argument("--cold-only", action="store_true", help="only the cold runs (and ruff)")
    parser.add_argument("--no-jobs1", action="store_true", help="leave out the --jobs 1 runs")
    args = parser.parse_args()
    import projects

    if args.projects:
        paths = [projects.fetch(projects.DEFAULT_CACHE, *entry) for entry in projects.PROJECTS]
        what = "five projects"
    elif args.paths:
        paths, what = [p.resolve() for p in args.paths], "tree"
    else:
        paths, what = [fetch_sympy(projects.DEFAULT_CACHE)], "sympy"
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    rows, files, lines = cli_figures(paths, args.repeat, args.baseline, args.cold_only, not args.no_jobs1)
    print(f"{what}: {files:,} files, {lines:,} lines")
    print_table(rows, args.markdown)
    print_targets(rows, what)
    if args.engine:
        engine_figures(paths, args.repeat)


if __name__ == "__main__":
    main()
