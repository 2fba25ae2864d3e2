"""perf-lsp's precision on unseen code: draw a uniform sample of findings, then report the verdicts.

    python benchmarks/precision.py --draw [--seed N] [--cache DIR | --source DIR] [--out FILE]
    python benchmarks/precision.py --report [FILE] [--markdown FILE] [--json]

The protocol (which projects, how the sample is drawn, how each finding is judged) is the
section "Precision: the uniform sample" of ``docs/recall-protocol.md``.

``--draw`` fetches the pinned wheels of ``PROJECTS`` with ``pip download --no-deps`` (the
download and unzip helpers of ``benchmarks/recall.py``; cache ``$TMPDIR/perf-lsp-recall`` or
``--cache DIR``; ``--source DIR`` takes them unzipped from ``DIR/<project>-<version>/``), runs
this checkout's

    python -m perf_lsp check --output-format json --no-cache --exit-zero --select ALL PACKAGES

on each project's whole top-level package(s), merges every finding into one list sorted by
(project, file, line, column, code), and draws ``random.Random(seed).sample(findings, k)`` with
``k = max(60, ceil(0.25 * total))`` capped at the total. The sample is written as TOML
(``benchmarks/precision/sample-<seed>.toml`` unless ``--out``): a header with the seed, k, the
total, the projects' versions and totals, and one ``[[finding]]`` per sampled finding in
drawing order with ``project``, ``version``, ``file`` (POSIX, inside the unzipped wheel),
``line`` and ``column`` (1-based, column in code points), ``code``, ``message``,
``is_default_rule`` (on under the default settings) and empty ``verdict`` and ``reason``.

``--report`` reads a sample file (the judged one; no perf-lsp run) and prints precision overall,
for the default rules, per code and per project: ``TRUE / (TRUE + FALSE + NEGLIGIBLE)`` and
``TRUE / (TRUE + FALSE)``, with the Wilson 95% interval of the first. Unjudged findings (empty ``verdict``) are counted apart and left out
of every figure. ``--markdown FILE`` writes the tables as Markdown, ``--json`` prints the figures
as JSON. Exit status 0; 2 when the sample file is invalid, a download fails or perf-lsp fails.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recall  # the sibling script: fetch(), DEFAULT_CACHE, CheckError

CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = CHECKOUT / "benchmarks" / "precision"

PROJECTS: tuple[tuple[str, str], ...] = (
    ("autogen-agentchat", "0.7.5"),
    ("pydantic-ai-slim", "2.66.0"),
    ("langgraph", "1.2.24"),
    ("semantic-kernel", "1.45.0"),
)
"""(pip name, pinned version) of the four precision projects. ``pydantic-ai`` is a wheel without
code that requires ``pydantic-ai-slim`` of the same version: the slim wheel holds ``pydantic_ai/``."""

VERDICTS = ("TRUE", "FALSE", "NEGLIGIBLE")
MIN_SAMPLE = 60
FRACTION = 0.25

_FINDING_FIELDS = {
    "project": str, "version": str, "file": str, "line": int, "column": int, "code": str,
    "message": str, "is_default_rule": bool, "verdict": str, "reason": str,
}
_HEADER_FIELDS = {"seed": int, "k": int, "total": int}


class SampleError(ValueError):
    """A sample file that does not follow the format; the message names the file and the finding."""


@dataclass(frozen=True)
class Finding:
    """One finding of one project: ``file`` relative to the unzipped wheel (POSIX), ``line`` and
    ``column`` 1-based (column in code points)."""

    project: str
    version: str
    file: str
    line: int
    column: int
    code: str
    message: str

    def key(self) -> tuple:
        """The sort key of the merged list: (project, file, line, column, code)."""
        return (self.project, self.file, self.line, self.column, self.code)


def sample_size(total: int) -> int:
    """``k = max(60, ceil(0.25 * total))``, capped at ``total`` (0 when there is nothing)."""
    return min(total, max(MIN_SAMPLE, math.ceil(FRACTION * total)))


def draw(findings: list[Finding], seed: int) -> list[Finding]:
    """The uniform sample: ``random.Random(seed).sample(sorted findings, sample_size(total))``, in drawing order."""
    ordered = sorted(findings, key=Finding.key)
    return random.Random(seed).sample(ordered, sample_size(len(ordered)))


def default_codes() -> frozenset[str]:
    """The codes on under the default settings (every rule that is not opt-in, with ``select = ["PFL"]``)."""
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    from perf_lsp.rules import REGISTRY
    from perf_lsp.settings import Settings

    settings = Settings()
    return frozenset(rule.code for rule in REGISTRY if settings.enabled(rule.code, rule.opt_in))


def packages(root: Path) -> list[str]:
    """The top-level packages and modules of an unzipped wheel (no ``*.dist-info``/``*.data``), sorted."""
    names = []
    for child in sorted(root.iterdir()):
        if child.name.endswith((".dist-info", ".data")) or child.name.startswith("."):
            continue
        if child.is_dir() or child.suffix == ".py":
            names.append(child.name)
    return names


def run_check(project: str, version: str, root: Path) -> list[Finding]:
    """This checkout's ``--select ALL`` findings on the whole installed package under ``root``
    (:func:`recall.check_json`: a subprocess on this checkout; raises ``recall.CheckError`` on an exit
    status other than 0/1 or output that is not a JSON list)."""
    return [
        Finding(project, version, relative, int(item["location"]["row"]), int(item["location"]["column"]),
                str(item["code"]), str(item["message"]))
        for relative, item in recall.check_json(root, packages(root), select_all=True)
    ]


def _toml_string(value: str) -> str:
    # JSON's escapes (\" \\ \n \t \uXXXX) are valid in a TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def render(sample: list[Finding], seed: int, total: int, per_project: dict[str, tuple[str, int]],
           defaults: frozenset[str], commit: str = "") -> str:
    """The sample file's text: header (``seed``, ``k``, ``total``, ``[projects]``) then one
    ``[[finding]]`` per sampled finding in drawing order, with empty ``verdict`` and ``reason``."""
    lines = [
        "# perf-lsp precision sample: drawn by benchmarks/precision.py --draw, judged by hand",
        "# (protocol: docs/recall-protocol.md, \"Precision: the uniform sample\").",
        "# verdict: TRUE, FALSE or NEGLIGIBLE; reason: one line.",
        f"seed = {seed}",
        f"k = {len(sample)}",
        f"total = {total}",
        f"perf_lsp_commit = {_toml_string(commit)}",
        "",
        "[projects]",
    ]
    for project, (version, count) in per_project.items():
        lines.append(f"{_toml_string(project)} = {{ version = {_toml_string(version)}, findings = {count} }}")
    for number, finding in enumerate(sample, 1):
        lines += [
            "",
            f"[[finding]]  # {number}",
            f"project = {_toml_string(finding.project)}",
            f"version = {_toml_string(finding.version)}",
            f"file = {_toml_string(finding.file)}",
            f"line = {finding.line}",
            f"column = {finding.column}",
            f"code = {_toml_string(finding.code)}",
            f"message = {_toml_string(finding.message)}",
            f"is_default_rule = {'true' if finding.code in defaults else 'false'}",
            'verdict = ""',
            'reason = ""',
        ]
    return "\n".join(lines) + "\n"


def validate(data: dict, name: str) -> list[str]:
    """Every problem of one parsed sample file, as messages naming ``name`` and the finding (1-based).

    Valid: ``seed``, ``k`` and ``total`` integers with ``k`` equal to the number of findings and to
    ``sample_size(total)``; each ``[[finding]]`` has exactly the fields of the format, of the right
    types (``bool`` is not an ``int``); ``verdict`` is empty or one of ``VERDICTS``; a non-empty
    verdict has a non-empty one-line ``reason``; no finding twice.
    """
    problems: list[str] = []
    for key, kind in _HEADER_FIELDS.items():
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            problems.append(f"{name}: `{key}` must be an integer")
    findings = data.get("finding")
    if not isinstance(findings, list):
        problems.append(f"{name}: no [[finding]] tables")
        return problems
    if isinstance(data.get("k"), int) and data["k"] != len(findings):
        problems.append(f"{name}: k = {data['k']} but {len(findings)} findings")
    if isinstance(data.get("total"), int) and isinstance(data.get("k"), int) and data["k"] != sample_size(data["total"]):
        problems.append(f"{name}: k = {data['k']} is not max({MIN_SAMPLE}, ceil({FRACTION} * {data['total']})) capped")
    seen: set[tuple] = set()
    for number, entry in enumerate(findings, 1):
        where = f"{name} finding {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a table")
            continue
        for key, kind in _FINDING_FIELDS.items():
            if key not in entry:
                problems.append(f"{where}: missing `{key}`")
                continue
            value = entry[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                problems.append(f"{where}: `{key}` must be {kind.__name__}, not {type(value).__name__}")
        extra = set(entry) - set(_FINDING_FIELDS)
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)}")
        verdict, reason = entry.get("verdict"), entry.get("reason")
        if isinstance(verdict, str) and verdict not in ("", *VERDICTS):
            problems.append(f"{where}: verdict must be empty or one of {VERDICTS}, not {verdict!r}")
        if isinstance(verdict, str) and verdict and isinstance(reason, str) and not reason.strip():
            problems.append(f"{where}: verdict {verdict} without a reason")
        if isinstance(reason, str) and "\n" in reason:
            problems.append(f"{where}: reason must be one line")
        key = tuple(entry.get(k) for k in ("project", "file", "line", "column", "code"))
        if key in seen:
            problems.append(f"{where}: the same finding as an earlier one")
        seen.add(key)
    return problems


def load(path: Path) -> dict:
    """The parsed sample file at ``path``; ``SampleError`` listing every problem when it is not valid."""
    return recall.load_valid(path, validate, SampleError)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n`` (fractions in [0, 1]; ``z = 1.96``: 95%), None when ``n`` is 0."""
    if n == 0:
        return None
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def tally(findings: list[dict]) -> dict:
    """Counts and precision of some judged findings.

    Shape: ``{"n", "TRUE", "FALSE", "NEGLIGIBLE", "unjudged", "precision", "precision_no_negligible",
    "ci95", "ci95_no_negligible"}``; the precisions are fractions in [0, 1], ``None`` when their
    denominator is 0. ``precision`` is TRUE / (TRUE + FALSE + NEGLIGIBLE); ``precision_no_negligible``
    is TRUE / (TRUE + FALSE); ``ci95*`` are their :func:`wilson` intervals (low, high).
    Unjudged findings are counted in ``n`` and ``unjudged`` only.
    """
    counts = {verdict: sum(f["verdict"] == verdict for f in findings) for verdict in VERDICTS}
    judged = sum(counts.values())
    sure = counts["TRUE"] + counts["FALSE"]
    return {
        "n": len(findings),
        **counts,
        "unjudged": len(findings) - judged,
        "precision": counts["TRUE"] / judged if judged else None,
        "precision_no_negligible": counts["TRUE"] / sure if sure else None,
        "ci95": wilson(counts["TRUE"], judged),
        "ci95_no_negligible": wilson(counts["TRUE"], sure),
    }


def report(data: dict) -> dict:
    """The figures of a parsed sample: ``{"overall", "default_rules", "codes": {code: tally},
    "projects": {project: tally}}`` (codes and projects sorted), each a :func:`tally`."""
    findings = data["finding"]
    codes = sorted({f["code"] for f in findings})
    projects = sorted({f["project"] for f in findings})
    return {
        "overall": tally(findings),
        "default_rules": tally([f for f in findings if f["is_default_rule"]]),
        "codes": {code: tally([f for f in findings if f["code"] == code]) for code in codes},
        "projects": {p: tally([f for f in findings if f["project"] == p]) for p in projects},
    }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _interval(bounds: tuple[float, float] | None) -> str:
    return "-" if bounds is None else f"{100 * bounds[0]:.0f}-{100 * bounds[1]:.0f}%"


def table(figures: dict, defaults: frozenset[str] | None = None) -> list[str]:
    """The figures as Markdown table rows (header first): overall, default rules, per code, per project."""
    lines = [
        "| findings | n | TRUE | FALSE | NEGLIGIBLE | unjudged | precision | 95% CI | precision without NEGLIGIBLE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [("**all rules**", figures["overall"]), ("**default rules**", figures["default_rules"])]
    rows += [(code, row) for code, row in figures["codes"].items()]
    rows += [(f"project {project}", row) for project, row in figures["projects"].items()]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['n']} | {r['TRUE']} | {r['FALSE']} | {r['NEGLIGIBLE']} | {r['unjudged']} "
            f"| {_percent(r['precision'])} | {_interval(r['ci95'])} | {_percent(r['precision_no_negligible'])} |"
        )
    return lines


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=CHECKOUT, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--draw", action="store_true", help="run perf-lsp on the projects and write a new sample")
    mode.add_argument("--report", nargs="?", type=Path, const=None, default=False, metavar="FILE",
                      help="print the figures of a judged sample file (default: the sample of --seed)")
    parser.add_argument("--seed", type=int, default=20261203, help="the sample's seed (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=recall.DEFAULT_CACHE, help="download cache (default: %(default)s)")
    parser.add_argument("--source", type=Path, help="unzipped projects in DIR/<project>-<version>/; no download")
    parser.add_argument("--out", type=Path, help="where --draw writes the sample (default: benchmarks/precision/sample-<seed>.toml)")
    parser.add_argument("--markdown", type=Path, help="--report: write the tables as Markdown to FILE")
    parser.add_argument("--json", action="store_true", help="--report: print the figures as JSON")
    args = parser.parse_args(argv)
    default_path = DEFAULT_FOLDER / f"sample-{args.seed}.toml"

    if args.draw:
        out = args.out or default_path
        if out.exists():
            print(f"{out} exists: a drawn sample is never redrawn (protocol step 2); pick a new seed", file=sys.stderr)
            return 2
        findings: list[Finding] = []
        per_project: dict[str, tuple[str, int]] = {}
        for project, version in PROJECTS:
            try:
                if args.source is not None:
                    root = args.source / f"{project}-{version}"
                else:
                    root = recall.fetch(args.cache, project, version)
                found = run_check(project, version, root)
            except (recall.CheckError, FileNotFoundError, subprocess.CalledProcessError) as error:
                print(f"{project}=={version}: {error}", file=sys.stderr)
                return 2
            per_project[project] = (version, len(found))
            print(f"{project}=={version}: {len(found)} findings", file=sys.stderr)
            findings.extend(found)
        sample = draw(findings, args.seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(sample, args.seed, len(findings), per_project, default_codes(), _commit()), encoding="utf-8")
        print(f"total {len(findings)}, k {len(sample)}, seed {args.seed}: wrote {out}")
        return 0

    path = args.report or default_path
    try:
        data = load(path)
    except SampleError as error:
        print(error, file=sys.stderr)
        return 2
    figures = report(data)
    if args.json:
        print(json.dumps({"seed": data["seed"], "k": data["k"], "total": data["total"], **figures}, indent=2))
    else:
        o, d = figures["overall"], figures["default_rules"]
        print(f"perf-lsp precision: seed {data['seed']}, k {data['k']} of {data['total']} findings\n")
        print(f"all rules:     {o['TRUE']}/{o['n'] - o['unjudged']} TRUE = {_percent(o['precision'])}, 95% CI {_interval(o['ci95'])}"
              f" ({_percent(o['precision_no_negligible'])} without NEGLIGIBLE)")
        print(f"default rules: {d['TRUE']}/{d['n'] - d['unjudged']} TRUE = {_percent(d['precision'])}, 95% CI {_interval(d['ci95'])}"
              f" ({_percent(d['precision_no_negligible'])} without NEGLIGIBLE)\n")
        print("\n".join(table(figures)))
    if args.markdown is not None:
        args.markdown.write_text("\n".join(table(figures)) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
