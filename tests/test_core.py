"""Core pieces on their own: text edits, splitting, noqa, settings, the per-statement cache."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from perf_lsp import noqa
from perf_lsp.engine import Engine
from perf_lsp.model import Edit, Position, Range
from perf_lsp.rules import CODES, OPTIONS
from perf_lsp.settings import Settings, from_lsp_options, from_pyproject_table
from perf_lsp.source import split_document, split_lines
from perf_lsp.textedit import apply_edits, diff_edits, merge_insertions

LINES = st.lists(st.sampled_from(["a\n", "bb\n", "é😋\n", "x = 1\r\n", "\n", "zz", "\r", "  y\n"]), max_size=12)


@hsettings(max_examples=300, deadline=None)
@given(LINES, LINES)
def test_diff_edits_turn_old_into_new(old_lines, new_lines):
    old, new = "".join(old_lines), "".join(new_lines)
    edits = diff_edits(old, new)
    assert apply_edits(old, edits) == new
    if old == new:
        assert edits == []


def test_diff_edits_are_minimal_and_shifted():
    edits = diff_edits("x = foo(1)\ny = 2\n", "x = bar(1)\ny = 2\n", first_line=10)
    assert edits == [Edit(Range(Position(10, 4), Position(10, 7)), "bar")]


def test_merge_insertions_keeps_order_and_rejects_overlap():
    at = Position(1, 0)
    merged = merge_insertions([Edit(Range(at, at), "a"), Edit(Range(at, at), "b")])
    assert merged == [Edit(Range(at, at), "ab")]
    try:
        merge_insertions([Edit(Range(Position(1, 0), Position(1, 3)), ""), Edit(Range(Position(1, 2), Position(1, 4)), "")])
    except ValueError:
        pass
    else:
        raise AssertionError("overlap not detected")


def test_split_lines_matches_python_line_counting():
    assert split_lines("a\x0cb\u2028c\r\nd\re") == ["a\x0cb\u2028c\r\n", "d\r", "e"]


def test_split_document_groups_decorators_and_shared_lines():
    source = "import re\n\n@dec\ndef f():\n    pass\nx = 1; y = 2\n"
    split = split_document(source)
    assert [(c.start, c.end) for c in split.chunks] == [(1, 1), (3, 5), (6, 6)]
    assert split.syntax_error is None


def test_split_document_recovers_around_a_syntax_error():
    source = "import re\n\ndef broken(:\n    pass\n\ndef good(xs):\n    return [re.compile('a').match(x) for x in xs]\n"
    split = split_document(source)
    assert split.syntax_error and split.syntax_error.startswith("line 3")
    assert [(c.start, c.end) for c in split.chunks] == [(1, 1), (3, 4), (6, 7)]
    assert split.context.imported("re") == "re"
    analysis = Engine().analyze(source, Settings())
    assert [(d.code, d.range.start.line) for d in analysis.diagnostics] == [("PFL401", 7)]


def test_noqa_parsing():
    assert noqa.suppressed_codes("# noqa") == noqa.ALL
    assert noqa.suppressed_codes("# NOQA: pfl101, PFL201") == {"PFL101", "PFL201"}
    assert noqa.suppressed_codes("# noqa:PFL101 PFL401") == {"PFL101", "PFL401"}
    assert noqa.suppressed_codes("# just a comment") == set()
    assert noqa.noqa_map("x = '# noqa'\n") == {}


def test_noqa_insertion_points():
    text = "a = f()\nb = g()  # noqa: PFL101\nc = h()  # why\nd = '''\n'''\ne = 1 + \\\n  2\n"
    assert noqa.noqa_insertion(text, 1, "PFL401") == (7, "  # noqa: PFL401")
    assert noqa.noqa_insertion(text, 2, "PFL401") == (23, ", PFL401")
    assert noqa.noqa_insertion(text, 3, "PFL401") == (14, "  # noqa: PFL401")
    assert noqa.noqa_insertion(text, 4, "PFL401") is None  # the line ends inside a string
    assert noqa.noqa_insertion(text, 6, "PFL401") is None  # backslash continuation


def test_select_and_ignore_prefixes():
    s = Settings(select=("PFL",), ignore=("PFL4",))
    assert s.enabled("PFL101") and not s.enabled("PFL401")
    s = Settings(select=("PFL401",), ignore=("PFL4",))
    assert s.enabled("PFL401")  # the more specific selector wins
    assert not Settings(select=("PFL1",)).enabled("PFL301")
    assert Settings(select=("ALL",)).enabled("PFL301")


def test_lsp_options_fall_back_per_key_with_messages():
    settings, messages = from_lsp_options(
        {"perf-lsp": {"select": "PFL1", "unsafeFixes": "yes", "debounceMs": -5, "severity": {"PFL101": "loud"}, "bogus": 1}}, codes=CODES
    )
    assert settings.select == ("PFL1",)
    assert settings.unsafe_fixes is False and settings.debounce_ms == Settings().debounce_ms
    assert settings.severity_of("PFL101") == "warning"
    assert len(messages) == 4 and all(m.startswith("client settings") for m in messages)
    settings, messages = from_lsp_options({"severity": {"PFL101": "error"}, "unsafeFixes": True}, codes=CODES)
    assert settings.severity_of("PFL101") == "error" and settings.unsafe_fixes and messages == []
    assert from_lsp_options("nonsense", codes=CODES)[1]


def test_lsp_options_accept_empty_tables_encoded_as_lists():
    # Neovim's JSON encoder writes an empty Lua table as [] (editors/neovim found it).
    for options in ([], {"perf-lsp": []}, {"perf-lsp": {}}, {}):
        settings, messages = from_lsp_options(options, codes=CODES)
        assert settings == Settings() and messages == [], options
    settings, messages = from_lsp_options({"perf-lsp": {"select": ["PFL1"], "severity": []}}, codes=CODES)
    assert settings.select == ("PFL1",) and messages == []


def test_pyproject_table_messages_name_file_and_key():
    settings, messages = from_pyproject_table(
        {"unsafe-fixes": 3, "extend-heavy-constructors": ["nodots"]}, "x/pyproject.toml", codes=CODES, options=OPTIONS
    )
    assert settings == Settings()
    assert messages[0].startswith("x/pyproject.toml: [tool.perf-lsp]: 'unsafe-fixes'")
    assert "extend-heavy-constructors" in messages[1]


def test_extend_heavy_constructors_setting():
    source = "from acme.ml import Ranker\n\ndef rank(q):\n    r = Ranker('big')\n    return r(q)\n"
    engine = Engine()
    assert engine.analyze(source, Settings()).diagnostics == []
    diags = engine.analyze(source, Settings().with_options(extend_heavy_constructors=("acme.ml.Ranker",))).diagnostics
    assert [d.code for d in diags] == ["PFL101"]


def test_only_the_edited_statement_is_parsed_again(monkeypatch):
    import perf_lsp.engine as engine_module

    calls = []
    real = engine_module.analyze_chunk
    monkeypatch.setattr(engine_module, "analyze_chunk", lambda text, *a: calls.append(text) or real(text, *a))
    engine = Engine()
    body = "import re\n\n" + "".join(f"def f{i}(xs):\n    return [re.compile('{i}').match(x) for x in xs]\n\n" for i in range(20))
    engine.analyze(body, Settings())
    assert len(calls) == 20
    calls.clear()
    edited = body.replace("re.compile('7')", "re.compile('77')")
    diags = engine.analyze(edited, Settings()).diagnostics
    assert len(calls) == 1 and "'77'" in calls[0]
    assert len(diags) == 20


def test_generated_rule_docs_are_current():
    from pathlib import Path

    from perf_lsp.output import rules_markdown

    docs = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    assert docs.read_text(encoding="utf-8") == rules_markdown() + "\n", "run: perf-lsp rules --markdown > docs/rules.md"


BLOCKS = [
    "import re\n",
    "from sentence_transformers import SentenceTransformer\n",
    '"""Module doc."""\n',
    "\n",
    "# a comment\n",
    "X = 1\n",
    "model = SentenceTransformer('m')\n",
    "def f(xs):\n    return [re.compile('a').match(x) for x in xs]\n",
    "@decorator\ndef g():\n    pass\n",
    "class C:\n    def m(self):\n        return 1\n\n    def n(self):\n        return 2\n",
    "if X:\n    y = 2\nelse:\n    y = 3\n",
    "s = '''\nnot code\n'''\n",
    "a = 1; b = 2\n",
]
EDIT_LINES = st.sampled_from(["    z = 1\n", "def h():\n", "    return (\n", "x = [\n", "]\n", "import json\n", "'''\n", "\n", "# c\n", "@dec\n", "  bad indent\n"])


@hsettings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=3),
    st.lists(EDIT_LINES, max_size=3),
)
def test_incremental_split_matches_a_full_split(blocks, at, removed, inserted):
    from perf_lsp.source import split_incremental

    old_source = "".join(blocks)
    old_lines = split_lines(old_source)
    at = min(at, len(old_lines))
    new_lines = old_lines[:at] + inserted + old_lines[at + removed :]
    new_source = "".join(new_lines)
    old = split_document(old_source)
    full = split_document(new_source)
    quick = split_incremental(old_lines, old, split_lines(new_source))
    if quick is None:
        return  # the caller falls back to the full split
    assert full.syntax_error is None
    assert [(c.start, c.end, c.text) for c in quick.chunks] == [(c.start, c.end, c.text) for c in full.chunks]
    assert quick.context == full.context
    assert quick.context.import_lines == full.context.import_lines
    assert quick.context.header_end == full.context.header_end


def test_incremental_split_reparses_only_the_edited_statement():
    from perf_lsp.source import split_incremental

    source = "import re\n\n\ndef f(x):\n    return x\n\n\ndef g(y):\n    return y\n"
    old = split_document(source)
    edited = source.replace("    return x\n", "    z = 1\n    return x + z\n")
    quick = split_incremental(split_lines(source), old, split_lines(edited))
    assert quick is not None
    assert [(c.start, c.end) for c in quick.chunks] == [(1, 1), (4, 6), (9, 10)]
    assert quick.chunks[0] is old.chunks[0]  # untouched statements are reused, not re-parsed
    assert quick.chunks[2].nodes is old.chunks[2].nodes
    broken = source.replace("    return x\n", "    return (x\n")
    assert split_incremental(split_lines(source), old, split_lines(broken)) is None


def test_catalog_extension_settings():
    settings, messages = from_pyproject_table(
        {
            "extend-clients": ["acme.llm.Client"],
            "extend-batchable-methods": ["acme.embed.Embedder.embed_one"],
            "extend-blocking-calls": {"acme.io.fetch_sync": "use acme.io.fetch"},
        },
        "pyproject.toml", codes=CODES, options=OPTIONS,
    )
    options = {option.name: option for option in OPTIONS}
    assert messages == []
    assert settings.option(options["extend_clients"]) == ("acme.llm.Client",)
    assert settings.option(options["extend_batchable_methods"]) == ("acme.embed.Embedder.embed_one",)
    assert settings.option(options["extend_blocking_calls"]) == (("acme.io.fetch_sync", "use acme.io.fetch"),)
    settings, messages = from_lsp_options(
        {"extendBlockingCalls": ["not", "a", "table"], "extendClients": "acme.Client"}, codes=CODES, rule_options=OPTIONS
    )
    assert settings.option(options["extend_clients"]) == ("acme.Client",)
    assert settings.option(options["extend_blocking_calls"]) == () and "extendBlockingCalls" in messages[0]
    # the readers know only the options they are given
    _, messages = from_pyproject_table({"extend-clients": ["acme.llm.Client"]}, "pyproject.toml", codes=CODES)
    assert messages == ["pyproject.toml: [tool.perf-lsp]: unknown key 'extend-clients' (ignored)"]


def test_a_rule_that_raises_costs_only_its_own_findings():
    import libcst as cst

    from perf_lsp.rules import REGISTRY
    from perf_lsp.rules.base import Rule

    class Broken(Rule):
        code = "PFL999"
        name = "broken"
        message = "never"
        triggers = r"def"

        def visit_Call(self, node: cst.Call) -> None:
            raise AttributeError("a bug in a rule")

    source = "import re\n\ndef f(xs):\n    return [re.compile('a').match(x) for x in xs]\n"
    engine = Engine(rules=(*REGISTRY, Broken))
    analysis = engine.analyze(source, Settings(select=("PFL401", "PFL999")))
    assert [d.code for d in analysis.diagnostics] == ["PFL401"]
    assert "PFL999: AttributeError" in analysis.results[1].error


def test_opt_in_rules_need_their_code_selected_by_name():
    # PFL502/PFL503/PFL601 fire mostly on small inputs in real code (``docs/real-code-review.md``): opt-in.
    from perf_lsp.rules import REGISTRY

    opt_in = {rule.code for rule in REGISTRY if rule.opt_in}
    assert opt_in == {"PFL502", "PFL503", "PFL601"}
    default = Settings()
    assert not any(default.enabled(code, opt_in=True) for code in opt_in)
    assert all(default.enabled(rule.code, rule.opt_in) for rule in REGISTRY if not rule.opt_in)
    assert not Settings(select=("PFL5",)).enabled("PFL502", opt_in=True)
    assert Settings(select=("PFL5",)).enabled("PFL501", opt_in=False)
    assert Settings(select=("PFL", "PFL502")).enabled("PFL502", opt_in=True)
    assert Settings(select=("ALL",)).enabled("PFL601", opt_in=True)
    assert not Settings(select=("ALL",), ignore=("PFL5",)).enabled("PFL502", opt_in=True)
    source = "def top(corpus):\n    return sorted(corpus, key=len)[:3]\n"  # a whole collection: see PFL502's size evidence
    assert not Engine().analyze(source, Settings()).diagnostics
    assert [d.code for d in Engine().analyze(source, Settings(select=("PFL502",))).diagnostics] == ["PFL502"]


def _pygls_apply(lines: list[str], start_line, start_col, end_line, end_col, text) -> str:
    """pygls 2.1's TextDocument._apply_incremental_change, on code-point columns (the reference)."""
    if start_line == len(lines):
        return "".join(lines) + text
    out = []
    for i, line in enumerate(lines):
        if i < start_line or i > end_line:
            out.append(line)
            continue
        if i == start_line:
            out.append(line[:start_col] + text)
        if i == end_line:
            out.append(line[end_col:])
    return "".join(out)


def _editor_apply(lines: list[str], start_line, start_col, end_line, end_col, text) -> str:
    """What an editor does with an LSP range (the reference): a character past the end of a line is
    the line's end (before its line ending), a line past the last one is the end of the text, and a
    reversed range is the same range the right way round."""

    def offset(line: int, col: int) -> int:
        if line >= len(lines):
            return sum(map(len, lines))
        body = lines[line].rstrip("\r\n")
        return sum(map(len, lines[:line])) + min(col, len(body))

    source = "".join(lines)
    start, end = sorted((offset(start_line, start_col), offset(end_line, end_col)))
    return source[:start] + text + source[end:]


@hsettings(max_examples=400, deadline=None)
@given(LINES, st.data())
def test_replace_range_matches_pygls_and_keeps_lines_split(doc_lines, data):
    """In range, replace_range is pygls' incremental change; out of range (a character past the end of
    its line, a line past the last, a reversed range), it is the editor's (LSP) reading of the range."""
    from perf_lsp.textedit import replace_range

    source = "".join(doc_lines)
    lines = split_lines(source)
    n = len(lines)
    start_line = data.draw(st.integers(0, n + 2))
    end_line = data.draw(st.integers(0, n + 2))
    start_col = data.draw(st.integers(0, 9))
    end_col = data.draw(st.integers(0, 9))
    text = data.draw(st.sampled_from(["", "x", "\n", "\r", "\r\n", "ab\rc", "é😋", "\n\n"]))
    new_source, new_lines = replace_range(source, lines, start_line, start_col, end_line, end_col, text)
    assert new_source == _editor_apply(lines, start_line, start_col, end_line, end_col, text)
    assert list(new_lines) == split_lines(new_source)

    def in_range(line: int, col: int) -> bool:
        return line == n or (line < n and col <= len(lines[line].rstrip("\r\n")))

    if (start_line, start_col) <= (end_line, end_col) and in_range(start_line, start_col) and in_range(end_line, end_col):
        assert new_source == _pygls_apply(lines, start_line, start_col, end_line, end_col, text)


def test_replace_range_clamps_a_character_past_the_end_of_its_line():
    from perf_lsp.textedit import replace_range

    source = "ab\ncd"
    lines = split_lines(source)
    # one past the end of "ab": the end of "ab", not after its "\n"
    assert replace_range(source, lines, 0, 3, 0, 3, "X")[0] == "abX\ncd"
    # past the end of the last line (no line ending): its end, not before its last character
    assert replace_range(source, lines, 1, 9, 1, 9, "X")[0] == "ab\ncdX"
    # deleting to "the end of the line" keeps the line ending
    assert replace_range(source, lines, 0, 1, 0, 99, "")[0] == "a\ncd"
    # a reversed range is the same range the right way round
    assert replace_range(source, lines, 1, 1, 0, 1, "-")[0] == "a-d"


def test_engine_cache_is_bounded_by_text_and_keeps_what_owners_retain():
    """A cache of trees per version of a statement being typed in grew without bound."""
    engine = Engine(cache_chars=2_000)
    doc = 'import re\n\n\ndef f(lines):\n    # v0\n    return [re.findall(r"\\d+", s) for s in lines]\n'
    first = engine.analyze(doc, Settings())
    engine.retain("doc", first)
    for i in range(200):
        engine.analyze(doc.replace("# v0", f"# v{i} " + "x" * 50), Settings())
    stats = engine.cache_stats()
    assert stats["loose_chars"] <= 2_000
    assert stats["retained"] == len(first.chunks)
    again = engine.analyze(doc, Settings())  # served from the retained entries
    assert all(a is b for a, b in zip(again.results, first.results))
    # a newer analysis of the same owner releases the older one's entries
    edited = engine.analyze(doc.replace("# v0", "# v1"), Settings())
    engine.retain("doc", edited)
    assert engine.cache_stats()["retained"] == len(edited.chunks)
    engine.release("doc")
    assert engine.cache_stats()["retained"] == 0
    assert engine.cache_stats()["loose_chars"] <= 2_000


def test_every_rule_cites_sources_a_user_can_open():
    """Rule docs and hovers cite library docs and our own benchmarks, not private reports.

    Every rule has a References section of links; every cost figure quoted from ``docs/costs.md`` names the
    benchmark that made it, which exists; nothing cites an audit report the user cannot open.
    """
    import re
    from pathlib import Path

    from perf_lsp.rules import REGISTRY

    root = Path(__file__).resolve().parents[1]
    for rule in REGISTRY:
        refs = rule.section("References")
        links = re.findall(r"^- \[[^\]]+\]\((https://[^)\s]+)\)$", refs, re.M)
        assert links, f"{rule.code}: no References links"
        docs = rule.docs()
        assert "audit report" not in docs.lower(), rule.code
        if "docs/costs.md" in rule.section("Why is this bad?"):
            assert "benchmarks/bench_costs.py" in refs, rule.code
    assert (root / "docs" / "costs.md").is_file()
    assert (root / "benchmarks" / "bench_costs.py").is_file()


def test_each_rule_declares_the_settings_options_it_reads():
    # Settings know no rule: a rule declares its options (RuleOption) in its own file and reads
    # them with settings.option(...); the readers get every rule's (perf_lsp.rules.OPTIONS).
    import re
    import sys

    from perf_lsp.rules import REGISTRY
    from perf_lsp.settings import OPTION_KINDS

    assert not [name for name in Settings.__dataclass_fields__ if name.startswith("extend_") and name != "extend_exclude"]
    names: dict[str, str] = {}
    for rule in REGISTRY:
        module = sys.modules[rule.__module__]
        source = open(module.__file__, encoding="utf-8").read()
        read = set(re.findall(r"settings\.option\((\w+)\)", source))
        assert {option.name for option in rule.options} == {getattr(module, const).name for const in read}, rule.code
        for option in rule.options:
            assert option.kind in OPTION_KINDS and option.doc, (rule.code, option)
            assert option.name not in names, (rule.code, option.name, names.get(option.name))
            names[option.name] = rule.code
    assert {option.name for option in OPTIONS} == set(names)
    assert "extend_clients" in names and names["extend_blocking_calls"] == "PFL303"


def test_findings_and_their_rules_form_no_reference_cycle():
    """A finding's fix builder refers to its rule (and through it the chunk's trees); the rule must not refer
    back to the finding, or every analysed chunk with a finding is garbage only the cycle collector can free:
    the language server runs that collector only when the typing pauses, so each keystroke's trees would pile
    up until then (~0.5 MB a keystroke in a 250-line method)."""
    import gc

    from perf_lsp.engine import analyze_chunk
    from perf_lsp.rules.base import Finding, RuleContext
    from perf_lsp.source import split_document as split

    text = "import re\n\ndef f(rows):\n    for row in rows:\n        re.match(r'a+b', row)\n"
    context = split(text).context
    settings = Settings()
    gc.collect()
    gc.disable()
    try:
        result = analyze_chunk(text, context, settings, Engine().rules)
        assert [f.code for f in result.findings] == ["PFL401"] and result.findings[0].builders
        del result
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        cyclic = [o for o in gc.garbage if isinstance(o, (Finding, RuleContext))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cyclic == []
