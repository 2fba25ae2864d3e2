"""`perf-lsp check`/`fix` in worker processes and with the persistent cache: same output whatever
the jobs and the cache, the cache invalidated by what changes a result, robust to corruption
and to concurrent runs."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perf_lsp import cache as cache_module
from perf_lsp import cli, runner
from perf_lsp.analysis.resolve import TypeQuestion, TypeResolver
from perf_lsp.cache import Cache
from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]

BAD = "import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def make_tree(root: Path, per_rule: int = 3) -> Path:
    """A project of fixture files (a few per rule, findings with safe and unsafe fixes and
    some that ask jedi), a file that does not parse and one without findings."""
    project = root / "proj"
    for rule_dir in sorted(FIXTURES.glob("pfl*")):
        files = [p for p in sorted(rule_dir.glob("*.py")) if not p.name.endswith(".fixed.py")][:per_rule]
        target = project / rule_dir.name
        target.mkdir(parents=True)
        for path in files:
            shutil.copy(path, target / path.name)
    (project / "broken.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    (project / "clean.py").write_text("def f(x):\n    return x + 1\n", encoding="utf-8")
    (project / "pyproject.toml").write_text('[tool.perf-lsp]\nselect = ["ALL"]\n', encoding="utf-8")
    return project


@pytest.fixture
def tree(tmp_path, monkeypatch):
    project = make_tree(tmp_path)
    monkeypatch.chdir(project)
    monkeypatch.setenv("PERF_LSP_CACHE_DIR", str(tmp_path / "cache"))
    return project


class Calls:
    """Counts the files the runner analyses (cache misses) in this process (``--jobs 1``)."""

    def __init__(self, monkeypatch):
        self.paths: list[str] = []
        original = runner.check_file

        def counting(path, settings, options, *hotness):
            self.paths.append(Path(path).name)
            return original(path, settings, options, *hotness)

        monkeypatch.setattr(runner, "check_file", counting)

    def take(self) -> list[str]:
        paths, self.paths = self.paths, []
        return sorted(paths)


def py_files(project: Path) -> list[str]:
    return sorted(p.name for p in project.rglob("*.py"))


# -- the same findings whatever the jobs and the cache -------------------------------------


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_output_is_byte_identical_with_and_without_cache_and_jobs(tree, capsys, fmt):
    runs = {}
    for name, flags in [
        ("no cache, jobs 1", ["--no-cache", "--jobs", "1"]),
        ("no cache, jobs 2", ["--no-cache", "--jobs", "2"]),
        ("cold, jobs 2", ["--jobs", "2"]),
        ("warm, jobs 2", ["--jobs", "2"]),
        ("warm, jobs 1", ["--jobs", "1"]),
    ]:
        runs[name] = run(capsys, "check", "--output-format", fmt, *flags)
    first = runs["no cache, jobs 1"]
    assert first[0] == 2  # broken.py cannot be parsed: an error, and the run goes on
    assert "broken.py:" in first[2] and "cannot parse" in first[2]
    if fmt == "json":
        entries = json.loads(first[1])
        assert len({e["filename"] for e in entries}) > 10
        assert any(e["fix"] and e["fix"]["applicability"] == "safe" for e in entries)
        assert any(e["fix"] and e["fix"]["applicability"] == "unsafe" for e in entries)
    for name, result in runs.items():
        assert result == first, name
    assert (Path(os.environ["PERF_LSP_CACHE_DIR"]) / "entries").is_dir()


def test_a_warm_run_analyses_only_the_files_that_asked_jedi(tree, capsys, monkeypatch):
    calls = Calls(monkeypatch)
    run(capsys, "check", "--jobs", "1")
    assert calls.take() == py_files(tree)
    run(capsys, "check", "--jobs", "1")
    warm = calls.take()
    engine = Engine()
    asked = sorted(
        p.name
        for p in tree.rglob("*.py")
        if engine.analyze(p.read_text(encoding="utf-8"), Settings(select=("ALL",))).asked
    )
    assert asked  # the tree has findings whose types jedi confirms: they are never served stale
    assert warm == asked


def test_a_warm_run_asks_jedi_again_without_analysing_any_file(tree, capsys, monkeypatch):
    cold = run(capsys, "check", "--jobs", "1")
    analysed = []
    original = Engine.analyze
    monkeypatch.setattr(Engine, "analyze", lambda self, *a, **k: analysed.append(1) or original(self, *a, **k))
    answered = []
    ask_again = runner._ask_again
    monkeypatch.setattr(runner, "_ask_again", lambda *a: answered.append(1) or ask_again(*a))
    warm = run(capsys, "check", "--jobs", "1")
    assert warm == cold
    assert analysed == []  # the files that asked jedi kept their findings and questions in the cache
    assert answered  # ... and jedi was asked again for them


def test_a_cached_file_that_asked_jedi_follows_jedis_new_answers(tree, capsys, monkeypatch):
    cold = run(capsys, "check", "--jobs", "1")
    answered = []
    ask_again = runner._ask_again
    monkeypatch.setattr(runner, "_ask_again", lambda *a: answered.append(a) or ask_again(*a))
    asked = []
    producers = TypeResolver.producers
    monkeypatch.setattr(TypeResolver, "producers", lambda self, line, column: asked.append(line) or producers(self, line, column))
    monkeypatch.setattr(TypeQuestion, "decide", lambda self, answer: False)  # jedi now rules out every finding that asks
    warm = run(capsys, "check", "--jobs", "1")
    fresh = run(capsys, "check", "--jobs", "1", "--no-cache")
    assert warm == fresh
    assert warm != cold  # the answers changed the findings: a stale entry would have shown the old ones
    assert answered and asked


def test_a_file_that_asked_jedi_is_stored_with_its_questions(tree, capsys):
    run(capsys, "check", "--jobs", "1")
    entries = [json.loads(p.read_text(encoding="utf-8")) for p in (Path(os.environ["PERF_LSP_CACHE_DIR"]) / "entries").rglob("*") if p.is_file()]
    asked = [e for e in entries if "candidates" in e]
    assert asked and all(e["diagnostics"] == [] for e in asked)
    assert any(questions for e in asked for _, questions in e["candidates"])


def test_no_jedi_runs_are_served_entirely_from_the_cache(tree, capsys, monkeypatch):
    calls = Calls(monkeypatch)
    cold = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json")
    assert calls.take() == py_files(tree)
    warm = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json")
    assert calls.take() == []
    assert warm == cold


def test_text_run_entries_do_not_serve_a_run_that_wants_fix_edits(tree, capsys, monkeypatch):
    calls = Calls(monkeypatch)
    run(capsys, "check", "--no-jedi", "--jobs", "1")
    calls.take()
    cached = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json")
    with_fixes = sorted({Path(e["filename"]).name for e in json.loads(cached[1]) if e["fix"]})
    assert with_fixes
    assert calls.take() == with_fixes  # text entries carry no fix edits; the others serve
    fresh = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json", "--no-cache")
    assert cached == fresh
    calls.take()
    run(capsys, "check", "--no-jedi", "--jobs", "1")
    assert calls.take() == []  # entries with fix edits serve text runs


# -- invalidation ----------------------------------------------------------------------------


def test_a_changed_file_is_checked_again(tree, capsys, monkeypatch):
    calls = Calls(monkeypatch)
    run(capsys, "check", "--no-jedi", "--jobs", "1")
    calls.take()
    (tree / "clean.py").write_text(BAD, encoding="utf-8")
    code, out, _ = run(capsys, "check", "--no-jedi", "--jobs", "1")
    assert calls.take() == ["clean.py"]
    assert "clean.py:4:" in out and "PFL401" in out


def test_a_changed_setting_invalidates_the_cache(tree, capsys, monkeypatch):
    calls = Calls(monkeypatch)
    _, before, _ = run(capsys, "check", "--no-jedi", "--jobs", "1")
    calls.take()
    (tree / "pyproject.toml").write_text('[tool.perf-lsp]\nselect = ["ALL"]\nignore = ["PFL401"]\n', encoding="utf-8")
    _, after, _ = run(capsys, "check", "--no-jedi", "--jobs", "1")
    assert calls.take() == py_files(tree)
    assert "PFL401" in before and "PFL401" not in after
    _, flag, _ = run(capsys, "check", "--no-jedi", "--jobs", "1", "--select", "PFL7")
    assert calls.take() == py_files(tree)  # the command line's settings count too
    assert "PFL701" in flag and "PFL401" not in flag


def test_a_changed_version_invalidates_the_cache(tree, capsys, monkeypatch):
    calls = Calls(monkeypatch)
    run(capsys, "check", "--no-jedi", "--jobs", "1")
    calls.take()
    monkeypatch.setattr(cache_module, "__version__", "99.0.0")
    cache_module.code_fingerprint.cache_clear()
    try:
        run(capsys, "check", "--no-jedi", "--jobs", "1")
        assert calls.take() == py_files(tree)
    finally:
        monkeypatch.undo()
        cache_module.code_fingerprint.cache_clear()


def test_a_changed_python_version_or_source_changes_the_key(monkeypatch):
    key = Cache.key(b"x = 1\n", "m")
    assert Cache.key(b"x = 2\n", "m") != key
    assert Cache.key(b"x = 1\n", "n") != key
    monkeypatch.setattr(cache_module.sys, "version", "3.99.0 (test)")
    cache_module.code_fingerprint.cache_clear()
    try:
        assert Cache.key(b"x = 1\n", "m") != key
    finally:
        monkeypatch.undo()
        cache_module.code_fingerprint.cache_clear()
    assert Cache.key(b"x = 1\n", "m") == key


# -- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{not json", b"[1, 2]", b'{"format": 1}', None],
    ids=["empty", "invalid-json", "not-an-object", "wrong-key", "wrong-shape"],
)
def test_a_corrupt_cache_entry_is_ignored_with_a_warning(tree, capsys, garbage):
    fresh = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json")
    entries = sorted((Path(os.environ["PERF_LSP_CACHE_DIR"]) / "entries").rglob("*.json"))
    assert entries
    for entry in entries:
        if garbage is None:  # a well-formed entry whose diagnostics are not
            data = json.loads(entry.read_text(encoding="utf-8"))
            data["diagnostics"] = [["PFL401", "x"]]
            entry.write_text(json.dumps(data), encoding="utf-8")
        else:
            entry.write_bytes(garbage)
    code, out, err = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json")
    assert (code, out) == fresh[:2]
    assert "perf-lsp: warning: cache entry " in err and "ignored" in err
    again = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json")
    assert again == fresh  # the entries were written again: no warning left


def test_an_unwritable_cache_directory_is_a_warning_not_an_error(tree, capsys, monkeypatch, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("PERF_LSP_CACHE_DIR", str(blocker / "cache"))
    code, out, err = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json")
    fresh = run(capsys, "check", "--no-jedi", "--jobs", "1", "--output-format", "json", "--no-cache")
    assert (code, out) == fresh[:2]
    assert "perf-lsp: warning: cannot write the cache" in err


def test_two_concurrent_runs_on_the_same_tree_both_succeed(tree, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "perf_lsp", "check", "--output-format", "json", "--jobs", "2", "."]
    procs = [
        subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    reference = subprocess.run([*command, "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    for code, out, err in results:
        assert code == 2, err  # broken.py
        assert out == reference.stdout
        assert "Traceback" not in err and "cache" not in err
    warm = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert warm.stdout == reference.stdout and "cache" not in warm.stderr


# -- where the cache lives -------------------------------------------------------------------


def test_the_cache_lives_at_the_project_root_with_a_gitignore(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PERF_LSP_CACHE_DIR")
    project = tmp_path / "proj"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.perf-lsp]\n", encoding="utf-8")
    (project / "pkg" / "svc.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(project / "pkg")
    run(capsys, "check", ".")
    cache_dir = project / ".perf-lsp-cache"
    assert (cache_dir / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert (cache_dir / "CACHEDIR.TAG").read_text(encoding="utf-8").startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert list((cache_dir / "entries").rglob("*.json"))
    assert not (project / "pkg" / ".perf-lsp-cache").exists()


def test_cache_dir_setting_and_no_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PERF_LSP_CACHE_DIR")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.perf-lsp]\ncache-dir = "build/lint-cache"\n', encoding="utf-8")
    (project / "svc.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(project)
    run(capsys, "check", "--no-cache", ".")
    assert not (project / "build").exists() and not (project / ".perf-lsp-cache").exists()
    code, out, err = run(capsys, "check", ".")
    assert "unknown key" not in err
    assert list((project / "build" / "lint-cache" / "entries").rglob("*.json"))
    assert not (project / ".perf-lsp-cache").exists()
    monkeypatch.setenv("PERF_LSP_CACHE_DIR", str(tmp_path / "env-cache"))
    run(capsys, "check", ".")
    assert list((tmp_path / "env-cache" / "entries").rglob("*.json"))
    run(capsys, "check", "--cache-dir", str(tmp_path / "flag-cache"), ".")
    assert list((tmp_path / "flag-cache" / "entries").rglob("*.json"))


def test_the_walk_skips_the_cache_directory(tmp_path, capsys, monkeypatch):
    (tmp_path / ".perf-lsp-cache").mkdir()
    (tmp_path / ".perf-lsp-cache" / "stray.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "check", ".")
    assert code == 0 and "stray.py" not in out


def test_the_cache_is_bounded(tmp_path):
    cache = Cache(tmp_path / "c", max_entries=10, max_bytes=10**9)
    keys = [Cache.key(str(i).encode(), "m") for i in range(25)]
    for i, key in enumerate(keys):
        cache.put(key, {"diagnostics": [], "messages": [], "failed": 0, "partial": 0, "fixes": True})
        os.utime(cache._path(key), (1_000_000 + i, 1_000_000 + i))
    assert cache.prune() == 17
    left = sorted(p.stem for p in (tmp_path / "c" / "entries").rglob("*.json"))
    assert left == sorted(keys[17:])  # the most recently used stay
    small = Cache(tmp_path / "c", max_entries=100, max_bytes=500)
    small.prune()
    assert sum(p.stat().st_size for p in (tmp_path / "c" / "entries").rglob("*.json")) <= 500


# -- workers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_never_import_the_checked_project(tmp_path, method):
    """The modules a worker imports while checking, shadowed in the current directory, are not
    imported from there (``python -m perf_lsp`` removes the current directory from sys.path
    and the workers keep it removed)."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                import perf_lsp.cli
                from pathlib import Path
                before = set(sys.modules)
                from perf_lsp import runner
                runner.check_file(sys.argv[1], perf_lsp.cli.Settings(select=("ALL",)), runner.Options())
                print(" ".join(sorted({m.split(".")[0] for m in set(sys.modules) - before})))
                """
            ),
            str(FIXTURES / "pfl304" / "tokenizer_encode_per_item.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    # (``perf_lsp`` itself cannot be shadowed-proof: ``python -m perf_lsp`` finds it before any code runs)
    lazy = [name for name in probe.stdout.split() if name.isidentifier() and name != "perf_lsp"]
    assert lazy  # checking a file imports modules the command line had not imported
    project = tmp_path / "project"
    project.mkdir()
    marker = tmp_path / "imported.txt"
    names = sorted(set(lazy) | {"perf_lsp_probe", "jedi", "parso", "libcst", "json", "hashlib", "concurrent"})
    for name in names:
        (project / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\nraise SystemExit('shadowed {name} imported')\n",
            encoding="utf-8",
        )
    for i in range(4):
        (project / f"svc{i}.py").write_text(BAD, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "perf_lsp", "check", "--jobs", "2", "--no-cache", "svc0.py", "svc1.py", "svc2.py", "svc3.py"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PERF_LSP_START_METHOD": method},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not marker.exists(), marker.read_text()
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.count("PFL401") == 4


def test_a_worker_that_dies_is_an_error_not_a_crash(tmp_path, capsys, monkeypatch):
    for i in range(3):
        (tmp_path / f"svc{i}.py").write_text(BAD, encoding="utf-8")
    original = runner.check_file

    def dies_on_svc1(path, settings, options):
        if path.endswith("svc1.py"):
            os._exit(3)
        return original(path, settings, options)

    monkeypatch.setattr(runner, "check_file", dies_on_svc1)
    monkeypatch.setenv("PERF_LSP_START_METHOD", "fork")
    code, out, err = run(capsys, "check", "--jobs", "2", "--no-cache", str(tmp_path))
    assert code == 2
    assert "svc1.py: not checked:" in err
    assert "Traceback" not in err


def test_fix_in_workers_writes_the_same_files_as_in_process(tmp_path, capsys, monkeypatch):
    results = {}
    for jobs in ("1", "2"):
        project = make_tree(tmp_path / f"jobs{jobs}", per_rule=2)
        monkeypatch.chdir(project)
        code, out, err = run(capsys, "fix", "--unsafe-fixes", "--jobs", jobs, ".")
        files = {p.relative_to(project).as_posix(): p.read_text(encoding="utf-8") for p in sorted(project.rglob("*.py"))}
        results[jobs] = (code, out, err, files)
    assert results["1"] == results["2"]
    code, out, err, files = results["1"]
    assert "Fixed " in err and "Fixed 0 " not in err
    original = make_tree(tmp_path / "original", per_rule=2)
    assert any(files[name] != (original / name).read_text(encoding="utf-8") for name in files)


def test_fix_after_a_warm_check_fixes_what_the_cache_says_is_fixable(tree, capsys):
    run(capsys, "check", "--jobs", "1")
    run(capsys, "check", "--jobs", "1")
    (tree / "clean.py").write_text(BAD, encoding="utf-8")
    code, out, err = run(capsys, "fix", "--jobs", "1", ".")
    assert "re.compile" not in (tree / "clean.py").read_text(encoding="utf-8").split("def f")[1]
    _, check_out, _ = run(capsys, "check", "--jobs", "1", "--no-cache")
    assert out.strip() == check_out.strip()  # what fix leaves is what a fresh check finds


# -- statistics and progress -----------------------------------------------------------------


def test_statistics_count_per_rule(tree, capsys):
    code, out, err = run(capsys, "check", "--no-jedi", "--statistics")
    _, listing, _ = run(capsys, "check", "--no-jedi", "--output-format", "json")
    counts: dict[str, int] = {}
    for entry in json.loads(listing):
        counts[entry["code"]] = counts.get(entry["code"], 0) + 1
    rows = [line.split("\t") for line in out.splitlines()]
    assert {code: int(count.strip()) for count, code, _ in rows} == counts
    assert [int(r[0]) for r in rows] == sorted((int(r[0]) for r in rows), reverse=True)
    assert any(r[2].startswith("[*] ") for r in rows) and any(r[2].startswith("[ ] ") for r in rows)
    assert "Found " in err
    _, js, _ = run(capsys, "check", "--no-jedi", "--statistics", "--output-format", "json")
    assert {e["code"]: e["count"] for e in json.loads(js)} == counts


def test_no_progress_bar_when_stderr_is_not_a_terminal(tree, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_clock", lambda clock=iter(range(0, 10**6, 5)): next(clock))
    code, out, err = run(capsys, "check", "--jobs", "1", "--no-jedi")
    assert "\x1b[" not in err and "Checking" not in err


def test_progress_bar_on_a_terminal_after_a_second(monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    clock = iter([0.0, 0.1, 2.0, 2.1, 2.2, 2.3])
    monkeypatch.setattr(cli, "_clock", lambda: next(clock))
    progress = cli._Progress(4)
    progress.advance(1)
    assert progress._bar is None  # under a second: nothing shown
    progress.advance(2)
    assert progress._bar is not None
    progress.advance(0)
    progress.close()
    assert "3/4" in stream.getvalue() or "Checking" in stream.getvalue()
    monkeypatch.setenv("CI", "true")
    assert not cli._Progress(4).enabled


# -- bounded memory --------------------------------------------------------------------------


def test_no_tree_outlives_its_file(tmp_path):
    """After a file is checked, none of its ast or libcst nodes is alive: what a run keeps does
    not grow with the number of files (the outcome is a small dict)."""
    import ast
    import gc

    import libcst as cst

    paths = [p for p in sorted(FIXTURES.glob("pfl*/*.py")) if not p.name.endswith(".fixed.py")][:40]
    paths += [p for p in sorted(FIXTURES.glob("pfl3*/*.py")) if not p.name.endswith(".fixed.py")][:20]
    options = runner.Options(no_jedi=True, want_fix=True)
    singletons = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)

    def alive() -> list:
        gc.collect()
        return [o for o in gc.get_objects() if isinstance(o, (ast.AST, cst.CSTNode)) and not isinstance(o, singletons)]

    runner.start_run()
    for p in paths[:3]:  # what rules build once (module-level patterns) is built now
        runner.work("check", str(p), Settings(select=("ALL",)), options)
    before = len(alive())
    outcomes = [runner.work("check", str(p), Settings(select=("ALL",)), options) for p in paths]
    assert sum(len(o["diagnostics"]) for o in outcomes) > 20
    after = alive()
    assert len(after) - before < 20, (len(after) - before, sorted({type(o).__name__ for o in after})[:20])


def test_jedi_answers_in_workers_forked_after_jedi_ran_here(tmp_path, capsys, monkeypatch):
    """A worker forked from a process whose jedi subprocess is running starts its own: the
    findings jedi confirms are the same as in this process."""
    monkeypatch.setenv("PERF_LSP_START_METHOD", "fork")
    source = FIXTURES / "pfl304" / "tokenizer_encode_per_item.py"
    names = [f"m{i}.py" for i in range(12)]
    for name in names:
        shutil.copy(source, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    here = run(capsys, "check", "--no-cache", "--jobs", "1", "--output-format", "json", *names)
    assert here[0] == 1 and len({e["filename"] for e in json.loads(here[1])}) == len(names)
    workers = run(capsys, "check", "--no-cache", "--jobs", "2", "--output-format", "json", *names)
    assert workers == here
