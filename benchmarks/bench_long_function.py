"""Time checking and fixing long functions; prints figures, asserts nothing.

    python benchmarks/bench_long_function.py [--repeat 3] [--lines 2000] [--compare PATH] [--jedi]
                                             [--cache DIR] [--only synthetic,middleware,orgnode]

Why: one real file with one 2,385-line function (open-webui 0.12.4's
``open_webui/utils/middleware.py``, 6,523 lines) took 13 s to check and 44-79 s to fix,
because rules walked the whole function again for every call site in it (quadratic in
the function's size), and every fix round checks the rewritten statement again. The
documents timed:

- ``synthetic``: one generated function of about ``--lines`` lines: loops with database,
  Redis, HTTP and encode calls, ``in`` tests, string appends and ``re`` calls, most of them
  not findings, a few of them fixable findings (PFL201, PFL203, PFL401, PFL503);
- ``middleware``: open-webui's ``middleware.py``, when the real-code run's cache holds it;
- ``orgnode``: khoj 1.42.10's ``processor/content/org_mode/orgnode.py`` (15 fixable
  findings in one statement: many fix rounds), when the cache holds it.

The cache is ``benchmarks/real_fix_run.py``'s (``$TMPDIR/perf-lsp-real-code``; run
``python benchmarks/real_fix_run.py --projects open-webui,khoj`` once to fill it). For each
document: the median wall time over ``--repeat`` runs of a check (a fresh engine's
``analyze``) and of a fix (a fresh engine's ``fix_all`` with every rule and unsafe fixes,
as ``perf-lsp fix --unsafe-fixes --select ALL``), the findings, fix rounds and fixes
applied. Without ``--jedi`` no type resolver runs (as ``--no-jedi``); with it, a jedi
resolver per round as the CLI does. ``--compare PATH`` times the ``perf_lsp`` package of
another checkout (e.g. ``git archive`` of the base commit) in the same run and prints the
ratios side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = {
    "middleware": "open-webui-0.12.4/open_webui/utils/middleware.py",
    "orgnode": "khoj-1.42.10/khoj/processor/content/org_mode/orgnode.py",
}


def synthetic(lines: int) -> str:
    """A module with one function of about ``lines`` lines (see the module docstring)."""
    head = (
        "import re\n"
        "import sqlite3\n\n"
        "import redis\n"
        "import requests\n"
        "from sentence_transformers import SentenceTransformer\n\n"
        "r = redis.Redis()\n"
        "model = SentenceTransformer('all-MiniLM-L6-v2')\n\n\n"
        "def handler(items, rows, conn, other, url):\n"
        "    cur = conn.cursor()\n"
        "    out = []\n"
    )
    groups: list[str] = []
    size = 0
    i = 0
    while size < lines:
        finding = i % 25 == 0  # one group in 25 has findings, the rest is ordinary code
        group = (
            f"    seen_{i} = {'[row[0] for row in rows]' if finding else 'frozenset(row[0] for row in rows)'}\n"
            f"    text_{i} = ''\n"
            f"    for item in items:\n"
            f"        value_{i} = other.execute(item)\n"
            f"        cached_{i} = r.get('key-{i}')\n"
            f"        if item in seen_{i}:\n"
            f"            text_{i} += str(value_{i})\n"
            f"        for part in item.parts:\n"
            f"            out.append(part.name.strip() + str(cached_{i}))\n"
            f"            text_{i} = text_{i} + part.name\n"
            f"        try:\n"
            f"            response_{i} = requests.get(url, timeout=5)\n"
            f"        except requests.RequestException:\n"
            f"            response_{i} = None\n"
            f"        out.append(response_{i})\n"
        )
        if finding:
            group += (
                f"        cur.execute('INSERT INTO t VALUES (?)', (item,))\n"
                f"        vector_{i} = model.encode(item.text)\n"
                f"        out.append(vector_{i})\n"
                f"        if re.match(r'^item-{i}', item.name):\n"
                f"            out.append(item)\n"
            )
        groups.append(group)
        size += group.count("\n")
        i += 1
    return head + "".join(groups) + "    return out\n"


def measure(documents: dict[str, str], repeat: int, jedi: bool) -> dict[str, dict]:
    """Figures for the ``perf_lsp`` on ``sys.path``, per document."""
    from perf_lsp.engine import Engine
    from perf_lsp.settings import Settings

    settings = Settings(select=("ALL",), unsafe_fixes=True)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in documents.items():
            path = Path(tmp) / f"{name}.py"
            path.write_text(source, encoding="utf-8")

            def resolver(text: str, path: Path = path):
                if not jedi:
                    return None
                from perf_lsp.analysis.resolve import TypeResolver

                return TypeResolver(text, path, budget=10.0)

            checks, fixes = [], []
            analysis = result = None
            for _ in range(repeat):
                start = time.perf_counter()
                analysis = Engine().analyze(source, settings, resolver=resolver(source))
                checks.append(time.perf_counter() - start)
                start = time.perf_counter()
                result = Engine().fix_all(source, settings, resolver_for=resolver)
                fixes.append(time.perf_counter() - start)
            rows[name] = {
                "lines": source.count("\n") + 1,
                "check": statistics.median(checks),
                "fix": statistics.median(fixes),
                "findings": len(analysis.diagnostics),
                "rounds": result.rounds,
                "applied": result.applied,
            }
    return rows


def documents(args: argparse.Namespace) -> dict[str, str]:
    wanted = set(args.only.split(",")) if args.only else {"synthetic", *REAL}
    out: dict[str, str] = {}
    if "synthetic" in wanted:
        out["synthetic"] = synthetic(args.lines)
    for name, rel in REAL.items():
        path = args.cache / "src" / rel
        if name in wanted:
            if path.is_file():
                out[name] = path.read_text(encoding="utf-8")
            else:
                print(f"({name}: {path} not found; run benchmarks/real_fix_run.py --projects ... once)", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--compare", type=Path, help="another checkout whose perf_lsp to time too")
    parser.add_argument("--jedi", action="store_true", help="resolve types with jedi, as the CLI does by default")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "perf-lsp-real-code")
    parser.add_argument("--only", help="comma-separated: synthetic, middleware, orgnode")
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.root:  # child mode: time the perf_lsp package of that checkout on the documents in --input
        sys.path.insert(0, str(args.root))
        docs = json.loads(args.input.read_text(encoding="utf-8"))
        print(json.dumps(measure(docs, args.repeat, args.jedi)))
        return
    docs = documents(args)
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as handle:
        json.dump(docs, handle)
    runs = {"this checkout": _child(ROOT, Path(handle.name), args)}
    if args.compare:
        runs["compare"] = _child(args.compare.resolve(), Path(handle.name), args)
    Path(handle.name).unlink()
    print(f"median of {args.repeat} runs, wall seconds, {'with' if args.jedi else 'without'} jedi")
    if args.compare:
        print(f"compare = {args.compare}")
    for name in docs:
        mine = runs["this checkout"][name]
        print(
            f"{name} ({mine['lines']:,} lines): {mine['findings']} findings, fix: {mine['rounds']} rounds, "
            f"{mine['applied']} fixes applied"
        )
        for label, rows in runs.items():
            row = rows[name]
            extra = ""
            if label != "this checkout":
                extra = f"   ({row['findings']} findings, {row['rounds']} rounds, {row['applied']} fixes)"
            print(f"  {label:<14} check {row['check']:7.2f}   fix {row['fix']:7.2f}   fix/check {row['fix'] / row['check']:5.1f}x{extra}")
        if args.compare:
            other = runs["compare"][name]
            print(
                f"  {'ratio':<14} check {other['check'] / mine['check']:6.1f}x  fix {other['fix'] / mine['fix']:6.1f}x"
                "   (compare / this checkout)"
            )


def _child(root: Path, inputs: Path, args: argparse.Namespace) -> dict[str, dict]:
    command = [sys.executable, str(Path(__file__).resolve()), "--root", str(root), "--input", str(inputs)]
    command += ["--repeat", str(args.repeat)] + (["--jedi"] if args.jedi else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
