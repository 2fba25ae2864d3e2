"""PFL202-PFL204 beyond the fixtures: non-default settings, and fixes run against fakes to check they keep the meaning."""

from __future__ import annotations

import sqlite3
import sys
import types
from pathlib import Path

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
ENGINE = Engine()


def _codes(source: str, settings: Settings) -> list[str]:
    return [d.code for d in ENGINE.analyze(source, settings).diagnostics]


def test_extend_batchable_methods_functions_and_methods():
    source = (
        "from app.embed import embed_one, Embedder\n"
        "\n"
        "def index(texts):\n"
        "    a = [embed_one(t) for t in texts]\n"
        "    e = Embedder()\n"
        "    b = [e.embed(t) for t in texts]\n"
        "    c = [e.embed(texts) for t in texts]\n"
        "    return a, b, c\n"
    )
    assert _codes(source, Settings()) == []
    settings = Settings().with_options(extend_batchable_methods=("app.embed.embed_one", "app.embed.Embedder.embed"))
    diags = ENGINE.analyze(source, settings).diagnostics
    assert [(d.code, d.range.start.line) for d in diags] == [("PFL202", 4), ("PFL202", 6)]
    assert all(not d.fixes for d in diags)


class _Item:
    def __init__(self, embedding, index):
        self.embedding = embedding
        self.index = index


class _Embeddings:
    def __init__(self, log):
        self.log = log

    def create(self, *, input, model):
        self.log.append(input)
        items = input if isinstance(input, list) else [input]
        return types.SimpleNamespace(data=[_Item([float(len(t)), float(i)], i) for i, t in enumerate(items)])


def _fake_openai(monkeypatch, log):
    module = types.ModuleType("openai")

    class OpenAI:
        def __init__(self, **kwargs):
            self.embeddings = _Embeddings(log)

    module.OpenAI = OpenAI
    monkeypatch.setitem(sys.modules, "openai", module)


def _run(path: Path, name: str):
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace[name]


def test_openai_comprehension_fix_keeps_vectors_and_makes_one_request(monkeypatch):
    log: list = []
    _fake_openai(monkeypatch, log)
    base = FIXTURES / "pfl202" / "comprehension_openai_module_client"
    texts = ["alpha", "be", "gamma!"]
    before = _run(base.with_suffix(".py"), "embed_chunks")(texts)
    calls_before = len(log)
    after = _run(Path(f"{base}.fixed.py"), "embed_chunks")(texts)
    # the fake's second component is the position in the request: only the first component must agree
    assert [v[0] for v in before] == [v[0] for v in after]
    assert calls_before == 3 and len(log) == 4 and log[-1] == texts


def test_executemany_fix_writes_the_same_rows(tmp_path, monkeypatch):
    """The fixture's psycopg2 connection is a stand-in backed by sqlite3 (``%s`` placeholders become ``?``)."""
    base = FIXTURES / "pfl203" / "executemany_psycopg2_cursor"
    results = []
    for path in (base.with_suffix(".py"), Path(f"{base}.fixed.py")):
        db = tmp_path / f"{path.name}.db"
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE documents (id TEXT PRIMARY KEY, score REAL)")
        conn.executemany("INSERT INTO documents VALUES (?, 0)", [("a",), ("b",), ("c",)])
        conn.commit()
        conn.close()
        monkeypatch.setitem(sys.modules, "psycopg2", _fake_psycopg2(db))
        _run(path, "save_scores")({"a": 0.5, "c": 0.25, "zz": 1.0})
        conn = sqlite3.connect(db)
        results.append(conn.execute("SELECT id, score FROM documents ORDER BY id").fetchall())
        conn.close()
    assert results[0] == results[1] == [("a", 0.5), ("b", 0.0), ("c", 0.25)]


def _fake_psycopg2(db: Path) -> types.ModuleType:
    """A ``psycopg2`` whose ``connect`` opens ``db`` with sqlite3 and whose cursors take ``%s`` placeholders."""

    class Cursor:
        def __init__(self, conn):
            self._cur = conn.cursor()

        def execute(self, sql, params=()):
            return self._cur.execute(sql.replace("%s", "?"), params)

        def executemany(self, sql, rows):
            return self._cur.executemany(sql.replace("%s", "?"), rows)

    class Connection:
        def __init__(self):
            self._conn = sqlite3.connect(db)

        def cursor(self):
            return Cursor(self._conn)

        def commit(self):
            self._conn.commit()

    module = types.ModuleType("psycopg2")
    module.connect = lambda dsn: Connection()
    return module


def test_redis_run_broken_by_a_dependency_is_not_reported():
    source = (
        "import redis\n"
        "r = redis.Redis()\n"
        "def f(a, b, c, d):\n"
        "    x = r.get(a)\n"
        "    r.get(b)\n"
        "    r.set(c, x)\n"
        "    r.delete(d)\n"
    )
    assert _codes(source, Settings()) == []
    longer = source + "    r.incr(a)\n"
    assert _codes(longer, Settings()) == ["PFL204"]
