"""Generated programs: every fix result parses, compiles, is stable and adds no finding.

The programs come from ``genprograms.programs()`` (hypothesis), seeded with the rules'
anti-patterns, plus a few hand-written ``SEEDS``. The default suite checks a fixed,
derandomized set (``EXAMPLES`` programs, the same on every run) so CI is deterministic and
fast; ``PERF_LSP_LONG_TESTS=1`` checks 60 instead of 10 and adds a randomized run of
``PERF_LSP_LONG_EXAMPLES`` (default 300) programs that hypothesis shrinks to a minimal failing
one (``PERF_LSP_LONG_ONLY=compile,stable`` limits it to those properties, e.g. while a fix that
creates a finding makes ``new_finding`` fail at once).

For each program, with every rule selected, unsafe fixes on and then safe fixes only:

- the result parses (``ast`` and libcst) and ``compile()``s;
- it is stable: fixing the result again changes nothing;
- it adds no finding: every finding of the result was already a finding of the input
  (same code, same text under its range);
- Ruff (``--select F``) reports no new error on it.
"""

from __future__ import annotations

import ast
import collections
import functools
import json
import os
import subprocess
import sys
import warnings

import libcst as cst
import pytest
from fixrun import ALL, ENGINE, LONG
from genprograms import programs
from hypothesis import HealthCheck, given, settings

EXAMPLES = 60 if LONG else 10
LONG_EXAMPLES = int(os.environ.get("PERF_LSP_LONG_EXAMPLES", "300"))

SEEDS = {
    # nested loops get a session per outer item, which PFL103 reports
    "nested_request_loops": """\
import requests


def crawl(sites, pages):
    out = []
    for site in sites:
        for page in pages:
            out.append(requests.get(f"http://{site}/{page}", timeout=5).text)
    return out
""",
    # the session is used before the function-local import binds `requests` (F823)
    "local_import_in_loop": """\
def upload_all(paths, endpoint):
    for path in paths:
        import requests
        requests.post(endpoint, data={"path": path}, timeout=5)
""",
    # (seen with PFL304) the to_thread the fix puts in a loop is reported by PFL302
    "inference_in_async_loop": """\
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("m")


async def handle(batches):
    out = []
    for batch in batches:
        for text in batch:
            out.append(model.encode(text))
    return out
""",
}


def _collect(count: int) -> list[str]:
    found: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(programs())
    def gather(source):
        found.append(source)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gather()
    return found[:count]


@functools.cache
def _corpus() -> tuple[tuple[str, str], ...]:
    generated = _collect(EXAMPLES)
    return tuple(SEEDS.items()) + tuple((f"generated_{i}", src) for i, src in enumerate(generated))


def _anchors(source: str) -> collections.Counter:
    """(code, the text under the range with whitespace collapsed) of every finding."""
    lines = source.splitlines(keepends=True)
    out: collections.Counter = collections.Counter()
    for diag in ENGINE.analyze(source, ALL).diagnostics:
        text = "".join(lines[diag.range.start.line - 1 : diag.range.end.line])
        out[(diag.code, " ".join(text.split()))] += 1
    return out


@functools.cache
def _fix(source: str, unsafe: bool) -> str:
    return ENGINE.fix_all(source, ALL, unsafe=unsafe).source


def _compiles(source: str) -> str | None:
    """None when ``source`` parses with ast and libcst and compiles; else the error."""
    try:
        compile(ast.parse(source), "<fixed>", "exec")
        cst.parse_module(source)
    except (SyntaxError, ValueError, cst.ParserSyntaxError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _problems(source: str, unsafe: bool) -> dict[str, str]:
    """What is wrong with the fix of ``source``: check name -> description (empty: nothing)."""
    out: dict[str, str] = {}
    result = _fix(source, unsafe)
    error = _compiles(result)
    if error:
        return {"compile": error}
    again = _fix(result, unsafe)
    if again != result:
        out["stable"] = "a second fix changed the result again"
    new = _anchors(result) - _anchors(source)
    if new:
        out["new_finding"] = f"findings the fix created: {sorted(new)}"
    return out


def _report(check: str, failures: list[tuple[str, str, bool, str]]) -> str:
    lines = [f"{len(failures)} program(s) fail '{check}':"]
    for name, source, unsafe, why in sorted(failures, key=lambda f: len(f[1]))[:3]:
        lines += [f"--- {name} (unsafe={unsafe}): {why}", source, "--- fixed:", _fix(source, unsafe)]
    return "\n".join(lines)


def _check(check: str) -> None:
    failures = []
    for name, source in _corpus():
        for unsafe in (True, False):
            why = _problems(source, unsafe).get(check)
            if why:
                failures.append((name, source, unsafe, why))
    if failures:
        pytest.fail(_report(check, failures), pytrace=False)


def test_generator_makes_programs_with_findings():
    """The generated programs do contain what the rules find, and differ from each other."""
    corpus = dict(_corpus())
    codes = collections.Counter(code for src in corpus.values() for code, _ in _anchors(src))
    assert len(set(corpus.values())) == len(corpus)
    assert len(codes) >= 10, codes
    assert all(_fix(src, True) != src for name, src in corpus.items() if name.startswith("generated_"))


def test_generated_fixes_parse_and_compile():
    _check("compile")


def test_generated_fixes_are_stable():
    _check("stable")


def test_generated_fixes_add_no_finding():
    _check("new_finding")


def _ruff_new_errors(pairs: list[tuple[str, str]], tmp_path) -> dict[str, dict[str, int]]:
    """For (name, source) pairs: name -> {code: new count} of ruff F errors the unsafe fix added."""
    try:
        subprocess.run([sys.executable, "-m", "ruff", "--version"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        if os.environ.get("CI"):
            raise
        pytest.skip("ruff is not installed")
    counts = {}
    for side in ("before", "after"):
        folder = tmp_path / side
        folder.mkdir()
        for name, source in pairs:
            (folder / f"{name}.py").write_text(source if side == "before" else _fix(source, True), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--select", "F", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json", "."],
            capture_output=True,
            text=True,
            cwd=folder,
        )
        per_file = collections.defaultdict(collections.Counter)
        for item in json.loads(proc.stdout or "[]"):
            per_file[os.path.basename(item["filename"])[:-3]][item["code"]] += 1
        counts[side] = per_file
    out = {}
    for name, _ in pairs:
        new = {c: n - counts["before"][name][c] for c, n in counts["after"][name].items() if n > counts["before"][name][c]}
        if new:
            out[name] = new
    return out


@pytest.fixture(scope="module")
def ruff_new(tmp_path_factory):
    return _ruff_new_errors(list(_corpus()), tmp_path_factory.mktemp("ruff"))


def test_generated_fixes_add_no_ruff_error_but_unused_imports(ruff_new):
    other = {name: {c: n for c, n in new.items() if c != "F401"} for name, new in ruff_new.items()}
    assert {name: new for name, new in other.items() if new} == {}


def test_generated_fixes_leave_no_unused_import(ruff_new):
    assert {name: new for name, new in ruff_new.items() if "F401" in new} == {}


@pytest.mark.skipif(not LONG, reason="long variant: PERF_LSP_LONG_TESTS=1")
@settings(max_examples=LONG_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_long_generated_fixes_keep_every_property(source):
    """Randomized, shrinking: the first property that fails is reported on a minimal program."""
    for unsafe in (True, False):
        problems = _problems(source, unsafe)
        if os.environ.get("PERF_LSP_LONG_ONLY"):
            problems = {k: v for k, v in problems.items() if k in os.environ["PERF_LSP_LONG_ONLY"].split(",")}
        assert problems == {}, f"unsafe={unsafe}: {problems}\n--- fixed:\n{_fix(source, unsafe)}"
