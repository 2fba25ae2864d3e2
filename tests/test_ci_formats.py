"""Output formats for CI: SARIF checked against the SARIF 2.1.0 schema, GitHub workflow commands
and JUnit XML."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from fixtures import CASES

from perf_lsp import cli
from perf_lsp.model import Diagnostic, Position, Range
from perf_lsp.output import Report, format_github, format_junit

SCHEMA = json.loads((Path(__file__).parent / "sarif" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

REGEX_IN_LOOP = 'import re\n\ndef f(xs):\n    return [re.compile("a").match(x) for x in xs]\n'


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def sarif_errors(log: dict) -> list[str]:
    """Every violation of the SARIF 2.1.0 schema in ``log``, formats (``uri``, ``uri-reference``) included."""
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]


def diag(
    message: str, code: str = "PFL401", name: str = "regex-not-precompiled", line: int = 4, col: int = 12
) -> Diagnostic:
    return Diagnostic(code, name, message, Range(Position(line, col), Position(line, col + 19)))


# --- SARIF ----------------------------------------------------------------------------------------


def test_the_schema_check_can_fail():
    """The validator is live: a wrong level, a missing message and a relative helpUri are all caught."""
    assert "uri" in jsonschema.Draft7Validator.FORMAT_CHECKER.checkers  # rfc3986-validator is installed
    bad = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "x", "rules": [{"id": "A", "helpUri": "docs/rules.md#a"}]}},
                "results": [{"ruleId": "A", "level": "bogus"}],
            }
        ],
    }
    errors = sarif_errors(bad)
    assert any("helpUri" in e for e in errors)
    assert any("'bogus'" in e for e in errors)
    assert any("'message' is a required property" in e for e in errors)


def test_sarif_of_every_fixture_is_valid(tmp_path, capsys, monkeypatch):
    """Every rule, every fix (unsafe ones and alternatives' primaries included), on every fixture case."""
    for case in CASES:
        target = tmp_path / case.id.replace("/", "__")
        target = target.with_name(target.name + ".py")
        shutil.copy(case.path, target)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        capsys, "check", "--select", "ALL", "--unsafe-fixes", "--no-jedi", "--output-format", "sarif", "."
    )
    assert code == 1, err
    log = json.loads(out)
    results = log["runs"][0]["results"]
    assert len(results) > 100 and any("fixes" in r for r in results)
    assert sarif_errors(log) == []


def test_sarif_of_a_clean_run_is_valid(tmp_path, capsys, monkeypatch):
    (tmp_path / "ok.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check", "--output-format", "sarif", ".")
    log = json.loads(out)
    assert code == 0 and log["runs"][0]["results"] == []
    assert sarif_errors(log) == []


def test_sarif_file_uris_are_uri_references(tmp_path, capsys, monkeypatch):
    """A space or ``%`` in a name is percent-encoded; a file outside the current directory gets a file: URI."""
    inside = tmp_path / "proj"
    (inside / "my dir").mkdir(parents=True)
    (inside / "my dir" / "100% svc.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    outside = tmp_path / "elsewhere #1"
    outside.mkdir()
    (outside / "svc.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    monkeypatch.chdir(inside)
    code, out, _ = run(capsys, "check", "--output-format", "sarif", ".", str(outside / "svc.py"))
    log = json.loads(out)
    assert code == 1
    assert sarif_errors(log) == []
    run_ = log["runs"][0]
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run_["results"]]
    assert locations[0] == {"uri": "my%20dir/100%25%20svc.py", "uriBaseId": "%SRCROOT%"}
    assert locations[1] == {"uri": (outside / "svc.py").as_uri()}
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] == inside.as_uri() + "/"
    fix_location = run_["results"][0]["fixes"][0]["artifactChanges"][0]["artifactLocation"]
    assert fix_location == locations[0]


def test_sarif_level_follows_the_severity_setting(tmp_path, capsys, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.perf-lsp]\nseverity = { PFL401 = "error" }\n', encoding="utf-8")
    (tmp_path / "svc.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[tool.perf-lsp]\nseverity = { PFL401 = "hint" }\n', encoding="utf-8")
    (sub / "svc.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _, out, _ = run(capsys, "check", "--output-format", "sarif", "svc.py", "sub/svc.py")
    results = json.loads(out)["runs"][0]["results"]
    assert [r["level"] for r in results] == ["error", "note"]


# --- GitHub workflow commands ---------------------------------------------------------------------


def github_unescape(text: str) -> str:
    """What the Actions runner reads back from an escaped value."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def test_github_escapes_as_the_runner_expects():
    message = "100% of calls, each: once\r\nper request %0A"
    report = Report("src/a,b:c%.py", diag(message), None)
    out = format_github([report], lambda r: "warning")
    assert out == (
        "::warning file=src/a%2Cb%3Ac%25.py,line=4,col=13,endLine=4,endColumn=32,"
        "title=PFL401 regex-not-precompiled::100%25 of calls, each: once%0D%0Aper request %250A"
    )
    command = re.fullmatch(r"::(\w+) ([^:]*)::(.*)", out)  # no raw ':' or newline left in the properties
    assert command
    properties = dict(item.split("=", 1) for item in command.group(2).split(","))
    assert github_unescape(properties["file"]) == "src/a,b:c%.py"
    assert github_unescape(command.group(3)) == message


def test_github_levels_follow_the_severity_setting(tmp_path, capsys, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.perf-lsp]\nselect = ["PFL401", "PFL101"]\nseverity = { PFL401 = "error", PFL101 = "information" }\n',
        encoding="utf-8",
    )
    (tmp_path / "svc.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    (tmp_path / "model.py").write_text(
        "from sentence_transformers import SentenceTransformer\n\n"
        "def embed(text):\n    return SentenceTransformer('all-MiniLM-L6-v2').encode(text)\n",
        encoding="utf-8",
    )
    (tmp_path / "plain.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "check", "--output-format", "github", "svc.py", "model.py")
    assert code == 1
    assert err == ""  # annotations only: no summary
    commands = {line.split(" ", 1)[0]: line for line in out.splitlines()}
    assert set(commands) == {"::error", "::notice"}
    assert "file=svc.py,line=4,col=13," in commands["::error"]
    assert "title=PFL101 model-constructed-per-call::" in commands["::notice"]


def test_github_matches_the_json_positions(tmp_path, capsys, monkeypatch):
    for case in [c for c in CASES if c.expected][:40]:
        shutil.copy(case.path, tmp_path / (case.id.replace("/", "__") + ".py"))
    monkeypatch.chdir(tmp_path)
    _, js, _ = run(capsys, "check", "--no-jedi", "--output-format", "json", ".")
    code, out, _ = run(capsys, "check", "--no-jedi", "--output-format", "github", ".")
    expected = [
        f"::warning file={e['filename']},line={e['location']['row']},col={e['location']['column']},"
        f"endLine={e['end_location']['row']},endColumn={e['end_location']['column']},title={e['code']} "
        for e in json.loads(js)
    ]
    lines = out.splitlines()
    assert code == 1 and len(lines) == len(expected) > 20
    for line, prefix in zip(lines, expected):
        assert line.startswith(prefix), (line, prefix)


def test_github_prints_nothing_for_a_clean_run(tmp_path, capsys, monkeypatch):
    (tmp_path / "ok.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "check", "--output-format", "github", ".") == (0, "", "")


# --- JUnit XML ------------------------------------------------------------------------------------


def test_junit_one_suite_per_file_one_case_per_finding(tmp_path, capsys, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "svc.py").write_text(
        REGEX_IN_LOOP + REGEX_IN_LOOP.replace("def f", "def g").replace("import re\n", ""), encoding="utf-8"
    )
    (tmp_path / "one.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    (tmp_path / "ok.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.perf-lsp]\nseverity = { PFL401 = "error" }\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check", "--output-format", "junit", "pkg/svc.py", "ok.py", "one.py")
    assert code == 1
    root = ET.fromstring(out.encode("utf-8"))
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures")) == ("3", "3")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("pkg/svc.py", "2", "2"),
        ("one.py", "1", "1"),
    ]
    cases = suites[0].findall("testcase")
    assert [(c.get("name"), c.get("classname"), c.get("line"), c.get("column")) for c in cases] == [
        ("perf-lsp.PFL401", "pkg/svc", "4", "13"),
        ("perf-lsp.PFL401", "pkg/svc", "7", "13"),
    ]
    failure = cases[1].find("failure")
    assert failure.get("type") == "error"
    assert failure.get("message").startswith("Regular expression compiled")
    assert failure.text == f"line 7, col 13, {failure.get('message')}"


def test_junit_clean_run_is_one_passing_case(tmp_path, capsys, monkeypatch):
    (tmp_path / "ok.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check", "--output-format", "junit", ".")
    root = ET.fromstring(out.encode("utf-8"))
    assert code == 0 and (root.get("tests"), root.get("failures")) == ("1", "0")
    (suite,) = root.findall("testsuite")
    (case,) = suite.findall("testcase")
    assert case.get("name") == "No errors found" and list(case) == []


def test_junit_escapes_what_xml_needs():
    message = 'a <b> & "c", 100%\nnext line\x0c\x00 end \ud800'
    report = Report('dir/<"odd" & name>.py', diag(message), None)
    out = format_junit([report, Report("b.py", diag("plain", line=9), None)], lambda r: "hint")
    root = ET.fromstring(out.encode("utf-8"))  # well-formed: control characters replaced
    suites = root.findall("testsuite")
    assert suites[0].get("name") == 'dir/<"odd" & name>.py'
    case = suites[0].find("testcase")
    assert case.get("classname") == 'dir/<"odd" & name>'
    failure = case.find("failure")
    assert failure.get("message") == 'a <b> & "c", 100%\nnext line\ufffd\ufffd end \ufffd'
    assert failure.get("type") == "hint"
    assert failure.text == "line 4, col 13, " + failure.get("message")
    assert suites[1].find("testcase/failure").text.startswith("line 9, col 13, plain")


@pytest.mark.parametrize("fmt", ["github", "junit"])
def test_ci_formats_keep_the_exit_codes(tmp_path, capsys, monkeypatch, fmt):
    (tmp_path / "svc.py").write_text(REGEX_IN_LOOP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "check", "--output-format", fmt, "svc.py")[0] == 1
    assert run(capsys, "check", "--output-format", fmt, "--exit-zero", "svc.py")[0] == 0
    assert run(capsys, "check", "--output-format", fmt, "missing.py")[0] == 2


def test_github_and_junit_name_a_notebook_reports_cell():
    """A notebook report's rows count in its cell: both formats say which cell."""
    report = Report("nb/agent.ipynb", diag("model built per call", line=4), None, cell=5)
    github = format_github([report], lambda r: "warning")
    assert github.endswith("::cell 5: model built per call")
    assert "line=4," in github
    failure = ET.fromstring(format_junit([report], lambda r: "warning")).find(".//failure")
    assert failure.text.startswith("cell 5: line 4, col ")
    plain = format_github([Report("a.py", diag("x", line=4), None)], lambda r: "warning")
    assert plain.endswith("::x")
