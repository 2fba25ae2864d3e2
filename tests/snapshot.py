"""Print what the engine gives for a fixture input, in the fixture formats, to review by hand.

    python tests/snapshot.py tests/fixtures/pfl401/loop_findall.py [--write]

``--write`` writes ``.json``, ``.fixed.py`` and ``.alt.py`` beside the input. Read
every file it writes before committing it: the expectations are the review.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from fixtures import core_to_fixture  # noqa: E402

from perf_lsp.engine import Engine  # noqa: E402
from perf_lsp.settings import Settings  # noqa: E402
from perf_lsp.textedit import apply_edits  # noqa: E402


def main(argv: list[str]) -> None:
    write = "--write" in argv
    engine = Engine()
    for name in [a for a in argv if not a.startswith("--")]:
        path = Path(name)
        source = path.read_text(encoding="utf-8")
        analysis = engine.analyze(source, Settings(select=("ALL",)))
        entries = [{k: v for k, v in e.items() if not (k == "alt_fix" and v is None)} for e in core_to_fixture(analysis.diagnostics)]
        outputs = {path.with_suffix(".json"): json.dumps(entries, indent=2, ensure_ascii=False) + "\n"}
        if any(d.fixes for d in analysis.diagnostics):
            outputs[Path(f"{path.with_suffix('')}.fixed.py")] = engine.fix_all(source, Settings(select=("ALL",)), unsafe=True).source
        alt = next((d for d in analysis.diagnostics if len(d.fixes) > 1), None)
        if alt is not None:
            fix = analysis.fix(alt, 1)
            if fix is not None:
                outputs[Path(f"{path.with_suffix('')}.alt.py")] = apply_edits(source, fix.edits)
        for out, text in outputs.items():
            print(f"==> {out}")
            print(text)
            if write:
                out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
