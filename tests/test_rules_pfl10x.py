"""PFL102-PFL104 beyond the fixtures: configured clients, and what the fixes keep."""

from __future__ import annotations

import collections
import difflib
import http.server
import sys
import threading
import types
from typing import ClassVar

import pytest
from fixtures import CASES

from perf_lsp.engine import Engine
from perf_lsp.settings import Settings

ENGINE = Engine()


def codes(source: str, settings: Settings | None = None) -> list[tuple[str, int]]:
    analysis = ENGINE.analyze(source, settings or Settings())
    return [(d.code, d.range.start.line) for d in analysis.diagnostics]


# -- PFL102 ------------------------------------------------------------------
TEAM_CLIENT = """\
from acme.llm import GatewayClient


def ask(prompt):
    client = GatewayClient(region="eu")
    return client.complete(prompt)
"""


def test_extend_clients_teaches_pfl102_a_wrapper():
    assert codes(TEAM_CLIENT) == []
    settings = Settings().with_options(extend_clients=("acme.llm.GatewayClient",))
    assert codes(TEAM_CLIENT, settings) == [("PFL102", 5)]
    fixed = ENGINE.fix_all(TEAM_CLIENT, settings, unsafe=True).source
    assert "@functools.cache\ndef _get_gateway_client(*args, **kwargs):\n    return GatewayClient(*args, **kwargs)" in fixed
    assert 'client = _get_gateway_client(region="eu")' in fixed


def test_pfl102_fix_declined_for_unhashable_arguments():
    source = (
        "from openai import OpenAI\n\n\n"
        "def ask(prompt, tenant):\n"
        "    client = OpenAI(default_headers={'X-Tenant': tenant})\n"
        "    return client.responses.create(model='gpt-4o-mini', input=prompt)\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [(d.code, d.fixable) for d in analysis.diagnostics] == [("PFL102", False)]


def test_pfl102_second_fix_reuses_the_factory():
    # the second client of the same class reuses the factory the first fix wrote
    source = (
        "from openai import OpenAI\n\n\n"
        "def a(p):\n    return OpenAI().responses.create(model='m', input=p)\n\n\n"
        "def b(p):\n    return OpenAI().responses.create(model='m', input=p)\n"
    )
    fixed = ENGINE.fix_all(source, Settings(), unsafe=True).source
    assert fixed.count("def _get_openai_client") == 1
    assert fixed.count("_get_openai_client()") == 2


def test_pfl102_message_for_per_request_credentials():
    # a client per API key is still fixable: the message says to keep one per distinct arguments
    source = (
        "from openai import OpenAI\n\n\n"
        "def ask(prompt, user):\n"
        "    client = OpenAI(api_key=user.api_key)\n"
        "    return client.responses.create(model='gpt-4o-mini', input=prompt)\n\n\n"
        "def ask_default(prompt):\n"
        "    client = OpenAI(timeout=30)\n"
        "    return client.responses.create(model='gpt-4o-mini', input=prompt)\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    messages = [d.message for d in analysis.diagnostics if d.code == "PFL102"]
    assert len(messages) == 2
    assert "one client per distinct arguments" in messages[0]
    assert messages[1].endswith("build it once and reuse it")


def test_pfl102_fix_declined_for_splatted_settings():
    source = (
        "from openai import OpenAI\n\n\n"
        "def ask(prompt, settings):\n"
        "    client = OpenAI(**settings)\n"
        "    return client.responses.create(model='gpt-4o-mini', input=prompt)\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [(d.code, d.fixable) for d in analysis.diagnostics] == [("PFL102", False)]


# -- PFL103 ------------------------------------------------------------------
def test_pfl103_redis_asyncio_has_no_fix():
    source = (
        "import redis.asyncio as aioredis\n\n\n"
        "async def seen(key):\n"
        "    r = aioredis.Redis(host='cache')\n"
        "    return await r.exists(key)\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [(d.code, d.fixable) for d in analysis.diagnostics] == [("PFL103", False)]


def test_pfl103_http_client_used_twice_is_not_reported():
    source = (
        "import httpx\n\n\n"
        "def both(a, b):\n"
        "    with httpx.Client() as client:\n"
        "        return client.get(a).json(), client.get(b).json()\n"
    )
    assert codes(source) == []


# -- PFL104: the fix keeps the responses and reuses one connection ------------
class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ports: ClassVar[list[int]] = []

    def do_GET(self):
        _Handler.ports.append(self.client_address[1])
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.do_GET()

    def log_message(self, *args):
        pass


LOOP = """\
import requests


def fetch(base, ids):
    out = []
    for i in ids:
        response = requests.get(f"{base}/item/{i}", timeout=5)
        out.append((response.status_code, response.text))
    return out
"""


@pytest.fixture
def server():
    pytest.importorskip("requests")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _run(source: str, base: str) -> tuple[list, int]:
    module = types.ModuleType("pfl104_case")
    exec(compile(source, "pfl104_case", "exec"), module.__dict__)  # noqa: S102 - the code under test
    _Handler.ports = []
    result = module.fetch(base, [1, 2, 3, 4])
    return result, len(set(_Handler.ports))


def test_pfl104_fix_keeps_responses_and_reuses_the_connection(server, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fixed = ENGINE.fix_all(LOOP, Settings(), unsafe=True).source
    assert "with requests.Session() as session:" in fixed
    before, connections_before = _run(LOOP, server)
    after, connections_after = _run(fixed, server)
    assert before == after == [(200, f"/item/{i}") for i in (1, 2, 3, 4)]
    assert connections_before == 4
    assert connections_after == 1


# -- PFL104 with a function-local import -----------
LOCAL_IMPORT_IN_LOOP = """\
def fetch(base, ids):
    sent = 0
    for i in ids:
        import requests
        requests.post(f"{base}/item/{i}", data={"id": i}, timeout=5)
        sent += 1
    return sent
"""

LOCAL_IMPORT_BEFORE_LOOP = """\
def fetch(base, ids):
    import requests

    sent = 0
    for i in ids:
        requests.post(f"{base}/item/{i}", data={"id": i}, timeout=5)
        sent += 1
    return sent
"""

OPTIONAL_REQUESTS = """\
def fetch(base, ids):
    try:
        import requests
    except ImportError:
        return 0
    sent = 0
    for i in ids:
        requests.post(f"{base}/item/{i}", data={"id": i}, timeout=5)
        sent += 1
    return sent
"""


def test_pfl104_declines_a_session_above_an_import_in_the_loop(server, monkeypatch):
    # the session would read ``requests`` before the import in the loop binds it: UnboundLocalError
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    analysis = ENGINE.analyze(LOCAL_IMPORT_IN_LOOP, Settings())
    assert [(d.code, d.fixable) for d in analysis.diagnostics] == [("PFL104", False)]
    fixed = ENGINE.fix_all(LOCAL_IMPORT_IN_LOOP, Settings(), unsafe=True).source
    assert _run(fixed, server) == (4, 4)


def test_pfl104_uses_the_local_import_bound_before_the_loop(server, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fixed = ENGINE.fix_all(LOCAL_IMPORT_BEFORE_LOOP, Settings(), unsafe=True).source
    assert fixed.startswith("def fetch(base, ids):\n    import requests\n")  # no module-level import
    assert "    with requests.Session() as session:\n" in fixed
    assert _run(LOCAL_IMPORT_BEFORE_LOOP, server) == (4, 4)
    assert _run(fixed, server) == (4, 1)


def test_pfl104_keeps_requests_optional(server, monkeypatch):
    # the function imports requests under ``try/except ImportError``: the fixed module must still
    # import, and the function still return 0, where requests is missing
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fixed = ENGINE.fix_all(OPTIONAL_REQUESTS, Settings(), unsafe=True).source
    assert "with requests.Session() as session:" in fixed
    assert _run(OPTIONAL_REQUESTS, server) == (4, 4)
    assert _run(fixed, server) == (4, 1)
    monkeypatch.setitem(sys.modules, "requests", None)  # ``import requests`` raises ImportError
    assert _run(fixed, server) == (0, 0)


NESTED = """\
import requests


def fetch(base, ids):
    out = []
    for i in ids:
        head = requests.get(f"{base}/item/{i}", timeout=5).text
        for part in ("a", "b"):
            out.append((head, requests.get(f"{base}/item/{i}/{part}", timeout=5).text))
    return out
"""


def test_pfl104_nested_loops_share_one_session(server, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fixed = ENGINE.fix_all(NESTED, Settings(), unsafe=True).source
    assert fixed.count("requests.Session()") == 1
    before, connections_before = _run(NESTED, server)
    after, connections_after = _run(fixed, server)
    assert before == after
    assert connections_before == 12
    assert connections_after == 1


# -- a fix creates no finding -----------------------------
ALL = Settings(select=("ALL",))


def new_findings(source: str, fixed: str | None = None) -> list[tuple[str, int, str]]:
    """Findings of ``check --select ALL`` after ``fix --unsafe-fixes --select ALL`` (or in ``fixed``) that
    ``source`` did not have: a code more often than before, or a finding on a line that is new or had
    no finding of that code (lines are matched through their unchanged text, indentation ignored)."""
    before = ENGINE.analyze(source, ALL).diagnostics
    if fixed is None:
        fixed = ENGINE.fix_all(source, ALL, unsafe=True).source
    after = ENGINE.analyze(fixed, ALL).diagnostics
    old = [line.strip() for line in source.splitlines()]
    new = [line.strip() for line in fixed.splitlines()]
    to_old: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            to_old[block.b + k + 1] = block.a + k + 1
    had = {(d.code, d.range.start.line) for d in before}
    counts = collections.Counter(d.code for d in before)
    out = []
    for d in after:
        counts[d.code] -= 1
        line = d.range.start.line
        if (d.code, to_old.get(line)) not in had or counts[d.code] < 0:
            out.append((d.code, line, new[line - 1]))
    return out


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.id.startswith(("pfl101/", "pfl102/", "pfl103/", "pfl104/"))], ids=lambda c: c.id
)
def test_fix_then_check_reports_nothing_new(case):
    assert new_findings(case.source) == []


def test_new_findings_sees_a_session_per_outer_item():
    # the check itself, on what PFL104 used to write for nested loops: a session per outer item (PFL103)
    per_item = NESTED.replace(
        "        for part in (\"a\", \"b\"):\n            out.append((head, requests.get(",
        "        with requests.Session() as session:\n            for part in (\"a\", \"b\"):\n"
        "                out.append((head, session.get(",
    )
    assert per_item != NESTED
    assert new_findings(NESTED, per_item) == [("PFL103", 8, "with requests.Session() as session:")]
    assert new_findings(NESTED, NESTED) == []


# -- the cached-factory fixes decline arguments a cache cannot key on ----------
@pytest.mark.parametrize(
    ("setup", "argument", "fixable"),
    [
        ("", "'cache'", True),
        ("", "host", True),  # a parameter: unknown, as PFL102 always took it
        ("", "self.host", True),
        ("", "config['host']", True),
        ("", "HOST", True),  # a global
        ("", "f'{host}.internal'", True),
        ("", "os.getenv('REDIS_HOST', 'localhost')", True),
        ("", "str(host)", True),
        ("", "'.'.join((host, 'internal'))", True),
        ("name = host + '.internal'", "name", True),
        ("name = host if host else 'localhost'", "name", True),
        ("pair = (host, 'x')", "pair", True),
        ("", "{'a': 1}", False),
        ("", "[host]", False),
        ("", "{host}", False),
        ("", "{h: 1 for h in host}", False),
        ("", "(h for h in host)", False),
        ("", "lambda: host", False),
        ("", "make_host(host)", False),  # a call: a new object per call
        ("", "os.getenv('REDIS_HOST', {})", False),
        ("", "(host, [1])", False),
        ("", "[host] + [1]", False),
        ("", "None if host else {}", False),
        ("name = {'h': host}", "name", False),
        ("name = make_host(host)", "name", False),
        ("name = 'x'\n    name = [name]", "name", False),  # any binding counts
        ("name = 'x'\n    name += [1]", "name", False),
        ("if (name := [host]):\n        pass", "name", False),
        ("def name():\n        return host", "name", False),
        ("alias = {'h': host}\n    name = alias", "name", False),
        ("name = name2 = {}", "name", False),
    ],
)
def test_factory_fix_declines_uncacheable_arguments(setup, argument, fixable):
    source = (
        "import os\n\nimport redis\n\n\n"
        f"def seen(self, key, host, config):\n    {setup}\n    r = redis.Redis(host={argument})\n    return r.get(key)\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [(d.code, d.fixable) for d in analysis.diagnostics] == [("PFL103", fixable)]


@pytest.mark.parametrize(
    ("signature", "call", "fixable"),
    [
        ("key, hosts=('a', 'b')", "redis.Redis(*hosts)", True),
        ("key, errors=[TimeoutError]", "redis.Redis(retry_on_error=errors)", False),
        ("key, options", "redis.Redis(**options)", False),
        ("key, options", "redis.Redis(*[{}])", False),
        ("key, headers", "redis.Redis(headers=None)", True),
    ],
)
def test_factory_fix_declines_spread_and_default_arguments(signature, call, fixable):
    source = f"import redis\n\n\ndef seen({signature}):\n    r = {call}\n    return r.get(key)\n"
    analysis = ENGINE.analyze(source, Settings())
    assert [(d.code, d.fixable) for d in analysis.diagnostics] == [("PFL103", fixable)]


@pytest.mark.parametrize(
    ("module_import", "fixable"),
    [
        # unbound at run time (or None): the factory imports httpx itself, as the function does
        ("if TYPE_CHECKING:\n    import httpx\n", True),
        ("try:\n    import httpx\nexcept ImportError:\n    httpx = None\n", True),
        ("import httpx\n", True),  # the same module either way
        ("from niquests import httpx\n", False),  # another object than the function's
        ("", True),  # the factory imports httpx itself
    ],
)
def test_factory_fix_reads_the_callee_the_function_imports(module_import, fixable):
    source = (
        f"from typing import TYPE_CHECKING\n\n{module_import}\n\n"
        "def fetch(url):\n    import httpx\n\n    client = httpx.Client(timeout=5)\n    return client.get(url).text\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [(d.code, d.fixable) for d in analysis.diagnostics] == [("PFL103", fixable)]
    if fixable and module_import.startswith(("if", "try")):
        fixed = ENGINE.fix_all(source, Settings(), unsafe=True).source
        assert "def _get_http_client(*args, **kwargs):\n    import httpx\n\n    return httpx.Client(" in fixed
