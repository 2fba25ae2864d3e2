"""A hypothesis strategy for programs full of perf-lsp's anti-patterns.

hypothesmith's programs almost never contain a model load in a loop or two sequential
awaits, so this builds its own: a module with a header of imports (plain, aliased, under
``try/except ImportError``), then functions (sync and async, some with mutable defaults),
classes with methods, and in their bodies statements taken from the rules' fixture
snippets (a model or client built per call, requests/encode/embedding/DB/regex calls in
loops, sequential awaits, blocking calls in ``async def``, ``+=`` on bytes, vector math,
sort-then-slice, list membership, json), nested in ``for``/``while`` loops, ``if``,
``try``, ``with``, with local imports, comments inside multi-line calls, and strings that
mention the names a fix might pick (``"session"``, ``"model"``, ``pytest.mark.asyncio``).

``programs()`` is the strategy; every value it draws compiles, and no function binds a name
that the module binds too (``model``, ``client``, ``requests``, ``re``...: a local import or
assignment of such a name would make an earlier use in the function an UnboundLocalError
before any fix), so a Ruff ``F823``/``F821`` after a fix is the fix's doing.
"""

from __future__ import annotations

import symtable

from hypothesis import strategies as st

HEADER_CHOICES = [
    ["import re"],
    ["import json", "import orjson"],
    ["import asyncio"],
    ["import time"],
    ["import requests"],
    ["import httpx"],
    ["import redis"],
    ["import numpy as np", "import math"],
    ["import heapq"],
    ["import functools"],
    ["from sentence_transformers import SentenceTransformer"],
    ["from openai import OpenAI, AsyncOpenAI"],
    ["from sqlalchemy import create_engine"],
    ["import subprocess"],
    ["import threading", "LOCK = threading.Lock()"],
    ["try:", "    import requests", "except ImportError:", "    requests = None"],
    ["try:", "    import orjson", "except ImportError:", "    orjson = None"],
    ["import pytest"],
]

ASYNC_HEADER = ["import asyncio"]

# Statements valid anywhere in a function body. ``{x}`` is the current item (loop variable or
# parameter), ``{n}`` a unique suffix. Each is a list of lines (relative indentation).
PLAIN = [
    ['encoder = SentenceTransformer("all-MiniLM-L6-v2")', "vector_{n} = encoder.encode({x})"],
    ["encoder = SentenceTransformer(name)", "print(encoder.encode({x}))"],
    ['options = {{"device": "cpu"}}', "encoder = SentenceTransformer(name, model_kwargs=options)"],
    ["llm = OpenAI(api_key=key)", 'print(llm.chat.completions.create(model="m", messages=[]))'],
    ["llm = OpenAI(http_client=httpx.Client())"],
    ['headers = {{"Authorization": key}}', "http = httpx.Client(headers=headers)", 'print(http.get("/a"))'],
    ['http = httpx.Client(base_url="http://svc", timeout=5)', "print(http.get({x}))"],
    ["cache = redis.Redis(host=host, port=6379)", "print(cache.get({x}))"],
    ['engine = create_engine("sqlite://", pool_pre_ping=True)', "print(engine)"],
    ['print(re.findall(r"\\w+", str({x})))'],
    ["print(json.dumps({x}))"],
    ["print(json.loads(raw))"],
    ["json.dumps(", '    {{"id": {x}}}', ")"],
    ["corpus_{n} = list(items)", "print(sorted(corpus_{n}, key=lambda s: s[1], reverse=True)[:3])"],
    ["corpus_{n} = list(items)", "print(sorted(corpus_{n})[:k])"],
    ['print("starting session for", {x})'],
    ['label_{n} = "model session response"'],
    ["print(", "    re.sub(", '        r"\\s+",  # runs of whitespace', '        " ",', "        str({x}),", "    )", ")"],
    ["corpus_{n} = list(items)", "print(", "    sorted(", "        corpus_{n},  # pairs", "        key=lambda s: s[0],", "    )[:2]", ")"],
    ["import requests as web", 'web.get("http://svc/x", timeout=5)'],
    ["import re as regex", 'print(regex.match(r"a+", str({x})))'],
]

# Statements for the body of a loop (``{x}`` is the loop variable).
IN_LOOP = [
    ['response_{n} = requests.get(f"http://svc/{{{x}}}", timeout=5)', "out.append(response_{n}.text)"],
    ['requests.post("http://svc/up", data={{"item": {x}}}, timeout=5)'],
    ["import requests as web", 'web.post("http://svc/up", data={{"item": {x}}}, timeout=5)'],
    ["out.append(model.encode({x}))"],
    ["vec_{n} = model.encode({x})", "out.append(vec_{n})"],
    ['out.append(client.embeddings.create(input={x}, model="m").data[0].embedding)'],
    ['cursor.execute("INSERT INTO t (v) VALUES (%s)", ({x},))'],
    ['out.append(re.findall(r"[a-z]+", str({x})))'],
    ['out.append(re.sub(r"\\s+", " ", str({x})))'],
    ['out.append(re.compile(r"\\d").search(str({x})))'],
    ["body += {x}"],
    ["if {x} in allowed:", "    out.append({x})"],
    ["out.append(json.loads(json.dumps({x})))"],
    ["out.append(", "    re.findall(", '        r"\\d+",  # digits', "        str({x}),", "    )", ")"],
    ["cache = redis.Redis(host=host)", "cache.incr({x})"],
]

# Statements for an ``async def`` body.
ASYNC = [
    ["first_{n} = await fetch({x})", "second_{n} = await fetch(key)"],
    ["await self_reload()", "state_{n} = await publish(config)"],
    ["time.sleep(0.1)"],
    ["with LOCK:", "    time.sleep(0.01)"],
    ['data_{n} = requests.get("http://svc/x", timeout=5)'],
    ['resp_{n} = urllib.request.urlopen("http://svc/x")', "print(resp_{n}.read())"],
    ['subprocess.run(["true"], check=False)'],
    ["print(model.encode({x}))"],
    ["async with httpx.AsyncClient() as ac:", '    a_{n} = await ac.get("/a")', '    b_{n} = await ac.get("/b")'],
]

ASYNC_IN_LOOP = [
    ["out.append(await fetch({x}))"],
    ["await fetch({x})"],
    ["time.sleep(0.01)"],
]

NEEDS = "\n".join(
    [
        "import asyncio",
        "import heapq",
        "import httpx",
        "import json",
        "import math",
        "import re",
        "import subprocess",
        "import threading",
        "import time",
        "import urllib.request",
        "",
        "import numpy as np",
        "import orjson",
        "import redis",
        "import requests",
        "from openai import OpenAI",
        "from sentence_transformers import SentenceTransformer",
        "from sqlalchemy import create_engine",
    ]
)


def _indent(lines: list[str], level: int) -> list[str]:
    return [("    " * level + line) if line else "" for line in lines]


@st.composite
def _statements(draw, is_async: bool, item: str, depth: int, counter: list[int]) -> list[str]:
    """A few statements for a body at nesting ``depth`` (0: function level); ``item`` is in scope."""
    out: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["plain", "loop", "loop", "async", "if", "try", "with"] if is_async else ["plain", "loop", "loop", "if", "try", "with"]))
        counter[0] += 1
        n = counter[0]
        if kind == "plain" or (depth >= 2 and kind in ("loop", "if", "try", "with")):
            pool = PLAIN + (ASYNC if is_async else [])
            out += [line.format(x=item, n=n) for line in draw(st.sampled_from(pool))]
        elif kind == "async":
            out += [line.format(x=item, n=n) for line in draw(st.sampled_from(ASYNC))]
        elif kind == "loop":
            var = f"item_{n}"
            iterable = draw(st.sampled_from(["items", "range(3)", "list(items)", "(i for i in items)", "zip(items, items)"]))
            if iterable == "zip(items, items)":
                header, var_use = f"for {var}, _pair_{n} in zip(items, items):", var
            else:
                header, var_use = f"for {var} in {iterable}:", var
            if draw(st.booleans()) and depth == 0:
                header = "while items:"
                var_use = f"item_{n}"
                body = [f"{var_use} = items.pop()"]
            else:
                body = []
            pool = IN_LOOP + (ASYNC_IN_LOOP if is_async else [])
            for _ in range(draw(st.integers(1, 2))):
                body += [line.format(x=var_use, n=n) for line in draw(st.sampled_from(pool))]
            if draw(st.integers(0, 3)) == 0:
                body += draw(_statements(is_async, var_use, depth + 1, counter))
            if draw(st.integers(0, 4)) == 0:
                body += ["if not items:", "    break"]
            out += [header, *_indent(body, 1)]
        elif kind == "if":
            out += ["if key:", *_indent(draw(_statements(is_async, item, depth + 1, counter)), 1)]
        elif kind == "try":
            out += ["try:", *_indent(draw(_statements(is_async, item, depth + 1, counter)), 1), "except ImportError:", "    pass"]
        else:
            out += ["with open(__file__) as handle_%d:" % n, *_indent(draw(_statements(is_async, item, depth + 1, counter)), 1)]
    return out


PARAMS = "items, key=None, name='m', host='h', raw='[]', k=2, cursor=None, client=None, allowed=(), config=None"


@st.composite
def _function(draw, counter: list[int], method: bool = False) -> list[str]:
    is_async = draw(st.booleans())
    counter[0] += 1
    name = f"{'handle' if is_async else 'work'}_{counter[0]}"
    params = ("self, " if method else "") + PARAMS
    if draw(st.integers(0, 4)) == 0:
        params += ", acc=[]"
        prologue = ["acc.append(key)"]
    else:
        prologue = []
    prologue += ["out = []", 'body = b""', "allowed = list(allowed)", "items = list(items)"]
    if draw(st.integers(0, 3)) == 0:
        prologue.insert(0, '"""Docstring that mentions a session and a model."""')
    body = draw(_statements(is_async, "key", 0, counter))
    decorator = ["@pytest.mark.asyncio"] if is_async and draw(st.integers(0, 3)) == 0 else []
    return [*decorator, f"{'async def' if is_async else 'def'} {name}({params}):", *_indent(prologue + body + ["return out, body"], 1)]


@st.composite
def programs(draw) -> str:
    """A module (str) that compiles and is full of anti-patterns; see the module docstring."""
    counter = [0]
    header = [NEEDS]
    extra = draw(st.lists(st.sampled_from(HEADER_CHOICES), max_size=3))
    for lines in extra:
        header += lines
    helpers = [
        "async def fetch(x):",
        "    await asyncio.sleep(0)",
        "    return x",
        "",
        "",
        "async def publish(config):",
        "    return config",
        "",
        "",
        "async def self_reload():",
        "    return None",
        "",
        "",
        'model = SentenceTransformer("all-MiniLM-L6-v2")',
        "client = OpenAI()",
        "config = {}",
    ]
    units: list[list[str]] = []
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.integers(0, 3)) == 0:
            counter[0] += 1
            methods = []
            for _ in range(draw(st.integers(1, 2))):
                methods += ["", *draw(_function(counter, method=True))]
            units.append([f"class Service{counter[0]}:", '    """A service."""', *_indent(methods, 1)])
        else:
            units.append(draw(_function(counter)))
    parts = ["\n".join(header), "\n".join(helpers)] + ["\n".join(u) for u in units]
    source = "\n\n\n".join(parts) + "\n"
    compile(source, "<generated>", "exec")
    _assert_no_shadowing(source)
    return source


def _assert_no_shadowing(source: str) -> None:
    """No function binds (other than as a parameter) a name the module binds: see the module docstring."""
    top = symtable.symtable(source, "<generated>", "exec")
    module_names = {sym.get_name() for sym in top.get_symbols() if sym.is_assigned() or sym.is_imported()}

    def walk(table: symtable.SymbolTable) -> None:
        for child in table.get_children():
            if child.get_type() == "function":
                for sym in child.get_symbols():
                    if (sym.is_assigned() or sym.is_imported()) and not sym.is_parameter():
                        assert sym.get_name() not in module_names, f"generator bug: a function rebinds {sym.get_name()!r}"
            walk(child)

    walk(top)
