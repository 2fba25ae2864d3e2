"""The one receiver inference (perf_lsp.analysis.receivers), through the rules that ask it and directly."""

from __future__ import annotations

import ast
import textwrap

import libcst as cst

from perf_lsp.analysis.bindings import occurrences_in
from perf_lsp.analysis.blocking import FunctionFacts, function_facts, module_function_facts
from perf_lsp.analysis.module import build_module_context
from perf_lsp.analysis.receivers import FamilyCatalog, TypeCatalog, attribute_bindings, called_helper, resolver
from perf_lsp.analysis.semantic import SemanticModel
from perf_lsp.analysis.tree import dotted, walk
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


# -- one call deep: what a function does for its callers ------------------------------------------

_IMPORTS = {
    "functools": "functools",
    "requests": "requests",
    "OpenAI": "openai.OpenAI",
    "AutoModel": "transformers.AutoModel",
    "psycopg2": "psycopg2",
}


def facts_of(source: str, imports: dict[str, str] | None = None) -> dict[str, FunctionFacts]:
    tree = ast.parse(textwrap.dedent(source))
    return dict(module_function_facts(tree.body, _IMPORTS if imports is None else imports))


def test_a_factory_returns_new_and_a_helper_that_uses_its_client_builds():
    facts = facts_of(
        """
        def make_client(key):
            client = OpenAI(api_key=key)
            client.max_retries = 3
            return client

        def ask(q):
            client = OpenAI()
            return client.responses.create(input=q)

        async def get_pool():
            return await psycopg2.connect("dsn")
        """
    )
    assert facts["make_client"].returns_new == ("openai.OpenAI",)
    assert facts["make_client"].builds == ()
    assert facts["ask"].builds == ("openai.OpenAI",)
    assert facts["ask"].returns_new == ()
    assert facts["get_pool"].returns_new == ("psycopg2.connect",) and facts["get_pool"].is_async


def test_cached_and_kept_objects_are_pooled_not_new():
    facts = facts_of(
        """
        _client = None

        @functools.lru_cache(maxsize=None)
        def cached():
            return OpenAI()

        def singleton():
            global _client
            if _client is None:
                _client = OpenAI()
            return _client
        """
    )
    for name in ("cached", "singleton"):
        assert facts[name].returns_new == ()
        assert facts[name].returns == ("openai.OpenAI",)  # the type of what it returns, for receivers
        assert facts[name].returns_pooled


def test_a_client_that_escapes_into_a_closure_or_a_returned_object_is_neither_new_nor_built():
    facts = facts_of(
        """
        def make_asker():
            client = OpenAI()
            def ask(q):
                return client.responses.create(input=q)
            return ask

        def make_wrapper():
            client = OpenAI()
            return Wrapper(client)

        def make_lambda():
            client = OpenAI()
            return lambda q: client.responses.create(input=q)
        """
    )
    assert facts == {}  # nothing a caller could be reported for


def test_chains_that_return_the_same_object_keep_the_constructor():
    facts = facts_of(
        """
        def load(path):
            model = AutoModel.from_pretrained(path)
            model = model.eval()
            return model.to("cuda").half()

        def load_inline(path):
            return AutoModel.from_pretrained(path).eval()

        def load_and_wrap(path):
            return AutoModel.from_pretrained(path).generate("x")
        """
    )
    assert facts["load"].returns_new == ("transformers.AutoModel.from_pretrained",)
    assert facts["load_inline"].returns_new == ("transformers.AutoModel.from_pretrained",)
    assert "load_and_wrap" not in facts or facts["load_and_wrap"].returns_new == ()


def test_requests_outside_the_helpers_own_loops_and_blocking_calls():
    facts = facts_of(
        """
        def fetch(url):
            return requests.get(url, timeout=5).json()

        def fetch_all(urls):
            return [requests.get(u, timeout=5) for u in urls]

        def stream(url):
            yield requests.get(url, timeout=5)
        """
    )
    assert facts["fetch"].requests == "requests.get" and facts["fetch"].blocks == "requests.get"
    assert facts["fetch_all"].requests is None  # its own loop: PFL104 reports it there
    assert facts["fetch_all"].blocks == "requests.get"
    assert facts["stream"].blocks is None and facts["stream"].generator  # runs when iterated


def test_function_facts_are_kept_per_node_and_round_trip_through_json():
    tree = ast.parse("def f():\n    return OpenAI()\n")
    first = function_facts(tree.body[0], _IMPORTS)
    assert function_facts(tree.body[0], dict(_IMPORTS)) is first  # same node, same imports: computed once
    assert function_facts(tree.body[0], {}) != first  # other imports: computed again (nothing resolves)
    assert FunctionFacts.from_json(first.to_json()) == first


def test_module_facts_name_methods_by_class_and_a_later_definition_wins():
    facts = facts_of(
        """
        def make():
            return OpenAI()

        def make():
            return None

        class Store:
            def _connect(self):
                return psycopg2.connect("dsn")
        """
    )
    assert "make" not in facts
    assert facts["Store._connect"].returns_new == ("psycopg2.connect",)


def test_called_helper_resolves_module_functions_and_own_methods_only():
    ctx = model(
        """
        from openai import OpenAI
        from other import imported

        def make():
            return OpenAI()

        def imported():
            return OpenAI()

        class Svc:
            def _new(self):
                return OpenAI()

            @staticmethod
            def static():
                return OpenAI()

            def run(self, make_arg):
                a = make()
                b = self._new()
                c = imported()
                make = make_arg
                d = make()
        """
    )
    calls = {dotted_callee(n): n for n in walk(ctx.module.body[-1]) if isinstance(n, cst.Call)}
    assert called_helper(calls["self._new"], ctx).name == "Svc._new"
    assert called_helper(calls["self._new"], ctx).label == "self._new()"
    assert called_helper(calls["imported"], ctx) is None  # the imported name, not the later def
    assert called_helper(calls["make"], ctx) is None  # ``make`` is a local of run()


def dotted_callee(call: cst.Call) -> str:
    return dotted(call.func) or ""


_CLIENTS = TypeCatalog(constructors={"openai.OpenAI": "client"}, helpers=True)


def test_resolver_follows_a_factory_one_call_deep_only_when_the_catalog_asks():
    ctx = model(
        """
        import functools
        from openai import OpenAI

        @functools.cache
        def get_client():
            return OpenAI()

        class Bot:
            def __init__(self):
                self.client = get_client()

            def reply(self, q):
                return self.client.responses.create(input=q)
        """
    )
    call, receiver = receiver_of(ctx, "create")
    receiver = receiver.value  # self.client.responses -> self.client
    receivers = resolver(ctx, _CLIENTS)
    assert receivers.kind(receiver, receivers.scopes_at(call)) == "client"
    plain = resolver(ctx, TypeCatalog(constructors={"openai.OpenAI": "client"}))
    assert plain.kind(receiver, plain.scopes_at(call)) is None


def test_resolver_follows_eval_and_to_chains_and_a_driver_module_on_self():
    ctx = model(
        """
        import sqlite3
        from transformers import AutoModel

        class Ranker:
            def __init__(self, path):
                self.model = AutoModel.from_pretrained(path).eval().to("cuda")
                self.driver = sqlite3

            def rank(self, batch):
                return self.model.generate(batch)

            def rows(self, path):
                return self.driver.connect(path).cursor().fetchall()
        """
    )
    models = FamilyCatalog(lambda q: q == "transformers.AutoModel.from_pretrained", lambda q: False)
    call, receiver = receiver_of(ctx, "generate")
    assert resolver(ctx, models).kind(receiver, resolver(ctx, models).scopes_at(call)) == "instance"
    call, receiver = receiver_of(ctx, "fetchall")
    receivers = resolver(ctx, CATALOG)
    assert receivers.kind(receiver, receivers.scopes_at(call)) == "cursor"


def test_one_call_deep_finding_names_the_helper_and_is_not_repeated_at_callers():
    found = reported(
        """
        from openai import OpenAI

        def make_client():
            return OpenAI()

        def complete(prompt):
            client = OpenAI()
            return client.completions.create(prompt=prompt)

        def handle(prompts):
            client = make_client()
            return [complete(p) for p in prompts]
        """,
        "PFL102",
    )
    assert [line for line, _ in found] == [7, 11]
    assert found[1][1].startswith("`make_client()` builds a new `OpenAI` client on every call of `handle()`")


def test_editing_the_helper_rechecks_its_unchanged_callers():
    before = textwrap.dedent(
        """
        import functools
        from openai import OpenAI

        def make_client():
            return OpenAI()

        def handle(q):
            return make_client().responses.create(input=q)
        """
    )
    after = before.replace("def make_client", "@functools.cache\ndef make_client")
    engine = Engine()
    settings = Settings(select=("ALL",))
    assert [d.code for d in engine.analyze(before, settings).diagnostics] == ["PFL102"]
    assert [d.code for d in engine.analyze(after, settings).diagnostics] == []
    assert [d.code for d in engine.analyze(before, settings).diagnostics] == ["PFL102"]


def test_helpers_of_other_modules_through_the_project_index(tmp_path):
    from perf_lsp.analysis.hotness import ProjectIndex

    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "clients.py").write_text(
        textwrap.dedent(
            """
            import functools

            import requests
            from openai import OpenAI

            def make_client():
                return OpenAI(timeout=30)

            @functools.cache
            def shared_client():
                return OpenAI(timeout=30)

            def fetch(url):
                return requests.get(url, timeout=5).json()
            """
        )
    )
    api = package / "api.py"
    source = textwrap.dedent(
        """
        from app.clients import fetch, make_client, shared_client

        def ask(question):
            client = make_client()
            return client.responses.create(input=question)

        def ask_shared(question):
            return shared_client().responses.create(input=question)

        def crawl(urls):
            return [fetch(u) for u in urls]
        """
    ).lstrip("\n")
    api.write_text(source)
    index = ProjectIndex.build(sorted(package.glob("*.py")))
    hotness = index.for_file(api)
    assert [name for name, _ in hotness.helpers] == ["fetch", "make_client", "shared_client"]
    found = Engine().analyze(source, Settings(select=("ALL",)), hotness=hotness).diagnostics
    assert [(d.code, d.range.start.line) for d in found] == [("PFL102", 4), ("PFL104", 11)]
    assert "`make_client()` builds a new `OpenAI` client" in found[0].message
    # without the index, an imported name is not followed (same module only)
    assert [d.code for d in Engine().analyze(source, Settings(select=("ALL",))).diagnostics] == []


def test_an_imported_helper_that_blocks_is_pfl303_through_the_project_index(tmp_path):
    from perf_lsp.analysis.hotness import ProjectIndex

    package = tmp_path / "svc"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "io_utils.py").write_text("import time\n\n\ndef wait_a_bit():\n    time.sleep(1)\n\n\nasync def nap():\n    pass\n")
    source = "from svc.io_utils import nap, wait_a_bit\n\n\nasync def handler():\n    wait_a_bit()\n    await nap()\n"
    (package / "api.py").write_text(source)
    hotness = ProjectIndex.build(sorted(package.glob("*.py"))).for_file(package / "api.py")
    found = Engine().analyze(source, Settings(select=("ALL",)), hotness=hotness).diagnostics
    assert [(d.code, d.range.start.line) for d in found] == [("PFL303", 5)]
    assert "`wait_a_bit()` blocks the event loop: it calls `time.sleep`" in found[0].message
