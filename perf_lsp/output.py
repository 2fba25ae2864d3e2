"""Report formats of ``perf-lsp check``: text, JSON (Ruff's shape) and SARIF 2.1.0.

This is where core columns (0-based code points) become the 1-based columns
linters print, in one function (:func:`column`); rows are already 1-based.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from perf_lsp import __version__
from perf_lsp.model import Applicability, Diagnostic, Fix, Position, Range
from perf_lsp.rules import REGISTRY, by_code

DOCS_URL = "docs/rules.md#{code}"


@dataclass(frozen=True)
class Report:
    """One diagnostic in one file, with its primary fix when one was built.

    In a notebook, ``cell`` is the 1-based number of the cell the diagnostic is in (among all the
    notebook's cells), its range and its fix's edits are in cell coordinates, and ``edit_cells``
    gives each edit's cell; in a Python file ``cell`` is None and ``edit_cells`` empty.
    """

    filename: str
    diagnostic: Diagnostic
    fix: Fix | None
    cell: int | None = None
    edit_cells: tuple[int, ...] = ()


def where(report: Report) -> str:
    """``path:row:col``, or ``path:cell N:row:col`` in a notebook: where a text report points (1-based)."""
    start = report.diagnostic.range.start
    cell = f"cell {report.cell}:" if report.cell is not None else ""
    return f"{report.filename}:{cell}{start.line}:{column(start)}"


def column(pos: Position) -> int:
    """The 1-based column reports print for ``pos`` (core columns are 0-based code points)."""
    return pos.column + 1


def _loc(pos: Position) -> dict:
    return {"row": pos.line, "column": column(pos)}


def _region(rng: Range) -> dict:
    """A SARIF region: 1-based lines and columns (code points)."""
    return {
        "startLine": rng.start.line,
        "startColumn": column(rng.start),
        "endLine": rng.end.line,
        "endColumn": column(rng.end),
    }


def rule_url(code: str) -> str:
    """Where a rule's documentation lives: its anchor in ``docs/rules.md`` (generated from the rule docstrings)."""
    return DOCS_URL.format(code=code.lower())


def format_text(reports: Sequence[Report], show_fix: callable) -> str:
    """``path:row:col: CODE [*] message`` lines; ``[*]`` where ``show_fix(diagnostic)`` is true."""
    lines = []
    for r in reports:
        d = r.diagnostic
        mark = " [*]" if show_fix(d) else ""
        lines.append(f"{where(r)}: {d.code}{mark} {d.message}")
    return "\n".join(lines)


def format_json(reports: Sequence[Report]) -> str:
    """Ruff's JSON output: a list of objects with 1-based rows and columns; ``cell`` is the notebook
    cell's 1-based number (rows are then within the cell), null in a Python file, as in Ruff."""
    out = []
    for r in reports:
        d = r.diagnostic
        fix = None
        if r.fix is not None:
            fix = {
                "applicability": r.fix.applicability.value,
                "message": r.fix.title,
                "edits": [
                    {"content": e.content, "location": _loc(e.range.start), "end_location": _loc(e.range.end)}
                    for e in r.fix.edits
                ],
            }
            for edit, cell in zip(fix["edits"], r.edit_cells):
                edit["cell"] = cell
        out.append(
            {
                "cell": r.cell,
                "code": d.code,
                "message": d.message,
                "filename": r.filename,
                "location": _loc(d.range.start),
                "end_location": _loc(d.range.end),
                "fix": fix,
                "noqa_row": d.range.start.line,
                "url": rule_url(d.code),
            }
        )
    return json.dumps(out, indent=2, ensure_ascii=False)


def format_statistics(reports: Sequence[Report], show_fix: callable, output_format: str = "text") -> str:
    """Counts per rule, most frequent first (ties by code), as Ruff's ``--statistics``.

    Text: ``count<TAB>code<TAB>[*] name`` lines (``[*]`` when ``show_fix`` is true for
    some of the rule's diagnostics, ``[ ]`` for the others when any rule has a fix; no
    marker otherwise); JSON (``output_format`` ``"json"``): a list of objects with
    ``code``, ``name``, ``count``, ``fixable`` and ``fixable_count``.
    """
    counts: dict[str, list] = {}
    for r in reports:
        d = r.diagnostic
        entry = counts.setdefault(d.code, [d.name, 0, 0])
        entry[1] += 1
        entry[2] += bool(show_fix(d))
    rows = sorted(counts.items(), key=lambda item: (-item[1][1], item[0]))
    if output_format == "json":
        return json.dumps(
            [
                {"code": code, "name": name, "count": count, "fixable": fixable > 0, "fixable_count": fixable}
                for code, (name, count, fixable) in rows
            ],
            indent=2,
        )
    if not rows:
        return ""
    any_fix = any(fixable for _, (_, _, fixable) in rows)
    count_width = max(len(str(count)) for _, (_, count, _) in rows)
    code_width = max(len(code) for code, _ in rows)
    lines = []
    for code, (name, count, fixable) in rows:
        mark = ("[*] " if fixable else "[ ] ") if any_fix else ""
        lines.append(f"{count:>{count_width}}\t{code:<{code_width}}\t{mark}{name}")
    return "\n".join(lines)


_SARIF_LEVEL = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}


def format_sarif(reports: Sequence[Report], severity_of: callable) -> str:
    """A SARIF 2.1.0 log with one run; columns are 1-based code points (``columnKind``)."""
    rules = []
    for rule in REGISTRY:
        rules.append(
            {
                "id": rule.code,
                "name": rule.name,
                "shortDescription": {"text": rule.message},
                "fullDescription": {"text": rule.section("What it does")},
                "help": {"text": rule.docs(), "markdown": rule.docs()},
                "helpUri": rule_url(rule.code),
                "properties": {"fixSafety": rule.fix_safety.value if rule.fix_safety else None},
            }
        )
    index = {rule.code: i for i, rule in enumerate(REGISTRY)}
    results = []
    for r in reports:
        d = r.diagnostic
        result = {
            "ruleId": d.code,
            "ruleIndex": index.get(d.code, -1),
            "level": _SARIF_LEVEL.get(severity_of(d.code), "warning"),
            "message": {"text": d.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": r.filename.replace("\\", "/")},
                        "region": _region(d.range),
                    },
                    **({"properties": {"cell": r.cell}} if r.cell is not None else {}),
                }
            ],
        }
        if r.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": r.fix.title},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": r.filename.replace("\\", "/")},
                            "replacements": [
                                {
                                    "deletedRegion": _region(e.range),
                                    "insertedContent": {"text": e.content},
                                    **({"properties": {"cell": cell}} if cell is not None else {}),
                                }
                                for e, cell in zip(r.fix.edits, r.edit_cells or [None] * len(r.fix.edits))
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "perf-lsp", "version": __version__, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


def rule_table() -> str:
    """``perf-lsp rules``: code, name, fix availability and "opt-in" for rules off by default, one rule a line."""
    rows = [("CODE", "NAME", "FIX", "")]
    for rule in REGISTRY:
        fix = "none"
        if rule.fix_safety is Applicability.SAFE:
            fix = "safe"
        elif rule.fix_safety is Applicability.UNSAFE:
            fix = "unsafe"
        rows.append((rule.code, rule.name, fix, "opt-in" if rule.opt_in else ""))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}".rstrip() for r in rows)


def rule_doc(code: str) -> str | None:
    """``perf-lsp rule CODE``: the rule's heading, message, fix and docs; None for an unknown code."""
    rule = by_code(code)
    if rule is None:
        return None
    head = f"# {rule.name} ({rule.code})"
    fix = "none"
    if rule.fix_title and rule.fix_safety:
        fix = f"{rule.fix_title} ({rule.fix_safety.value})"
        if rule.alt_fix_title and rule.alt_fix_safety:
            fix += f"; alternative: {rule.alt_fix_title} ({rule.alt_fix_safety.value})"
    enable = ""
    if rule.opt_in:
        enable = f'Opt-in: off unless selected by name (`select = ["{rule.code}"]`, or "ALL")\n'
    return f"{head}\n\nMessage: {rule.message}\nFix: {fix}\n{enable}\n{rule.docs()}\n"


def rules_markdown() -> str:
    """All rules' docs as one Markdown page (``docs/rules.md``)."""
    parts = ["# perf-lsp rules", "", "Generated by `perf-lsp rules --markdown` from the rule classes.", ""]
    for rule in REGISTRY:
        parts.append(f'<a id="{rule.code.lower()}"></a>')
        parts.append(rule_doc(rule.code).replace(f"# {rule.name}", f"## {rule.name}", 1).replace("\n## ", "\n### "))
    return "\n".join(parts)
