"""The hand-labelled recall set (``benchmarks/recall/labels/*.toml``) and its script ``benchmarks/recall.py``.

Without the network: every label file is valid (fields, family ids, kinds). When the pinned
projects are unzipped in the script's default cache, every labelled file exists there and every
labelled line is a non-blank line of it. One test runs the script end to end on a small fake
project (perf-lsp in a subprocess, no download).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from scripts import load_script

from perf_lsp.rules import CODES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "recall.py"
LABELS = ROOT / "benchmarks" / "recall" / "labels"


recall = load_script("recall")
LABEL_FILES = sorted(LABELS.glob("*.toml"))


def _entry(**changes):
    entry = {
        "file": "pkg/mod.py", "line": 3, "function": "f", "family": "regex",
        "kind": "site", "reason": "compiles per item",
    }
    entry.update(changes)
    return entry


def _problems(*entries, **top):
    data = {"project": "demo", "version": "1.0", "entry": list(entries), **top}
    return recall.validate(data, "demo.toml")


def test_there_are_label_files():
    assert LABEL_FILES, LABELS


@pytest.mark.parametrize("path", LABEL_FILES, ids=lambda p: p.name)
def test_label_file_is_valid(path):
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert recall.validate(data, path.name) == []
    assert path.stem == data["project"], "one file per project, named by its pip name"
    labels = recall.load(path)
    assert {entry.kind for entry in labels.entries} <= set(recall.KINDS)


@pytest.mark.parametrize("path", LABEL_FILES, ids=lambda p: p.name)
def test_labelled_lines_exist_in_the_pinned_version(path):
    labels = recall.load(path)
    root = recall.source_root(recall.DEFAULT_CACHE, labels.project, labels.version)
    if not root.is_dir():
        pytest.skip(f"{labels.project}=={labels.version} is not in {recall.DEFAULT_CACHE}")
    for entry in labels.entries:
        file = root / entry.file
        assert file.is_file(), entry
        lines = file.read_text(encoding="utf-8").splitlines()
        assert entry.end_line <= len(lines), entry
        assert lines[entry.line - 1].strip(), f"blank line: {entry}"


def test_family_codes_cover_every_rule_but_string_concat():
    mapped = {code for codes in recall.FAMILY_CODES.values() for code in codes}
    assert CODES - mapped == {"PFL402"}
    assert all(len(codes) == len(set(codes)) for codes in recall.FAMILY_CODES.values())


def test_validate_accepts_a_good_file():
    assert _problems(_entry(), _entry(line=5, end_line=6, kind="lookalike")) == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_entry(family="regexes"), "unknown family"),
        (_entry(kind="false-positive"), "kind must be one of"),
        (_entry(line=0), "`line` must be >= 1"),
        (_entry(line=True), "`line` must be int"),
        (_entry(line="3"), "`line` must be int"),
        (_entry(end_line=2), "is before `line`"),
        (_entry(reason=" "), "`reason` is empty"),
        (_entry(file="/abs/mod.py"), "relative POSIX path"),
        (_entry(file="pkg/mod.pyi"), "relative POSIX path"),
        (_entry(colour="red"), "unknown keys"),
        ({k: v for k, v in _entry().items() if k != "reason"}, "missing `reason`"),
    ],
)
def test_validate_reports_a_bad_entry(entry, expected):
    problems = _problems(entry)
    assert len(problems) == 1 and expected in problems[0] and "entry 1" in problems[0], problems


def test_validate_reports_the_file_level_problems():
    assert any("`version`" in p for p in _problems(_entry(), version=""))
    assert any("no [[entry]]" in p for p in recall.validate({"project": "demo", "version": "1"}, "demo.toml"))
    assert any("same file, line" in p for p in _problems(_entry(), _entry(function="g")))
    four = [_entry(line=n) for n in (3, 4, 5, 6)]
    problems = _problems(*four)
    assert len(problems) == 1 and "more than three entries" in problems[0] and "entry 4" in problems[0]


def test_matches_needs_file_range_and_family_code():
    entry = recall.Entry("demo", "pkg/mod.py", 10, 12, "f", "client-per-call", "site", "r")
    Finding = recall.Finding
    findings = [
        Finding("pkg/mod.py", 9, "PFL102"),    # before the range
        Finding("pkg/mod.py", 13, "PFL103"),   # after it
        Finding("pkg/other.py", 11, "PFL102"),  # another file
        Finding("pkg/mod.py", 11, "PFL401"),   # another family
    ]
    assert recall.matches(entry, findings) == []
    assert recall.matches(entry, [*findings, Finding("pkg/mod.py", 12, "PFL104")]) == [Finding("pkg/mod.py", 12, "PFL104")]


def test_summarise_counts_sites_and_lookalikes_per_family():
    def outcome(family, kind, default, every):
        return recall.Outcome(recall.Entry("demo", "m.py", 1, 1, "f", family, kind, "r"), default, every)

    summary = recall.summarise([
        outcome("regex", "site", ["PFL401"], ["PFL401"]),
        outcome("regex", "site", [], ["PFL403"]),
        outcome("regex", "lookalike", [], []),
        outcome("mutable-default", "lookalike", ["PFL701"], ["PFL701"]),
    ])
    assert list(summary["families"]) == ["regex", "mutable-default"]
    assert summary["families"]["regex"] == {
        "sites": 2, "found": 1, "found_all": 2, "lookalikes": 1, "flagged": 0, "flagged_all": 0,
    }
    assert summary["total"] == {"sites": 2, "found": 1, "found_all": 2, "lookalikes": 2, "flagged": 1, "flagged_all": 1}


FAKE_MODULE = '''\
import re


def words(texts):
    out = []
    for text in texts:
        out.append(re.findall(r"\\w+", text))
    return out


def tags(text):
    return text.split(",")
'''

FAKE_LABELS = '''\
project = "fakeproj"
version = "0.1"

[[entry]]
file = "fakeproj/core.py"
line = 7
function = "words"
family = "regex"
kind = "site"
reason = "re.findall with a constant pattern per text"

[[entry]]
file = "fakeproj/core.py"
line = 12
function = "tags"
family = "regex"
kind = "lookalike"
reason = "str.split, no regex at all"

[[entry]]
file = "fakeproj/core.py"
line = 4
function = "words"
family = "mutable-default"
kind = "site"
reason = "not a real site: checks that a miss is counted"
'''


def test_script_end_to_end_on_a_fake_project(tmp_path):
    source = tmp_path / "src"
    package = source / "fakeproj-0.1" / "fakeproj"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "core.py").write_text(FAKE_MODULE, encoding="utf-8")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "fakeproj.toml").write_text(FAKE_LABELS, encoding="utf-8")
    markdown = tmp_path / "recall.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--labels", str(labels), "--source", str(source),
         "--default-only", "--json", "--markdown", str(markdown)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["summary"]["total"] == {
        "sites": 2, "found": 1, "found_all": None, "lookalikes": 1, "flagged": 0, "flagged_all": None,
    }
    assert [e["default"] for e in result["entries"]] == [["PFL401"], [], []]
    assert "| regex | 1 | 1/1 (100%) |" in markdown.read_text(encoding="utf-8")


def test_script_refuses_an_invalid_label_file(tmp_path):
    (tmp_path / "bad.toml").write_text('project = "bad"\nversion = "1"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--labels", str(tmp_path), "--source", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2 and "no [[entry]]" in proc.stderr


def test_the_two_halves_split_the_labelled_projects_once():
    """docs/recall-protocol.md splits the eight projects into a development and a held-out half: every label
    file is in exactly one, and each half has about half the sites."""
    names = {tomllib.loads(p.read_text(encoding="utf-8"))["project"] for p in LABELS.glob("*.toml")}
    development, held_out = set(recall.HALVES["development"]), set(recall.HALVES["held-out"])
    assert development | held_out == names and not development & held_out
    sites = {
        half: sum(
            1
            for p in LABELS.glob("*.toml")
            for e in tomllib.loads(p.read_text(encoding="utf-8"))["entry"]
            if e["kind"] == "site" and tomllib.loads(p.read_text(encoding="utf-8"))["project"] in members
        )
        for half, members in recall.HALVES.items()
    }
    assert abs(sites["development"] - sites["held-out"]) <= 0.1 * sum(sites.values())
