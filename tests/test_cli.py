"""The ``perf-lsp`` command on the shared fixture cases and on bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures import CASES, normalise

from perf_lsp import cli, files
from perf_lsp.engine import Engine, FixAllResult
from perf_lsp.rules import CODES


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def json_to_fixture(entries: list[dict]) -> list[dict]:
    """CLI JSON (Ruff's shape) in the fixture format; the JSON carries the primary fix only."""
    return [
        {
            "code": e["code"],
            "row": e["location"]["row"],
            "column": e["location"]["column"],
            "end_row": e["end_location"]["row"],
            "end_column": e["end_location"]["column"],
            "fix": e["fix"]["message"] if e["fix"] else None,
        }
        for e in entries
    ]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_json_matches_fixture(case, capsys):
    code, out, _ = run(capsys, "check", "--select", "ALL", "--output-format", "json", str(case.path))
    entries = json.loads(out)
    expected = [{k: v for k, v in e.items() if k != "alt_fix"} for e in normalise(case.expected)]
    assert json_to_fixture(entries) == expected
    assert code == (1 if case.expected else 0)
    for entry in entries:
        assert entry["filename"].endswith(case.path.name)
        if entry["fix"]:
            assert entry["fix"]["applicability"] in ("safe", "unsafe")
            assert entry["fix"]["edits"]


@pytest.mark.parametrize("case", [c for c in CASES if c.fixable], ids=lambda c: c.id)
def test_fix_unsafe_writes_expected_file(case, tmp_path, capsys):
    target = tmp_path / case.path.name
    shutil.copy(case.path, target)
    code, _, err = run(capsys, "fix", "--select", "ALL", "--unsafe-fixes", str(target))
    assert target.read_text(encoding="utf-8") == case.fixed
    remaining = [d for d in case.expected if not d.get("fix")]
    assert code == (1 if remaining else 0), err


def test_text_output_marks_safe_fixes(capsys):
    case = next(c for c in CASES if c.id == "pfl401/compile_in_loop")
    code, out, err = run(capsys, "check", str(case.path))
    assert code == 1
    assert f"{case.path.name}:7:22: PFL401 [*] " in out
    assert "Found 1 problem." in err


def test_text_output_hides_unsafe_marker_until_asked(capsys):
    case = next(c for c in CASES if c.id == "pfl101/embedding_per_call")
    _, out, err = run(capsys, "check", str(case.path))
    assert "PFL101 `SentenceTransformer" in out and "[*]" not in out
    assert "--unsafe-fixes" in err
    _, out, _ = run(capsys, "check", "--unsafe-fixes", str(case.path))
    assert "PFL101 [*]" in out


def test_fix_without_unsafe_leaves_unsafe_findings(tmp_path, capsys):
    case = next(c for c in CASES if c.id == "pfl101/embedding_per_call")
    target = tmp_path / "svc.py"
    shutil.copy(case.path, target)
    code, out, _ = run(capsys, "fix", str(target))
    assert target.read_text(encoding="utf-8") == case.source
    assert code == 1 and "PFL101" in out


def test_fix_diff_prints_and_writes_nothing(tmp_path, capsys):
    case = next(c for c in CASES if c.id == "pfl401/compile_in_loop")
    target = tmp_path / "svc.py"
    shutil.copy(case.path, target)
    code, out, _ = run(capsys, "fix", "--diff", str(target))
    assert code == 1
    assert out.startswith("--- a/") and "+_ID_PATTERN = re.compile" in out
    assert target.read_text(encoding="utf-8") == case.source


def test_fix_diff_counts_lines_as_python_does(tmp_path, capsys):
    """A form feed or U+2028 is not a line break: the diff's hunks must match the file's lines."""
    from perf_lsp.text import split_lines

    source = 'import re\n\x0c\n# a\u2028comment\n\ndef f(xs):\n    return [re.findall(r"\\d+", x) for x in xs]\n'
    target = tmp_path / "svc.py"
    target.write_bytes(source.encode("utf-8"))
    code, out, _ = run(capsys, "fix", "--diff", str(target))
    assert code == 1 and "@@" in out
    lines = split_lines(source)
    hunks = re.split(r"^@@ -(\d+),(\d+) \+\d+(?:,\d+)? @@\n", out, flags=re.M)[1:]
    assert hunks
    for start, count, body in zip(hunks[::3], hunks[1::3], hunks[2::3]):
        old = "".join(line[1:] for line in split_lines(body) if line[:1] in (" ", "-"))
        assert old == "".join(lines[int(start) - 1 : int(start) - 1 + int(count)])


def test_sarif_output(capsys):
    case = next(c for c in CASES if c.id == "pfl401/compile_in_loop")
    code, out, _ = run(capsys, "check", "--output-format", "sarif", str(case.path))
    log = json.loads(out)
    assert code == 1
    assert log["version"] == "2.1.0"
    run_ = log["runs"][0]
    assert run_["columnKind"] == "unicodeCodePoints"
    assert {r["id"] for r in run_["tool"]["driver"]["rules"]} >= {"PFL101", "PFL201", "PFL301", "PFL401"}
    (result,) = run_["results"]
    assert result["ruleId"] == "PFL401"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (7, 22)
    assert result["fixes"][0]["artifactChanges"][0]["replacements"]


def test_unreadable_files_are_reported_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    good = tmp_path / "good.py"
    good.write_text("import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n", encoding="utf-8")
    (tmp_path / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    (tmp_path / "huge.py").write_text("x = 1\n" * 100, encoding="utf-8")
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 500)
    code, out, err = run(capsys, "check", str(tmp_path))
    assert code == 2
    assert "latin1.py: not UTF-8" in err
    assert "broken.py: cannot parse: line 1" in err
    assert "huge.py: file too large" in err
    assert "good.py:4:13: PFL401" in out


def test_fix_never_writes_a_result_that_does_not_parse(tmp_path, capsys, monkeypatch):
    target = tmp_path / "svc.py"
    original = "import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n"
    target.write_text(original, encoding="utf-8")
    monkeypatch.setattr(Engine, "fix_all", lambda self, source, settings, **kw: FixAllResult("def (:\n", 1, 1, []))
    code, _, err = run(capsys, "fix", str(target))
    assert code == 2 and "would not parse" in err
    assert target.read_text(encoding="utf-8") == original


def test_fix_keeps_crlf_bom_and_mode(tmp_path, capsys):
    target = tmp_path / "svc.py"
    source = "import re\r\n\r\n\r\ndef f(xs):\r\n    return [re.compile('a').match(x) for x in xs]\r\n"
    target.write_bytes(b"\xef\xbb\xbf" + source.encode("utf-8"))
    target.chmod(0o640)
    code, _, _ = run(capsys, "fix", str(target))
    data = target.read_bytes()
    assert code == 0
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    assert "_F_RE = re.compile('a')\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["svc.py"]  # no temp file left behind


def test_directory_walk_skips_gitignored_and_virtualenvs(tmp_path, capsys):
    bad = "import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n"
    (tmp_path / ".git").mkdir()  # .gitignore files apply inside a git repository only
    (tmp_path / ".gitignore").write_text("generated/\n", encoding="utf-8")
    for rel in ("app/svc.py", "generated/out.py", "venv-x/lib/mod.py", "node_modules/pkg/x.py"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(bad, encoding="utf-8")
    (tmp_path / "venv-x" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    _, out, _ = run(capsys, "check", str(tmp_path))
    reported = {line.split(":")[0] for line in out.splitlines()}
    assert len(reported) == 1 and reported.pop().endswith(os.path.join("app", "svc.py"))


def test_pyproject_config_and_bad_keys(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.perf-lsp]\nignore = ["PFL401"]\nselectt = ["PFL1"]\nselect = ["PFL", "PFL999"]\n', encoding="utf-8"
    )
    (tmp_path / "svc.py").write_text("import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n", encoding="utf-8")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert code == 0 and out == ""
    assert "pyproject.toml: [tool.perf-lsp]: unknown key 'selectt'" in err
    assert "unknown rule code or prefix 'PFL999'" in err


def test_select_ignore_and_exit_zero_flags(capsys):
    case = next(c for c in CASES if c.id == "pfl401/compile_in_loop")
    assert run(capsys, "check", "--ignore", "PFL4", str(case.path))[0] == 0
    assert run(capsys, "check", "--select", "PFL101,PFL201", str(case.path))[0] == 0
    assert run(capsys, "check", "--select", "PFL401", str(case.path))[0] == 1
    assert run(capsys, "check", "--exit-zero", str(case.path))[0] == 0


def test_noqa_comments(tmp_path, capsys):
    path = tmp_path / "svc.py"
    path.write_text(
        "import re\n\n"
        "def f(xs):\n"
        "  for x in xs:\n"
        "    a = re.compile('a')  # noqa: PFL401\n"
        "    b = re.compile('b')  # noqa\n"
        "    c = re.compile('c')  # noqa: PFL101\n"
        "    d = '# noqa'; e = re.compile('e')\n"
        "    return a, b, c, d, e\n",
        encoding="utf-8",
    )
    _, out, _ = run(capsys, "check", str(path))
    assert [line.split(":")[1] for line in out.splitlines()] == ["7", "8"]


def test_rule_and_rules(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0
    from perf_lsp.rules import REGISTRY

    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == sorted(rule.code for rule in REGISTRY)
    assert {"PFL101", "PFL201", "PFL301", "PFL401"} <= set(listed)
    code, out, _ = run(capsys, "rule", "pfl101")
    assert code == 0
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety", "## References"):
        assert section in out
    assert "docs/costs.md" in out
    code, _, err = run(capsys, "rule", "PFL999")
    assert code == 2 and "unknown rule code" in err


def test_console_script_and_module_entry_points(tmp_path):
    script = shutil.which("perf-lsp")
    commands = [[sys.executable, "-m", "perf_lsp"]] + ([[script]] if script else [])
    path = tmp_path / "svc.py"
    path.write_text("import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n", encoding="utf-8")
    for command in commands:
        proc = subprocess.run([*command, "check", str(path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert "PFL401" in proc.stdout


# -- CLI messages ----------------------------------------------------

BAD = "import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n"


def test_no_all_checks_passed_after_errors(tmp_path, capsys):
    (tmp_path / "clean.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "bad.py").write_bytes(b"x = '\xff'\n")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert code == 2 and out == ""
    assert "All checks passed!" not in err
    assert "No problems found in 1 file; 1 file could not be checked (see above)." in err


def test_no_all_checks_passed_after_partly_checked(tmp_path, capsys, monkeypatch):
    from perf_lsp.rules.pfl401_regex_not_precompiled import RegexNotPrecompiled

    def broken(self, node):
        raise RuntimeError("rule bug")

    monkeypatch.setattr(RegexNotPrecompiled, "visit_Call", broken)
    (tmp_path / "svc.py").write_text(BAD, encoding="utf-8")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert "partly checked: PFL401: RuntimeError: rule bug" in err
    assert "All checks passed!" not in err
    assert "No problems found in 1 file; 1 file was checked only in part (see above)." in err
    assert code == 0 and out == ""


def test_found_problems_summary_mentions_files_not_checked(tmp_path, capsys):
    (tmp_path / "svc.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "bad.py").write_bytes(b"x = '\xff'\n")
    code, _, err = run(capsys, "check", str(tmp_path))
    assert code == 2
    assert "Found 1 problem; 1 file could not be checked (see above)." in err


def test_select_typo_on_the_command_line_is_an_error(tmp_path, capsys):
    (tmp_path / "svc.py").write_text(BAD, encoding="utf-8")
    for value in ("PFL4O1", "XYZ", "PFL401,PFL4O1"):
        code, out, err = run(capsys, "check", "--select", value, str(tmp_path))
        assert code == 2 and out == "", value
        assert "perf-lsp: error: invalid value 'PFL4O1' for '--select'" in err or "invalid value 'XYZ'" in err
        assert "All checks passed!" not in err and "Found" not in err
    code, _, err = run(capsys, "fix", "--ignore", "PFL4O1", str(tmp_path))
    assert code == 2 and "invalid value 'PFL4O1' for '--ignore'" in err
    assert (tmp_path / "svc.py").read_text(encoding="utf-8") == BAD  # nothing ran


def test_select_typo_in_pyproject_keeps_the_rest_of_the_list_or_the_default(tmp_path, capsys):
    (tmp_path / "svc.py").write_text(BAD, encoding="utf-8")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.perf-lsp]\nselect = ["PFL4O1"]\n', encoding="utf-8")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert f"{pyproject}: [tool.perf-lsp]: 'select': unknown rule code or prefix 'PFL4O1' (no valid code left; using the default)" in err
    assert code == 1 and "PFL401" in out  # not every rule turned off
    pyproject.write_text('[tool.perf-lsp]\nselect = ["PFL1", "PFL4O1"]\n', encoding="utf-8")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert "unknown rule code or prefix 'PFL4O1' (ignored)" in err
    assert code == 0 and out == ""  # PFL1 kept: PFL401 is off


def test_library_warnings_and_logging_stay_off_stderr(tmp_path, capsys, monkeypatch):
    import logging
    import warnings

    from perf_lsp.analysis import resolve

    real = resolve.TypeResolver.producers

    def noisy(self, line, column):
        warnings.warn("Module fakeext not importable in path [...]", UserWarning)
        logging.getLogger("parso.cache").warning("cache not writable")
        return real(self, line, column)

    monkeypatch.setattr(resolve.TypeResolver, "producers", noisy)
    # undo pytest's own capture of warnings and log records, so that they reach stderr as outside pytest
    shown = []

    def showwarning(message, category, filename, lineno, file=None, line=None):
        shown.append(message)
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", showwarning)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    (tmp_path / "svc.py").write_text(JEDI_SOURCE, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, out, err = run(capsys, "check", str(tmp_path / "svc.py"))
    assert [line for line in err.splitlines() if not _ours(line)] == []
    assert err  # the summary is still there
    # and the test can see a leak: the same calls outside the command do reach stderr
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        noisy(resolve.TypeResolver(JEDI_SOURCE), 6, 13)
    assert "fakeext not importable" in capsys.readouterr().err


JEDI_SOURCE = """import fakeext


class Service:
    def __init__(self):
        self.embedder = fakeext.Embedder()

    def run(self, texts):
        return [self.embedder.encode(t) for t in texts]
"""


def _ours(line: str) -> bool:
    return line.startswith(("perf-lsp: ", "All checks passed!", "Found ", "No problems found", "[*] ", "("))


def test_jedi_warnings_do_not_leak_from_a_real_run(tmp_path):
    # jedi imports a compiled module it finds beside the file and warns when that fails
    (tmp_path / "fakeext.cpython-311-x86_64-linux-gnu.so").write_bytes(b"garbage")
    (tmp_path / "fakeext.so").write_bytes(b"garbage")
    (tmp_path / "svc.py").write_text(JEDI_SOURCE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parent.parent)}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "perf_lsp", "check", "svc.py"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert [line for line in proc.stderr.splitlines() if not _ours(line)] == [], proc.stderr


# -- a package's __init__.py keeps its module-level imports ------
_REEXPORTING = '''\
import json
import re

import orjson


def parse(raw):
    return json.loads(raw)


def titles(lines):
    import re as rx

    return [line for line in lines if rx.match(r"^# ", line)]
'''


def test_fix_keeps_module_level_imports_of_a_package_init(tmp_path, capsys):
    """``import json`` made unused by PFL601's fix may be a re-export in ``pkg/__init__.py`` (``from pkg
    import json``) even without ``__all__``: it stays there; a plain module loses it; imports inside
    functions go in both."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(_REEXPORTING, encoding="utf-8")
    (package / "plain.py").write_text(_REEXPORTING, encoding="utf-8")
    code, _, err = run(capsys, "fix", "--select", "ALL", "--unsafe-fixes", "--no-jedi", str(tmp_path))
    init = (package / "__init__.py").read_text(encoding="utf-8")
    plain = (package / "plain.py").read_text(encoding="utf-8")
    for fixed in (init, plain):
        assert "return orjson.loads(raw)" in fixed and "import re as rx" not in fixed, err
    assert init.startswith("import json\nimport re\n")
    assert plain.startswith("import re\n")
    assert code == 0, err


def test_settings_for_a_package_init_say_so(tmp_path):
    """What the server's per-document settings come from (``load_for(file)``), and the engine's flag."""
    from dataclasses import replace

    from perf_lsp.settings import Settings, load_for
    from perf_lsp.textedit import apply_edits

    package = tmp_path / "pkg"
    package.mkdir()
    assert load_for(package / "__init__.py", codes=CODES)[0].package_init is True
    assert load_for(package / "plain.py", codes=CODES)[0].package_init is False
    assert load_for(package, codes=CODES)[0].package_init is False
    source = "import json\n\nimport orjson\n\n\ndef parse(raw):\n    return json.loads(raw)\n"
    engine = Engine()
    every = Settings(select=("ALL",))
    kept = engine.fix_all(source, replace(every, package_init=True), unsafe=True).source
    assert kept == source.replace("json.loads", "orjson.loads")
    assert engine.fix_all(source, every, unsafe=True).source == kept.replace("import json\n\n", "")
    analysis = engine.analyze(source, replace(every, package_init=True))
    (diag,) = analysis.diagnostics
    assert apply_edits(source, analysis.fix(diag).edits) == kept  # the quick fix too
