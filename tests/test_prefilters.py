"""The cheap candidacy checks before libcst: they may let through statements without a finding, never drop one.

A rule's text prefilter (``Rule.applies_to``) and :mod:`ast` prefilter (``Rule.wants``)
decide which statements are parsed with libcst at all. Here every fixture case and
every rule's documented example is checked with each rule run on every statement
unfiltered: wherever a rule reports, both of its prefilters said yes (for a whole
statement, and for each unit of a class split as the editor splits it). And the lazy
module facts (``ModuleContext.blocking_helpers``, ``mutated_globals``) are read only
by the rules that declare them in ``Rule.module_facts``, and only once past the
prefilters, so that the engine computes them only for those rules' candidates.
"""

from __future__ import annotations

import ast
import re

import pytest
from fixtures import CASES

from perf_lsp.analysis import module as module_facts
from perf_lsp.analysis.imports import imports_in
from perf_lsp.analysis.module import LAZY_FACTS, ModuleContext, build_module_context
from perf_lsp.analysis.summaries import ChunkSummary
from perf_lsp.analysis.units import units as class_units
from perf_lsp.engine import Engine, analyze_chunk
from perf_lsp.rules import REGISTRY
from perf_lsp.settings import Settings
from perf_lsp.source import split_document

SETTINGS = Settings(select=("ALL",))
BY_CODE = {rule.code: rule for rule in REGISTRY}


def _doc_examples() -> list[tuple[str, str]]:
    out = []
    for rule in REGISTRY:
        match = re.search(r"```python\n(.*?)```", rule.section("Example"), re.S)
        if match:
            out.append((f"{rule.code}-example", match.group(1)))
    return out


SHAPES = {
    "pfl303-aliased-sleep": "from time import sleep as nap\n\n\nasync def poll():\n    nap(1)\n",
    "pfl303-import-in-function": "async def fetch(url):\n    import requests\n\n    return requests.get(url, timeout=5).json()\n",
    "pfl303-annotated-session": (
        "import requests\n\n\nasync def fetch(session: requests.Session, url):\n    return session.get(url).json()\n"
    ),
    "pfl303-module-session": (
        "from requests import Session\n\nHTTP = Session()\n\n\nasync def fetch(url):\n    return HTTP.post(url).json()\n"
    ),
    "pfl303-cursor": (
        "import sqlite3\n\n\nclass Store:\n    def __init__(self):\n        self.db = sqlite3.connect('x.db')\n\n"
        "    async def rows(self):\n        cur = self.db.cursor()\n        cur.execute('SELECT 1')\n        return cur.fetchall()\n\n"
        "    async def names(self):\n        return []\n"
    ),
    "pfl303-helper-this": (
        "import time\n\n\nclass Job:\n    def _wait(this):\n        time.sleep(1)\n\n"
        "    async def run(this):\n        this._wait()\n\n    async def other(this):\n        return 1\n"
    ),
    "pfl303-nested-class": (
        "import subprocess\n\n\nclass Outer:\n    class Inner:\n        async def go(self):\n"
        "            return subprocess.run(['ls'])\n\n        def x(self):\n            return 1\n\n    def y(self):\n        return 2\n"
    ),
    "pfl303-module-helper-in-class": (
        "import os\n\n\ndef wipe():\n    os.system('rm -rf /tmp/x')\n\n\nclass Admin:\n"
        "    async def reset(self):\n        wipe()\n\n    async def ping(self):\n        return 1\n"
    ),
    "pfl302-dict-comprehension": (
        "async def load(client, ids):\n    return {i: await client.fetch(i) for i in ids}\n"
    ),
    "pfl302-for-in-while": (
        "async def pump(client, pages):\n    while pages:\n        page = pages.pop()\n"
        "        for url in page.urls:\n            await client.download(url)\n"
    ),
    "pfl302-method": (
        "class Loader:\n    async def load(self, ids):\n        out = []\n        for i in ids:\n"
        "            out.append(await self.client.fetch(i))\n        return out\n\n    def size(self):\n        return 1\n"
    ),
    "pfl202-module-level-loop": (
        "from openai import OpenAI\n\nclient = OpenAI()\nvectors = []\nfor doc in ['a', 'b']:\n"
        "    vectors.append(client.embeddings.create(input=doc, model='m'))\n"
    ),
    "pfl202-method-dict-comprehension": (
        "from langchain_openai import OpenAIEmbeddings\n\n\nclass Index:\n    def __init__(self):\n"
        "        self.emb = OpenAIEmbeddings()\n\n    def build(self, docs):\n"
        "        return {d: self.emb.embed_query(d) for d in docs}\n\n    def size(self):\n        return 0\n"
    ),
}
"""Shapes the fixtures may not hold, each with a finding its rule's prefilters must admit."""

SOURCES = [(case.id, case.source) for case in CASES] + _doc_examples() + list(SHAPES.items())

POLICY = {"pfl203/ok_alembic_migration": "PFL203", "pfl601/ok_alembic_migration": "PFL203"}
"""Cases a text prefilter drops on purpose: a migration script runs once (PFL203's ``applies_to``)."""


def _pieces(source: str):
    """(text, prefilter text, ast nodes, imports or None, owns or None, context, own nodes or None) for each
    statement, and for each unit of each class as the editor splits it."""
    split = split_document(source)
    for chunk in split.chunks:
        if not chunk.nodes:
            continue
        yield chunk.text, chunk.text, chunk.nodes, None, None, split.context, None
        if chunk.layout is None:
            continue
        for unit in class_units(chunk.layout, chunk.text, split.context.imports) or ():
            imports = dict(unit.imports) if unit.imports is not None else imports_in(chunk.text)
            yield unit.text, unit.text + "\n" + unit.import_text, unit.nodes, imports, unit.owns, split.context, unit.own_nodes


@pytest.mark.parametrize(("name", "source"), SOURCES, ids=[name for name, _ in SOURCES])
def test_prefilters_pass_every_statement_a_rule_reports_on(name, source):
    reported = 0
    for text, shown, nodes, imports, owns, context, own in _pieces(source):
        result = analyze_chunk(text, context, SETTINGS, REGISTRY, imports, owns)
        summary = ChunkSummary(nodes, context, imports, shown, own)
        for code in sorted({f.code for f in result.findings}):
            rule = BY_CODE[code]
            if POLICY.get(name) != code:
                assert rule.applies_to(shown, context, SETTINGS), f"{code}: applies_to drops a statement it reports on"
            assert rule.wants(summary, SETTINGS), f"{code}: wants drops a statement it reports on"
            reported += 1
    if name.endswith("-example") or name in SHAPES:
        assert reported, "a documented example or a shape here is reported, so it is checked here"


NOT_WANTED = {
    "PFL303": [
        "async def handler(request):\n    data = await request.json()\n    return data.get('q'), len(data)\n",
        "import json\n\n\nasync def handler(cfg):\n    return json.loads(cfg.get('url'))\n",  # no session can be named
        "import json\n\n\ndef pure(x):\n    return x * 2\n\n\nasync def handler(x):\n    return json.dumps(pure(x))\n",
        "import time\n\n\ndef helper():\n    time.sleep(1)\n\n\nasync def test_handler():\n    helper()\n",
        "import time\n\n\nasync def handler():\n    def later():\n        time.sleep(1)\n\n    return later\n",
    ],
    "PFL202": [
        "from openai import OpenAI\n\nclient = OpenAI()\n\n\ndef ask(questions):\n"
        "    return [client.chat.completions.create(model='m', messages=[q]) for q in questions]\n",
        "from openai import OpenAI\n\nclient = OpenAI()\n\n\ndef embed(texts):\n"
        "    rows = [t.strip() for t in texts]\n    return client.embeddings.create(input=rows, model='m')\n",
        "from openai import OpenAI\n\nclient = OpenAI()\n\n\ndef later(texts):\n"
        "    return [lambda: client.embeddings.create(input=t, model='m') for t in texts]\n",
    ],
    "PFL302": [
        "async def poll(client):\n    while not await client.ready():\n        await client.wait()\n",
        "async def drain(stream, sink):\n    async for item in stream:\n        await sink.put(item)\n",
        "async def first(client, ids):\n    return [x for x in ids if x]\n\n\nasync def one(client):\n    return await client.get()\n",
        "def sync(ids):\n    for i in ids:\n        print(i)\n\n\nasync def one(client):\n    return await client.get()\n",
        "async def test_many(client, ids):\n    for i in ids:\n        await client.fetch(i)\n",
        "async def later(ids):\n    return [lambda: i for i in ids], await other()\n",
    ],
}
"""Statements an ``ast`` prefilter turns away: nothing there for the rule (so the prefilter filters)."""


@pytest.mark.parametrize(("code", "source"), [(c, s) for c, found in NOT_WANTED.items() for s in found])
def test_prefilters_turn_away_statements_without_the_shape(code, source):
    rule = BY_CODE[code]
    for text, shown, nodes, imports, owns, context, own in _pieces(source):
        assert not analyze_chunk(text, context, SETTINGS, [rule], imports, owns).findings
        if rule.applies_to(shown, context, SETTINGS):
            assert not rule.wants(ChunkSummary(nodes, context, imports, shown, own), SETTINGS)


@pytest.fixture
def facts_read(monkeypatch):
    """The lazy module facts read since the last ``clear()``."""
    read: list[str] = []
    original = ModuleContext._fact

    def recording(self, name):
        read.append(name)
        return original(self, name)

    monkeypatch.setattr(ModuleContext, "_fact", recording)
    return read


@pytest.mark.parametrize(("name", "source"), SOURCES, ids=[name for name, _ in SOURCES])
def test_lazy_module_facts_are_read_only_by_the_rules_that_declare_them(name, source, facts_read):
    for text, shown, nodes, imports, owns, context, own in _pieces(source):
        for rule in REGISTRY:
            facts_read.clear()
            rule.applies_to(shown, context, SETTINGS)
            assert facts_read == [], f"{rule.code}: the text prefilter reads {facts_read}"
            summary = ChunkSummary(nodes, context, imports, shown, own)
            rule.wants(summary, SETTINGS)
            # only through the summary, which records them for the result's cache key
            assert set(facts_read) == summary.facts_read, f"{rule.code}: wants reads {facts_read} unrecorded"
            assert summary.facts_read <= set(rule.module_facts), f"{rule.code}: wants reads undeclared facts"
            facts_read.clear()
            analyze_chunk(text, context, SETTINGS, [rule], imports, owns)
            assert set(facts_read) <= set(rule.module_facts), f"{rule.code} reads {set(facts_read)} undeclared"
    assert all(name in LAZY_FACTS for rule in REGISTRY for name in rule.module_facts)


def test_module_context_computes_its_lazy_facts_on_first_use(monkeypatch):
    calls = []
    original = module_facts.module_blocking_helpers
    monkeypatch.setattr(module_facts, "module_blocking_helpers", lambda *a: calls.append(1) or original(*a))
    source = "import time\n\ndef nap():\n    time.sleep(1)\n"
    context = build_module_context([(stmt, 0) for stmt in ast.parse(source).body])
    assert calls == []
    assert context.blocking_helpers == (("nap", "time.sleep"),)
    assert context.blocking_helpers == (("nap", "time.sleep"),)
    assert calls == [1]
    assert context.facts(["blocking_helpers", "mutated_globals"]) == (
        ("blocking_helpers", (("nap", "time.sleep"),)),
        ("mutated_globals", ()),
    )


def test_no_lazy_fact_is_computed_for_a_module_without_candidates(facts_read):
    source = "import time\n\ndef nap():\n    time.sleep(1)\n\nCACHE = {}\n\ndef put(k, v):\n    CACHE[k] = v\n"
    Engine().analyze(source, SETTINGS)
    assert facts_read == []


HELPER_BLOCKS = "import time\n\n\ndef helper():\n    time.sleep(1)\n\n\nasync def handler():\n    helper()\n"
HELPER_DOES_NOT = HELPER_BLOCKS.replace("time.sleep(1)", "return 1")


@pytest.mark.parametrize("split_classes", [True, False])
def test_a_cached_statement_is_checked_again_when_a_lazy_fact_it_read_changes(split_classes):
    # ``handler`` is unchanged between the two versions: only the module's blocking helpers
    # differ, and they are not part of the statement's cache key.
    engine = Engine(split_classes=split_classes)
    first = engine.analyze(HELPER_BLOCKS, SETTINGS)
    assert [d.code for d in first.diagnostics] == ["PFL303"]
    second = engine.analyze(HELPER_DOES_NOT, SETTINGS, previous=first)
    assert [d.code for d in second.diagnostics] == []
    third = engine.analyze(HELPER_BLOCKS, SETTINGS, previous=second)
    assert [d.code for d in third.diagnostics] == ["PFL303"]


@pytest.mark.parametrize(("name", "source"), SOURCES[:200:7], ids=[name for name, _ in SOURCES[:200:7]])
def test_chunk_summary_index_is_ast_walk_by_type(name, source):
    for _, _, nodes, _, _, context, _ in _pieces(source):
        summary = ChunkSummary(nodes, context)
        expected: dict[type, list[ast.AST]] = {}
        for node in ast.walk(ast.Module(body=list(nodes), type_ignores=[])):
            if not isinstance(node, (ast.expr_context, ast.Module)):
                expected.setdefault(type(node), []).append(node)
        assert summary.by_type.keys() == expected.keys()
        for kind, found in expected.items():
            assert summary.by_type[kind] == found
        statements = {kind: found for kind, found in expected.items() if issubclass(kind, ast.stmt)}
        assert summary.statements.keys() == statements.keys()
        for kind, found in statements.items():
            assert sorted(map(id, summary.statements[kind])) == sorted(map(id, found))
        loops = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        assert summary.has_loops == any(kind in expected for kind in loops)
        if all(isinstance(node, ast.stmt) for node in nodes):
            text = ast.unparse(ast.Module(body=list(nodes), type_ignores=[]))
            assert summary.text_imports == imports_in(text)


LOOPS = """\
async def shapes(client, rows, pages):
    while await client.more(len(rows)):
        await client.step(f(1))
    else:
        g(2)
    for row in rows(h(3)):
        handler = lambda: client.send(row)

        class Local(Base(row)):
            value = make(row)

        @trace(row)
        def inner(x=default(row)):
            return use(x)

        await client.put(row, [await client.get(r) for r in split(row) if await ok(r)])
    else:
        done(4)
    async for page in client.pages(start(5)):
        await client.read(page)
    data = {k: await client.get(k) for k in await client.keys() for j in later(k)}
    gen = (await client.one(x) for x in pages)
    total = sum(await client.size(p) for p in pages)
    return [[await client.cell(a, b) for b in cols(a)] for a in rows]


for item in range(3):
    print(item)
"""
"""Every kind of place a call can take in or around a loop."""

LOOP_SOURCES = [(n, s) for n, s in SOURCES if n.startswith(("pfl20", "pfl30")) or n in SHAPES][::2] + [("loops", LOOPS)]


@pytest.mark.parametrize(("name", "source"), LOOP_SOURCES, ids=[name for name, _ in LOOP_SOURCES])
def test_loop_index_holds_every_call_libcst_finds_in_a_loop(name, source):
    # A superset of the rules' own question (SemanticModel.repeating_loop on the libcst tree): the
    # prefilters of PFL202 and PFL302 read it, so a call or await it misses would be a lost finding.
    import libcst as cst
    from collections import Counter

    from libcst.metadata import MetadataWrapper, PositionProvider

    from perf_lsp.analysis.semantic import SemanticModel

    split = split_document(source)
    for chunk in split.chunks:
        if not chunk.nodes:
            continue
        wrapper = MetadataWrapper(cst.parse_module(chunk.text), unsafe_skip_copy=True)
        positions = wrapper.resolve(PositionProvider)
        model = SemanticModel(wrapper.module, split.context, chunk.text)
        model.record_parents(wrapper.module)
        calls: Counter = Counter()
        awaits: Counter = Counter()
        for node in positions:
            if not isinstance(node, (cst.Call, cst.Await)) or model.repeating_loop(node) is None:
                continue
            line = positions[node].start.line + chunk.start - 1
            if isinstance(node, cst.Call):
                calls[line] += 1
            elif isinstance(node.expression, cst.Call):
                func = model.enclosing_function(node)
                awaits[line, func is not None and func.asynchronous is not None] += 1
        summary = ChunkSummary(chunk.nodes, split.context)
        found_calls = Counter(call.lineno for call, _ in summary.calls_in_loops)
        found_awaits = Counter(
            (node.lineno, isinstance(func, ast.AsyncFunctionDef)) for func, node, _ in summary.awaits_in_loops
        )
        assert not calls - found_calls, f"calls in loops missed: {calls - found_calls}"
        assert not awaits - found_awaits, f"awaits in loops missed: {awaits - found_awaits}"
