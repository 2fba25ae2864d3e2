"""Every fixture case through the engine: diagnostics, fix-all, each quick fix, the alternative fix."""

from __future__ import annotations

import pytest
from fixrun import finding_keys, new_findings
from fixtures import CASES, core_to_fixture, normalise

from perf_lsp.engine import Engine, parses
from perf_lsp.settings import Settings
from perf_lsp.textedit import apply_edits

ENGINE = Engine()
SETTINGS = Settings(select=("ALL",))  # fixtures cover the opt-in rules too


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_diagnostics(case):
    analysis = ENGINE.analyze(case.source, SETTINGS)
    assert core_to_fixture(analysis.diagnostics) == normalise(case.expected)


@pytest.mark.parametrize("case", [c for c in CASES if c.fixable], ids=lambda c: c.id)
def test_fix_all_gives_expected_file(case):
    assert case.fixed is not None, f"{case.id}: a fixable case needs a .fixed.py"
    result = ENGINE.fix_all(case.source, SETTINGS, unsafe=True)
    assert result.source == case.fixed
    assert parses(result.source)
    again = ENGINE.analyze(result.source, SETTINGS)
    assert [d for d in again.diagnostics if d.fixable] == []
    fixed_codes = {d["code"] for d in case.expected if d.get("fix")}
    unfixable = [d for d in case.expected if not d.get("fix")]
    assert len([d for d in again.diagnostics if d.code in fixed_codes]) <= len(unfixable)


@pytest.mark.parametrize("case", [c for c in CASES if not c.fixable], ids=lambda c: c.id)
def test_no_fix_leaves_file_alone(case):
    assert case.fixed is None
    result = ENGINE.fix_all(case.source, SETTINGS, unsafe=True)
    assert result.source == case.source
    assert result.applied == 0


@pytest.mark.parametrize("case", [c for c in CASES if c.fixable], ids=lambda c: c.id)
def test_each_quick_fix_parses_and_clears_its_diagnostic(case):
    analysis = ENGINE.analyze(case.source, SETTINGS)
    for diag in analysis.diagnostics:
        for which in range(len(diag.fixes)):
            fix = analysis.fix(diag, which)
            assert fix is not None, f"{diag.code} at {diag.range.start}: fix {which} declined"
            fixed = apply_edits(case.source, fix.edits)
            assert parses(fixed)
            after = ENGINE.analyze(fixed, SETTINGS).diagnostics
            assert len([d for d in after if d.code == diag.code]) == len(
                [d for d in analysis.diagnostics if d.code == diag.code]
            ) - 1
            if len(analysis.diagnostics) == 1 and which == 0:
                assert fixed == case.fixed


@pytest.mark.parametrize("case", [c for c in CASES if c.alt is not None], ids=lambda c: c.id)
def test_alternative_fix(case):
    analysis = ENGINE.analyze(case.source, SETTINGS)
    diag = next(d for d in analysis.diagnostics if len(d.fixes) > 1)
    fix = analysis.fix(diag, 1)
    assert fix is not None
    assert apply_edits(case.source, fix.edits) == case.alt


@pytest.mark.parametrize("case", [c for c in CASES if c.fixable], ids=lambda c: c.id)
def test_no_fix_creates_a_finding(case):
    """No fix creates a finding, over every fixture: ``fix --unsafe-fixes --select ALL`` and each quick fix on
    its own, then ``check --select ALL``: every finding after the fix was there before it."""
    before = finding_keys(case.source)
    analysis = ENGINE.analyze(case.source, SETTINGS)
    for diag in analysis.diagnostics:
        for which in range(len(diag.fixes)):
            fix = analysis.fix(diag, which)
            assert fix is not None
            new = new_findings(before, finding_keys(apply_edits(case.source, fix.edits)))
            assert new == [], f"{diag.code} fix {which} at line {diag.range.start.line} created {new}"
    fixed = ENGINE.fix_all(case.source, SETTINGS, unsafe=True).source
    assert new_findings(before, finding_keys(fixed)) == []
