"""The fixture cases that drive the engine, CLI and language-server tests alike.

Layout: ``tests/fixtures/<rule code, lower case>/<case>.py`` is the input; beside it

- ``<case>.json``: the expected diagnostics, a list of
  ``{"code", "row", "column", "end_row", "end_column", "fix", "alt_fix"}``; rows and
  columns are 1-based and columns count code points (what ``perf-lsp check
  --output-format json`` prints); ``fix``/``alt_fix`` are the fix titles or null;
- ``<case>.fixed.py`` (when a fix exists): the file after every fix, unsafe ones
  included (``perf-lsp fix --unsafe-fixes``); for a case with one diagnostic, it is
  also what its quick fix gives;
- ``<case>.alt.py`` (when an alternative fix exists): the file after the
  alternative fix of the first diagnostic that has one.

Negative cases (correct look-alikes) are named ``ok_*`` and expect ``[]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Case:
    """One fixture case; ``id`` is ``<rule dir>/<case>``."""

    id: str
    path: Path
    source: str
    expected: list[dict]
    fixed: str | None
    alt: str | None

    @property
    def fixable(self) -> bool:
        return any(d.get("fix") for d in self.expected)


def load_cases() -> list[Case]:
    """Every case under ``tests/fixtures``, sorted by id."""
    found: list[Case] = []
    for path in sorted(ROOT.glob("*/*.py")):
        if path.name.endswith((".fixed.py", ".alt.py")):
            continue
        stem = path.with_suffix("")
        expected_path = stem.with_suffix(".json")
        fixed = Path(f"{stem}.fixed.py")
        alt = Path(f"{stem}.alt.py")
        found.append(
            Case(
                id=f"{path.parent.name}/{stem.name}",
                path=path,
                source=path.read_text(encoding="utf-8"),
                expected=json.loads(expected_path.read_text(encoding="utf-8")) if expected_path.exists() else [{"missing": expected_path.name}],
                fixed=fixed.read_text(encoding="utf-8") if fixed.exists() else None,
                alt=alt.read_text(encoding="utf-8") if alt.exists() else None,
            )
        )
    return found


CASES = load_cases()


def core_to_fixture(diagnostics) -> list[dict]:
    """Engine diagnostics (0-based code-point columns) in the fixture format."""
    out = []
    for d in diagnostics:
        out.append(
            {
                "code": d.code,
                "row": d.range.start.line,
                "column": d.range.start.column + 1,
                "end_row": d.range.end.line,
                "end_column": d.range.end.column + 1,
                "fix": d.fixes[0].title if d.fixes else None,
                "alt_fix": d.fixes[1].title if len(d.fixes) > 1 else None,
            }
        )
    return out


def normalise(expected: list[dict]) -> list[dict]:
    """Expected entries with ``alt_fix`` defaulted to null."""
    return [{"alt_fix": None, **entry} for entry in expected]
