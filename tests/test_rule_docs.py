"""Every rule's documented examples are checked, so the docs cannot drift from the rules.

As Fixit runs a rule's ``VALID``/``INVALID`` cases, the code blocks of each rule's
docstring run through the engine: the ``## Example`` must be reported (at least one
finding of that rule), the ``## Use instead`` must not (none). Each fix the Example's
findings offer (unsafe and alternative ones included) must give code that parses and
has one finding fewer of that rule. The engine runs as ``perf-lsp check --no-jedi
--select CODE`` does: only that rule, opt-in rules enabled by naming them, no type
resolver (a finding that waits for jedi does not count).

The examples are also self-contained: ``ruff check --select F`` finds nothing in them
(no undefined name, no unused import), so a reader can paste them as they are.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from perf_lsp.engine import Analysis, Engine, parses
from perf_lsp.rules import REGISTRY
from perf_lsp.rules.base import Rule
from perf_lsp.settings import Settings
from perf_lsp.textedit import apply_edits

ENGINE = Engine()
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
RULES = pytest.mark.parametrize("rule", REGISTRY, ids=[f"{rule.code}-{rule.name}" for rule in REGISTRY])


def code_block(rule: type[Rule], section: str) -> str:
    """The one ```` ```python ```` block of ``section`` in ``rule``'s docs."""
    blocks = FENCE.findall(rule.section(section))
    assert len(blocks) == 1, f"{rule.code}: '## {section}' has {len(blocks)} python code blocks, expected one"
    return blocks[0]


def check(rule: type[Rule], source: str) -> tuple[Analysis, list]:
    """(analysis, the rule's diagnostics) for ``source`` checked with only ``rule`` selected, without jedi."""
    analysis = ENGINE.analyze(source, Settings(select=(rule.code,)))
    assert analysis.syntax_error is None, f"{rule.code}: {analysis.syntax_error}"
    errors = [result.error for result in analysis.results if result.error]
    assert errors == [], f"{rule.code}: a statement was not checked"
    return analysis, [d for d in analysis.diagnostics if d.code == rule.code]


@RULES
def test_example_is_reported(rule):
    _, found = check(rule, code_block(rule, "Example"))
    assert found, f"{rule.code} does not report its documented Example"


@RULES
def test_use_instead_is_not_reported(rule):
    _, found = check(rule, code_block(rule, "Use instead"))
    assert [(d.range.start.line, d.message) for d in found] == []


@RULES
def test_example_fixes_parse_and_remove_their_finding(rule):
    """Each fix offered on the Example (primary and alternative) removes its finding and nothing breaks."""
    source = code_block(rule, "Example")
    analysis, found = check(rule, source)
    offered = [(d, which) for d in found for which in range(len(d.fixes))]
    if rule.fix_safety is None:
        assert offered == []
    for diag, which in offered:
        fix = analysis.fix(diag, which)
        assert fix is not None, f"{rule.code}: '{diag.fixes[which].title}' is offered but cannot be built"
        fixed = apply_edits(source, fix.edits)
        assert parses(fixed), fixed
        _, left = check(rule, fixed)
        assert len(left) == len(found) - 1, fixed


def _ruff_f_errors(sources: dict[str, str], folder) -> dict[str, list[str]]:
    """``ruff check --select F`` over ``sources`` written in ``folder``: name -> ["line:col CODE message"]."""
    try:
        subprocess.run([sys.executable, "-m", "ruff", "--version"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    for name, source in sources.items():
        (folder / name).write_text(source, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F", "--isolated", "--no-cache"]
        + ["--output-format", "json", "--exit-zero", *sources],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr
    found: dict[str, list[str]] = {name: [] for name in sources}
    for item in json.loads(proc.stdout or "[]"):
        name = item["filename"].replace("\\", "/").rsplit("/", 1)[-1]
        found[name].append(f"{item['location']['row']}:{item['location']['column']} {item['code']} {item['message']}")
    return found


@pytest.fixture(scope="module")
def ruff_findings(tmp_path_factory):
    """Ruff's ``F`` errors in every rule's Example, Use instead and Example after
    ``perf-lsp fix --unsafe-fixes --select CODE``, from one ruff run."""
    sources = {}
    for rule in REGISTRY:
        name = rule.code.lower()
        for section, tag in (("Example", "example"), ("Use instead", "use_instead")):
            blocks = FENCE.findall(rule.section(section))
            if len(blocks) == 1:
                sources[f"{name}_{tag}.py"] = blocks[0]
        if f"{name}_example.py" in sources:
            fixed = ENGINE.fix_all(sources[f"{name}_example.py"], Settings(select=(rule.code,)), unsafe=True)
            sources[f"{name}_fixed.py"] = fixed.source
    return _ruff_f_errors(sources, tmp_path_factory.mktemp("rule_docs"))


@RULES
def test_examples_are_self_contained(rule, ruff_findings):
    """No undefined name or unused import in the Example, the Use instead, nor the fixed Example."""
    code_block(rule, "Example")
    code_block(rule, "Use instead")
    name = rule.code.lower()
    found = {tag: ruff_findings[f"{name}_{tag}.py"] for tag in ("example", "use_instead", "fixed")}
    assert found == {"example": [], "use_instead": [], "fixed": []}
