"""Methods as units: incremental analysis inside classes always ends where a fresh analysis does.

Random edit sequences inside methods, decorators, nested classes and class bodies, some
breaking the syntax and some repairing it, go through the engine's incremental path
(``Engine.analyze(..., previous=...)``) and through the language server (driven over
stdio by pytest-lsp, as in ``test_lsp_sync.py``); after every step the diagnostics (and
at the end every fix) equal those of a fresh analysis of the text.
"""

from __future__ import annotations

import ast
import random

import pytest
import pytest_lsp
from fixtures import CASES
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_lsp import CONFIG, doc_uri, initialize, lines_of, mark, open_document, published
from test_lsp_sync import as_published, expected_diagnostics

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

SETTINGS = Settings(select=("ALL",))

DOC = 'import functools\nimport re\nimport time\n\nimport requests\nfrom openai import OpenAI\nfrom sentence_transformers import SentenceTransformer\n\n\nclass Service:\n    """A service with cross-member facts."""\n\n    limit = 10\n    pattern: str = "x"\n\n    def __init__(self, name):\n        self.model = SentenceTransformer("all-MiniLM-L6-v2")\n        self.text = ""\n        self.items = []\n\n    @functools.cache\n    def tags(self, lines):\n        out = []\n        for line in lines:\n            out.append(re.findall(r"\\d+", line))\n        return out\n\n    def embed(self, texts):\n        vectors = []\n        for t in texts:\n            vectors.append(self.model.encode(t))\n        return vectors\n\n    def build(self, pieces):\n        for piece in pieces:\n            self.text += piece\n        return self.text\n\n    def _load(self, url):\n        return requests.get(url)\n\n    async def fetch(self, url):\n        return self._load(url)\n\n    def ask(self, prompt):\n        client = OpenAI()\n        return client.chat.completions.create(model="x", messages=[prompt])\n\n    class Inner:\n        size = 3\n\n        def __init__(self):\n            self.model = SentenceTransformer("m")\n\n        def run(self, texts):\n            return [self.model.encode(t) for t in texts]\n\n        @staticmethod\n        def wait():\n            time.sleep(1)\n\n\ndef top(lines):\n    return [re.match(r"a", s) for s in lines]\n'

STATEMENTS = [
    "x = 1",
    'found = re.findall(r"a", x)',
    "self.extra = OpenAI()",
    "self.model = SentenceTransformer(\"m\")",
    "self.text = \"\"",
    "time.sleep(0.1)",
    "for t in texts: self.model.encode(t)",
    "return self._load(x)",
    "pass",
]
BREAKERS = ["(", "def", ":", "]", "else", "\"", "  ", "lambda"]
DECORATORS = ["@functools.cache", "@staticmethod", "@property", "@functools.lru_cache(maxsize=None)"]
MEMBERS = [
    ["def added(self, texts):", "    for t in texts:", "        self.model.encode(t)"],
    ["async def slow(self):", "    self._load(1)"],
    ["class Nested:", "    def go(self):", "        return re.match(r\"b\", \"b\")"],
    ["flag = True"],
]


def _class_lines(lines: list[str]) -> list[int]:
    """Indices of the non-blank lines inside the class ``Service`` (its header excluded)."""
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("class Service"))
    except StopIteration:
        start = 0
    out = []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line[0].isspace() and not line.startswith(("#", ")", "]")):
            break
        if line.strip():
            out.append(i)
    return out or [i for i, line in enumerate(lines) if line.strip()]


def _repair(lines: list[str]) -> list[str]:
    """Replace the line a syntax error points at with ``pass`` (indented as the line before it), up to 3 times."""
    for _ in range(3):
        try:
            ast.parse("".join(lines))
            return lines
        except SyntaxError as exc:
            number = min(max((exc.lineno or 1) - 1, 0), len(lines) - 1)
        before = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "")
        indent = before[: len(before) - len(before.lstrip())]
        if before.rstrip().endswith(":"):
            indent += "    "
        lines[number] = indent + "pass\n"
    return lines


DEFINITION = ("def ", "async def ", "class ", "@")


def edit(text: str, op: tuple[int, int, int, int]) -> str:
    """``text`` after edit ``op`` = (kind, where, what, column), applied to a line inside the class.

    Kinds: a statement after a line (its indentation, or one level deeper after a ``:``);
    a character inserted (often breaking the syntax); characters deleted; a decorator, or a
    whole member, before a definition; a line deleted or duplicated; a repair (the line a
    syntax error points at becomes ``pass``).
    """
    kind, where, what, column = op
    lines = lines_of(text)
    if not lines:
        return text
    sites = _class_lines(lines)
    kind %= 12
    if kind in (5, 6):
        sites = [i for i in sites if lines[i].lstrip().startswith(DEFINITION)] or sites
    i = sites[where % len(sites)]
    line = lines[i]
    body = line.rstrip("\r\n")
    ending = line[len(body):] or "\n"
    indent = body[: len(body) - len(body.lstrip())]
    if kind <= 2:
        deeper = "    " if body.rstrip().endswith(":") else ""
        new = indent + deeper + STATEMENTS[what % len(STATEMENTS)] + ending
        lines.insert(i + 1, new)
    elif kind == 3:
        at = column % (len(body) + 1)
        lines[i] = body[:at] + BREAKERS[what % len(BREAKERS)] + body[at:] + ending
    elif kind == 4:
        at = column % (len(body) + 1)
        lines[i] = body[:at] + body[at + 1 + what % 3 :] + ending
    elif kind == 5:
        lines.insert(i, indent + DECORATORS[what % len(DECORATORS)] + ending)
    elif kind == 6:
        member = MEMBERS[what % len(MEMBERS)]
        lines[i:i] = [indent + part + ending for part in member]
    elif kind == 7:
        del lines[i]
    elif kind == 8:
        lines.insert(i, line if line.endswith(("\n", "\r")) else line + ending)
    else:
        lines = _repair(lines)
    return "".join(lines)


def diagnostics_of(analysis) -> list[tuple]:
    return [(d.code, d.range, d.message, d.fixes) for d in analysis.diagnostics]


OPS = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 500), st.integers(0, 50), st.integers(0, 200)), min_size=1, max_size=12
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_incremental_analysis_ends_as_a_fresh_one(ops):
    """Every step of the sequence: the incremental analysis equals a fresh one (a new engine, no cache),
    the document's syntax error included; at the end, so does every fix."""
    engine = Engine()
    text = DOC
    analysis = engine.analyze(text, SETTINGS)
    for op in ops:
        text = edit(text, op)
        analysis = engine.analyze(text, SETTINGS, previous=analysis)
        fresh = Engine().analyze(text, SETTINGS)
        assert diagnostics_of(analysis) == diagnostics_of(fresh), (op, text)
        assert analysis.syntax_error == fresh.syntax_error
    for number, (mine, theirs) in enumerate(zip(analysis.diagnostics, fresh.diagnostics)):
        for which in range(len(mine.fixes)):
            assert analysis.fix(mine, which) == fresh.fix(theirs, which), (number, which, text)


def test_the_document_has_findings_inside_methods_and_the_nested_class():
    """The base document exercises the cross-member facts (``self.model`` set in ``__init__``, a helper method
    that blocks) in the class and in its nested class."""
    found = {(d.code, d.range.start.line) for d in Engine().analyze(DOC, SETTINGS).diagnostics}
    lines = lines_of(DOC)
    assert ("PFL201", lines.index("            vectors.append(self.model.encode(t))\n") + 1) in found
    assert ("PFL303", lines.index("        return self._load(url)\n") + 1) in found
    assert ("PFL201", lines.index("            return [self.model.encode(t) for t in texts]\n") + 1) in found


@pytest_lsp.fixture(config=CONFIG, loop_scope="module")
async def server(lsp_client: LanguageClient):
    await initialize(lsp_client, {"debounceMs": 0, "select": ["ALL"]})
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_server_diagnostics_follow_random_edits_inside_a_class(server: LanguageClient, seed):
    """The same edits sent to the server as full-line changes: what it publishes after each is a fresh analysis."""
    rnd = random.Random(seed)
    engine = Engine()
    uri = doc_uri(f"units-{seed}")
    text = DOC
    diagnostics = await open_document(server, uri, text)
    assert as_published(diagnostics, text) == expected_diagnostics(engine, text, SETTINGS)
    for version in range(2, 42):
        op = (rnd.randrange(12), rnd.randrange(500), rnd.randrange(50), rnd.randrange(200))
        new = edit(text, op)
        old_lines, new_lines = lines_of(text), lines_of(new)
        first = 0
        while first < min(len(old_lines), len(new_lines)) and old_lines[first] == new_lines[first]:
            first += 1
        tail = 0
        while tail < min(len(old_lines), len(new_lines)) - first and old_lines[-1 - tail] == new_lines[-1 - tail]:
            tail += 1
        rng = types.Range(
            start=types.Position(line=first, character=0),
            end=types.Position(line=len(old_lines) - tail, character=0),
        )
        replacement = "".join(new_lines[first : len(new_lines) - tail])
        since = mark(server)
        server.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=replacement)],
            )
        )
        text = new
        diagnostics = await published(server, uri, version, since)
        assert as_published(diagnostics, text) == expected_diagnostics(engine, text, SETTINGS), (version, op)


# -- what a keystroke re-parses ------------------------------------------------------------------------
def _parsed(monkeypatch) -> list[str]:
    """The texts libcst parses from now on (the engine's per-unit analysis)."""
    import perf_lsp.engine as engine_module

    texts: list[str] = []
    real = engine_module.analyze_chunk

    def spy(text, *args, **kwargs):
        texts.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(engine_module, "analyze_chunk", spy)
    return texts


def _typed(text: str, anchor: str, typed: str) -> str:
    at = text.index(anchor) + len(anchor)
    return text[:at] + typed + text[at:]


def test_a_keystroke_in_a_method_parses_that_method_only(monkeypatch):
    """Typing in ``ask`` parses one unit: ``ask`` after its class's header line, no other member."""
    engine = Engine()
    analysis = engine.analyze(DOC, SETTINGS)
    texts = _parsed(monkeypatch)
    text = _typed(DOC, "        client = OpenAI(", "")
    text = _typed(text, "    def ask(self, prompt):\n", "        n = len(prompt)\n")
    analysis = engine.analyze(text, SETTINGS, previous=analysis)
    assert len(texts) == 1
    assert texts[0].startswith("class Service:\n    def ask(self, prompt):\n        n = len(prompt)\n")
    assert "def embed" not in texts[0] and "def __init__" not in texts[0]
    assert diagnostics_of(analysis) == diagnostics_of(Engine().analyze(text, SETTINGS))


def test_editing_init_rechecks_the_members_that_read_what_it_assigns(monkeypatch):
    """``self.model = ...`` in ``__init__`` types ``self.model.encode`` in ``embed``: editing ``__init__`` parses
    ``embed`` again (with ``__init__`` in its text), not ``ask``, which reads nothing ``__init__`` sets."""
    engine = Engine()
    analysis = engine.analyze(DOC, SETTINGS)
    texts = _parsed(monkeypatch)
    text = DOC.replace('self.model = SentenceTransformer("all-MiniLM-L6-v2")', "self.model = make_model()", 1)
    analysis = engine.analyze(text, SETTINGS, previous=analysis)
    owners = [t for t in texts if "def embed" in t]
    assert owners and all("self.model = make_model()" in t for t in owners)
    assert not any("def ask" in t for t in texts)
    fresh = Engine().analyze(text, SETTINGS)
    assert diagnostics_of(analysis) == diagnostics_of(fresh)
    assert ("PFL201", 31) not in {(d.code, d.range.start.line) for d in fresh.diagnostics}  # no longer a model


def test_an_edit_inside_a_member_does_not_parse_the_whole_class(monkeypatch):
    """The incremental split parses the edited member after its class's header line, not the class."""
    import perf_lsp.source as source

    engine = Engine()
    analysis = engine.analyze(DOC, SETTINGS)
    parsed: list[str] = []
    real = source.ast.parse

    def spy(text, *args, **kwargs):
        parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(source.ast, "parse", spy)
    text = _typed(DOC, "        self.items = []\n", "        self.extra = 1\n")
    split = source.split_incremental(lines_of(DOC), source.SplitResult(analysis.chunks, analysis.context, None), lines_of(text))
    monkeypatch.undo()
    assert split is not None
    assert parsed and all("def embed" not in t for t in parsed)
    assert [(c.start, c.end, c.text) for c in split.chunks] == [
        (c.start, c.end, c.text) for c in source.split_document(text).chunks
    ]


def test_a_nested_class_splits_too(monkeypatch):
    """Typing in a method of the nested class parses that method after both class header lines (and the units
    whose receivers it may assign, ``self.model`` here: ``embed``'s), not the others."""
    engine = Engine()
    analysis = engine.analyze(DOC, SETTINGS)
    texts = _parsed(monkeypatch)
    text = _typed(DOC, "        def run(self, texts):\n", "            n = 1\n")
    analysis = engine.analyze(text, SETTINGS, previous=analysis)
    assert any(
        t.startswith("class Service:\n    class Inner:\n") and "        def run(self, texts):\n            n = 1\n" in t
        for t in texts
    )
    assert not any("def ask" in t or "def build" in t for t in texts)
    assert diagnostics_of(analysis) == diagnostics_of(Engine().analyze(text, SETTINGS))


def test_a_keystroke_in_a_method_walks_that_method_only_for_the_module_facts(monkeypatch):
    """The module context's mutated globals are remembered per function: after a keystroke in ``ask`` they
    walk ``ask`` again, not the class's other methods (a 3,000-line class cost ~14 ms per keystroke)."""
    import perf_lsp.analysis.module as module_facts

    engine = Engine()
    analysis = engine.analyze(DOC, SETTINGS)
    analysis.context.mutated_globals  # a lazy fact, computed when a rule's candidate needs it: here, now
    walked: list[str] = []
    real = module_facts._scope_mutations

    def spy(func, *args, **kwargs):
        walked.append(func.name)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(module_facts, "_scope_mutations", spy)
    text = _typed(DOC, "    def ask(self, prompt):\n", "        n = len(prompt)\n")
    analysis = engine.analyze(text, SETTINGS, previous=analysis)
    analysis.context.mutated_globals
    monkeypatch.undo()
    assert walked == ["ask"]
    assert analysis.context.fingerprint == Engine().analyze(text, SETTINGS).context.fingerprint


# -- a class analysed whole (the CLI) and unit by unit (the server) -----------------------------------------------
_CLASS_CASES = [case for case in CASES if "\nclass " in "\n" + case.source]


@pytest.mark.parametrize("case", _CLASS_CASES, ids=[case.id for case in _CLASS_CASES])
def test_a_class_analysed_whole_or_unit_by_unit_gives_the_same_findings_and_fixes(case):
    """``Engine(split_classes=False)`` (the CLI's one-shot check) and the default unit-by-unit analysis agree on
    every fixture with a class: the same diagnostics, and every fix and fix-all the same edits."""
    split, whole = Engine().analyze(case.source, SETTINGS), Engine(split_classes=False).analyze(case.source, SETTINGS)
    assert diagnostics_of(split) == diagnostics_of(whole)
    for mine, theirs in zip(split.diagnostics, whole.diagnostics):
        for which in range(len(mine.fixes)):
            assert split.fix(mine, which) == whole.fix(theirs, which), (mine.code, mine.range, which)
    for unsafe in (False, True):
        assert (
            Engine().fix_all(case.source, SETTINGS, unsafe=unsafe).source
            == Engine(split_classes=False).fix_all(case.source, SETTINGS, unsafe=unsafe).source
        )


def test_split_classes_false_analyses_each_class_whole(monkeypatch):
    """The switch the comparison above relies on: without it a class is parsed unit by unit, with it once whole."""
    texts = _parsed(monkeypatch)
    split = Engine().analyze(DOC, SETTINGS)
    assert any(result.units for result in split.results)
    unit_texts = len(texts)
    texts.clear()
    whole = Engine(split_classes=False).analyze(DOC, SETTINGS)
    assert not any(result.units for result in whole.results)
    assert sum("class Service" in t for t in texts) == 1 < unit_texts
    assert diagnostics_of(split) == diagnostics_of(whole)


def test_typing_in_a_method_does_not_keep_every_version_of_it():
    """The units made for a class are kept for reuse only while they are made of its current members: a unit
    built from a version of a method that was typed over cannot be asked for again (members are compared by
    identity), so 60 keystrokes leave as many units as one does, not one per keystroke (each held the
    member's :mod:`ast` tree: ~200 KB a keystroke in a 250-line method)."""
    engine = Engine()
    analysis = engine.analyze(DOC, SETTINGS)
    text = DOC

    def made() -> int:
        layouts = [c.layout for c in analysis.chunks if c.layout is not None]
        return sum(1 for layout in layouts for key in layout._made if key[0] != "plan")

    counts = []
    for _ in range(60):
        text = _typed(text, "    def ask(self, prompt):\n        ", "x")
        analysis = engine.analyze(text, SETTINGS, previous=analysis)
        counts.append(made())
    assert counts[-1] == counts[0]
    assert diagnostics_of(analysis) == diagnostics_of(Engine().analyze(text, SETTINGS))
