"""PFL301/PFL302/PFL303/PFL304 beyond the fixtures: non-default settings, the module-level helper hook,
and fixes run to check they keep the results."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from fixrun import new_findings
from fixtures import CASES

from perf_lsp.analysis.blocking import module_blocking_helpers
from perf_lsp.analysis.module import build_module_context, module_mutated_globals
from perf_lsp.engine import Engine, analyze_chunk
from perf_lsp.rules import CODES, OPTIONS
from perf_lsp.rules.pfl301_sequential_awaits import SequentialAwaits
from perf_lsp.rules.pfl303_blocking_call_in_async import BlockingCallInAsync
from perf_lsp.settings import Settings, from_pyproject_table

ENGINE = Engine()


def codes(source: str, settings: Settings | None = None) -> list[tuple[str, int, str]]:
    analysis = ENGINE.analyze(source, settings or Settings())
    return [(d.code, d.range.start.line, d.message) for d in analysis.diagnostics]


def test_extend_blocking_calls_reports_with_the_suggestion():
    source = "from acme.storage import fetch_blob\n\nasync def handler(key):\n    return fetch_blob(key)\n"
    assert codes(source) == []
    settings, messages = from_pyproject_table(
        {"extend-blocking-calls": {"acme.storage.fetch_blob": "acme.storage.afetch_blob"}}, "pyproject.toml", codes=CODES, options=OPTIONS
    )
    assert messages == []
    found = codes(source, settings)
    assert len(found) == 1 and found[0][0] == "PFL303" and "acme.storage.afetch_blob" in found[0][2]
    fixed = ENGINE.fix_all(source, settings, unsafe=True).source
    assert "await asyncio.to_thread(fetch_blob, key)" in fixed


def test_module_level_helper_through_the_module_context_hook():
    source = (
        "import json\n\n"
        "def load_settings(path):\n    with open(path) as f:\n        return json.load(f)\n\n"
        "def pure(x):\n    return x * 2\n"
    )
    tree = ast.parse(source)
    helpers = module_blocking_helpers(tree.body, {"json": "json"})
    assert helpers == (("load_settings", "open()"),)

    base = build_module_context([(stmt, 0) for stmt in tree.body])
    assert base.blocking_helpers == helpers  # the module context carries them to every statement
    chunk = "async def handler(path, x):\n    cfg = load_settings(path)\n    return pure(x), cfg\n"
    result = analyze_chunk(chunk, base, Settings(), [BlockingCallInAsync])
    assert [(f.code, f.range.start.line) for f in result.findings] == [("PFL303", 2)]
    assert "open()" in result.findings[0].message
    # a module without such helpers claims nothing
    plain = build_module_context([(stmt, 0) for stmt in ast.parse("import json\n").body])
    assert analyze_chunk(chunk, plain, Settings(), [BlockingCallInAsync]).findings == []


def test_module_helpers_skip_generators_and_cached_functions():
    source = (
        "import functools, time\n\n"
        "@functools.lru_cache\ndef cached():\n    return open('x').read()\n\n"
        "def lines():\n    with open('x') as f:\n        yield from f\n\n"
        "def nap():\n    time.sleep(1)\n"
    )
    tree = ast.parse(source)
    assert module_blocking_helpers(tree.body, {"functools": "functools", "time": "time"}) == (("nap", "time.sleep"),)


async def _run_pair(original: str, fixed: str, entry: str, *args):
    results = []
    for code in (original, fixed):
        namespace: dict = {}
        exec(compile(code, "<fixture>", "exec"), namespace)
        results.append(await namespace[entry](*args))
    return results


class _Grader:
    def __init__(self):
        self.order = []

    async def grade(self, question, doc):
        await asyncio.sleep(0.001 * (5 - len(doc) % 5))  # finish out of order
        self.order.append(doc)
        return f"{question}:{doc}"

    async def summarize(self, chunk, max_tokens):
        await asyncio.sleep(0.001 * (len(chunk) % 3))
        return chunk.upper()


def test_await_in_loop_fixes_keep_results_in_order():
    original = (
        "async def grade_documents(llm, question, documents):\n"
        "    grades = []\n"
        "    for doc in documents:\n"
        "        grades.append(await llm.grade(question, doc))\n"
        "    return grades\n"
    )
    fixed = ENGINE.fix_all(original, Settings(), unsafe=True).source
    assert "asyncio.gather" in fixed
    docs = ["a", "bbbb", "cc", "ddd", "eeeee"]
    before, after = asyncio.run(_run_pair(original, fixed, "grade_documents", _Grader(), "q", docs))
    assert before == after == [f"q:{d}" for d in docs]

    comprehension = "async def f(llm, chunks):\n    return [await llm.summarize(c, max_tokens=5) for c in chunks]\n"
    fixed = ENGINE.fix_all(comprehension, Settings(), unsafe=True).source
    assert "list(await asyncio.gather(*(llm.summarize(c, max_tokens=5) for c in chunks)))" in fixed
    before, after = asyncio.run(_run_pair(comprehension, fixed, "f", _Grader(), ["x", "yy", "zzz"]))
    assert before == after == ["X", "YY", "ZZZ"]


def test_await_in_loop_no_fix_when_loop_variable_used_after():
    source = (
        "async def f(client, ids):\n"
        "    for item_id in ids:\n"
        "        await client.touch(item_id)\n"
        "    return item_id\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [d.code for d in analysis.diagnostics] == ["PFL302"]
    assert analysis.diagnostics[0].fixes == ()


def test_sleep_fix_is_safe_and_to_thread_keeps_keywords():
    source = (
        "import time\nimport requests\n\n"
        "async def f(url):\n"
        "    time.sleep(1)\n"
        "    return requests.post(url, json={'a': 1}, timeout=3).json()\n"
    )
    safe = ENGINE.fix_all(source, Settings(), unsafe=False).source
    assert "    await asyncio.sleep(1)\n" in safe and "requests.post(url" in safe
    full = ENGINE.fix_all(source, Settings(), unsafe=True).source
    assert "(await asyncio.to_thread(requests.post, url, json={'a': 1}, timeout=3)).json()" in full


def test_trio_modules_get_no_asyncio_fixes():
    source = (
        "import time\nimport trio\n\n"
        "async def worker(client, ids):\n"
        "    time.sleep(0.1)\n"
        "    for item_id in ids:\n"
        "        await client.fetch(item_id)\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [d.code for d in analysis.diagnostics] == ["PFL303", "PFL302"]
    assert all(d.fixes == () for d in analysis.diagnostics)
    assert "task group" in analysis.diagnostics[1].message


def test_tests_and_per_item_context_managers_are_left_alone():
    source = (
        "import time\n\n"
        "async def test_retries(client, ids):\n"
        "    time.sleep(0.1)\n"
        "    for item_id in ids:\n"
        "        await client.fetch(item_id)\n\n"
        "async def traced(tracer, client, ids):\n"
        "    for item_id in ids:\n"
        "        with tracer.start_as_current_span('fetch'):\n"
        "            await client.fetch(item_id)\n"
    )
    assert codes(source) == []


# -- PFL301: a later call that reads what an earlier call changes is not gathered

_RELOAD_PROGRAM = '''
import asyncio


class Service:
    def __init__(self, log):
        self.config = {"version": 1}
        self.log = log

    async def reload(self):
        await asyncio.sleep(0.002)  # a fake config server
        self.config = {"version": 2}
        self.log.append("reloaded")
        return True

    async def fetch(self, key):
        self.log.append(f"start {key}")
        await asyncio.sleep(0.002)
        self.log.append(f"end {key}")
        return key.upper()

    async def refresh_and_publish(self):
        reloaded = await self.reload()
        sent = await publish(self.config, self.log)
        return reloaded, sent

    async def fetch_pair(self):
        first = await self.fetch("a")
        second = await self.fetch("b")
        return first, second


async def publish(config, log):
    await asyncio.sleep(0)
    log.append(f"published v{config['version']}")
    return config["version"]


async def main():
    log = []
    service = Service(log)
    result = await service.refresh_and_publish() + await service.fetch_pair()
    return result, [line for line in log if not line.startswith(("start", "end"))], log
'''


def test_sequential_awaits_fix_keeps_a_read_after_the_call_that_changes_it():
    analysis = ENGINE.analyze(_RELOAD_PROGRAM, Settings())
    found = [(d.code, d.range.start.line) for d in analysis.diagnostics]
    assert found == [("PFL301", 28)]  # the two fetches; not reload + publish(self.config)
    fixed = ENGINE.fix_all(_RELOAD_PROGRAM, Settings(), unsafe=True).source
    assert 'first, second = await asyncio.gather(self.fetch("a"), self.fetch("b"))' in fixed
    assert "reloaded = await self.reload()\n        sent = await publish(self.config, self.log)\n" in fixed

    def run(code):
        namespace: dict = {}
        exec(compile(code, "<program>", "exec"), namespace)  # noqa: S102 - our own test program
        return asyncio.run(namespace["main"]())

    before, after = run(_RELOAD_PROGRAM), run(fixed)
    assert before[:2] == after[:2] == ((True, 2, "A", "B"), ["reloaded", "published v2"])
    assert before[2][-4:] == ["start a", "end a", "start b", "end b"]
    assert after[2][-4:] == ["start a", "start b", "end a", "end b"]  # the fetches now overlap
    # What gathering reload and publish would do: publish(self.config) is evaluated first.
    gathered = _RELOAD_PROGRAM.replace(
        "reloaded = await self.reload()\n        sent = await publish(self.config, self.log)",
        "reloaded, sent = await asyncio.gather(self.reload(), publish(self.config, self.log))",
    )
    assert run(gathered)[:2] == ((True, 1, "A", "B"), ["published v1", "reloaded"])


def test_mutated_globals_hook_lists_what_functions_change():
    source = (
        "import os\n\n"
        "CONFIG = {}\nCACHE = {}\nSTATS = []\nPAGE_SIZE = 3\n\n"
        "async def reload():\n    global CONFIG\n    CONFIG = {'v': 2}\n\n"
        "def remember(k, v):\n    CACHE[k] = v\n\n"
        "class Counter:\n    def hit(self):\n        STATS.append(1)\n        self.n = 1\n\n"
        "def local_only(items):\n    seen = []\n    seen.append(items)\n    items.x = 1\n    return PAGE_SIZE\n\n"
        "def env():\n    os.environ['A'] = '1'\n\n"
        "def outer():\n    results = []\n    def add(x):\n        results.append(x)\n    return add\n"
    )
    tree = ast.parse(source)
    assert module_mutated_globals(tree.body) == ("CACHE", "CONFIG", "STATS", "os")
    base = build_module_context([(stmt, 0) for stmt in tree.body])
    assert base.mutated_globals == ("CACHE", "CONFIG", "STATS", "os")
    chunk = (
        "async def handler(topic):\n"
        "    ok = await reload()\n"
        "    sent = await publish(topic, CONFIG)\n"
        "    hits = await count(topic, PAGE_SIZE)\n"
    )
    findings = analyze_chunk(chunk, base, Settings(), [SequentialAwaits]).findings
    # reload() may rebind CONFIG: publish is dependent; count(PAGE_SIZE) reads nothing reload changes
    assert [(f.code, f.range.start.line, f.range.end.line) for f in findings] == [("PFL301", 3, 4)]


# -- PFL303: no await while a threading lock is held

_LOCKED_PROGRAM = '''
import asyncio
import time


class Counter:
    def __init__(self, lock, log):
        self._lock = lock
        self.log = log
        self.value = 0

    async def bump(self, name):
        with self._lock:
            self.log.append(f"{name} in")
            time.sleep(0.001)
            self.value += 1
            self.log.append(f"{name} out")
        time.sleep(0.001)
        return name


async def main(lock):
    log = []
    counter = Counter(lock, log)
    results = await asyncio.gather(counter.bump("a"), counter.bump("b"))
    return results, counter.value, log
'''


class _FakeThreadLock:
    """A threading.Lock stand-in that fails instead of blocking forever when taken while held.

    On the event loop thread, a second ``acquire`` of a real lock held by a suspended
    task never returns (the holder cannot resume): that is the deadlock this reports.
    """

    def __init__(self):
        self.held = False
        self.events = []

    def __enter__(self):
        if self.held:
            raise RuntimeError("deadlock: the lock is held by a task suspended on the same thread")
        self.held = True
        self.events.append("acquire")
        return self

    def __exit__(self, *exc):
        self.held = False
        self.events.append("release")
        return False


def test_blocking_call_fix_never_awaits_under_a_threading_lock():
    analysis = ENGINE.analyze(_LOCKED_PROGRAM, Settings())
    found = [(d.code, d.range.start.line, [f.title for f in d.fixes]) for d in analysis.diagnostics]
    assert found == [
        ("PFL303", 15, []),  # under ``with self._lock``: no fix
        ("PFL303", 18, ["Replace `time.sleep` with `await asyncio.sleep`"]),
    ]
    assert "threading lock `self._lock` is held" in analysis.diagnostics[0].message
    fixed = ENGINE.fix_all(_LOCKED_PROGRAM, Settings(), unsafe=True).source
    assert "            time.sleep(0.001)\n" in fixed and "        await asyncio.sleep(0.001)\n" in fixed

    def run(code):
        namespace: dict = {}
        exec(compile(code, "<program>", "exec"), namespace)  # noqa: S102 - our own test program
        lock = _FakeThreadLock()
        return asyncio.run(namespace["main"](lock)), lock.events

    before, after = run(_LOCKED_PROGRAM), run(fixed)
    assert before == after == ((["a", "b"], 2, ["a in", "a out", "b in", "b out"]), ["acquire", "release"] * 2)
    # What awaiting inside the lock would do: the second task takes the lock the first still holds.
    awaited = _LOCKED_PROGRAM.replace("            time.sleep(0.001)", "            await asyncio.sleep(0.001)")
    with pytest.raises(RuntimeError, match="deadlock"):
        run(awaited)


def test_sleep_fix_not_offered_where_it_would_split_a_shared_update():
    source = (
        "import time\n\n"
        "class Stats:\n"
        "    async def bump(self):\n"
        "        seen = self.count\n"
        "        time.sleep(0.01)\n"
        "        self.count = seen + 1\n\n"
        "    async def pace(self):\n"
        "        time.sleep(0.01)\n"
        "        self.count = self.count + 1\n\n"
        "    async def report(self):\n"
        "        self.count += 1\n"
        "        time.sleep(0.01)\n"
        "        return self.count\n\n"
        "    async def flag(self):\n"
        "        self.seen.add(1)\n"
        "        time.sleep(0.01)\n"
        "        return len(self.seen)\n"
    )
    analysis = ENGINE.analyze(source, Settings())
    assert [(d.range.start.line, len(d.fixes)) for d in analysis.diagnostics] == [(6, 0), (10, 1), (15, 0), (20, 0)]


def test_inference_fix_not_offered_under_a_threading_lock_or_once_per_item():
    """PFL304 declines ``to_thread`` where PFL303 does and says why."""
    source = (
        "import threading\n\n"
        "from sentence_transformers import SentenceTransformer\n\n"
        "model = SentenceTransformer('m')\n"
        "_lock = threading.Lock()\n\n"
        "async def locked(text):\n"
        "    with _lock:\n"
        "        return model.encode(text)\n\n"
        "async def per_item(texts):\n"
        "    out = []\n"
        "    for text in texts:\n"
        "        out.append(model.encode(text))\n"
        "    return out\n\n"
        "async def once(text):\n"
        "    return model.encode(text)\n"
    )
    found = [d for d in ENGINE.analyze(source, Settings()).diagnostics if d.code == "PFL304"]
    assert [(d.range.start.line, len(d.fixes)) for d in found] == [(10, 0), (15, 0), (19, 1)]
    assert "while threading lock `_lock` is held" in found[0].message
    assert "asyncio.Lock" in found[0].message
    assert "once per item of this loop" in found[1].message
    assert "once per item" not in found[2].message and "threading lock" not in found[2].message


# -- a fix creates no finding, on the fixtures of PFL301/302/303/304/601

_ALL = Settings(select=("ALL",))
_OWN_FIXTURES = [c for c in CASES if c.id.split("/")[0] in {"pfl301", "pfl302", "pfl303", "pfl304", "pfl601"}]


def test_cli_fix_then_check_reports_nothing_new_on_these_fixtures(tmp_path, capsys):
    """``perf-lsp fix --unsafe-fixes --select ALL`` then ``check --select ALL`` over copies of the
    PFL301/302/303/304/601 fixtures: every finding after the fix was there before it."""
    import json
    import shutil

    from perf_lsp import cli

    for case in _OWN_FIXTURES:
        target = tmp_path / case.id.replace("/", "__")
        shutil.copyfile(case.path, target.with_suffix(".py"))

    def check() -> list[tuple[str, str]]:
        cli.main(["check", "--select", "ALL", "--no-jedi", "--output-format", "json", "--exit-zero", str(tmp_path)])
        out = json.loads(capsys.readouterr().out)
        keys = []
        for entry in out:
            lines = Path(entry["filename"]).read_text(encoding="utf-8").splitlines()
            keys.append((Path(entry["filename"]).name, entry["code"], lines[entry["location"]["row"] - 1].strip()))
        return sorted(keys)

    before = check()
    cli.main(["fix", "--unsafe-fixes", "--select", "ALL", "--no-jedi", str(tmp_path)])
    capsys.readouterr()
    after = check()
    assert len(after) < len(before)  # the fixes ran
    assert new_findings(before, after) == []
