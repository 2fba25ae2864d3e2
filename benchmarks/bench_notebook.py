"""Time ``perf-lsp check`` and ``fix`` on a large notebook beside the same code as a ``.py`` file; prints figures, asserts nothing.

    python benchmarks/bench_notebook.py [--copies 60] [--repeat 3]

The notebook is ``tests/notebooks/memory_agent.ipynb`` with its cells repeated ``--copies``
times (each copy's functions renamed, so that every copy is a new definition): 302 code cells
and about 3,200 lines of code at 60 copies (about 53 lines a copy: ``--copies 320`` makes the
17,000 lines of the notebook audit report 000 reviewed). The
``.py`` file holds the same module text perf-lsp analyses (the code cells joined, IPython lines
masked). Each figure is a separate ``python -m perf_lsp`` process (``--no-cache --jobs 1
--no-jedi``), run alternately for the two files; the median wall time over ``--repeat`` runs
and the notebook/file ratio are printed. ``fix --diff`` is timed too (it writes nothing).
The ratio is what to watch: absolute times move with the machine's load.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perf_lsp.notebook import build_module, read_notebook  # noqa: E402

SOURCE = ROOT / "tests" / "notebooks" / "memory_agent.ipynb"


def big_notebook(copies: int) -> dict:
    data = json.loads(SOURCE.read_text(encoding="utf-8"))
    first, rest = data["cells"][:3], data["cells"][3:]
    cells = list(first)
    for n in range(copies):
        for cell in rest:
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for name in ("generate_embedding", "ArtifactStore", "compute_corpus_coherence", "iterative_refine", "store", "vectors", "files"):
                text = text.replace(name, f"{name}_{n}")
            cells.append({**cell, "id": f"{cell.get('id', 'c')}-{n}", "source": text.splitlines(keepends=True)})
    data["cells"] = cells
    return data


def run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "perf_lsp", *args], cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        notebook = Path(tmp) / "big.ipynb"
        text = json.dumps(big_notebook(options.copies), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        notebook.write_text(text, encoding="utf-8")
        module = build_module(read_notebook(text))
        plain = Path(tmp) / "big.py"
        plain.write_text(module.text, encoding="utf-8")
        lines = module.text.count("\n")
        print(f"{len(module.cells)} code cells, {lines:,} lines of code; {len(text):,} bytes of JSON")
        common = ["--no-cache", "--jobs", "1", "--no-jedi"]
        rows = []
        for label, command in (("check", ["check", *common]), ("fix --diff --unsafe-fixes", ["fix", "--diff", "--unsafe-fixes", *common])):
            times: dict[str, list[float]] = {"ipynb": [], "py": []}
            for _ in range(options.repeat):
                times["ipynb"].append(run([*command, str(notebook)]))
                times["py"].append(run([*command, str(plain)]))
            nb, py = statistics.median(times["ipynb"]), statistics.median(times["py"])
            rows.append((label, nb, py))
        print(f"{'command':<28} {'.ipynb s':>9} {'.py s':>9} {'ratio':>6}")
        for label, nb, py in rows:
            print(f"{label:<28} {nb:>9.2f} {py:>9.2f} {nb / py:>6.2f}")


if __name__ == "__main__":
    main()
