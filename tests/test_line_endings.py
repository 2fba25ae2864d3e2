"""Fixes on statements libcst does not reproduce exactly (lines ending in a bare ``\\r``).

libcst drops the final ``\\r`` of a module whose lines end in a bare ``\\r``
(it looks for ``\\n`` to set ``has_trailing_newline``), and the form feed in
front of a statement. A fix is the difference between a statement's text and
its fixed code, so the lost ``\\r`` moved the next top-level statement into the
loop before it (``(print)(1)`` became ``_PATTERN.match(s)(print)(1)``). A
statement whose code libcst does not give back exactly gets no fix; the CR-only
one, whose only loss is that final ``\\r``, is fixed as its ``\\n`` twin is.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import perf_lsp
from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

REPO = Path(perf_lsp.__file__).resolve().parents[1]

REPRODUCER = "import re\rfor s in xs:\r    re.match('a', s)\r(print)(1)\r"  # the first program that showed it
LOOP = "def scan(xs):\n    for s in xs:\n        re.match('a', s)\n"

# statements libcst gives back with a difference: no fix may be offered for them
NOT_REPRODUCED = {
    "form feed before the statement": "import re\n\n\n\x0c" + LOOP,
}
# line endings libcst keeps: fixed as usual
REPRODUCED = {
    "CRLF": ("import re\n\n\n" + LOOP).replace("\n", "\r\n"),
    "mixed endings, LF last": "import re\r\n\r\n\r\ndef scan(xs):\r\n    for s in xs:\r\n        re.match('a', s)\n",
    "mixed endings, bare CR last": "import re\n\n\ndef scan(xs):\n    for s in xs:\r\n        re.match('a', s)\r",
    "form feed between statements": "import re\n\x0c\n\n" + LOOP,
    "form feed on its own line inside": "import re\n\n\ndef scan(xs):\n\x0c\n    for s in xs:\n        re.match('a', s)\n",
}


def top_level(source: str) -> list[str]:
    return [type(stmt).__name__ for stmt in ast.parse(source).body]


def test_cr_only_fix_keeps_every_statement_in_place():
    result = Engine().fix_all(REPRODUCER, Settings())
    assert top_level(result.source) == ["Import", "Assign", "For", "Expr"]  # the new constant; nothing moved
    loop = next(stmt for stmt in ast.parse(result.source).body if isinstance(stmt, ast.For))
    assert len(loop.body) == 1
    # exactly the fix of the same program with \n line endings, in \r
    twin = Engine().fix_all(REPRODUCER.replace("\r", "\n"), Settings())
    assert result.source == twin.source.replace("\n", "\r")
    assert result.applied == twin.applied == 1


def test_cr_only_statements_keep_their_fixes():
    analysis = Engine().analyze(REPRODUCER, Settings())
    assert [(d.code, bool(d.fixes)) for d in analysis.diagnostics] == [("PFL401", True)]


@pytest.mark.parametrize("name", NOT_REPRODUCED)
def test_no_fix_for_a_statement_libcst_does_not_reproduce(name):
    source = NOT_REPRODUCED[name]
    analysis = Engine().analyze(source, Settings())
    assert [d.code for d in analysis.diagnostics] == ["PFL401"]  # still reported
    diag = analysis.diagnostics[0]
    assert diag.fixes == ()
    assert "line endings" in diag.detail
    assert analysis.fix(diag) is None
    assert Engine().fix_all(source, Settings(), unsafe=True).source == source


@pytest.mark.parametrize("name", REPRODUCED)
def test_statements_libcst_reproduces_are_fixed(name):
    source = REPRODUCED[name]
    result = Engine().fix_all(source, Settings())
    assert result.applied == 1
    assert top_level(result.source) == ["Import", "Assign", "FunctionDef"]
    twin = Engine().fix_all(source.replace("\r\n", "\n").replace("\r", "\n"), Settings())
    assert result.source.replace("\r\n", "\n").replace("\r", "\n") == twin.source


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run(
        [sys.executable, "-m", "perf_lsp", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_fix_on_cr_only_file(tmp_path: Path):
    path = tmp_path / "scan.py"
    path.write_bytes(REPRODUCER.encode())
    result = run_cli("fix", "--no-jedi", "scan.py", cwd=tmp_path)
    fixed = path.read_bytes().decode()
    assert top_level(fixed) == ["Import", "Assign", "For", "Expr"], fixed
    assert "\n" not in fixed
    assert result.returncode == 0, result.stderr


def test_cli_says_why_a_statement_gets_no_fix(tmp_path: Path):
    path = tmp_path / "scan.py"
    source = NOT_REPRODUCED["form feed before the statement"]
    path.write_bytes(source.encode())
    result = run_cli("fix", "--no-jedi", "scan.py", cwd=tmp_path)
    assert path.read_bytes().decode() == source
    assert "scan.py:4: no fix offered" in result.stderr, result.stderr
    assert result.returncode == 1
