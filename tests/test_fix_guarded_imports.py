"""Fixes in modules whose only import of what the fix needs is guarded.

A name bound only under ``if TYPE_CHECKING:`` is unbound at run time, and one bound in a ``try`` (an
optional dependency) may be None: a fix must not use such a name, nor make the module import an
optional package unconditionally. Each ``guarded_*``/``optional_*`` fixture is fixed with
``fix --unsafe-fixes --select ALL`` and both versions are run, with stand-ins for the packages (or with
the optional package missing): the fixed module must import and give the same result.
"""

from __future__ import annotations

import asyncio
import sys
import types

import pytest
from fixtures import CASES

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

ENGINE = Engine()
ALL = Settings(select=("ALL",))


class _Model:
    loads = 0

    def __init__(self, *args, **kwargs):
        type(self).loads += 1

    def encode(self, text):
        return repr(text)

    def __call__(self, text):
        return [text]


class _Redis:
    def __init__(self, host="localhost", port=6379):
        self.host = host

    def get(self, key):
        return f"{self.host}/{key}"


class _OpenAI:
    def __init__(self, api_key=None):
        self.chat = types.SimpleNamespace(completions=types.SimpleNamespace(create=self._create))

    @staticmethod
    def _create(model, messages):
        return messages[-1]["content"]


class _Session:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def post(self, url, **kwargs):
        return url


class _Client:
    async def get(self, url):
        await asyncio.sleep(0)
        return url


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


_SENTENCE = {"sentence_transformers": _module("sentence_transformers", SentenceTransformer=_Model)}
_PIPELINE = {"transformers": _module("transformers", pipeline=lambda task: _Model(task))}
_REQUESTS = {"requests": _module("requests", post=lambda url, **kw: url, Session=_Session)}

# case id -> (modules to install, None meaning "not installed"; code run after the module, which sets ``result``;
# ``Client`` (an async client) and ``run`` (asyncio.run) are given to it)
PROGRAMS: dict[str, tuple[dict, str]] = {
    "pfl101/guarded_module_import": (
        {**_SENTENCE, **_PIPELINE},
        "result = (embed(['a', 'b'], 'm'), embed(['c'], 'm'), tag('x'), tag('y'))",
    ),
    "pfl101/guarded_module_import#missing": (
        {**_SENTENCE, "transformers": None},
        "result = embed(['a'], 'm')\ntry:\n    tag('x')\nexcept RuntimeError as exc:\n    result = (result, str(exc))",
    ),
    "pfl102/guarded_client_import": (
        {"openai": _module("openai", OpenAI=_OpenAI)},
        "result = complete('hi', 'key')",
    ),
    "pfl102/guarded_client_import#missing": (
        {"openai": None},
        "try:\n    complete('hi', 'key')\nexcept RuntimeError as exc:\n    result = str(exc)",
    ),
    "pfl103/guarded_redis_import": ({"redis": _module("redis", Redis=_Redis)}, "result = get_user(7)"),
    "pfl104/optional_requests_import": (_REQUESTS, "result = (upload_all(['a'], 'u'), notify_all(['v']))"),
    "pfl104/optional_requests_import#missing": (
        {"requests": None},
        "try:\n    upload_all(['a'], 'u')\nexcept AttributeError:\n    result = 'no requests'",
    ),
    "pfl301/guarded_gather_import": ({}, "result = run(load(Client()))"),
    "pfl302/guarded_gather_import": ({}, "result = run(fetch_all(Client(), ['a', 'b']))"),
    "pfl303/guarded_asyncio_import": ({}, "result = run(pause(0))"),
    "pfl304/guarded_to_thread_import": (_SENTENCE, "result = run(embed('a'))"),
    "pfl401/guarded_re_import": ({}, "result = headings(['# a', 'b', '## c'])"),
    "pfl501/guarded_numpy_import": ({"numpy": None}, "result = round(cosine_similarity([1.0, 2.0], [2.0, 1.0]), 6)"),
    "pfl502/guarded_heapq_import": ({}, "result = top([3.0, 1.0, 2.0], 2)"),
    "pfl601/optional_orjson_import": ({"orjson": None}, "result = handle('{\"id\": 3}')"),
    "pfl701/guarded_optional_import": ({}, "result = add(1, [0])"),
}


def _case(case_id: str):
    return next(c for c in CASES if c.id == case_id.split("#")[0])


def _run(source: str, modules: dict, driver: str, monkeypatch) -> object:
    with monkeypatch.context() as patch:
        for name, module in modules.items():
            patch.setitem(sys.modules, name, module)
        namespace: dict = {"__name__": "guarded_case"}
        # dont_inherit: this file's ``from __future__ import annotations`` must not apply to the program
        exec(compile(source, "guarded_case", "exec", dont_inherit=True), namespace)  # noqa: S102 - test programs
        run = {"Client": _Client, "run": asyncio.run}  # the driver's own names stay out of the module's globals
        exec(compile(driver, "driver", "exec", dont_inherit=True), namespace, run)  # noqa: S102
        return run["result"]


def test_every_guarded_fixture_has_a_program():
    cases = {c.id for c in CASES if c.id.split("/")[1].startswith(("guarded_", "optional_"))}
    assert cases == {key.split("#")[0] for key in PROGRAMS}


@pytest.mark.parametrize("key", sorted(PROGRAMS))
def test_fixed_module_imports_and_gives_the_same_result(key, monkeypatch):
    case = _case(key)
    modules, driver = PROGRAMS[key]
    fixed = ENGINE.fix_all(case.source, ALL, unsafe=True).source
    before = _run(case.source, modules, driver, monkeypatch)
    after = _run(fixed, modules, driver, monkeypatch)
    assert after == before


def test_stand_ins_show_the_factories_load_once(monkeypatch):
    case = _case("pfl101/guarded_module_import")
    fixed = ENGINE.fix_all(case.source, ALL, unsafe=True).source
    _Model.loads = 0
    _run(case.source, {**_SENTENCE, **_PIPELINE}, PROGRAMS[case.id][1], monkeypatch)
    assert _Model.loads == 4
    _Model.loads = 0
    _run(fixed, {**_SENTENCE, **_PIPELINE}, PROGRAMS[case.id][1], monkeypatch)
    assert _Model.loads == 2  # one per distinct arguments: SentenceTransformer('m'), pipeline('ner')


def _fix_context(module_source: str):
    import ast

    import libcst as cst

    from perf_lsp.analysis.module import build_module_context
    from perf_lsp.fix.context import FixContext

    module_ctx = build_module_context([(stmt, 0) for stmt in ast.parse(module_source).body])
    return FixContext(module_ctx, cst.parse_module("x = 1\n"), set())


@pytest.mark.parametrize(
    ("module_source", "module", "name", "expected", "added"),
    [
        ("import numpy as np\n", "numpy", None, "np", []),
        ("try:\n    import numpy as np\nexcept ImportError:\n    np = None\n", "numpy", None, "declined", []),
        ("if TYPE_CHECKING:\n    import numpy as np\n", "numpy", None, "declined", []),
        ("try:\n    from numpy import dot\nexcept ImportError:\n    dot = None\n", "numpy", "dot", "declined", []),
        # also imported unconditionally: not optional, and the guarded alias is still not used
        ("import numpy\nif TYPE_CHECKING:\n    import numpy as np\n", "numpy", None, "numpy", []),
        # the standard library is always there: imported
        ("if TYPE_CHECKING:\n    import asyncio\n", "asyncio", "gather", "asyncio.gather", ["import asyncio"]),
        ("if TYPE_CHECKING:\n    from asyncio import gather\n", "asyncio", "gather", "asyncio.gather", ["import asyncio"]),
        ("from asyncio import gather\n", "asyncio", "gather", "gather", []),
    ],
)
def test_module_ref_skips_guarded_names_and_declines_optional_packages(module_source, module, name, expected, added):
    from perf_lsp.fix.context import FixDeclined

    fctx = _fix_context(module_source)
    try:
        got = fctx.name_ref(module, name) if name else fctx.module_ref(module)
    except FixDeclined:
        got = "declined"
    assert got == expected
    assert [fctx.chunk.code_for_node(stmt).strip() for stmt in fctx.imports] == added
