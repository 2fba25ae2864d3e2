"""Report formats of ``perf-lsp check``: text, JSON (Ruff's shape), SARIF 2.1.0, GitHub
workflow commands and JUnit XML.

This is where core columns (0-based code points) become the 1-based columns
linters print, in one function (:func:`column`); rows are already 1-based.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

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


SRCROOT = "%SRCROOT%"  # the SARIF base id relative file URIs are resolved against: the current directory


def _is_absolute_url(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def _artifact(filename: str) -> dict:
    """A SARIF ``artifactLocation`` for a report's file name (relative to the current directory, or absolute)."""
    path = Path(filename)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": quote(os.fsencode(filename.replace("\\", "/")), safe="/"), "uriBaseId": SRCROOT}


def _base_ids() -> dict:
    """SARIF ``originalUriBaseIds``: ``%SRCROOT%`` is the current directory (none if it is gone)."""
    try:
        return {SRCROOT: {"uri": Path.cwd().resolve().as_uri() + "/"}}
    except OSError:
        return {}


_SARIF_LEVEL = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}


def format_sarif(reports: Sequence[Report], level_of: Callable[[Report], str]) -> str:
    """A SARIF 2.1.0 log with one run, valid against the OASIS schema; columns are 1-based code
    points (``columnKind``).

    A result's ``level`` comes from ``level_of(report)`` (``error|warning|information|hint``;
    information and hint are ``note``). A file is named by a relative URI reference
    (percent-encoded, against ``%SRCROOT%``, which ``originalUriBaseIds`` gives as the current
    directory) when its report name is relative, else by a ``file:`` URI. A rule's
    ``helpUri`` is given only when its documentation has an absolute URL (the full docs are
    in ``help`` either way).
    """
    rules = []
    for rule in REGISTRY:
        rules.append(
            {
                "id": rule.code,
                "name": rule.name,
                "shortDescription": {"text": rule.message},
                "fullDescription": {"text": rule.section("What it does")},
                "help": {"text": rule.docs(), "markdown": rule.docs()},
                "properties": {"fixSafety": rule.fix_safety.value if rule.fix_safety else None},
            }
        )
        if _is_absolute_url(rule_url(rule.code)):
            rules[-1]["helpUri"] = rule_url(rule.code)
    index = {rule.code: i for i, rule in enumerate(REGISTRY)}
    results = []
    for r in reports:
        d = r.diagnostic
        result = {
            "ruleId": d.code,
            "ruleIndex": index.get(d.code, -1),
            "level": _SARIF_LEVEL.get(level_of(r), "warning"),
            "message": {"text": d.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(r.filename),
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
                            "artifactLocation": _artifact(r.filename),
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
                "originalUriBaseIds": _base_ids(),
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "information": "notice", "hint": "notice"}


def _github_data(text: str) -> str:
    """A workflow command's message escaped as GitHub's toolkit does (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """A workflow command's property value escaped as GitHub's toolkit does (also ``:`` and ``,``)."""
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def _cell_prefix(report: Report) -> str:
    """``"cell N: "`` for a report in a notebook (its rows count in that cell), else ``""``."""
    return f"cell {report.cell}: " if report.cell is not None else ""


def format_github(reports: Sequence[Report], level_of: Callable[[Report], str]) -> str:
    """GitHub Actions workflow commands, one line per report, which the runner turns into annotations.

    ``::warning file=PATH,line=R,col=C,endLine=R2,endColumn=C2,title=CODE name::message``:
    rows and columns 1-based (columns in code points), the path as reported with ``/``
    separators (relative to the current directory when the file is under it, which in
    a workflow is the checkout). The command is ``error``, ``warning`` or ``notice``
    after ``level_of(report)`` (``error|warning|information|hint``; information and
    hint are notices; anything else is a warning). Property values and the message are
    escaped as GitHub documents (``%`` ``%25``, CR ``%0D``, LF ``%0A``; in properties
    also ``:`` ``%3A`` and ``,`` ``%2C``). In a notebook the rows count in the report's
    cell, and the message starts with ``cell N:``. No reports: "".
    """
    lines = []
    for r in reports:
        d = r.diagnostic
        command = _GITHUB_LEVEL.get(level_of(r), "warning")
        properties = (
            ("file", r.filename.replace("\\", "/")),
            ("line", str(d.range.start.line)),
            ("col", str(column(d.range.start))),
            ("endLine", str(d.range.end.line)),
            ("endColumn", str(column(d.range.end))),
            ("title", f"{d.code} {d.name}"),
        )
        props = ",".join(f"{key}={_github_property(value)}" for key, value in properties)
        lines.append(f"::{command} {props}::{_github_data(_cell_prefix(r) + d.message)}")
    return "\n".join(lines)


# what XML 1.0 cannot carry: C0 controls other than tab, LF and CR, lone surrogates, U+FFFE/U+FFFF
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _junit_suite(root: ET.Element, name: str, tests: int, failures: int) -> ET.Element:
    attributes = {"name": name, "tests": str(tests), "disabled": "0", "errors": "0", "failures": str(failures)}
    return ET.SubElement(root, "testsuite", attributes, package="perf-lsp")


def format_junit(reports: Sequence[Report], level_of: Callable[[Report], str]) -> str:
    """JUnit XML as Ruff writes it: one ``<testsuite>`` per file (in report order), one failing
    ``<testcase>`` per report, and for no report one suite ``perf-lsp`` holding a passing
    case "No errors found".

    A test case is named ``perf-lsp.CODE``, its ``classname`` is the file's path without
    suffix (``src/app/svc`` for ``src/app/svc.py``), and it carries ``line`` and ``column``
    (1-based, code points) and a ``<failure>`` whose ``message`` is the diagnostic's, whose
    ``type`` is ``level_of(report)`` (``error|warning|information|hint``) and whose text
    is ``line R, col C, message`` (``cell N: line R, ...`` in a notebook). Built with :mod:`xml.etree.ElementTree`, so names and
    messages are escaped; characters XML cannot hold (control characters, lone
    surrogates) become U+FFFD. Returns the document with its XML declaration.
    """
    root = ET.Element("testsuites", name="perf-lsp", tests=str(max(len(reports), 1)), failures=str(len(reports)))
    root.set("errors", "0")
    by_file: dict[str, list[Report]] = {}
    for r in reports:
        by_file.setdefault(r.filename, []).append(r)
    if not by_file:
        suite = _junit_suite(root, "perf-lsp", tests=1, failures=0)
        ET.SubElement(suite, "testcase", name="No errors found", classname="perf-lsp")
    for filename, group in by_file.items():
        name = _xml_text(filename)
        suite = _junit_suite(root, name, tests=len(group), failures=len(group))
        path = PurePosixPath(name.replace("\\", "/"))
        classname = str(path.with_suffix("")) if path.suffix else str(path)
        for r in group:
            d = r.diagnostic
            row, col = d.range.start.line, column(d.range.start)
            case = ET.SubElement(suite, "testcase", name=f"perf-lsp.{d.code}", classname=classname)
            case.set("line", str(row))
            case.set("column", str(col))
            message = _xml_text(d.message)
            failure = ET.SubElement(case, "failure", message=message, type=level_of(r))
            failure.text = f"{_cell_prefix(r)}line {row}, col {col}, {message}"
    ET.indent(root, space="    ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


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
