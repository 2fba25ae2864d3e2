"""Fixes that write annotations in the style the file and its project support.

``X | None`` raises ``TypeError`` when a ``def`` runs on Python < 3.10, unless the module has
``from __future__ import annotations``: PFL701's fix writes ``Optional[X]`` unless the project's
``requires-python`` (``Settings.python_floor``), the future import, or the file's own annotations say
``X | None`` runs.
"""

from __future__ import annotations

import pytest

from perf_lsp.engine import Engine
from perf_lsp.project import parse_python_floor, python_floor
from perf_lsp.settings import Settings, load_for
from perf_lsp.rules import CODES

ENGINE = Engine()
SOURCE = "def add(item, into: list = []):\n    into.append(item)\n    return into\n"


@pytest.mark.parametrize(
    "spec, floor",
    [(">=3.9", (3, 9)), (">=3.8,<4", (3, 8)), ("~=3.10", (3, 10)), (">3.9", (3, 9)), ("<4", None), ("==3.11.*", (3, 11))],
)
def test_python_floor_of_a_specifier(spec, floor):
    assert parse_python_floor(spec) == floor


def test_python_floor_is_read_from_pyproject_and_reaches_the_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.10"\n', encoding="utf-8")
    (tmp_path / "app.py").write_text(SOURCE, encoding="utf-8")
    assert python_floor(tmp_path / "app.py") == (3, 10)
    settings, messages = load_for(tmp_path / "app.py", codes=CODES)
    assert settings.python_floor == (3, 10) and messages == []


@pytest.mark.parametrize(
    "floor, annotation",
    [(None, "Optional[list]"), ((3, 9), "Optional[list]"), ((3, 10), "list | None"), ((3, 12), "list | None")],
)
def test_pfl701_annotation_follows_the_projects_oldest_python(floor, annotation):
    fixed = ENGINE.fix_all(SOURCE, Settings(python_floor=floor), unsafe=True).source
    assert f"def add(item, into: {annotation} = None):" in fixed
    assert ("from typing import Optional" in fixed) == annotation.startswith("Optional")
    compile(fixed, "fixed.py", "exec")


def test_pfl701_annotation_follows_the_files_own_union_annotations():
    source = "def first(items: list | tuple, seen: set = set()) -> int | None:\n    seen.add(1)\n    return None\n"
    fixed = ENGINE.fix_all(source, Settings(), unsafe=True).source
    assert "seen: set | None = None" in fixed


def test_two_fixes_share_one_optional_import():
    source = SOURCE + "\n\ndef tag(item, labels: dict = {}):\n    labels[item] = 1\n    return labels\n"
    fixed = ENGINE.fix_all(source, Settings(), unsafe=True).source
    assert fixed.count("from typing import Optional") == 1
    assert "into: Optional[list] = None" in fixed and "labels: Optional[dict] = None" in fixed
