"""Whether a function does I/O on its default path (perf_lsp.analysis.effects), and what PFL302 makes of it."""

from __future__ import annotations

import ast

import pytest

from perf_lsp.analysis.effects import Answer, ModuleEffects, io_ish, module_effects, module_io_functions
from perf_lsp.engine import Engine
from perf_lsp.settings import Settings


def effects(source: str) -> ModuleEffects:
    return ModuleEffects(ast.parse(source).body, {})


def answer(source: str, key: str) -> Answer:
    return effects(source).function(key).answer


@pytest.mark.parametrize(
    ("source", "key", "expected"),
    [
        # builds text locally
        ("async def render(spec):\n    return f'{spec.name}'\n", "render", Answer.NONE),
        # asyncio.sleep is not I/O
        ("import asyncio\n\nasync def nap():\n    await asyncio.sleep(1)\n", "nap", Answer.NONE),
        # an aiohttp/httpx request, directly
        ("import httpx\n\nasync def get(url):\n    return await httpx.AsyncClient().get(url)\n", "get", Answer.IO),
        ("import httpx\n\nasync def get(url):\n    async with httpx.AsyncClient() as c:\n        return await c.get(url)\n", "get", Answer.IO),
        # a sync request inside async def: blocking only
        ("import requests\n\nasync def get(url):\n    return requests.get(url).json()\n", "get", Answer.BLOCKING),
        # a subprocess
        ("import asyncio\n\nasync def sh(cmd):\n    return await asyncio.create_subprocess_exec(cmd)\n", "sh", Answer.IO),
        # a user callback awaited only when it returned an awaitable
        (
            "import inspect\n\nasync def call(func, x):\n    r = func(x)\n    if inspect.isawaitable(r):\n        r = await r\n    return r\n",
            "call",
            Answer.NONE,
        ),
        (
            "import inspect\n\nasync def call(func, x):\n    if inspect.iscoroutinefunction(func):\n        return await func(x)\n    return func(x)\n",
            "call",
            Answer.NONE,
        ),
        # a callback awaited unconditionally: cannot be followed
        ("async def call(func, x):\n    return await func(x)\n", "call", Answer.UNKNOWN),
        # awaiting a task or future, or draining an async iterator passed in
        ("async def wait(task):\n    return await task\n", "wait", Answer.UNKNOWN),
        ("async def drain(gen):\n    return [x async for x in gen]\n", "drain", Answer.UNKNOWN),
        ("async def drain(gen):\n    out = []\n    async for x in gen:\n        out.append(x)\n    return out\n", "drain", Answer.UNKNOWN),
        # a callee defined elsewhere
        ("from .tools import lookup\n\nasync def f(x):\n    return await lookup(x)\n", "f", Answer.UNKNOWN),
    ],
)
def test_direct_answers(source, key, expected):
    assert answer(source, key) is expected


FLAGS = """
async def fetch(part, client, force_download=False, url=None):
    if force_download:
        await client.get(part)
    if url is not None:
        await client.get(url)
    return part

async def fetch_unless(part, client, skip=False):
    if not skip:
        return await client.get(part)
    return part

async def fetch_and(part, client, force=False):
    if part and force:
        return await client.get(part)
    return part

class Mapper:
    async def map(self, part):
        if self.settings.download_urls:
            return await self.client.get(part)
        return part

async def fallback(part, client):
    try:
        return part.decode()
    except ValueError:
        return await client.get(part)

async def always(part, client, force=True):
    if force:
        return await client.get(part)
    return part
"""


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("fetch", Answer.NONE),  # flags that default to False/None: off the default path
        ("fetch_unless", Answer.IO),  # ``if not flag:`` keeps its body
        ("fetch_and", Answer.NONE),
        ("Mapper.map", Answer.NONE),  # a settings attribute
        ("fallback", Answer.NONE),  # an except handler is the error path
        ("always", Answer.IO),  # a flag on by default
    ],
)
def test_io_behind_a_flag_that_defaults_to_off_is_not_the_default_path(key, expected):
    assert answer(FLAGS, key) is expected


THROUGH = """
import httpx
import redis

class Base:
    async def load(self, key):
        return await self._get(key)

    async def _get(self, key):
        return await self.http.get(key)

class Store(Base):
    def __init__(self):
        self.http = httpx.AsyncClient()
        self.cache = redis.Redis()

    async def find(self, key):
        return await self.load(key)

    async def cached(self, key):
        return self.cache.get(key)

    async def spin(self, n):
        if n:
            return await self.spin(n - 1)
        return n

    async def offloaded(self, key):
        return await asyncio.to_thread(blocking_read, key)

    async def abstract_call(self, key):
        return await self.hook(key)

    async def hook(self, key):
        raise NotImplementedError

def blocking_read(path):
    with open(path) as f:
        return f.read()

async def deep(key):
    return await level1(key)

async def level1(key):
    return await level2(key)

async def level2(key):
    return await Store().find(key)
"""


@pytest.mark.parametrize(
    ("key", "expected", "why"),
    [
        ("Store.find", Answer.IO, "through `self.load`"),  # a method of the base class, two calls deep
        ("Store.cached", Answer.BLOCKING, "self.cache.get"),  # a sync client held on self
        ("Store.spin", Answer.NONE, ""),  # recursion ends
        ("Store.abstract_call", Answer.UNKNOWN, "abstract"),  # overridden elsewhere: dynamic dispatch
        ("blocking_read", Answer.BLOCKING, "open"),
    ],
)
def test_answers_through_the_modules_functions(key, expected, why):
    found = effects("import asyncio\n" + THROUGH).function(key)
    assert found.answer is expected
    assert why in found.reason


def test_to_thread_of_a_blocking_helper_is_awaited_io():
    assert answer("import asyncio\n" + THROUGH, "Store.offloaded") is Answer.IO


def test_depth_is_bounded():
    found = effects(THROUGH).function("deep")
    assert found.answer in {Answer.IO, Answer.UNKNOWN}
    shallow = ModuleEffects(ast.parse(THROUGH).body, {})
    import perf_lsp.analysis.effects as module

    old = module.MAX_DEPTH
    module.MAX_DEPTH = 1
    try:
        assert shallow.function("deep").answer is Answer.UNKNOWN
    finally:
        module.MAX_DEPTH = old


def test_external_answers_come_from_the_hook():
    source = "from pkg.tools import lookup\n\nasync def f(x):\n    return await lookup(x)\n"
    seen = []

    def external(qn):
        seen.append(qn)
        return module_effects(ast.parse("async def lookup(x):\n    return x\n").body, {}).function("lookup")

    assert ModuleEffects(ast.parse(source).body, {}, external=external).function("f").answer is Answer.NONE
    assert seen == ["pkg.tools.lookup"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("self.llm_service.grade", True),
        ("self._http_client.post", True),
        ("vector_store.asimilarity_search", True),
        ("fetch_page", True),
        ("self.embed_batch", True),
        ("capability.get_instructions", True),  # ``get``: an I/O verb, as a name
        ("toolset.render", False),
        ("self._format_part", False),
        ("transformer.apply", False),
        ("session.x", True),
    ],
)
def test_io_ish_names(target, expected):
    assert io_ish(target) is expected


def test_io_ish_counts_http_client_names():
    assert io_ish("s.fetch_text") is True
    assert io_ish("s.text") is False
    assert io_ish("s.text", http_names={"s"}) is True


def test_module_effects_are_remembered_per_module_version():
    body = ast.parse(THROUGH).body
    first = module_effects(body, {})
    assert module_effects(body, {}) is first
    assert module_effects(body, {"x": "y"}) is not first
    changed = ast.parse(THROUGH.replace("await self.http.get(key)", "key")).body
    assert module_effects(changed, {}) is not first


def test_the_module_fact_changes_when_a_callee_changes():
    before = module_io_functions(ast.parse(THROUGH).body, {})
    after = module_io_functions(ast.parse(THROUGH.replace("await self.http.get(key)", "key")).body, {})
    hash(before)
    assert ("Store.find", "io") == dict((k, (k, a)) for k, a, _ in before)["Store.find"]
    assert dict((k, a) for k, a, _ in after)["Store.find"] == "none"
    assert ("Store", "io_attrs", "cache,http") in before


SETTINGS = Settings(select=("PFL302",))
CALLER = """import httpx

client = httpx.AsyncClient()


async def describe(item):
    return await client.get(item)


async def describe_all(items):
    out = []
    for item in items:
        out.append(await describe(item))
    return out
"""


@pytest.mark.parametrize("split_classes", [True, False])
def test_a_cached_caller_is_checked_again_when_its_callee_stops_doing_io(split_classes):
    engine = Engine(split_classes=split_classes)
    assert [d.code for d in engine.analyze(CALLER, SETTINGS).diagnostics] == ["PFL302"]
    local = CALLER.replace("return await client.get(item)", "return f'<{item}>'")
    assert [d.code for d in engine.analyze(local, SETTINGS).diagnostics] == []
    assert [d.code for d in engine.analyze(CALLER, SETTINGS).diagnostics] == ["PFL302"]


FILLS = """
class Exporter:
    async def convert(self, item, cache=None):
        if cache is not None and item.id in cache:
            return cache[item.id]
        return await self.client.get(item.id)

    async def collect(self, item, seen):
        seen[item.id] = await self.client.get(item.id)

def add_to(bucket, item):
    bucket.append(item)
"""


@pytest.mark.parametrize(
    ("key", "position", "keyword", "bound", "expected"),
    [
        ("Exporter.convert", None, "cache", True, False),  # reads the cache only
        ("Exporter.collect", 1, None, True, True),  # an item store
        ("Exporter.collect", 0, None, True, False),
        ("add_to", 0, None, False, True),  # a mutating method
        ("add_to", 5, None, False, True),  # beyond the parameters: cannot tell
    ],
)
def test_mutates_argument(key, position, keyword, bound, expected):
    assert effects(FILLS).mutates_argument(key, position, keyword, bound) is expected


def test_resolve_names_the_modules_functions():
    found = effects(FILLS)
    assert found.resolve("self.convert", "Exporter") == "Exporter.convert"
    assert found.resolve("add_to", None) == "add_to"
    assert found.resolve("Exporter.collect", None) == "Exporter.collect"
    assert found.resolve("other.thing", None) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("capability.get_instructions", False),
        ("toolset.list_tools", False),
        ("server.list_tools", True),  # a server: remote
        ("server.fetch_tools", True),
        ("mcp_client.list_tools", True),  # the receiver says client
        ("source.aquery", True),
        ("memory_block.aget", True),  # the async twin of a method
    ],
)
def test_io_ish_strict_leaves_out_generic_verbs(target, expected):
    assert io_ish(target, strict=True) is expected


def test_index_lookup_follows_functions_into_other_files(tmp_path):
    from perf_lsp.analysis.effects import index_lookup
    from perf_lsp.analysis.hotness import ProjectIndex

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mappers.py").write_text(
        "import httpx\n\nfrom . import agent\n\n"
        "async def map_part(part, force_download=False):\n"
        "    if force_download:\n"
        "        return await httpx.AsyncClient().get(part)\n"
        "    return part\n\n"
        "async def fetch_part(part):\n"
        "    return await httpx.AsyncClient().get(part)\n\n"
        "async def ping_pong(n):\n"
        "    return await agent.pong(n)\n"
    )
    agent = (
        "from .mappers import map_part, fetch_part, ping_pong\n\n"
        "async def mapped(parts):\n    return [await map_part(p) for p in parts]\n\n"
        "async def fetched(parts):\n    return [await fetch_part(p) for p in parts]\n\n"
        "async def pong(n):\n    return await ping_pong(n)\n"
    )
    (pkg / "agent.py").write_text(agent)
    index = ProjectIndex.build([pkg / "__init__.py", pkg / "mappers.py", pkg / "agent.py"])
    found = ModuleEffects(ast.parse(agent).body, {}, external=index_lookup(index), module="pkg.agent")
    assert found.function("mapped").answer is Answer.NONE  # I/O only behind the flag, in the other file
    assert found.function("fetched").answer is Answer.IO
    assert "httpx" in found.function("fetched").reason
    assert found.function("pong").answer is Answer.UNKNOWN  # a cycle between the two files
    # without the index, a function of another module cannot be followed
    assert ModuleEffects(ast.parse(agent).body, {}).function("mapped").answer is Answer.UNKNOWN


def test_an_answer_cut_short_by_recursion_is_not_remembered():
    source = (
        "import httpx\n\n"
        "async def a(n):\n    await b(n)\n    return await httpx.AsyncClient().get(n)\n\n"
        "async def b(n):\n    return await a(n - 1)\n"
    )
    found = effects(source)
    assert found.function("a").answer is Answer.IO
    assert found.function("b").answer is Answer.IO  # through a, not the NONE seen while a was being walked


def test_a_receiver_counts_by_its_last_word():
    assert io_ish("self.db_session.x") is True
    assert io_ish("self.client_id.x") is False  # an identifier, not a client
    assert answer("async def f(self):\n    return self.client_id.lower()\n", "f") is Answer.NONE
