"""Ruff as a referee: ``perf-lsp fix`` adds no Ruff ``F`` error.

Every fixture input, every file of ``examples/`` and every program of
``test_fix_behaviour`` is fixed with every rule selected and
unsafe fixes on (``perf-lsp fix --unsafe-fixes --select ALL``); then ``ruff check --select F``
runs over the inputs and over the results (one ruff process for each side), and for each
file the count of every ``F`` code after the fix must not exceed the count before. What broke
before: new ``F401`` (an import the fix made unused) and ``F823``/``F821`` (a name used
before the fix binds it).

A known failure goes in ``KNOWN`` with its reason (a strict xfail), so the marker has to go
when the fix lands.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import test_fix_behaviour
from fixrun import ALL, ENGINE
from fixtures import CASES

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.py"))

# case id -> why ruff reports a new F error after the fix today (a strict xfail)
KNOWN: dict[str, str] = {}


def _ruff() -> list[str]:
    try:
        subprocess.run([sys.executable, "-m", "ruff", "--version"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        if os.environ.get("CI"):
            raise AssertionError("ruff is missing from the test extras' install") from None
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    return [sys.executable, "-m", "ruff"]


def _f_errors(folder: Path) -> dict[str, collections.Counter]:
    """``ruff check --select F`` over ``folder``: file (relative) -> Counter of codes."""
    proc = subprocess.run(
        [*_ruff(), "check", "--select", "F", "--no-cache", "--output-format", "json", "--isolated", "--exit-zero", "."],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr
    found: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for item in json.loads(proc.stdout or "[]"):
        found[Path(item["filename"]).resolve().relative_to(folder.resolve()).as_posix()][item["code"] or "E999"] += 1
    return found


def _inputs() -> dict[str, str]:
    """name in the trees -> source: the fixture inputs, then ``examples/``."""
    sources = {f"{case.id}.py": case.source for case in CASES}
    for path in EXAMPLES:
        sources[f"examples/{path.relative_to(ROOT / 'examples').as_posix()}"] = path.read_text(encoding="utf-8")
    for name, value in sorted(vars(test_fix_behaviour).items()):
        if name.isupper() and isinstance(value, str) and "def " in value:
            sources[f"programs/{name.lower()}.py"] = value
    return sources


@pytest.fixture(scope="module")
def referee(tmp_path_factory):
    """(errors before, errors after, fixed sources) for every input, from one ruff run per side."""
    before_dir = tmp_path_factory.mktemp("before")
    after_dir = tmp_path_factory.mktemp("after")
    fixed = {}
    for name, source in _inputs().items():
        result = ENGINE.fix_all(source, ALL, unsafe=True).source
        fixed[name] = result
        for folder, text in ((before_dir, source), (after_dir, result)):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return _f_errors(before_dir), _f_errors(after_dir), fixed


def _params():
    out = []
    for name in _inputs():
        case_id = name[: -len(".py")]
        reason = KNOWN.get(case_id)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(name, marks=marks, id=case_id))
    return out


@pytest.mark.parametrize("name", _params())
def test_fix_adds_no_ruff_f_error(referee, name):
    before, after, fixed = referee
    new = {code: n - before[name][code] for code, n in after[name].items() if n > before[name][code]}
    assert new == {}, f"new ruff F errors after fix: {new}\n--- fixed file ---\n{fixed[name]}"


def test_the_referee_sees_errors(tmp_path):
    """The referee itself works: ruff reports an unused import and an undefined name."""
    (tmp_path / "bad.py").write_text("import os\n\n\ndef f():\n    return missing\n", encoding="utf-8")
    assert _f_errors(tmp_path)["bad.py"] == collections.Counter({"F401": 1, "F821": 1})


def test_known_failures_name_existing_inputs():
    """A renamed fixture must not leave a stale entry in KNOWN (its xfail would silently vanish)."""
    names = {name[: -len(".py")] for name in _inputs()}
    assert set(KNOWN) - names == set()
