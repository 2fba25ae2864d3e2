"""The one receiver inference (perf_lsp.analysis.receivers), through the rules that ask it and directly."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst

from perf_lsp.analysis.bindings import occurrences_in
from perf_lsp.analysis.module import build_module_context
from perf_lsp.analysis.receivers import FamilyCatalog, TypeCatalog, attribute_bindings, resolver
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import walk
from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

ENGINE = Engine()


def reported(source: str, code: str) -> list[tuple[int, str]]:
    analysis = ENGINE.analyze(textwrap.dedent(source).lstrip("\n"), Settings(select=("ALL",)))
    return [(d.range.start.line, d.message) for d in analysis.diagnostics if d.code == code]


def test_blocking_session_method_through_an_attribute_set_in_init():
    found = reported(
        """
        import requests

        class Api:
            def __init__(self):
                self.session = requests.Session()

            async def fetch(self, url):
                return self.session.get(url, timeout=5)
        """,
        "PFL303",
    )
    assert [line for line, _ in found] == [8]
    assert "`self.session.get`" in found[0][1]


def test_blocking_session_method_through_an_annotated_parameter():
    found = reported(
        """
        import requests

        async def fetch(session: requests.Session, url):
            return session.get(url, timeout=5)
        """,
        "PFL303",
    )
    assert [line for line, _ in found] == [4]


def test_blocking_receiver_must_be_a_session_however_it_is_bound():
    # ``s`` may be another object: "must be", not "may be", for a blocking receiver
    assert not reported(
        """
        import requests

        async def fetch(url, other):
            s = requests.Session()
            if other:
                s = other
            return s.get(url, timeout=5)
        """,
        "PFL303",
    )


def test_blocking_cursor_of_a_connection_attribute():
    found = reported(
        """
        import sqlite3

        class Store:
            def __init__(self, path):
                self.conn = sqlite3.connect(path)

            async def rows(self):
                cur = self.conn.cursor()
                return cur.fetchall()
        """,
        "PFL303",
    )
    assert [line for line, _ in found] == [9]  # the fetch on the cursor; making one does not block


# -- the inference itself, on a chunk whose parents are all recorded -------------------------
CATALOG = TypeCatalog(
    constructors={"requests.Session": "session", "sqlite3.connect": "conn"},
    methods={("conn", "cursor"): "cursor"},
)


def model(source: str) -> SemanticModel:
    text = textwrap.dedent(source).lstrip("\n")
    ctx = SemanticModel(cst.parse_module(text), build_module_context([(s, 1) for s in ast.parse(text).body]), text)
    ctx.record_parents(ctx.module)
    return ctx


def receiver_of(ctx: SemanticModel, method: str) -> tuple[cst.Call, cst.BaseExpression]:
    call = next(n for n in walk(ctx.module) if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == method)
    return call, call.func.value


def test_record_parents_covers_code_ahead_of_the_traversal_once():
    ctx = model(
        """
        def f(x):
            y = x
            return y
        """
    )
    func = ctx.module.body[0]
    table, by_name = occurrences_in(ctx, func)
    assert table is ctx.record_parents(func)  # one table: the chunk's
    store = next(node for node, is_store in by_name["y"] if is_store)
    assert ctx.enclosing_function(store) is func


def test_tags_are_may_be_and_kind_is_must_be():
    ctx = model(
        """
        import requests

        def f(other):
            s = requests.Session()
            if other:
                s = other
            s.get("u")
        """
    )
    call, receiver = receiver_of(ctx, "get")
    receivers = resolver(ctx, CATALOG)
    assert receivers.tags(receiver, call) == {"session"}
    assert receivers.kind(receiver, receivers.scopes_at(call)) is None


def test_self_attribute_set_in_init_and_method_result():
    ctx = model(
        """
        import sqlite3

        class Store:
            def __init__(self, path):
                self.db = sqlite3.connect(path)

            def rows(self):
                return self.db.cursor().fetchall()
        """
    )
    call, receiver = receiver_of(ctx, "fetchall")
    receivers = resolver(ctx, CATALOG)
    assert receivers.kind(receiver, receivers.scopes_at(call)) == "cursor"
    cls = ctx.module.body[1]
    assert [kind for kind, _, _ in attribute_bindings(cls)["db"]] == ["value"]


def test_family_catalog_follows_a_cached_factory():
    ctx = model(
        """
        import functools
        from sentence_transformers import SentenceTransformer

        @functools.cache
        def _get_model(*args, **kwargs):
            return SentenceTransformer(*args, **kwargs)

        def embed(texts):
            m = _get_model("all-MiniLM-L6-v2")
            return m.encode(texts)
        """
    )
    family = FamilyCatalog(lambda q: q == "sentence_transformers.SentenceTransformer", lambda q: False, factories=True)
    plain = FamilyCatalog(lambda q: q == "sentence_transformers.SentenceTransformer", lambda q: False)
    call, receiver = receiver_of(ctx, "encode")
    assert resolver(ctx, family).is_instance(receiver, call)
    assert not resolver(ctx, plain).is_instance(receiver, call)


def test_blocking_helper_under_lazy_init_is_skipped_wherever_the_class_defines_it():
    # the helper's guard is seen whether the helper comes before or after its caller
    helper = '''
        def _config(self):
            if self._cfg is None:
                self._cfg = requests.get("https://example.com/config", timeout=5).json()
            return self._cfg
    '''
    caller = '''
        async def fetch(self):
            return self._config()
    '''
    for first, second in ((caller, helper), (helper, caller)):
        source = "import requests\n\nclass Api:\n" + textwrap.indent(textwrap.dedent(first) + textwrap.dedent(second), "    ")
        assert not reported(source, "PFL303"), source
