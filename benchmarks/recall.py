"""perf-lsp's recall on the hand-labelled set of ``benchmarks/recall/labels/``, and look-alikes flagged.

    python benchmarks/recall.py [--labels DIR] [--cache DIR | --source DIR] [--project NAME ...]
                                [--default-only] [--whole-project] [--list] [--markdown FILE] [--json]

The protocol (how the labels were made, what "found" means) is ``docs/recall-protocol.md``.
Each label file (``<pip-name>.toml``: ``project``, ``version``, ``[[entry]]`` tables with
``file``, ``line``, optional ``end_line``, ``function``, ``family``, ``kind``, ``reason``)
names a pinned version; the script downloads it (``pip download --no-deps`` into
``--cache``, by default ``$TMPDIR/perf-lsp-recall``: wheels in ``wheels/``, unzipped into
``src/<project>-<version>/``), or takes it unzipped from ``--source DIR``
(``DIR/<project>-<version>/``, nothing downloaded). It then runs this checkout's

    python -m perf_lsp check --output-format json --no-cache --exit-zero [--select ALL] FILES

on the project's labelled files (``--whole-project``: on every top-level package the labels
touch, which lets whole-project analyses see the callers), once with the default rules and
once with ``--select ALL`` (``--default-only`` skips the second run). A site is found when a
finding with one of its family's codes (``FAMILY_CODES``) is in its file and starts on a line
in ``[line, end_line]``; a look-alike is flagged under the same condition.

Printed: sites found per family and overall in both columns, look-alikes flagged, per
project; ``--list`` adds every entry with its outcome. ``--markdown FILE`` writes the tables
as Markdown; ``--json`` prints the whole result as JSON instead of text. Exit status 0, 2
when a label file is invalid, a download fails or perf-lsp fails (exit status other than 0/1
or output that is not JSON). Asserts nothing about speed or about recall.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

FAMILY_CODES: dict[str, tuple[str, ...]] = {
    "model-per-call": ("PFL101",),
    "per-item-embedding": ("PFL201", "PFL202"),
    "sequential-awaits": ("PFL301",),
    "await-in-loop": ("PFL302",),
    "regex": ("PFL401", "PFL403"),
    "n-plus-one-query": ("PFL203", "PFL204"),
    "client-per-call": ("PFL102", "PFL103", "PFL104"),
    "blocking-in-async": ("PFL303", "PFL304"),
    "vector-math": ("PFL501",),
    "topk-and-membership": ("PFL502", "PFL503"),
    "mutable-default": ("PFL701",),
    "json-hashing": ("PFL601", "PFL602"),
}
"""Family id -> the perf-lsp codes whose findings count for it."""

KINDS = ("site", "lookalike")

HALVES = {
    "development": ("haystack-ai", "llama-index-core", "litellm", "r2r"),
    "held-out": ("chainlit", "crewai", "dspy", "ragas"),
}
"""The split of docs/recall-protocol.md ("Development half and held-out half"): rules may be tuned on the
development half's misses; the held-out half is run only to report a figure."""

CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = CHECKOUT / "benchmarks" / "recall" / "labels"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "perf-lsp-recall"

_REQUIRED = {"file": str, "line": int, "function": str, "family": str, "kind": str, "reason": str}
_OPTIONAL = {"end_line": int}


class LabelError(ValueError):
    """A label file that does not follow the format; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    """One labelled site or look-alike. ``line``/``end_line``: 1-based, inclusive, ``line <= end_line``."""

    project: str
    file: str
    line: int
    end_line: int
    function: str
    family: str
    kind: str
    reason: str


@dataclass
class Labels:
    """One project's label file: pip name, pinned version, entries in file order."""

    project: str
    version: str
    path: Path
    entries: list[Entry] = field(default_factory=list)


def validate(data: dict, name: str) -> list[str]:
    """Every problem of one parsed label file, as messages naming ``name`` and the entry (1-based).

    An empty list means the file is valid: ``project`` and ``version`` non-empty strings, at least
    one ``[[entry]]``, each with the fields of ``_REQUIRED`` of the right types (``bool`` is not an
    ``int``), nothing else but ``end_line``; ``line >= 1``, ``end_line >= line``; ``family`` a key
    of ``FAMILY_CODES``; ``kind`` one of ``KINDS``; ``file`` a relative POSIX path ending in ``.py``;
    no two entries with the same file, line, family and kind; at most three entries per function.
    """
    problems: list[str] = []
    for key in ("project", "version"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.append(f"{name}: `{key}` must be a non-empty string")
    unknown = set(data) - {"project", "version", "entry"}
    if unknown:
        problems.append(f"{name}: unknown top-level keys {sorted(unknown)}")
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{name}: no [[entry]] tables")
        return problems
    seen: set[tuple] = set()
    per_function: dict[tuple[str, str], int] = {}
    for number, entry in enumerate(entries, 1):
        where = f"{name} entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a table")
            continue
        for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
            if key not in entry:
                if key in _REQUIRED:
                    problems.append(f"{where}: missing `{key}`")
                continue
            value = entry[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                problems.append(f"{where}: `{key}` must be {kind.__name__}, not {type(value).__name__}")
            elif kind is str and not value.strip():
                problems.append(f"{where}: `{key}` is empty")
        extra = set(entry) - set(_REQUIRED) - set(_OPTIONAL)
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)}")
        line, end = entry.get("line"), entry.get("end_line", entry.get("line"))
        if isinstance(line, int) and line < 1:
            problems.append(f"{where}: `line` must be >= 1")
        if isinstance(line, int) and isinstance(end, int) and end < line:
            problems.append(f"{where}: `end_line` {end} is before `line` {line}")
        if isinstance(entry.get("family"), str) and entry["family"] not in FAMILY_CODES:
            problems.append(f"{where}: unknown family {entry['family']!r}")
        if isinstance(entry.get("kind"), str) and entry["kind"] not in KINDS:
            problems.append(f"{where}: kind must be one of {KINDS}, not {entry['kind']!r}")
        file = entry.get("file")
        if isinstance(file, str) and (not file.endswith(".py") or file.startswith("/") or "\\" in file or ".." in file.split("/")):
            problems.append(f"{where}: `file` must be a relative POSIX path to a .py file, not {file!r}")
        key = (entry.get("file"), entry.get("line"), entry.get("family"), entry.get("kind"))
        if key in seen:
            problems.append(f"{where}: same file, line, family and kind as an earlier entry")
        seen.add(key)
        function = (str(entry.get("file")), str(entry.get("function")))
        per_function[function] = per_function.get(function, 0) + 1
        if per_function[function] == 4:
            problems.append(f"{where}: more than three entries for {function[1]} in {function[0]}")
    return problems


def load_valid(path: Path, validate_data, error: type[ValueError]) -> dict:
    """The TOML file at ``path`` parsed and checked by ``validate_data(data, file name) -> problems``;
    raises ``error`` naming the file (unreadable, not UTF-8, not TOML) or listing every problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{path.name}: {exc}") from exc
    problems = validate_data(data, path.name)
    if problems:
        raise error("\n".join(problems))
    return data


def load(path: Path) -> Labels:
    """The label file at ``path``; ``LabelError`` listing every problem when it is not valid TOML or not valid."""
    data = load_valid(path, validate, LabelError)
    labels = Labels(data["project"], data["version"], path)
    for entry in data["entry"]:
        labels.entries.append(
            Entry(
                project=data["project"],
                file=entry["file"],
                line=entry["line"],
                end_line=entry.get("end_line", entry["line"]),
                function=entry["function"],
                family=entry["family"],
                kind=entry["kind"],
                reason=entry["reason"],
            )
        )
    return labels


def load_all(folder: Path, projects: list[str] | None = None) -> list[Labels]:
    """Every ``*.toml`` of ``folder`` sorted by name (only ``projects`` when given); ``LabelError`` on the first bad one."""
    found = [load(path) for path in sorted(folder.glob("*.toml"))]
    if projects:
        missing = set(projects) - {labels.project for labels in found}
        if missing:
            raise LabelError(f"no label file for {sorted(missing)} in {folder}")
        found = [labels for labels in found if labels.project in projects]
    return found


def source_root(cache: Path, project: str, version: str) -> Path:
    """Where ``project==version`` is (or will be) unzipped in ``cache``: ``cache/src/<project>-<version>``."""
    return cache / "src" / f"{project}-{version}"


def _normalised(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def fetch(cache: Path, project: str, version: str) -> Path:
    """The unzipped wheel of ``project==version`` in ``cache``, downloaded and unzipped when missing.

    Raises ``subprocess.CalledProcessError`` when pip fails, ``FileNotFoundError`` when pip gives no wheel.
    """
    root = source_root(cache, project, version)
    marker = root / ".unzipped"
    if marker.is_file():
        return root
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)

    def matching() -> list[Path]:
        prefix = f"{_normalised(project)}-{version}-"
        return [path for path in wheels.glob("*.whl") if _normalised(path.name).startswith(_normalised(prefix))]

    if not matching():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", f"{project}=={version}", "-d", str(wheels)],
            check=True,
        )
    found = matching()
    if not found:
        raise FileNotFoundError(f"pip downloaded no wheel of {project}=={version} into {wheels}")
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as wheel:
        wheel.extractall(root)
    marker.write_text(found[0].name, encoding="utf-8")
    return root


@dataclass(frozen=True)
class Finding:
    """One perf-lsp finding: ``file`` relative to the project root (POSIX), ``line`` 1-based."""

    file: str
    line: int
    code: str


class CheckError(RuntimeError):
    """perf-lsp crashed or printed something that is not its JSON output."""


def check_json(root: Path, paths: list[str], select_all: bool) -> list[tuple[str, dict]]:
    """This checkout's findings on ``paths`` (relative to ``root``), with the default rules or ``--select ALL``:
    (the file's path relative to ``root``, posix; the finding as ``--output-format json`` prints it).

    perf-lsp runs in a subprocess with ``PYTHONPATH`` set to this checkout and the checkout as the
    working directory (so that a package of the checked project never shadows one perf-lsp imports).
    Raises ``CheckError`` on an exit status other than 0 and 1 or output that is not a JSON list.
    """
    command = [sys.executable, "-m", "perf_lsp", "check", "--output-format", "json", "--no-cache", "--exit-zero"]
    if select_all:
        command += ["--select", "ALL"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [*command, *(str(root / path) for path in paths)],
        capture_output=True, text=True, env=env, cwd=CHECKOUT, check=False,
    )
    if proc.returncode not in (0, 1):
        raise CheckError(f"perf-lsp exited {proc.returncode} on {root}:\n{proc.stderr[-2000:]}")
    try:
        raw = json.loads(proc.stdout)
    except json.JSONDecodeError as error:
        raise CheckError(f"perf-lsp printed no JSON on {root}: {error}\n{proc.stderr[-2000:]}") from error
    if not isinstance(raw, list):
        raise CheckError(f"perf-lsp printed a JSON {type(raw).__name__}, not a list, on {root}")
    resolved = root.resolve()
    out = []
    for item in raw:
        path = Path(item["filename"]).resolve()
        try:
            relative = path.relative_to(resolved).as_posix()
        except ValueError:
            relative = path.as_posix()
        out.append((relative, item))
    return out


def run_check(root: Path, paths: list[str], select_all: bool) -> list[Finding]:
    """:func:`check_json`'s findings as (file, line, code)."""
    return [
        Finding(relative, int(item["location"]["row"]), str(item["code"]))
        for relative, item in check_json(root, paths, select_all)
    ]


def matches(entry: Entry, findings: list[Finding]) -> list[Finding]:
    """The findings that count for ``entry``: same file, a code of its family, start line in its range."""
    codes = FAMILY_CODES[entry.family]
    return [
        finding
        for finding in findings
        if finding.file == entry.file and finding.code in codes and entry.line <= finding.line <= entry.end_line
    ]


def paths_to_check(labels: Labels, whole_project: bool) -> list[str]:
    """The labelled files (sorted), or with ``whole_project`` their top-level packages or modules."""
    files = sorted({entry.file for entry in labels.entries})
    if not whole_project:
        return files
    return sorted({file.split("/")[0] for file in files})


@dataclass
class Outcome:
    """One entry's result: the matching findings' codes in each column (``all_rules`` is ``None`` when not run)."""

    entry: Entry
    default: list[str]
    all_rules: list[str] | None


def evaluate(labels: Labels, root: Path, whole_project: bool, select_all: bool) -> list[Outcome]:
    """Run perf-lsp on one project's files under ``root`` and match every entry; ``CheckError`` when a run fails."""
    missing = sorted({entry.file for entry in labels.entries if not (root / entry.file).is_file()})
    if missing:
        raise LabelError(f"{labels.path.name}: files not in {root}: {missing}")
    paths = paths_to_check(labels, whole_project)
    default = run_check(root, paths, select_all=False)
    every = run_check(root, paths, select_all=True) if select_all else None
    return [
        Outcome(
            entry,
            sorted({f.code for f in matches(entry, default)}),
            None if every is None else sorted({f.code for f in matches(entry, every)}),
        )
        for entry in labels.entries
    ]


def summarise(outcomes: list[Outcome]) -> dict:
    """Counts per family (in ``FAMILY_CODES`` order) and in total, for sites and look-alikes, in both columns.

    Shape: ``{"families": {family: row}, "total": row}`` with ``row`` the keys ``sites``,
    ``found``, ``found_all``, ``lookalikes``, ``flagged``, ``flagged_all`` (the ``*_all`` values
    are ``None`` when the ``--select ALL`` column was not run).
    """

    def row(selected: list[Outcome]) -> dict:
        sites = [o for o in selected if o.entry.kind == "site"]
        alikes = [o for o in selected if o.entry.kind == "lookalike"]
        ran_all = all(o.all_rules is not None for o in selected)
        return {
            "sites": len(sites),
            "found": sum(bool(o.default) for o in sites),
            "found_all": sum(bool(o.all_rules) for o in sites) if ran_all else None,
            "lookalikes": len(alikes),
            "flagged": sum(bool(o.default) for o in alikes),
            "flagged_all": sum(bool(o.all_rules) for o in alikes) if ran_all else None,
        }

    families = {family: row([o for o in outcomes if o.entry.family == family]) for family in FAMILY_CODES}
    return {"families": {k: v for k, v in families.items() if v["sites"] or v["lookalikes"]}, "total": row(outcomes)}


def _ratio(part: int | None, whole: int) -> str:
    if part is None:
        return "-"
    if not whole:
        return "0/0"
    return f"{part}/{whole} ({100 * part / whole:.0f}%)"


def table(summary: dict) -> list[str]:
    """The summary as Markdown table rows (header first)."""
    lines = [
        "| family | sites | found (default) | found (ALL) | look-alikes | flagged (default) | flagged (ALL) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [*summary["families"].items(), ("**total**", summary["total"])]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['sites']} | {_ratio(r['found'], r['sites'])} | {_ratio(r['found_all'], r['sites'])} "
            f"| {r['lookalikes']} | {_ratio(r['flagged'], r['lookalikes'])} | {_ratio(r['flagged_all'], r['lookalikes'])} |"
        )
    return lines


def entry_line(outcome: Outcome) -> str:
    """One entry and its outcome, for ``--list``."""
    e = outcome.entry
    span = f"{e.line}" if e.line == e.end_line else f"{e.line}-{e.end_line}"
    default = ",".join(outcome.default) or "-"
    every = "" if outcome.all_rules is None else f" ALL:{','.join(outcome.all_rules) or '-'}"
    return f"{e.kind:9} {e.family:20} default:{default}{every}  {e.project} {e.file}:{span} {e.function}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="folder of <project>.toml label files")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download cache (default: %(default)s)")
    parser.add_argument("--source", type=Path, help="unzipped projects in DIR/<project>-<version>/; no download")
    parser.add_argument("--project", action="append", help="only this project (repeatable)")
    parser.add_argument("--default-only", action="store_true", help="skip the --select ALL column")
    parser.add_argument("--whole-project", action="store_true", help="check the labelled top-level packages, not only the labelled files")
    parser.add_argument("--half", choices=sorted(HALVES), help="only this half's projects (docs/recall-protocol.md)")
    parser.add_argument("--list", action="store_true", help="print every development-half entry with its outcome")
    parser.add_argument(
        "--list-held-out", action="store_true",
        help="with --list, also the held-out half's entries (for a report only: they must not be read while tuning)",
    )
    parser.add_argument("--markdown", type=Path, help="write the tables as Markdown to FILE")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    wanted = list(args.project or []) + list(HALVES[args.half] if args.half else [])
    try:
        projects = load_all(args.labels, wanted or None)
    except LabelError as error:
        print(error, file=sys.stderr)
        return 2
    if not projects:
        print(f"no label files in {args.labels}", file=sys.stderr)
        return 2

    outcomes: list[Outcome] = []
    per_project: dict[str, list[Outcome]] = {}
    for labels in projects:
        try:
            if args.source is not None:
                root = args.source / f"{labels.project}-{labels.version}"
            else:
                root = fetch(args.cache, labels.project, labels.version)
            result = evaluate(labels, root, args.whole_project, select_all=not args.default_only)
        except (LabelError, CheckError, FileNotFoundError, subprocess.CalledProcessError) as error:
            print(f"{labels.project}=={labels.version}: {error}", file=sys.stderr)
            return 2
        per_project[f"{labels.project}=={labels.version}"] = result
        outcomes.extend(result)

    summary = summarise(outcomes)
    scope = "whole top-level packages" if args.whole_project else "labelled files only"
    if args.json:
        print(json.dumps({
            "scope": scope,
            "summary": summary,
            "projects": {name: summarise(result)["total"] for name, result in per_project.items()},
            "entries": [{**vars(o.entry), "default": o.default, "all": o.all_rules} for o in outcomes],
        }, indent=2))
    else:
        print(f"perf-lsp recall on {len(per_project)} projects ({scope} checked)\n")
        print("\n".join(table(summary)))
        print()
        for half, members in HALVES.items():
            chosen = [o for o in outcomes if o.entry.project in members]
            if chosen and len(chosen) < len(outcomes):
                total = summarise(chosen)["total"]
                print(f"{half} half: sites found {_ratio(total['found'], total['sites'])}, "
                      f"ALL {_ratio(total['found_all'], total['sites'])}; "
                      f"look-alikes flagged {_ratio(total['flagged'], total['lookalikes'])}, "
                      f"ALL {_ratio(total['flagged_all'], total['lookalikes'])}")
        print()
        for name, result in per_project.items():
            total = summarise(result)["total"]
            print(f"{name}: sites found {_ratio(total['found'], total['sites'])}, "
                  f"ALL {_ratio(total['found_all'], total['sites'])}; "
                  f"look-alikes flagged {_ratio(total['flagged'], total['lookalikes'])}, "
                  f"ALL {_ratio(total['flagged_all'], total['lookalikes'])}")
        if args.list:
            print()
            held_out = HALVES["held-out"]
            for outcome in outcomes:
                if outcome.entry.project not in held_out or args.list_held_out:
                    print(entry_line(outcome))
    if args.markdown is not None:
        text = [f"perf-lsp recall ({scope} checked): " + ", ".join(per_project), "", *table(summary), ""]
        args.markdown.write_text("\n".join(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
