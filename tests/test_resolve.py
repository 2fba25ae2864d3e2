"""Type resolution with jedi: cases that names alone get wrong, in both directions."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from perf_lsp import cli
from perf_lsp.analysis.resolve import TypeQuestion, TypeResolver, canonical
from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

MODELS = """\
from sentence_transformers import SentenceTransformer
from sqlalchemy.ext.asyncio import AsyncSession

embedder = SentenceTransformer("all-MiniLM-L6-v2")


def get_model():
    return SentenceTransformer("all-MiniLM-L6-v2")


def get_store(engine):
    return AsyncSession(engine)
"""

SERVICE = """\
import tiktoken

from app.models import embedder, get_model, get_store


class Indexer:
    def __init__(self):
        self.model = get_model()
        self.tokens = tiktoken.get_encoding("cl100k_base")

    def vectors(self, texts):
        return [embedder.encode(t) for t in texts]

    def vectors_again(self, texts):
        return [self.model.encode(t) for t in texts]

    def token_counts(self, texts):
        return [len(self.tokens.encode(t)) for t in texts]


async def report(engine, user_id, order_id):
    store = get_store(engine)
    user = await store.get(User, user_id)
    order = await store.get(Order, order_id)
    return user, order


async def fetch_both(llm, search, question):
    answer = await llm.complete(question)
    hits = await search.query(question)
    return answer, hits
"""


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n", encoding="utf-8")
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "models.py").write_text(MODELS, encoding="utf-8")
    (app / "service.py").write_text(SERVICE, encoding="utf-8")
    return tmp_path


def found(analysis) -> list[tuple[str, int]]:
    return [(d.code, d.range.start.line) for d in analysis.diagnostics]


def test_the_packages_are_not_installed():
    # the point of these cases: jedi's infer() knows nothing, goto() on imports still names them
    installed = [name for name in ("sentence_transformers", "sqlalchemy") if importlib.util.find_spec(name)]
    if installed:
        pytest.skip(f"installed here, so this run does not cover uninstalled packages: {installed}")


def test_found_only_with_jedi(workspace: Path):
    path = workspace / "app" / "service.py"
    source = path.read_text(encoding="utf-8")
    engine = Engine()
    settings = Settings(select=("PFL201",))
    names_only = engine.analyze(source, settings)
    assert found(names_only) == []
    assert names_only.unresolved == 3  # three encode-in-loop candidates wait for jedi
    with_jedi = engine.analyze(source, settings, resolver=TypeResolver(source, path))
    # a model imported from another module, and one a factory returned; not the tiktoken encoder
    assert found(with_jedi) == [("PFL201", 12), ("PFL201", 15)]


def test_suppressed_only_with_jedi(workspace: Path):
    path = workspace / "app" / "service.py"
    source = path.read_text(encoding="utf-8")
    engine = Engine()
    settings = Settings(select=("PFL301",))
    # by names, ``store`` is any object: two independent awaits
    assert found(engine.analyze(source, settings)) == [("PFL301", 23), ("PFL301", 29)]
    # jedi: ``store`` is the AsyncSession get_store() returns, one statement at a time
    resolved = engine.analyze(source, settings, resolver=TypeResolver(source, path))
    assert found(resolved) == [("PFL301", 29)]


def test_resolver_answers_and_canonical_names(workspace: Path):
    path = workspace / "app" / "service.py"
    source = path.read_text(encoding="utf-8")
    resolver = TypeResolver(source, path)
    line = source.splitlines().index("        return [embedder.encode(t) for t in texts]") + 1
    assert "sentence_transformers.SentenceTransformer" in resolver.producers(line, 16)
    assert canonical("openai._client.OpenAI") == {"openai._client.OpenAI", "openai.OpenAI"}


def test_an_exhausted_budget_keeps_only_what_names_support(workspace: Path):
    path = workspace / "app" / "service.py"
    source = path.read_text(encoding="utf-8")
    resolver = TypeResolver(source, path, budget=0.0)
    analysis = Engine().analyze(source, Settings(select=("PFL201", "PFL301")), resolver=resolver)
    assert resolver.exhausted
    assert found(analysis) == [("PFL301", 23), ("PFL301", 29)]


def test_question_decisions():
    confirm = TypeQuestion(1, 0, accept=frozenset({"a.A"}))
    assert confirm.decide(frozenset({"a.A", "f"})) and not confirm.decide(frozenset({"b.B"})) and not confirm.decide(None)
    veto = TypeQuestion(1, 0, reject=frozenset({"db.Session"}), keep_unresolved=True)
    assert veto.decide(None) and veto.decide(frozenset({"x.Y"})) and not veto.decide(frozenset({"db.Session"}))


def test_cli_uses_jedi_unless_told_not_to(workspace: Path, capsys, monkeypatch):
    monkeypatch.chdir(workspace)
    assert cli.main(["check", "--select", "PFL201", "app"]) == 1
    out = capsys.readouterr().out
    assert out.count("PFL201") == 2
    assert cli.main(["check", "--select", "PFL201", "--no-jedi", "app"]) == 0


def test_fix_all_fixes_findings_jedi_confirmed(workspace: Path, capsys, monkeypatch):
    monkeypatch.chdir(workspace)
    assert cli.main(["fix", "--select", "PFL201", "--unsafe-fixes", "app"]) == 0
    fixed = (workspace / "app" / "service.py").read_text(encoding="utf-8")
    assert "list(embedder.encode(list(texts)))" in fixed
    assert "list(self.model.encode(list(texts)))" in fixed
    assert "[len(self.tokens.encode(t)) for t in texts]" in fixed
    capsys.readouterr()


def test_service_snippet_is_what_the_tests_say():
    # guard against editing SERVICE without updating the line numbers above
    lines = textwrap.dedent(SERVICE).splitlines()
    assert lines[11].strip().startswith("return [embedder.encode")
    assert lines[22].strip().startswith("user = await store.get")
