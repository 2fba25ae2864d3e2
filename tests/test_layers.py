"""The layering of ``perf_lsp`` (the import-linter contracts in ``pyproject.toml``) holds.

``lint-imports`` runs in a subprocess from the repository root, on this checkout: a rule
importing another rule, ``analysis/`` importing a rule, the core importing pygls, or any
import cycle fails the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` (the interpreter running the tests) on the checkout at ``root``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()", "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_linter_contracts_are_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert str(ROOT / "perf_lsp") in subprocess.run(
        [sys.executable, "-c", "import perf_lsp; print(perf_lsp.__file__)"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    ).stdout  # the contracts were checked on this checkout, not on an installed copy


def test_the_rules_contract_lists_every_rule_module():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    independent = next(c for c in contracts if c["type"] == "independence")
    on_disk = {f"perf_lsp.rules.{path.stem}" for path in (ROOT / "perf_lsp" / "rules").glob("pfl*.py")}
    assert set(independent["modules"]) == on_disk


def test_a_rule_importing_another_rule_breaks_the_contracts(tmp_path: Path):
    # the check can fail: the same contracts on a copy where PFL304 imports PFL201
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "perf_lsp", tmp_path / "perf_lsp", ignore=shutil.ignore_patterns("__pycache__"))
    rule = tmp_path / "perf_lsp" / "rules" / "pfl304_cpu_bound_call_in_async.py"
    rule.write_text(
        rule.read_text(encoding="utf-8") + "\nfrom perf_lsp.rules.pfl201_encode_in_loop import EMBEDDING_MODELS  # noqa\n",
        encoding="utf-8",
    )
    analysis = tmp_path / "perf_lsp" / "analysis" / "loops.py"
    analysis.write_text(
        analysis.read_text(encoding="utf-8") + "\nfrom perf_lsp.rules.base import short_code  # noqa\n", encoding="utf-8"
    )
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "pfl304_cpu_bound_call_in_async is not allowed to import" in result.stdout
    assert "perf_lsp.analysis.loops -> perf_lsp.rules.base" in result.stdout  # layers (and a cycle)
