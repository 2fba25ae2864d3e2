"""Time ``perf-lsp check``'s engine over a directory of Python files; prints figures, asserts nothing.

    python benchmarks/bench_check.py PATH [--repeat 3]

Reports the median over repeats of CPU time and wall time for a cold engine
(empty per-statement cache) and for a warm one (everything cached: what an
editor pays for unchanged statements), plus lines per second. The baseline run
side by side is ``ast.parse`` of the same files (the floor any Python tool pays)
a bare ``libcst.parse_module`` of each file (what a whole-module libcst tool
pays before it does anything), and, when ``ruff`` is on PATH, ``ruff check``
with its performance rules (the speed bar, in Rust).
"""

from __future__ import annotations

import argparse
import ast
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import libcst as cst  # noqa: E402

from perf_lsp.engine import Engine  # noqa: E402
from perf_lsp.files import FileError, discover, read_source  # noqa: E402
from perf_lsp.settings import Settings  # noqa: E402


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-libcst-baseline", action="store_true")
    args = parser.parse_args()
    texts = []
    for path in discover([args.path]):
        try:
            texts.append(read_source(path).text)
        except FileError:
            pass
    lines = sum(t.count("\n") + 1 for t in texts)
    settings = Settings()
    print(f"{len(texts)} files, {lines:,} lines")

    def run(label: str, fn, fresh=None) -> None:
        walls, cpus = [], []
        for _ in range(args.repeat):
            if fresh:
                fresh()
            wall, cpu = _timed(fn)
            walls.append(wall)
            cpus.append(cpu)
        w, c = statistics.median(walls), statistics.median(cpus)
        print(f"{label:<34} wall {w:7.2f} s   cpu {c:7.2f} s   {lines / c:9,.0f} lines/cpu-s")

    def parse_ast() -> None:
        for t in texts:
            try:
                ast.parse(t)
            except SyntaxError:
                pass

    engine = Engine()

    def reset() -> None:
        nonlocal engine
        engine = Engine(cache_size=100_000)

    def check() -> None:
        for t in texts:
            engine.analyze(t, settings)

    run("baseline: ast.parse", parse_ast)
    if not args.no_libcst_baseline:

        def parse_cst() -> None:
            for t in texts:
                try:
                    cst.parse_module(t)
                except Exception:
                    pass

        run("baseline: libcst.parse_module", parse_cst)
    run("perf-lsp engine, cold cache", check, fresh=reset)
    run("perf-lsp engine, warm cache", check)
    ruff = shutil.which("ruff")
    if ruff:
        command = [ruff, "check", "--no-cache", "--select", "PERF,ASYNC,FURB,B006", "--exit-zero", "-q", str(args.path)]
        walls = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            walls.append(time.perf_counter() - start)
        print(f"{'baseline: ruff check (PERF,ASYNC,...)':<34} wall {statistics.median(walls):7.2f} s   (a separate process, Rust)")


if __name__ == "__main__":
    main()
