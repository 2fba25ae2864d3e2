"""The small rules' behaviour that depends on the project: what it declares (NumPy) and how often code runs."""

from __future__ import annotations

from perf_lsp.analysis.hotness import ProjectIndex
from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

ENGINE = Engine()
ALL = Settings(select=("ALL",))

NORMS = """\
import math


def rank(query, rows):
    return [sum(q * r for q, r in zip(query, row)) / math.sqrt(sum(q * q for q in query)) for row in rows]


def length(vector_a):
    return math.sqrt(sum(x * x for x in vector_a))
"""


def messages(source, settings, code="PFL501"):
    return [d.message for d in ENGINE.analyze(source, settings).diagnostics if d.code == code]


def test_pfl501_offers_numpy_only_where_the_project_has_it():
    without = messages(NORMS, ALL)
    with_numpy = messages(NORMS, Settings(select=("ALL",), project_packages=("numpy",)))
    invariant = [m for m in without if m.startswith("Norm of `query` recomputed")]
    assert invariant and all("NumPy" not in m for m in invariant)  # hoisting needs no dependency
    assert any(m.startswith("Norm of `query` recomputed") and "with NumPy" in m for m in with_numpy)
    assert any("math.hypot(*v)" in m for m in without)  # the standard library's C loop
    assert not any("math.hypot" in m for m in with_numpy)
    assert any("numpy.linalg.norm" in m for m in with_numpy)


API = """\
from fastapi import FastAPI

from helpers import clean

app = FastAPI()


@app.post("/ask")
def ask(question: str):
    return {"answer": clean(question)}
"""

HELPERS = """\
import re


def clean(text):
    return re.sub(r"\\s+", " ", text).strip()


def slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower())
"""


def test_pfl403_follows_the_project_index_to_a_helper_a_handler_calls(tmp_path):
    (tmp_path / "api.py").write_text(API, encoding="utf-8")
    (tmp_path / "helpers.py").write_text(HELPERS, encoding="utf-8")
    index = ProjectIndex.build([tmp_path / "api.py", tmp_path / "helpers.py"], root=tmp_path)
    hot = ENGINE.analyze(HELPERS, ALL, hotness=index.for_file(tmp_path / "helpers.py")).diagnostics
    found = [(d.code, d.range.start.line) for d in hot if d.code == "PFL403"]
    assert found == [("PFL403", 5)]  # clean(), per request; slug() is called by nobody
    assert "POST /ask" in next(d.detail for d in hot if d.code == "PFL403")
    alone = [d for d in ENGINE.analyze(HELPERS, ALL).diagnostics if d.code == "PFL403"]
    assert alone == []  # the file alone shows no handler
