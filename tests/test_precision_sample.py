"""The precision sample (``benchmarks/precision/sample-*.toml``) and its script ``benchmarks/precision.py``.

Without the network and without running perf-lsp: every committed sample file is valid (fields,
``k`` against the total, verdicts empty or TRUE/FALSE/NEGLIGIBLE with a reason), the drawing is
the protocol's (size, seed, order of the input does not matter), and ``--report``'s arithmetic is
right on a small synthetic file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import tomllib
from scripts import load_script

from perf_lsp.rules import CODES, REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "precision.py"
SAMPLES = sorted((ROOT / "benchmarks" / "precision").glob("sample-*.toml"))


precision = load_script("precision")


def _finding(number: int, code: str = "PFL401", project: str = "demo") -> object:
    return precision.Finding(project, "1.0", f"pkg/m{number % 7}.py", number, 1 + number % 3, code, f"message {number}")


def _synthetic(verdicts: list[tuple[str, str]], total: int | None = None) -> str:
    """A rendered sample of len(verdicts) findings (code, verdict) with the verdicts filled in."""
    findings = [_finding(n, code) for n, (code, _) in enumerate(verdicts, 1)]
    total = len(findings) if total is None else total
    text = precision.render(findings, 7, total, {"demo": ("1.0", total)}, frozenset({"PFL401", "PFL101"}))
    parts = text.split('verdict = ""')
    assert len(parts) == len(verdicts) + 1
    out = parts[0]
    for (_, verdict), rest in zip(verdicts, parts[1:]):
        out += f'verdict = "{verdict}"' + (rest.replace('reason = ""', 'reason = "judged"', 1) if verdict else rest)
    return out


def test_there_is_a_sample_file():
    assert SAMPLES, ROOT / "benchmarks" / "precision"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_file_parses_and_is_valid(path):
    data = precision.load(path)
    assert data["k"] == len(data["finding"]) == precision.sample_size(data["total"])
    assert data["seed"] == int(path.stem.removeprefix("sample-"))
    assert sum(p["findings"] for p in data["projects"].values()) == data["total"]
    defaults = precision.default_codes()
    for finding in data["finding"]:
        assert finding["verdict"] in ("", "TRUE", "FALSE", "NEGLIGIBLE")
        assert finding["code"] in CODES
        assert finding["is_default_rule"] == (finding["code"] in defaults)
        assert finding["version"] == data["projects"][finding["project"]]["version"]


def test_default_codes_are_the_rules_that_are_not_opt_in():
    assert precision.default_codes() == {rule.code for rule in REGISTRY if not rule.opt_in}


@pytest.mark.parametrize(("total", "k"), [(0, 0), (5, 5), (60, 60), (100, 60), (240, 60), (241, 61), (400, 100), (401, 101)])
def test_sample_size_is_max_60_and_a_quarter_capped_at_the_total(total, k):
    assert precision.sample_size(total) == k


def test_draw_is_the_seeded_sample_of_the_sorted_list_whatever_the_input_order():
    findings = [_finding(n, project=p) for n in range(1, 120) for p in ("b", "a")]
    shuffled = findings[:]
    random.Random(1).shuffle(shuffled)
    sample = precision.draw(shuffled, 20261203)
    assert sample == precision.draw(findings, 20261203)
    assert sample == random.Random(20261203).sample(sorted(findings, key=precision.Finding.key), 60)
    assert len(set(sample)) == 60
    assert sample != precision.draw(findings, 20261204)


def test_rendered_sample_round_trips_with_empty_verdicts():
    findings = [_finding(1), precision.Finding("demo", "1.0", "pkg/q.py", 3, 5, "PFL502", 'quote " and \\ and é')]
    text = precision.render(findings, 7, 2, {"demo": ("1.0", 2)}, frozenset({"PFL401"}), commit="abc")
    data = tomllib.loads(text)
    assert precision.validate(data, "s.toml") == []
    assert [f["message"] for f in data["finding"]] == ["message 1", 'quote " and \\ and é']
    assert [f["is_default_rule"] for f in data["finding"]] == [True, False]
    assert [(f["verdict"], f["reason"]) for f in data["finding"]] == [("", ""), ("", "")]
    assert (data["seed"], data["k"], data["total"], data["perf_lsp_commit"]) == (7, 2, 2, "abc")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"verdict": "MAYBE"}, "verdict must be empty or one of"),
        ({"verdict": "TRUE", "reason": " "}, "without a reason"),
        ({"verdict": "FALSE", "reason": "two\nlines"}, "one line"),
        ({"line": True}, "`line` must be int"),
        ({"extra": 1}, "unknown keys"),
    ],
)
def test_validate_names_a_bad_finding(change, message):
    data = tomllib.loads(_synthetic([("PFL401", "")]))
    data["finding"][0].update(change)
    problems = precision.validate(data, "s.toml")
    assert any(message in p and "finding 1" in p for p in problems), problems


def test_validate_checks_k_against_the_findings_and_the_total():
    data = tomllib.loads(_synthetic([("PFL401", "")] * 3, total=3))
    assert precision.validate(data, "s.toml") == []
    data["total"] = 300
    assert any("is not max(60" in p for p in precision.validate(data, "s.toml"))
    data = tomllib.loads(_synthetic([("PFL401", "")] * 3, total=3))
    data["finding"].pop()
    assert any("k = 3 but 2 findings" in p for p in precision.validate(data, "s.toml"))


def test_load_raises_on_a_file_that_is_not_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("seed = \n", encoding="utf-8")
    with pytest.raises(precision.SampleError, match="bad.toml"):
        precision.load(path)


VERDICTS = [
    ("PFL401", "TRUE"), ("PFL401", "FALSE"), ("PFL401", "NEGLIGIBLE"), ("PFL401", "TRUE"),
    ("PFL101", "FALSE"), ("PFL101", "FALSE"), ("PFL502", "TRUE"), ("PFL502", "NEGLIGIBLE"),
    ("PFL502", ""), ("PFL503", "NEGLIGIBLE"),
]


def test_report_arithmetic_on_a_synthetic_sample(tmp_path):
    path = tmp_path / "sample-7.toml"
    path.write_text(_synthetic(VERDICTS), encoding="utf-8")
    figures = precision.report(precision.load(path))
    overall = figures["overall"]
    assert (overall["n"], overall["TRUE"], overall["FALSE"], overall["NEGLIGIBLE"], overall["unjudged"]) == (10, 3, 3, 3, 1)
    assert overall["precision"] == pytest.approx(3 / 9)
    assert overall["precision_no_negligible"] == pytest.approx(3 / 6)
    default = figures["default_rules"]  # PFL401 and PFL101 only
    assert (default["n"], default["TRUE"], default["FALSE"], default["NEGLIGIBLE"]) == (6, 2, 3, 1)
    assert default["precision"] == pytest.approx(2 / 6)
    assert default["precision_no_negligible"] == pytest.approx(2 / 5)
    codes = figures["codes"]
    assert list(codes) == ["PFL101", "PFL401", "PFL502", "PFL503"]
    assert codes["PFL401"]["precision"] == pytest.approx(2 / 4)
    assert codes["PFL401"]["precision_no_negligible"] == pytest.approx(2 / 3)
    assert codes["PFL101"]["precision"] == 0
    assert codes["PFL502"]["unjudged"] == 1 and codes["PFL502"]["precision"] == pytest.approx(1 / 2)
    assert codes["PFL503"]["precision"] == 0 and codes["PFL503"]["precision_no_negligible"] is None
    assert figures["projects"]["demo"] == overall


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    # Wilson score interval, z = 1.96: the textbook values (Newcombe 1998, table I: 81/263 -> 0.2553-0.3662).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0)],
)
def test_wilson_interval_matches_the_published_values(successes, n, low, high):
    got = precision.wilson(successes, n)
    assert got == pytest.approx((low, high), abs=5e-4)


def test_wilson_interval_is_none_without_findings_and_is_in_the_tally():
    assert precision.wilson(0, 0) is None
    row = precision.tally([{"verdict": v} for v in ("TRUE", "FALSE", "NEGLIGIBLE", "TRUE", "")])
    assert row["ci95"] == pytest.approx(precision.wilson(2, 4))
    assert row["ci95_no_negligible"] == pytest.approx(precision.wilson(2, 3))


def test_report_mode_prints_the_figures_without_running_perf_lsp(tmp_path, capsys, monkeypatch):
    path = tmp_path / "sample-7.toml"
    path.write_text(_synthetic(VERDICTS), encoding="utf-8")
    monkeypatch.setattr(precision, "run_check", lambda *a: pytest.fail("--report ran perf-lsp"))
    markdown = tmp_path / "table.md"
    assert precision.main(["--report", str(path), "--markdown", str(markdown)]) == 0
    out = capsys.readouterr().out
    assert "all rules:     3/9 TRUE = 33%, 95% CI 12-65% (50% without NEGLIGIBLE)" in out
    assert "default rules: 2/6 TRUE = 33%, 95% CI 10-70% (40% without NEGLIGIBLE)" in out
    assert "| PFL401 | 4 | 2 | 1 | 1 | 0 | 50% | 15-85% | 67% |" in markdown.read_text(encoding="utf-8")
    assert precision.main(["--report", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["TRUE"] == 3 and data["codes"]["PFL503"]["precision_no_negligible"] is None


def test_report_mode_exits_2_on_an_invalid_file(tmp_path, capsys):
    path = tmp_path / "sample-7.toml"
    path.write_text(_synthetic([("PFL401", "")]).replace('verdict = ""', 'verdict = "true"'), encoding="utf-8")
    assert precision.main(["--report", str(path)]) == 2
    assert "verdict must be empty or one of" in capsys.readouterr().err


def test_draw_refuses_to_overwrite_a_sample(tmp_path, capsys):
    path = tmp_path / "sample-7.toml"
    path.write_text("", encoding="utf-8")
    assert precision.main(["--draw", "--out", str(path)]) == 2
    assert "never redrawn" in capsys.readouterr().err
